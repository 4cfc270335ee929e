using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Delivery;
using Triage.Api.Incidents;
using Triage.Api.Persistence;

namespace Triage.Api.Chat;

/// <summary>
/// Pipeline step 300: makes sure every configured chat destination has the incident's card and that the card shows the
/// current state. Idempotent reconcile through the outbox: one post per destination (key <c>incident-{id}/card/{to}</c>),
/// one update per incident version (<c>…/v{version}</c>), one thread reply per timeline event (<c>…/reply/{entry}</c>).
/// Card bodies are rendered at delivery time, so a late update always carries the newest state.
/// </summary>
internal sealed class ChatNotifier(IServiceScopeFactory scopes, ChatOptions options, Outbox outbox) : IIncidentObserver
{
    public int Order => 300;

    public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var incident = await db.Incidents.AsNoTracking().FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken);
        if (incident is null)
        {
            return;
        }

        var existing = await db.Set<OutboxMessage>().AsNoTracking()
            .Where(m => m.IncidentId == incidentId && (m.Kind == ChatKinds.Card || m.Kind == ChatKinds.CardUpdate || m.Kind == ChatKinds.Reply))
            .Select(m => new { m.Channel, m.Kind, m.IdempotencyKey, m.Payload })
            .ToListAsync(cancellationToken);
        var people = await db.Timeline.AsNoTracking().Where(t => t.IncidentId == incidentId).OrderBy(t => t.Id).ToListAsync(cancellationToken);

        foreach (var (channel, to, replies) in Destinations(incident))
        {
            var prefix = $"incident-{incidentId}/card/{to}";
            var mine = existing.Where(m => m.Channel == channel && m.IdempotencyKey.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            if (!mine.Any(m => m.Kind == ChatKinds.Card))
            {
                await outbox.AddAsync(db, Request(incidentId, channel, ChatKinds.Card, prefix, to, incident.Version), cancellationToken);
            }
            else
            {
                var shown = mine.Where(m => m.Kind != ChatKinds.Reply).Max(m => VersionOf(m.Payload));
                if (incident.Version > shown)
                {
                    await outbox.AddAsync(db, Request(incidentId, channel, ChatKinds.CardUpdate,
                        $"{prefix}/v{incident.Version.ToString(CultureInfo.InvariantCulture)}", to, incident.Version), cancellationToken);
                }
            }

            if (replies)
            {
                foreach (var entry in people.Where(IncidentCardMapper.IsPeopleEvent))
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
                        await outbox.AddAsync(db, new OutboxRequest(incidentId, channel, ChatKinds.Reply, payload.ToJsonString(), key), cancellationToken);
                    }
                }
            }
        }

        if (db.ChangeTracker.HasChanges())
        {
            // A unique-key clash (another replica reconciled at the same moment) throws; the pipeline retries and finds its rows.
            await db.SaveChangesAsync(cancellationToken);

            outbox.Wake();
        }
    }

    /// <summary>(outbox channel, destination, whether timeline events become thread replies) for this incident.</summary>
    private IEnumerable<(string Channel, string To, bool Replies)> Destinations(Incident incident)
    {
        if (options.Slack is { } slack && Pick(slack.TeamChannels, slack.DefaultChannel, incident) is { } slackChannel)
        {
            yield return (ChatKinds.SlackChannel, slackChannel, slack.ThreadReplies);
        }

        if (options.Teams is { } teams)
        {
            if (Pick(teams.TeamChannels, teams.DefaultChannel, incident) is { } teamsChannel)
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

    private static string? Pick(Dictionary<string, string> teamChannels, string? fallback, Incident incident) =>
        incident.OwnerTeam is { } team && teamChannels.TryGetValue(team, out var channel) ? channel : fallback;

    private static OutboxRequest Request(long incidentId, string channel, string kind, string key, string to, int version) =>
        new(incidentId, channel, kind, new JsonObject { ["incident_id"] = incidentId, ["to"] = to, ["version"] = version }.ToJsonString(), key);

    private static int VersionOf(string payload) =>
        JsonDocument.Parse(payload).RootElement.TryGetProperty("version", out var v) && v.TryGetInt32(out var version) ? version : 0;
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
