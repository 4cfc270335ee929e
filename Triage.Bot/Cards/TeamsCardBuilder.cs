using System.Text.Json;
using System.Text.Json.Nodes;

namespace Triage.Bot.Cards;

/// <summary>
/// Renders an <see cref="IncidentCard"/> as an Adaptive Card 1.5 (the highest version Teams renders for bots) that
/// validates against the official, strict 1.5 schema: no root <c>msteams</c> property, only 1.5 elements.
/// Buttons are <c>Action.Execute</c> (Universal Actions, answered by an <c>adaptiveCard/action</c> invoke) with an
/// <c>Action.Submit</c> fallback for clients that predate them. Response actions sit behind a second step that states
/// what will happen: Adaptive Cards have no confirm dialog, so a ShowCard plays that part.
/// </summary>
public static class TeamsCardBuilder
{
    public const string ContentType = "application/vnd.microsoft.card.adaptive";

    /// <summary>Verb of the card-wide refresh action; answered with the current card.</summary>
    public const string RefreshVerb = "refresh";

    /// <summary>Longer links are left out rather than cut, which would break them; keeps the card under 28 KB.</summary>
    private const int MaxUrl = 1000;

    /// <param name="card">The card model.</param>
    /// <param name="interactive">
    /// False for a Workflows webhook, which delivers no button presses back: the card then carries only links.
    /// </param>
    public static JsonObject Build(IncidentCard card, bool interactive = true)
    {
        var w = card.Workload;
        var body = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "TextBlock",
                ["text"] = CardText.Truncate(CardText.Title(card), 200),
                ["size"] = "Large",
                ["weight"] = "Bolder",
                ["color"] = SeverityColor(card.Severity),
                ["wrap"] = true,
            },
        };

        if (!string.IsNullOrWhiteSpace(card.Output))
        {
            body.Add(Text(CardText.Truncate(card.Output, 2000)));
        }

        body.Add(Facts(CardSections.Summary(card)));

        if (card.ProcessTree.Count > 0)
        {
            body.Add(Heading("Process tree"));
            body.Add(new JsonObject
            {
                ["type"] = "TextBlock",
                ["text"] = CardText.ProcessTree(card.ProcessTree),
                ["fontType"] = "Monospace",
                ["wrap"] = true,
                ["spacing"] = "Small",
            });
        }

        if (card.Syscall is { } syscall)
        {
            body.Add(Heading("Syscall"));
            body.Add(new JsonObject { ["type"] = "TextBlock", ["text"] = CardText.Truncate(CardText.Syscall(syscall), 1000), ["fontType"] = "Monospace", ["wrap"] = true, ["spacing"] = "Small" });
        }

        if (CardSections.Context(card) is { Count: > 0 } context)
        {
            body.Add(Facts(context));
        }

        foreach (var list in CardSections.Lists(card))
        {
            body.Add(Heading(CardText.Truncate(list.Heading, 200)));
            var lines = list.Lines.Select(Line).Where(l => l.Length > 0).Select((line, i) => (list.Numbered ? $"{i + 1}. " : "- ") + line);
            body.Add(Text(string.Join("\n", lines)));
        }

        var footer = CardSections.Footer(card).Select(Line).Where(l => l.Length > 0).ToList();
        foreach (var activity in card.Activity.TakeLast(3))
        {
            footer.Add(CardText.Truncate(CardText.Activity(activity), 300));
        }

        body.Add(new JsonObject
        {
            ["type"] = "TextBlock",
            ["text"] = string.Join("\n\n", footer),
            ["isSubtle"] = true,
            ["size"] = "Small",
            ["wrap"] = true,
            ["separator"] = true,
        });

        var result = new JsonObject
        {
            ["type"] = "AdaptiveCard",
            ["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json",
            ["version"] = "1.5",
            ["fallbackText"] = CardText.Fallback(card),
            ["body"] = body,
        };

        var actions = new JsonArray();
        if (interactive)
        {
            // userIds: [] offers a manual "Refresh card" instead of refreshing automatically for every viewer.
            result["refresh"] = new JsonObject
            {
                ["action"] = Execute(RefreshVerb, "Refresh", new CardActionPayload(card.IncidentId, RefreshVerb)),
                ["userIds"] = new JsonArray(),
            };
            AddActions(card, actions);
        }

        if (card.Runbook is { Url: { } runbookUrl } && runbookUrl.Length <= MaxUrl)
        {
            actions.Add(new JsonObject { ["type"] = "Action.OpenUrl", ["title"] = "Runbook", ["url"] = runbookUrl });
        }

        if (card.DetailsUrl is { } details)
        {
            actions.Add(new JsonObject { ["type"] = "Action.OpenUrl", ["title"] = "Details", ["url"] = details });
        }

        if (actions.Count > 0)
        {
            result["actions"] = actions;
        }

        return result;
    }

    /// <summary>A Bot Framework message activity carrying the card as its single attachment (updatable by PUT).</summary>
    public static JsonObject Activity(JsonObject card, string? summary = null)
    {
        var activity = new JsonObject
        {
            ["type"] = "message",
            ["attachments"] = new JsonArray(new JsonObject { ["contentType"] = ContentType, ["content"] = card }),
        };
        if (summary is not null)
        {
            // Shown in notifications and the activity feed instead of "sent a card".
            activity["summary"] = summary;
        }

        return activity;
    }

    /// <summary>Reads the action payload out of an invoke's or a submit's <c>data</c> object.</summary>
    public static bool TryReadPayload(JsonElement data, out CardActionPayload payload)
    {
        payload = null!;
        if (data.ValueKind != JsonValueKind.Object
            || !data.TryGetProperty("incident_id", out var id) || !id.TryGetInt64(out var incidentId)
            || !data.TryGetProperty("action", out var action) || action.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        var target = data.TryGetProperty("target", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        payload = new CardActionPayload(incidentId, action.GetString()!, target);
        return true;
    }

    private static void AddActions(IncidentCard card, JsonArray actions)
    {
        var offered = CardActions.Offered(card);
        var votes = new JsonArray();
        var respond = new JsonArray();
        foreach (var action in offered)
        {
            switch (action)
            {
                case CardActions.Escalate:
                    var targets = new JsonArray();
                    foreach (var (target, label) in CardActions.EscalationTargets)
                    {
                        targets.Add(Execute(action, label, new CardActionPayload(card.IncidentId, action, target)));
                    }

                    actions.Add(new JsonObject
                    {
                        ["type"] = "Action.ShowCard",
                        ["title"] = "Escalate",
                        ["card"] = SubCard(new JsonArray(Text("Escalate to:")), targets),
                    });
                    break;
                case CardActions.VoteBenign or CardActions.VoteNotBenign:
                    votes.Add(Execute(action, CardActions.Label(action), new CardActionPayload(card.IncidentId, action)));
                    break;
                default:
                    if (CardActions.Confirmation(action, card) is { } confirm)
                    {
                        respond.Add(new JsonObject
                        {
                            ["type"] = "Container",
                            ["items"] = new JsonArray(
                                new JsonObject { ["type"] = "TextBlock", ["text"] = confirm.Title, ["weight"] = "Bolder", ["wrap"] = true },
                                Text(confirm.Text),
                                new JsonObject
                                {
                                    ["type"] = "ActionSet",
                                    ["actions"] = new JsonArray(Execute(action, confirm.Confirm, new CardActionPayload(card.IncidentId, action), destructive: true)),
                                }),
                        });
                    }
                    else
                    {
                        actions.Add(Execute(action, CardActions.Label(action), new CardActionPayload(card.IncidentId, action),
                            primary: action == CardActions.Ack));
                    }

                    break;
            }
        }

        if (votes.Count > 0)
        {
            actions.Add(new JsonObject
            {
                ["type"] = "Action.ShowCard",
                ["title"] = "Vote",
                ["card"] = SubCard(new JsonArray(Text("Is this a benign deployment artifact? Enough benign votes turn it into a scoped, expiring suppression.")), votes),
            });
        }

        if (respond.Count > 0)
        {
            actions.Add(new JsonObject
            {
                ["type"] = "Action.ShowCard",
                ["title"] = "Respond…",
                ["card"] = SubCard(respond, null),
            });
        }
    }

    private static JsonObject SubCard(JsonArray body, JsonArray? actions)
    {
        var card = new JsonObject { ["type"] = "AdaptiveCard", ["version"] = "1.5", ["body"] = body };
        if (actions is not null)
        {
            card["actions"] = actions;
        }

        return card;
    }

    private static JsonObject Execute(string verb, string title, CardActionPayload payload, bool primary = false, bool destructive = false)
    {
        var data = JsonSerializer.SerializeToNode(payload)!;
        var execute = new JsonObject
        {
            ["type"] = "Action.Execute",
            ["title"] = title,
            ["verb"] = verb,
            ["data"] = data,
            // Clients without Universal Actions send a message activity with the same data instead.
            ["fallback"] = new JsonObject { ["type"] = "Action.Submit", ["title"] = title, ["data"] = data.DeepClone() },
        };
        if (primary)
        {
            execute["style"] = "positive";
        }
        else if (destructive)
        {
            execute["style"] = "destructive";
        }

        return execute;
    }

    private static JsonObject Heading(string text) =>
        new() { ["type"] = "TextBlock", ["text"] = text, ["weight"] = "Bolder", ["spacing"] = "Medium", ["wrap"] = true };

    private static JsonObject Text(string text) => new() { ["type"] = "TextBlock", ["text"] = text, ["wrap"] = true };

    /// <summary>A line in the card's Markdown subset; a link longer than <see cref="MaxUrl"/> is dropped, not cut.</summary>
    private static string Line(CardLine line)
    {
        var text = CardText.Truncate(line.Text, 300);
        if (line.Link is not { } link)
        {
            return text;
        }

        var title = CardText.Truncate(link.Title, 100);
        var linked = link.Url.Length <= MaxUrl ? $"[{title}]({link.Url})" : title;
        return text.Length > 0 ? $"{linked} {text}" : linked;
    }

    private static JsonObject Facts(IReadOnlyList<CardFact> facts)
    {
        var array = new JsonArray();
        foreach (var (title, value) in facts)
        {
            array.Add(new JsonObject { ["title"] = title, ["value"] = CardText.Truncate(value, 500) });
        }

        return new JsonObject { ["type"] = "FactSet", ["facts"] = array };
    }

    private static string SeverityColor(string severity) => severity.ToUpperInvariant() switch
    {
        "EMERGENCY" or "ALERT" or "CRITICAL" or "ERROR" => "Attention",
        "WARNING" => "Warning",
        _ => "Default",
    };
}
