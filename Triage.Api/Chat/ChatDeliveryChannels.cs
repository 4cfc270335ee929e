using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Api.Delivery;
using Triage.Api.Persistence;
using Triage.Bot.Cards;
using Triage.Bot.Delivery;
using Triage.Bot.Sink;
using Triage.Bot.Slack;
using Triage.Bot.Teams;

namespace Triage.Api.Chat;

/// <summary>What every chat channel does with an outbox message: read it, render the current card, map failures.</summary>
internal abstract class ChatChannelBase(IServiceScopeFactory scopes) : IDeliveryChannel
{
    public abstract string Name { get; }

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Deserialize<JsonElement>(message.Payload);
        var incidentId = payload.GetProperty("incident_id").GetInt64();
        var to = payload.GetProperty("to").GetString()!;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        try
        {
            if (message.Kind == ChatKinds.Reply)
            {
                var post = await Outbox.FindAsync(db, Name, $"incident-{incidentId}/card/{to}", cancellationToken);
                if (post?.RemoteId is not { } parent)
                {
                    return DeliveryResult.Failed("the card this replies to was never delivered");
                }

                return DeliveryResult.Delivered(await ReplyAsync(parent, payload.GetProperty("text").GetString()!, cancellationToken));
            }

            var card = await scope.ServiceProvider.GetRequiredService<IncidentCardMapper>().MapAsync(incidentId, cancellationToken);
            if (card is null)
            {
                return DeliveryResult.Failed($"incident {incidentId} no longer exists");
            }

            if (message.Kind == ChatKinds.CardUpdate)
            {
                var post = await Outbox.FindAsync(db, Name, $"incident-{incidentId}/card/{to}", cancellationToken);
                if (post?.RemoteId is not { } remote)
                {
                    return DeliveryResult.Failed("the card to update was never delivered");
                }

                return DeliveryResult.Delivered(await UpdateAsync(remote, card, cancellationToken));
            }

            return DeliveryResult.Delivered(await PostAsync(to, card, message.MayHaveArrivedSince, cancellationToken));
        }
        catch (ChatDeferredException e)
        {
            return DeliveryResult.Deferred(e.RetryAfter ?? TimeSpan.FromSeconds(1));
        }
        catch (ChatDeliveryException e)
        {
            return DeliveryResult.Of(e);
        }
    }

    /// <summary>
    /// Posts the card; returns the remote id that later updates and replies use. <paramref name="mayHaveArrivedSince"/>
    /// (<see cref="OutboxMessage.MayHaveArrivedSince"/>) is set when an earlier attempt since that time may have posted it
    /// already. A channel that can look its posts up finds that post instead of posting again.
    /// </summary>
    protected abstract Task<string> PostAsync(string to, IncidentCard card, DateTimeOffset? mayHaveArrivedSince, CancellationToken ct);

    protected abstract Task<string> UpdateAsync(string remoteId, IncidentCard card, CancellationToken ct);

    protected virtual Task<string> ReplyAsync(string remoteId, string text, CancellationToken ct) => Task.FromResult(remoteId);
}

/// <summary>
/// Slack: chat.postMessage, chat.update of the same ts, timeline events as thread replies. A card carries message
/// metadata naming its incident, so a retried post first looks in the channel's history for the card an earlier
/// attempt may have posted (chat.postMessage has no idempotency key).
/// </summary>
internal sealed class SlackDeliveryChannel(IServiceScopeFactory scopes, SlackWebApiClient slack) : ChatChannelBase(scopes)
{
    /// <summary>The <c>event_type</c> of a card's message metadata; its <c>event_payload</c> holds <c>incident_id</c>.</summary>
    public const string CardEventType = "triage_incident_card";

    public override string Name => ChatKinds.SlackChannel;

    /// <summary>The message body chat.postMessage receives for <paramref name="card"/> in <paramref name="channel"/>.</summary>
    public static JsonObject Body(string? channel, IncidentCard card)
    {
        var body = SlackCardBuilder.Build(card);
        var result = new JsonObject();
        if (channel is not null)
        {
            result["channel"] = channel;
        }

        foreach (var (key, value) in body)
        {
            result[key] = value?.DeepClone();
        }

        result["metadata"] = new JsonObject
        {
            ["event_type"] = CardEventType,
            ["event_payload"] = new JsonObject { ["incident_id"] = card.IncidentId },
        };
        return result;
    }

    protected override async Task<string> PostAsync(string to, IncidentCard card, DateTimeOffset? mayHaveArrivedSince, CancellationToken ct)
    {
        var posted = await slack.PostMessageOnceAsync(to, Body(null, card), mayHaveArrivedSince, ct);
        return $"{posted.Channel}|{posted.Ts}";
    }

