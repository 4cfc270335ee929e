using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Delivery;
using Triage.Api.Incidents;
using Triage.Api.Persistence;
using Triage.Api.Routing;

namespace Triage.Api.Chat;

/// <summary>
/// Pipeline step 300: makes sure every configured chat destination has the incident's card and that the card shows the
/// current state. Idempotent reconcile through the outbox: one post per destination (key <c>incident-{id}/card/{to}</c>),
/// an update when the incident's version or alert count moved past what the card shows and no card message for that
/// destination is still waiting for its first attempt (<c>…/v{version}/n{count}</c>; a count refresh leaves the version
/// alone), one thread reply per timeline event (<c>…/reply/{entry}</c>). Destinations follow the route.
/// Card bodies are rendered at delivery time, so a late update always carries the newest state.
/// An update for a state change (the version moved: an action, an escalation, a priority raise) is urgent; one for a
/// count refresh is routine. In an alert storm the routine refreshes of hundreds of cards queue behind Slack's
/// chat.update pace, and an acknowledgement must not wait behind them to show on its card.
/// </summary>
internal sealed class ChatNotifier(IServiceScopeFactory scopes, ChatOptions options, Outbox outbox, DeliveryOptions delivery, TimeProvider time)
    : IIncidentObserver
{
    public int Order => 300;

    /// <summary>The card shows the alert count and last-seen time.</summary>
    public bool ShowsAlertCount => true;

    public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var incident = await db.Incidents.AsNoTracking().FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken);
        if (incident is null || delivery.Retention.IsClosed(incident, time.GetUtcNow()))
        {
            // Closed: outbox retention deletes its card messages, so a change now (a sensor recovering, a late action)
            // would find no card and post it again.
            return;
        }

        // Without payloads: a long-running incident gathers a card update per count refresh, and only the newest
        // card message's payload is read (below).
        var existing = await db.Set<OutboxMessage>().AsNoTracking()
            .Where(m => m.IncidentId == incidentId && (m.Kind == ChatKinds.Card || m.Kind == ChatKinds.CardUpdate || m.Kind == ChatKinds.Reply))
            .Select(m => new { m.Id, m.Channel, m.Kind, m.IdempotencyKey, m.Status, m.Attempts, m.Priority })
            .ToListAsync(cancellationToken);
        var route = await db.Set<IncidentRoute>().AsNoTracking().FirstOrDefaultAsync(r => r.IncidentId == incidentId, cancellationToken);
        var destinations = Destinations(incident, route).ToList();
        var people = destinations.Any(d => d.Replies)
            ? await db.Timeline.AsNoTracking().Where(t => t.IncidentId == incidentId).Where(IncidentCardMapper.PeopleEvent)
                .OrderBy(t => t.Id).ToListAsync(cancellationToken)
            : [];

        var wake = false;
        foreach (var (channel, to, replies) in destinations)
        {
            var prefix = $"incident-{incidentId}/card/{to}";
            // Exactly this destination's keys: "#sec" must not claim the messages of "#sec-ops".
            var mine = existing.Where(m => m.Channel == channel
                && (m.IdempotencyKey == prefix || m.IdempotencyKey.StartsWith(prefix + "/", StringComparison.Ordinal))).ToList();
            var cardMessages = mine.Where(m => m.Kind != ChatKinds.Reply).ToList();
            var waiting = cardMessages.FirstOrDefault(m => m.Status == OutboxStatus.Pending && m.Attempts == 0);
            if (cardMessages.Count == 0)
            {
                await outbox.AddAsync(db, Request(incidentId, channel, ChatKinds.Card, prefix, to, incident, OutboxPriority.Urgent), cancellationToken);
            }
            else if (waiting is not null)
            {
                // It will render this change when sent; a state change only makes a waiting count refresh urgent.
                if (waiting.Priority != OutboxPriority.Urgent && incident.Version > Shown(await PayloadAsync(db, waiting.Id, cancellationToken)).Version)
                {
                    wake |= await outbox.PromoteAsync(db, waiting.Id, channel, cancellationToken);
                }
            }
            else if (Shown(await PayloadAsync(db, cardMessages.MaxBy(m => m.Id)!.Id, cancellationToken)) is var shown
                && (incident.Version > shown.Version || incident.AlertCount > shown.AlertCount))
            {
                // The newest card message shows the most: versions and counts only grow, and a card message is queued
                // only while none is waiting for its first attempt (so each shows at least what the one before it did).
                // A card or update not yet attempted renders the incident when its attempt starts, which is after this
                // change committed: it will show it. So a burst of alerts becomes one chat.update, not one per alert.
                // (A message already attempted may have rendered an older state, so it does not count.)
                // Its series is the card: once a later update is delivered, this one is superseded and retention may
                // delete it. Its key is never wanted again: this newest message is kept and a new key needs a higher
                // version or count than it shows.
                var priority = incident.Version > shown.Version ? OutboxPriority.Urgent : OutboxPriority.Routine;
                await outbox.AddAsync(db, Request(incidentId, channel, ChatKinds.CardUpdate,
                    string.Create(CultureInfo.InvariantCulture, $"{prefix}/v{incident.Version}/n{incident.AlertCount}"), to, incident, priority,
                    series: prefix), cancellationToken);
            }

            if (replies)
            {
                foreach (var entry in people)
                {
                    var key = $"{prefix}/reply/{entry.Id.ToString(CultureInfo.InvariantCulture)}";
                    if (!mine.Any(m => m.IdempotencyKey == key))
                    {
                        var payload = new JsonObject
                        {
                            ["incident_id"] = incidentId,
                            ["to"] = to,
                            ["text"] = $"{entry.Detail} ({entry.Channel}, {entry.At.UtcDateTime.ToString("HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)})",
                        };
                        await outbox.AddAsync(db, new OutboxRequest(incidentId, channel, ChatKinds.Reply, payload.ToJsonString(), key,
                            Priority: OutboxPriority.Routine), cancellationToken);
                    }
                }
            }
        }

        if (db.ChangeTracker.HasChanges())
        {
            // A unique-key clash (another replica reconciled at the same moment) throws; the pipeline retries and finds its rows.
            await db.SaveChangesAsync(cancellationToken);
            wake = true;
        }

        if (wake)
        {
            outbox.Wake();
        }
    }

    /// <summary>(outbox channel, destination, whether timeline events become thread replies) for this incident.</summary>
    private IEnumerable<(string Channel, string To, bool Replies)> Destinations(Incident incident, IncidentRoute? route)
    {
        var teamsToTell = Audience(incident, route);
        if (options.Slack is { } slack)
        {
            foreach (var slackChannel in Pick(slack.TeamChannels, slack.DefaultChannel, teamsToTell))
            {
                yield return (ChatKinds.SlackChannel, slackChannel, slack.ThreadReplies);
            }
        }

        if (options.Teams is { } teams)
        {
            foreach (var teamsChannel in Pick(teams.TeamChannels, teams.DefaultChannel, teamsToTell))
            {
                yield return (ChatKinds.TeamsChannel, teamsChannel, true);
            }

            if (teams.WorkflowsWebhookUrlEnv is not null)
            {
                yield return (ChatKinds.WorkflowsChannel, "webhook", false);
            }
        }

        if (options.UseSink)
        {
            yield return (ChatKinds.SinkChannel, "local", false);
        }
    }

    /// <summary>
    /// The teams whose channels get the card: the route's primary and informed teams once routing has decided (a
    /// metadata credential theft routed to the SOC goes to the SOC's channel, not the owner's), else the owning team.
    /// </summary>
    private static List<string> Audience(Incident incident, IncidentRoute? route) =>
        route is not null
            ? [.. new[] { route.PrimaryTeam, route.InformedTeam }.OfType<string>().Where(t => t.Length > 0).Distinct(StringComparer.Ordinal)]
            : [.. new[] { incident.OwnerTeam }.OfType<string>()];

    /// <summary>Each team's configured channel (once each); the default channel when none of them has one.</summary>
    private static List<string> Pick(Dictionary<string, string> teamChannels, string? fallback, List<string> teams)
    {
        var channels = teams.Select(t => teamChannels.GetValueOrDefault(t)).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        return channels.Count > 0 ? channels : fallback is null ? [] : [fallback];
    }

    private static OutboxRequest Request(long incidentId, string channel, string kind, string key, string to, Incident incident, int priority,
        string? series = null) =>
        new(incidentId, channel, kind, new JsonObject
        {
            ["incident_id"] = incidentId, ["to"] = to, ["version"] = incident.Version, ["alert_count"] = incident.AlertCount,
        }.ToJsonString(), key, Priority: priority, Series: series);

    /// <summary>The payload of one card message (read for the newest only: the list above leaves payloads out).</summary>
    private static Task<string> PayloadAsync(TriageDbContext db, long messageId, CancellationToken cancellationToken) =>
        db.Set<OutboxMessage>().AsNoTracking().Where(m => m.Id == messageId).Select(m => m.Payload).SingleAsync(cancellationToken);

    /// <summary>The incident version and alert count a card message was queued for (0 for fields it lacks).</summary>
    private static (int Version, int AlertCount) Shown(string payload)
    {
        using var document = JsonDocument.Parse(payload);
        return (Field(document.RootElement, "version"), Field(document.RootElement, "alert_count"));

        static int Field(JsonElement root, string name) => root.TryGetProperty(name, out var v) && v.TryGetInt32(out var value) ? value : 0;
    }
}

/// <summary>Outbox channel names and message kinds of the chat feature.</summary>
internal static class ChatKinds
{
    public const string SlackChannel = "slack";
    public const string TeamsChannel = "teams";
    public const string WorkflowsChannel = "teams_workflows";
    public const string SinkChannel = "card_sink";

    public const string Card = "card";
    public const string CardUpdate = "card_update";
    public const string Reply = "thread_reply";
}
