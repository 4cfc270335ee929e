using System.Linq.Expressions;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Enrichment;
using Triage.Api.Evidence;
using Triage.Api.OnCall;
using Triage.Api.Persistence;
using Triage.Api.Routing;
using Triage.Api.Suppression;
using Triage.Bot.Cards;
using Triage.Contracts;

namespace Triage.Api.Chat;

/// <summary>
/// Maps an incident, its newest alert and its timeline into the chat-neutral <see cref="IncidentCard"/>. Sections that
/// other features produce (owner, route, rollouts, votes, evidence) are filled from what the incident carries so far
/// and left empty otherwise; the card renders whatever is present.
/// </summary>
internal sealed class IncidentCardMapper(TriageDbContext db, ChatOptions options, SuppressionQueries suppressions)
{
    /// <summary>
    /// Timeline kinds worth showing people as "who acted" lines and thread replies. Queries filter with it in the
    /// database: every delivery attempt lands in the timeline, so a busy incident's timeline grows with each card refresh.
    /// </summary>
#pragma warning disable CA1310 // EF translates StartsWith(string) to a LIKE prefix; the service runs with invariant globalization.
    public static readonly Expression<Func<TimelineEntry, bool>> PeopleEvent =
        t => t.Kind != "created" && t.Kind != "alert_added" && !t.Kind.StartsWith("delivery_");
#pragma warning restore CA1310

    private static readonly Func<TimelineEntry, bool> IsPeopleEventCompiled = PeopleEvent.Compile();

    public static bool IsPeopleEvent(TimelineEntry entry) => IsPeopleEventCompiled(entry);

    public async Task<IncidentCard?> MapAsync(long incidentId, CancellationToken ct)
    {
        var incident = await db.Incidents.AsNoTracking().FirstOrDefaultAsync(i => i.Id == incidentId, ct);
        if (incident is null)
        {
            return null;
        }

        var latest = await db.Alerts.AsNoTracking().Where(a => a.IncidentId == incidentId)
            .OrderByDescending(a => a.Time).Select(a => a.Payload).FirstOrDefaultAsync(ct);
        var timeline = await db.Timeline.AsNoTracking().Where(t => t.IncidentId == incidentId).Where(PeopleEvent)
            .OrderBy(t => t.Id).ToListAsync(ct);
        var card = Map(incident, latest is null ? null : JsonSerializer.Deserialize<NativeAlert>(latest, TriageJson.Options), timeline);

        // The other features' sections, each from the feature's own stored result; absent until that step has run.
        var enrichment = await EnrichmentStore.GetAsync(db, incidentId, ct);
        var route = await db.Set<IncidentRoute>().AsNoTracking().FirstOrDefaultAsync(r => r.IncidentId == incidentId, ct);
        var escalation = route is null ? null
            : await db.Set<Escalation>().AsNoTracking().FirstOrDefaultAsync(e => e.IncidentId == incidentId, ct);
        var evidence = await db.Set<EvidenceArtifact>().AsNoTracking().Where(a => a.IncidentId == incidentId)
            .OrderBy(a => a.Id).Take(CardSections.MaxEvidence).ToListAsync(ct);
        var suppression = await suppressions.ForIncidentAsync(incidentId, ct);
        return card with
        {
            Owner = OwnerOf(enrichment, card.Owner),
            Rollouts = enrichment?.Deployments is { } d
                ? [.. d.Rollouts.OrderByDescending(r => r.At).Select(r => new CardRollout(
                    $"rev {r.Revision.ToString(CultureInfo.InvariantCulture)}", r.At, r.Images.Count == 0 ? null : string.Join(", ", r.Images), r.RecordedBy) { Cause = r.ChangeCause })]
                : [],
            DeploymentFacts = enrichment?.Deployments is { } facts ? [.. facts.Facts.Select(f => f.Text)] : [],
            Runbook = enrichment?.Runbook is { } runbook
                ? new CardRunbook(runbook.Title, Absolute(runbook.Link)) { FirstSteps = runbook.FirstSteps }
                : null,
            Route = route is null ? null : new CardRoute(
                route.InformedTeam is { } informed ? [route.PrimaryTeam, informed] : [route.PrimaryTeam],
                string.Join("; ", route.Why.Split('\n', StringSplitOptions.RemoveEmptyEntries)))
            {
                Row = route.Row,
                EscalationLevel = escalation is { State: EscalationState.Active } ? escalation.Level + 1 : null,
                Paged = escalation?.LastPaged,
                NextEscalationAt = escalation is { State: EscalationState.Active } ? escalation.NextFireAt : null,
            },
            Evidence = [.. evidence.Select(EvidenceLink).OfType<CardLink>()],
            Votes = suppression is null ? null : VotesOf(suppression),
        };
    }

