using System.Text.Json.Nodes;

namespace Triage.Bot.Cards;

/// <summary>
/// Renders an <see cref="IncidentCard"/> as a Slack Block Kit message (<c>text</c> + <c>blocks</c>), within Block Kit's
/// documented limits: at most 50 blocks, section text ≤3000, fields ≤10 × 2000, header ≤150, button text ≤75,
/// confirm title ≤100 / text ≤300 / buttons ≤30. Long values are truncated with "…", never rejected.
/// </summary>
public static class SlackCardBuilder
{
    internal const int MaxSectionText = 3000;
    internal const int MaxFieldText = 2000;
    internal const int MaxHeader = 150;
    internal const int MaxButtonText = 75;

    /// <summary>The message: <c>{"text": fallback, "blocks": [...]}</c>; the caller adds channel / ts / thread_ts.</summary>
    public static JsonObject Build(IncidentCard card)
    {
        var blocks = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "header",
                ["text"] = PlainText(CardText.Truncate(CardText.Title(card), MaxHeader)),
            },
        };

        if (!string.IsNullOrWhiteSpace(card.Output))
        {
            blocks.Add(Section(Escape(card.Output)));
        }

        blocks.Add(Fields(CardSections.Summary(card)));

        if (card.ProcessTree.Count > 0)
        {
            blocks.Add(Section("*Process tree*\n```" + Escape(CardText.ProcessTree(card.ProcessTree)) + "```"));
        }

        if (card.Syscall is { } syscall)
        {
            blocks.Add(Section("*Syscall* `" + Escape(CardText.Syscall(syscall)).Replace('`', '\'') + "`"));
        }

        if (CardSections.Context(card) is { Count: > 0 } context)
        {
            blocks.Add(Fields(context));
        }

        foreach (var list in CardSections.Lists(card))
        {
            var lines = list.Lines.Select((line, i) => (list.Numbered ? $"{i + 1}. " : "• ") + Line(line));
            blocks.Add(Section($"*{Escape(list.Heading)}*\n" + string.Join("\n", lines)));
        }

        var contextBlock = new JsonArray();
        foreach (var line in CardSections.Footer(card).Take(10))
        {
            contextBlock.Add(new JsonObject { ["type"] = "mrkdwn", ["text"] = TruncateMrkdwn(Line(line), MaxSectionText) });
        }

        blocks.Add(new JsonObject { ["type"] = "context", ["elements"] = contextBlock });

        foreach (var activity in card.Activity.TakeLast(3))
        {
            blocks.Add(new JsonObject
            {
                ["type"] = "context",
                ["elements"] = new JsonArray(new JsonObject { ["type"] = "mrkdwn", ["text"] = Escape(CardText.Truncate(CardText.Activity(activity), MaxSectionText)) }),
            });
        }

        AddActions(card, blocks);
        return new JsonObject
        {
            ["text"] = CardText.Truncate(CardText.Fallback(card), MaxSectionText),
            ["blocks"] = blocks,
        };
    }

    /// <summary>A thread reply for a timeline entry.</summary>
    public static JsonObject TimelineReply(CardActivity activity) =>
        new() { ["text"] = CardText.Truncate(CardText.Activity(activity), MaxSectionText) };

    private static void AddActions(IncidentCard card, JsonArray blocks)
    {
        var offered = CardActions.Offered(card);
        var triage = new JsonArray();
        var respond = new JsonArray();
        foreach (var action in offered)
        {
            if (action == CardActions.Escalate)
            {
                var options = new JsonArray();
                foreach (var (target, label) in CardActions.EscalationTargets)
                {
                    options.Add(new JsonObject
                    {
                        ["text"] = PlainText(label),
                        ["value"] = new CardActionPayload(card.IncidentId, action, target).Encode(),
                    });
                }

                triage.Add(new JsonObject
                {
                    ["type"] = "static_select",
                    ["action_id"] = action,
                    ["placeholder"] = PlainText("Escalate…"),
                    ["options"] = options,
                });
                continue;
            }

            var button = new JsonObject
            {
                ["type"] = "button",
                ["action_id"] = action,
                ["text"] = PlainText(CardText.Truncate(CardActions.Label(action), MaxButtonText)),
                ["value"] = new CardActionPayload(card.IncidentId, action).Encode(),
            };
            if (action == CardActions.Ack)
            {
                button["style"] = "primary";
            }

            if (CardActions.Confirmation(action, card) is { } confirm)
            {
                button["style"] = "danger";
                button["confirm"] = new JsonObject
                {
                    ["title"] = PlainText(CardText.Truncate(confirm.Title, 100)),
                    ["text"] = PlainText(CardText.Truncate(confirm.Text, 300)),
                    ["confirm"] = PlainText(CardText.Truncate(confirm.Confirm, 30)),
                    ["deny"] = PlainText("Cancel"),
                    ["style"] = "danger",
                };
                respond.Add(button);
            }
            else
            {
                triage.Add(button);
            }
        }

        if (triage.Count > 0)
        {
            blocks.Add(new JsonObject { ["type"] = "actions", ["block_id"] = "triage", ["elements"] = triage });
        }

        if (respond.Count > 0)
        {
            blocks.Add(new JsonObject { ["type"] = "actions", ["block_id"] = "respond", ["elements"] = respond });
        }
    }

    private static JsonObject PlainText(string text) => new() { ["type"] = "plain_text", ["text"] = text, ["emoji"] = true };

    private static JsonObject Section(string mrkdwn) => new()
    {
        ["type"] = "section",
        ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = TruncateMrkdwn(mrkdwn, MaxSectionText) },
    };

    private static JsonObject Fields(IReadOnlyList<CardFact> fields)
    {
        var array = new JsonArray();
        foreach (var (title, value) in fields.Take(10))
        {
            array.Add(new JsonObject
            {
                ["type"] = "mrkdwn",
                ["text"] = TruncateMrkdwn($"*{title}*\n{Escape(value)}", MaxFieldText),
            });
        }

        return new JsonObject { ["type"] = "section", ["fields"] = array };
    }

    /// <summary>Truncates, closing a code fence that the cut left open so the rest of the message is not swallowed.</summary>
    private static string TruncateMrkdwn(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var cut = CardText.Truncate(text, max - 3);
        var fences = 0;
        for (var i = cut.IndexOf("```", StringComparison.Ordinal); i >= 0; i = cut.IndexOf("```", i + 3, StringComparison.Ordinal))
        {
            fences++;
        }

        return fences % 2 == 1 ? cut + "```" : cut;
    }

    /// <summary>A line in mrkdwn: escaped text, a link first when it has one.</summary>
    private static string Line(CardLine line) =>
        line.Link is { } link
            ? Link(link) + (line.Text.Length > 0 ? " " + Escape(line.Text) : "")
            : Escape(line.Text);

    private static string Link(CardLink link) => $"<{link.Url.Replace("|", "%7C", StringComparison.Ordinal)}|{Escape(link.Title)}>";

    /// <summary>Slack's control characters in mrkdwn: &amp;, &lt; and &gt; must be escaped.</summary>
    internal static string Escape(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
