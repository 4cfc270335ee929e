using System.Globalization;

namespace Triage.Bot.Cards;

/// <summary>One label/value pair of a fact list (Block Kit section fields, Adaptive Card FactSet).</summary>
public sealed record CardFact(string Title, string Value);

/// <summary>One line of a headed list; a link when <see cref="Link"/> is set (then <see cref="Text"/> follows it).</summary>
public sealed record CardLine(string Text, CardLink? Link = null);

/// <summary>A headed list: recent rollouts, the runbook's first steps, evidence.</summary>
/// <param name="Numbered">Steps to follow in order rather than bullet points.</param>
public sealed record CardListSection(string Heading, IReadOnlyList<CardLine> Lines, bool Numbered = false);

/// <summary>
/// What the card says, decided once for both renderers: which facts, which headed lists, in which order and how many.
/// <see cref="SlackCardBuilder"/> and <see cref="TeamsCardBuilder"/> only turn these into their own markup, so Slack
/// and Teams cannot drift apart in content.
/// </summary>
public static class CardSections
{
    /// <summary>Most rollouts, runbook steps and evidence links shown; the rest is one click away (Details).</summary>
    public const int MaxRollouts = 5;

    public const int MaxSteps = 5;

    public const int MaxFacts = 4;

    public const int MaxEvidence = 10;

    /// <summary>Where it happened: status and Kubernetes / host context.</summary>
    public static IReadOnlyList<CardFact> Summary(IncidentCard card)
    {
        var w = card.Workload;
        return
        [
            new("Status", CardText.Status(card)),
            new("Namespace", w.Namespace ?? "—"),
            new("Pod", w.Pod ?? "—"),
            new("Workload", CardText.Workload(w)),
            new("Node", w.Node ?? "—"),
            new("Image", w.Image ?? "—"),
        ];
    }

    /// <summary>Whose it is and where it went: owner and its source, route and why, escalation, suppression votes.</summary>
    public static IReadOnlyList<CardFact> Context(IncidentCard card)
    {
        var facts = new List<CardFact>();
        if (card.Owner is { } owner)
        {
            facts.Add(new("Owner", CardText.Owner(owner)));
        }

        if (card.Route is { } route)
        {
            facts.Add(new("Route", CardText.Route(route)));
            if (CardText.Escalation(route) is { } escalation)
            {
                facts.Add(new("Escalation", escalation));
            }
        }

        if (card.Votes is { } votes)
        {
            facts.Add(new("Suppression votes", CardText.Votes(votes)));
        }

        return facts;
    }

    /// <summary>The headed lists, in card order: recent rollouts (with derived facts), runbook first steps, evidence.</summary>
    public static IReadOnlyList<CardListSection> Lists(IncidentCard card)
    {
        var sections = new List<CardListSection>();
        if (card.Rollouts.Count > 0 || card.DeploymentFacts.Count > 0)
        {
            var lines = card.DeploymentFacts.Take(MaxFacts).Select(f => new CardLine(f))
                .Concat(card.Rollouts.Take(MaxRollouts).Select(r => new CardLine(CardText.Rollout(r))));
            sections.Add(new("Recent rollouts", [.. lines]));
        }

        if (card.Runbook is { } runbook)
        {
            var steps = runbook.FirstSteps.Take(MaxSteps).Select(s => new CardLine(s)).ToList();
            if (steps.Count > 0)
            {
                sections.Add(new($"Runbook: {runbook.Title} — first steps", steps, Numbered: true));
            }
        }

        if (card.Evidence.Count > 0)
        {
            sections.Add(new("Evidence", [.. card.Evidence.Take(MaxEvidence).Select(LinkOrText)]));
        }

        return sections;
    }

    /// <summary>A link when its URL is absolute (chat clients resolve nothing else); otherwise the title and the path as text.</summary>
    public static CardLine LinkOrText(CardLink link) =>
        Uri.TryCreate(link.Url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? new CardLine("", link)
            : new CardLine(link.Url.Length == 0 ? link.Title : $"{link.Title} — {link.Url}");

    /// <summary>The small print: runbook and details links, alert count and times, tags.</summary>
    public static IReadOnlyList<CardLine> Footer(IncidentCard card)
    {
        var lines = new List<CardLine>();
        if (card.Runbook is { } runbook)
        {
            lines.Add(LinkOrText(new CardLink("📘 Runbook: " + runbook.Title, runbook.Url ?? "")));
        }

        lines.Add(LinkOrText(new CardLink($"Incident #{card.IncidentId.ToString(CultureInfo.InvariantCulture)}", card.DetailsUrl ?? "")));
        lines.Add(new CardLine(string.Create(CultureInfo.InvariantCulture,
            $"{card.AlertCount} alert{(card.AlertCount == 1 ? "" : "s")}, first {CardText.Time(card.FirstSeen)}, last {CardText.Time(card.LastSeen)}")));
        if (card.Tags.Count > 0)
        {
            lines.Add(new CardLine(string.Join(" ", card.Tags.Take(12))));
        }

        return lines;
    }
}