    protected override async Task<string> UpdateAsync(string remoteId, IncidentCard card, CancellationToken ct)
    {
        // Updates and thread replies yield to new cards when the pace is short (deferred, not queued in front of them).
        var updated = await slack.UpdateMessageAsync(Parse(remoteId), SlackCardBuilder.Build(card), ct, background: true);
        return $"{updated.Channel}|{updated.Ts}";
    }

    protected override async Task<string> ReplyAsync(string remoteId, string text, CancellationToken ct)
    {
        var parent = Parse(remoteId);
        var reply = await slack.PostMessageAsync(parent.Channel, new JsonObject { ["text"] = text }, parent.Ts, ct, background: true);
        return $"{reply.Channel}|{reply.Ts}";
    }

    private static SlackMessageRef Parse(string remoteId)
    {
        var parts = remoteId.Split('|');
        return new SlackMessageRef(parts[0], parts[1]);
    }
}

/// <summary>Teams: a new thread in the team's channel holding the card, PUT updates, replies in the thread.</summary>
internal sealed class TeamsDeliveryChannel(IServiceScopeFactory scopes, BotConnectorClient connector, ChatOptions options) : ChatChannelBase(scopes)
{
    public override string Name => ChatKinds.TeamsChannel;

    private TeamsChatOptions Teams => options.Teams!;

    public static JsonObject Body(IncidentCard card) => TeamsCardBuilder.Activity(TeamsCardBuilder.Build(card), CardText.Fallback(card));

    protected override async Task<string> PostAsync(string to, IncidentCard card, DateTimeOffset? mayHaveArrivedSince, CancellationToken ct)
    {
        var parameters = new JsonObject
        {
            ["isGroup"] = true,
            ["bot"] = new JsonObject { ["id"] = "28:" + Teams.AppId },
            ["tenantId"] = Teams.TenantId,
            ["channelData"] = new JsonObject
            {
                ["channel"] = new JsonObject { ["id"] = to },
                ["tenant"] = new JsonObject { ["id"] = Teams.TenantId },
            },
        };
        var posted = await connector.CreateConversationAsync(Teams.ServiceUrl, parameters, Body(card), ct);
        return $"{posted.ServiceUrl}|{posted.ConversationId}|{posted.ActivityId}";
    }

    protected override async Task<string> UpdateAsync(string remoteId, IncidentCard card, CancellationToken ct)
    {
        await connector.UpdateActivityAsync(Parse(remoteId), Body(card), ct);
        return remoteId;
    }

    protected override async Task<string> ReplyAsync(string remoteId, string text, CancellationToken ct)
    {
        var reply = await connector.ReplyToActivityAsync(Parse(remoteId), new JsonObject { ["type"] = "message", ["text"] = text }, ct);
        return reply.ActivityId;
    }

    private static TeamsMessageRef Parse(string remoteId)
    {
        var parts = remoteId.Split('|');
        return new TeamsMessageRef(parts[0], parts[1], parts[2]);
    }
}

/// <summary>Teams Workflows webhook: notify-only, the card without buttons on every post and update.</summary>
internal sealed class WorkflowsDeliveryChannel(IServiceScopeFactory scopes, WorkflowsWebhookClient webhook, ChatOptions options) : ChatChannelBase(scopes)
{
    public override string Name => ChatKinds.WorkflowsChannel;

    private Uri Url => new(Environment.GetEnvironmentVariable(options.Teams!.WorkflowsWebhookUrlEnv!)!);

    protected override async Task<string> PostAsync(string to, IncidentCard card, DateTimeOffset? mayHaveArrivedSince, CancellationToken ct)
    {
        await webhook.PostAsync(Url, card, ct);
        return "webhook";
    }

    protected override async Task<string> UpdateAsync(string remoteId, IncidentCard card, CancellationToken ct)
    {
        // A webhook cannot edit what it posted: each state change is a new notification.
        await webhook.PostAsync(Url, card, ct);
        return remoteId;
    }
}

/// <summary>The local sink: no credentials needed; the card page under <see cref="ChatOptions.SinkPath"/>.</summary>
internal sealed class CardSinkDeliveryChannel(IServiceScopeFactory scopes, LocalCardSink sink) : ChatChannelBase(scopes)
{
    public override string Name => ChatKinds.SinkChannel;

    protected override async Task<string> PostAsync(string to, IncidentCard card, DateTimeOffset? mayHaveArrivedSince, CancellationToken ct)
    {
        await sink.WriteAsync(card, "posted", ct);
        return sink.IndexPath;
    }

    protected override async Task<string> UpdateAsync(string remoteId, IncidentCard card, CancellationToken ct)
    {
        await sink.WriteAsync(card, "updated", ct);
        return remoteId;
    }
}
