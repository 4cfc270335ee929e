using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Triage.Bot.Cards;

namespace Triage.Bot.Slack;

/// <summary>A button press or select in a Slack message (an interaction payload of type <c>block_actions</c>).</summary>
/// <param name="UserId">Slack member id of who pressed (U…).</param>
/// <param name="ChannelId">Channel of the message, when the message is in a channel.</param>
/// <param name="MessageTs">Timestamp of the message holding the button.</param>
/// <param name="ActionTs">Slack's timestamp of the press; with the user it identifies a retried delivery.</param>
public sealed record SlackBlockAction(
    string UserId,
    string? ChannelId,
    string? MessageTs,
    string? ResponseUrl,
    string ActionId,
    string ActionTs,
    CardActionPayload? Payload);

/// <summary>A slash command (<c>/triage ack 42</c>): the form fields Slack sends.</summary>
public sealed record SlackCommand(string Command, string Text, string UserId, string ChannelId, string? ResponseUrl, string? TriggerId);

/// <summary>Parses Slack's inbound bodies: form-encoded, with interactions as a JSON string in the <c>payload</c> field.</summary>
public static class SlackInbound
{
    /// <summary>
    /// The actions of a <c>block_actions</c> interaction; other interaction types (view_submission, shortcuts …)
    /// give an empty list. Throws <see cref="FormatException"/> when the body is not a Slack interaction.
    /// </summary>
    public static IReadOnlyList<SlackBlockAction> ParseInteraction(string formBody)
    {
        var form = QueryHelpers.ParseQuery(formBody);
        if (!form.TryGetValue("payload", out var payloadText) || string.IsNullOrEmpty(payloadText))
        {
            throw new FormatException("the body has no payload field");
        }

        JsonElement payload;
        try
        {
            payload = JsonSerializer.Deserialize<JsonElement>(payloadText.ToString());
        }
        catch (JsonException e)
        {
            throw new FormatException("payload is not JSON", e);
        }

        if (payload.ValueKind != JsonValueKind.Object
            || !payload.TryGetProperty("type", out var type) || type.GetString() != "block_actions")
        {
            return [];
        }

        var userId = payload.TryGetProperty("user", out var user) && user.TryGetProperty("id", out var uid)
            ? uid.GetString() ?? throw new FormatException("user.id is missing")
            : throw new FormatException("user is missing");
        var channelId = payload.TryGetProperty("channel", out var channel) && channel.ValueKind == JsonValueKind.Object
            && channel.TryGetProperty("id", out var cid) ? cid.GetString()
            : payload.TryGetProperty("container", out var container) && container.TryGetProperty("channel_id", out var ccid) ? ccid.GetString() : null;
        var messageTs = payload.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object
            && message.TryGetProperty("ts", out var ts) ? ts.GetString()
            : payload.TryGetProperty("container", out var c2) && c2.TryGetProperty("message_ts", out var mts) ? mts.GetString() : null;
        var responseUrl = payload.TryGetProperty("response_url", out var ru) ? ru.GetString() : null;

        var actions = new List<SlackBlockAction>();
        if (payload.TryGetProperty("actions", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var action in list.EnumerateArray())
            {
                var actionId = action.TryGetProperty("action_id", out var aid) ? aid.GetString() ?? "" : "";
                var actionTs = action.TryGetProperty("action_ts", out var ats) ? ats.GetString() ?? "" : "";
                // Buttons carry value; selects carry selected_option.value (null when deselected).
                string? value = null;
                if (action.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String)
                {
                    value = v.GetString();
                }
                else if (action.TryGetProperty("selected_option", out var selected) && selected.ValueKind == JsonValueKind.Object
                    && selected.TryGetProperty("value", out var sv))
                {
                    value = sv.GetString();
                }

                actions.Add(new SlackBlockAction(userId, channelId, messageTs, responseUrl, actionId, actionTs,
                    CardActionPayload.TryDecode(value, out var decoded) ? decoded : null));
            }
        }

        return actions;
    }

    /// <summary>The fields of a slash-command body.</summary>
    public static SlackCommand ParseCommand(string formBody)
    {
        var form = QueryHelpers.ParseQuery(formBody);
        string Field(string name) => form.TryGetValue(name, out var v) ? v.ToString() : "";
        string? Optional(string name) => form.TryGetValue(name, out var v) && v.Count > 0 ? v.ToString() : null;
        if (Field("command").Length == 0 || Field("user_id").Length == 0)
        {
            throw new FormatException("command and user_id are required");
        }

        return new SlackCommand(Field("command"), Field("text").Trim(), Field("user_id"), Field("channel_id"),
            Optional("response_url"), Optional("trigger_id"));
    }
}
