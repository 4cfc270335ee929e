using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;
using Triage.Bot.Cards;
using Triage.Contracts;

namespace Triage.Api.Chat;

/// <summary>
/// Maps an incident, its newest alert and its timeline into the chat-neutral <see cref="IncidentCard"/>. Sections that
/// other features produce (owner, route, rollouts, votes, evidence) are filled from what the incident carries so far
/// and left empty otherwise; the card renders whatever is present.
/// </summary>
internal sealed class IncidentCardMapper(TriageDbContext db, ChatOptions options)
{
    /// <summary>Timeline kinds worth showing people as "who acted" lines and thread replies.</summary>
    public static bool IsPeopleEvent(TimelineEntry entry) =>
        entry.Kind is not ("created" or "alert_added") && !entry.Kind.StartsWith("delivery_", StringComparison.Ordinal);

    public async Task<IncidentCard?> MapAsync(long incidentId, CancellationToken ct)
    {
        var incident = await db.Incidents.AsNoTracking().FirstOrDefaultAsync(i => i.Id == incidentId, ct);
        if (incident is null)
        {
            return null;
        }

        var latest = await db.Alerts.AsNoTracking().Where(a => a.IncidentId == incidentId)
            .OrderByDescending(a => a.Time).Select(a => a.Payload).FirstOrDefaultAsync(ct);
        var timeline = await db.Timeline.AsNoTracking().Where(t => t.IncidentId == incidentId)
            .OrderBy(t => t.Id).ToListAsync(ct);
        return Map(incident, latest is null ? null : JsonSerializer.Deserialize<NativeAlert>(latest, TriageJson.Options), timeline);
    }

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
