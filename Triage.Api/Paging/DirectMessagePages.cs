using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Api.Chat;
using Triage.Api.Delivery;
using Triage.Bot.Delivery;
using Triage.Bot.Slack;
using Triage.Bot.Teams;

namespace Triage.Api.Paging;

/// <summary>
/// A page to one person as a chat direct message, the payload of outbox channels <see cref="SlackDirectPageChannel"/>
/// and <see cref="TeamsDirectPageChannel"/>.
/// </summary>
/// <param name="Person">The configured person.</param>
/// <param name="UserId">Their Slack member id (U…) or Teams user id (29:…).</param>
/// <param name="Text">The page in words: incident, priority, title, level, how to acknowledge, link.</param>
internal sealed record DirectPage(long IncidentId, string Person, string UserId, string Text)
{
    public static DirectPage Read(OutboxMessage message) =>
        JsonSerializer.Deserialize<DirectPage>(message.Payload, TriageJson.Options)
        ?? throw new JsonException($"outbox message {message.Id} has no page");

    public string ToJson() => JsonSerializer.Serialize(this, TriageJson.Options);
}

/// <summary>
/// Pages a person in Slack: <c>conversations.open</c> with their member id (the bot needs <c>im:write</c>) gives the DM
/// channel, then <c>chat.postMessage</c> into it. Opening is idempotent in Slack (<c>already_open</c>). The message
/// carries metadata naming the page, so a retried page whose earlier answer was lost finds that post in the DM's
/// history (<c>im:history</c>) instead of paging the person twice.
/// </summary>
internal sealed class SlackDirectPageChannel(SlackWebApiClient slack) : IDeliveryChannel
{
    public const string ChannelName = "slack_page";

    /// <summary>The <c>event_type</c> of a page's message metadata; its payload names the incident and the page (outbox id).</summary>
    public const string PageEventType = "triage_page";

    public string Name => ChannelName;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        var page = DirectPage.Read(message);
        try
        {
            var dm = new JsonObject
            {
                ["text"] = page.Text,
                ["metadata"] = new JsonObject
                {
                    ["event_type"] = PageEventType,
                    ["event_payload"] = new JsonObject { ["incident_id"] = page.IncidentId, ["page"] = message.Id },
                },
            };
            var posted = await slack.PostDirectMessageAsync(page.UserId, dm, cancellationToken, message.MayHaveArrivedSince);
            return DeliveryResult.Delivered($"{posted.Channel}|{posted.Ts}");
        }
        catch (ChatDeliveryException e)
        {
            return DeliveryResult.Of(e);
        }
    }
}

/// <summary>
/// Pages a person in Teams with a proactive 1:1 message: <c>POST /v3/conversations</c> with the bot, the user (29:…) as
/// the only member and the tenant (Teams returns the same 1:1 conversation for the same user), then the message
/// into it. A user who blocked the bot answers 403, which fails the page for good (recorded in the timeline).
/// </summary>
internal sealed class TeamsDirectPageChannel(BotConnectorClient connector, ChatOptions options) : IDeliveryChannel
{
    public const string ChannelName = "teams_page";

    public string Name => ChannelName;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        var page = DirectPage.Read(message);
        var teams = options.Teams!;
        var parameters = new JsonObject
        {
            ["isGroup"] = false,
            ["bot"] = new JsonObject { ["id"] = "28:" + teams.AppId },
            ["members"] = new JsonArray(new JsonObject { ["id"] = page.UserId }),
            ["tenantId"] = teams.TenantId,
            ["channelData"] = new JsonObject { ["tenant"] = new JsonObject { ["id"] = teams.TenantId } },
        };
        try
        {
            var posted = await connector.CreateConversationAsync(teams.ServiceUrl, parameters,
                new JsonObject { ["type"] = "message", ["text"] = page.Text }, cancellationToken);
            return DeliveryResult.Delivered($"{posted.ServiceUrl}|{posted.ConversationId}|{posted.ActivityId}");
        }
        catch (ChatDeliveryException e)
        {
            return DeliveryResult.Of(e);
        }
    }
}