    /// <summary>The live tally of the vote on this incident, and what came of it.</summary>
    private static CardVotes VotesOf(SuppressionDto s) =>
        new(s.Tally.Benign, s.Tally.NotBenign)
        {
            Needed = s.Tally.Needed,
            Outcome = s.Status switch
            {
                SuppressionStatus.Active => $"suppressed until {CardText.Time(s.ExpiresAt!.Value)}: {s.Description}",
                SuppressionStatus.Proposed => s.Tally.Summary,
                _ => $"suppression {s.Status.ToString().ToLowerInvariant()}{(s.EndReason is { } why ? ": " + why : "")}",
            },
        };

    private static CardOwner? OwnerOf(EnrichmentDocument? enrichment, CardOwner? fallback) =>
        enrichment?.Owner is { Team: { } team } owner
            ? new CardOwner(team, owner.Source) { Detail = owner.Detail }
            : fallback;

    /// <summary>Captured evidence as a download link; a capture that failed says why instead.</summary>
    private CardLink? EvidenceLink(EvidenceArtifact a)
    {
        var title = string.Create(CultureInfo.InvariantCulture, $"{a.Kind}: {a.Name} ({a.Size:N0} bytes, {a.Node})");
        if (a.Unavailable is { } why)
        {
            return new CardLink($"{a.Kind}: {a.Name} — not captured: {why}", Absolute($"/api/v1/evidence/{a.Id}") ?? $"/api/v1/evidence/{a.Id}");
        }

        // Without a public base URL the API path is still shown (as text): an operator can fetch it with a token.
        return a.Sha256 is null ? null : new CardLink(title, Absolute($"/api/v1/evidence/{a.Id}/content") ?? $"/api/v1/evidence/{a.Id}/content");
    }

    /// <summary>An API path made absolute with <see cref="ChatOptions.PublicBaseUrl"/>; null without one (chat needs absolute links).</summary>
    private string? Absolute(string pathOrUrl) =>
        Uri.TryCreate(pathOrUrl, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https" ? pathOrUrl
        : options.PublicBaseUrl is { } baseUrl ? $"{baseUrl.TrimEnd('/')}/{pathOrUrl.TrimStart('/')}"
        : null;

    public IncidentCard Map(Incident incident, NativeAlert? alert, IReadOnlyList<TimelineEntry> timeline)
    {
        var tree = new List<CardProcess>();
        if (alert?.Process is { } p)
        {
            tree.Add(new CardProcess(p.Pid, p.Exe ?? p.Name, p.Cmdline, p.User, p.ExeUpperLayer == true));
        }

        foreach (var a in alert?.Ancestors ?? [])
        {
            tree.Add(new CardProcess(a.Pid, a.Exe, a.Cmdline));
        }

        var status = incident.Status.ToString().ToLowerInvariant();
        return new IncidentCard
        {
            IncidentId = incident.Id,
            Rule = incident.Rule,
            Severity = incident.Priority.ToFalcoName(),
            Status = status,
            Output = alert?.Output ?? incident.Title,
            AlertCount = incident.AlertCount,
            FirstSeen = incident.FirstSeen,
            LastSeen = incident.LastSeen,
            Workload = new CardWorkload
            {
                Namespace = incident.Namespace,
                Pod = incident.Pod,
                WorkloadKind = incident.WorkloadKind,
                WorkloadName = incident.WorkloadName,
                Node = incident.Node,
                Image = incident.Image,
                ContainerId = alert?.Container?.Id,
            },
            ProcessTree = tree,
            Syscall = alert?.Syscall is { Name: { } name } s ? new CardSyscall(name, s.Args, s.Return) : null,
            Tags = incident.Tags,
            Activity = [.. timeline.Where(IsPeopleEvent).Select(t => new CardActivity(t.Kind, t.Actor, t.At, t.Detail))],
            Owner = incident.OwnerTeam is { } team ? new CardOwner(team, "enrichment") : null,
            DetailsUrl = options.PublicBaseUrl is { } baseUrl ? $"{baseUrl.TrimEnd('/')}/api/v1/incidents/{incident.Id}" : null,
        };
    }
}
