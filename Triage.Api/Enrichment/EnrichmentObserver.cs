using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Incidents;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Enrichment;

/// <summary>
/// Pipeline step 100: enriches an incident when it has no enrichment, when the alert's subject changed, when the
/// stored one is older than the staleness bound, or when an unavailable one is due for another try. It never throws
/// for a Kubernetes failure, so routing and notification (later steps) still run on what is known; the retry comes
/// from <see cref="EnrichmentRetryService"/> through <see cref="IncidentPipeline.Enqueue"/>.
/// </summary>
internal sealed partial class EnrichmentObserver(
    IServiceScopeFactory scopes,
    IncidentEnricher enricher,
    EnrichmentOptions options,
    TimeProvider time,
    ILogger<EnrichmentObserver> logger) : IIncidentObserver
{
    public int Order => 100;

    public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var incident = await db.Incidents.AsNoTracking().FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken);
        if (incident is null)
        {
            return;
        }

        var stored = await db.Set<IncidentEnrichment>().FirstOrDefaultAsync(e => e.IncidentId == incidentId, cancellationToken);
        var subject = await SubjectAsync(db, incident, cancellationToken);
        var key = SubjectKey(subject);
        var now = time.GetUtcNow();
        if (stored is not null && !Due(stored, incident, key, now))
        {
            return;
        }

        var document = await enricher.EnrichAsync(subject, cancellationToken);
        var previousStatus = stored?.Status;
        var previousOwner = stored?.OwnerTeam;
        if (stored is null)
        {
            stored = new IncidentEnrichment { IncidentId = incidentId };
            db.Add(stored);
        }

        stored.Status = document.Status;
        stored.Reason = document.Reason;
        stored.OwnerTeam = document.Owner.Team;
        stored.OwnerSource = document.Owner.Source;
        stored.RunbookName = document.Runbook?.Name;
        stored.Facts = [.. document.Deployments?.Facts.Select(f => f.Kind) ?? []];
        stored.MinutesSinceRollout = document.Deployments?.MinutesBeforeAlert;
        stored.SubjectKey = key;
        stored.EnrichedAt = document.EnrichedAt;
        stored.Document = JsonSerializer.Serialize(document, TriageJson.Options);
        if (document.Status == EnrichmentStatus.Unavailable)
        {
            stored.Attempts++;
            stored.NextAttemptAt = now + options.Kubernetes.RetryInterval;
            LogUnavailable(logger, incidentId, document.Reason, stored.NextAttemptAt.Value);
        }
        else
        {
            stored.Attempts = 0;
            stored.NextAttemptAt = null;
        }

        AppendTimeline(db, incidentId, now, document, previousStatus, previousOwner);
        await db.SaveChangesAsync(cancellationToken);
        await UpdateIncidentAsync(db, incident, document, cancellationToken);
    }

    private bool Due(IncidentEnrichment stored, Incident incident, string key, DateTimeOffset now) =>
        stored.SubjectKey != key
        || (stored.Status == EnrichmentStatus.Unavailable && stored.NextAttemptAt <= now)
        || (incident.Status != IncidentStatus.Resolved
            && stored.Status != EnrichmentStatus.Unavailable
            && now - stored.EnrichedAt > options.Kubernetes.CacheTtl);

    /// <summary>
    /// Owner on the incident (for lists, filters and routing) and, for alerts that arrived with Kubernetes pending,
    /// the context found here. Single-column updates without the version check: they only fill in what enrichment
    /// owns, and must not fail against a concurrent alert write.
    /// </summary>
    private static async Task UpdateIncidentAsync(TriageDbContext db, Incident incident, EnrichmentDocument document,
        CancellationToken cancellationToken)
    {
        var incidents = db.Incidents.Where(i => i.Id == incident.Id);
        if (document.Owner.Team is { } team && team != incident.OwnerTeam)
        {
            await incidents.ExecuteUpdateAsync(s => s.SetProperty(i => i.OwnerTeam, team), cancellationToken);
        }

        if (document.Workload is { Source: "kubernetes", ResolvedFromContainerId: true } workload && incident.Namespace is null)
        {
            await incidents.Where(i => i.Namespace == null).ExecuteUpdateAsync(s => s
                .SetProperty(i => i.Namespace, workload.Namespace)
                .SetProperty(i => i.Pod, workload.Pod)
                .SetProperty(i => i.WorkloadKind, workload.Kind)
                .SetProperty(i => i.WorkloadName, workload.Name), cancellationToken);
        }
    }

    private static void AppendTimeline(TriageDbContext db, long incidentId, DateTimeOffset now,
        EnrichmentDocument document, EnrichmentStatus? previousStatus, string? previousOwner)
    {
        var actor = Actor.System("enrichment");
        if (document.Status == EnrichmentStatus.Unavailable)
        {
            if (previousStatus != EnrichmentStatus.Unavailable)
            {
                IncidentTimeline.Append(db, incidentId, now, actor, "enrichment_unavailable",
                    $"Kubernetes enrichment unavailable: {document.Reason}; owner {Owner(document)} for now, retrying");
            }

            return;
        }

        // Without a cluster to ask, the first enrichment only restates configuration: no timeline entry (and so no
        // chat thread reply) for it; the section on the incident shows it.
        if (previousStatus is null && document.Status == EnrichmentStatus.NotApplicable)
        {
            return;
        }

        if (previousStatus is null or EnrichmentStatus.Unavailable)
        {
            var parts = new List<string> { $"owner {Owner(document)}" };
            if (document.Workload is { Kind: not null } workload)
            {
                parts.Add($"{workload.Kind} {workload.Namespace}/{workload.Name}");
            }

            parts.AddRange(document.Deployments?.Facts.Select(f => f.Text) ?? []);
            if (document.Runbook is { } runbook)
            {
                parts.Add($"runbook {runbook.Title}");
            }

            if (document.Reason is { } reason)
            {
                parts.Add(reason);
            }

            IncidentTimeline.Append(db, incidentId, now, actor,
                previousStatus is null ? "enriched" : "enrichment_completed", string.Join("; ", parts));
        }
        else if (previousOwner != document.Owner.Team)
        {
            IncidentTimeline.Append(db, incidentId, now, actor, "owner_changed",
                $"Owner changed from {previousOwner ?? "none"} to {Owner(document)}");
        }
    }

    private static string Owner(EnrichmentDocument document) =>
        document.Owner.Team is { } team ? $"{team} ({document.Owner.Detail})" : "unknown";

    /// <summary>The incident's fields plus its newest alert's container id, pending flag and named runbook.</summary>
    private static async Task<EnrichmentSubject> SubjectAsync(TriageDbContext db, Incident incident,
        CancellationToken cancellationToken)
    {
        var payload = await db.Alerts.AsNoTracking().Where(a => a.IncidentId == incident.Id)
            .OrderByDescending(a => a.Time).Select(a => a.Payload).FirstOrDefaultAsync(cancellationToken);
        var alert = payload is null ? null : JsonSerializer.Deserialize<NativeAlert>(payload, TriageJson.Options);
        return new EnrichmentSubject
        {
            Rule = incident.Rule,
            Tags = incident.Tags,
            RunbookName = alert?.Runbook,
            AlertTime = incident.FirstSeen,
            Namespace = incident.Namespace,
            Pod = incident.Pod,
            WorkloadKind = incident.WorkloadKind,
            WorkloadName = incident.WorkloadName,
            Node = incident.Node,
            ContainerId = alert?.Container?.Id,
            Image = incident.Image,
            KubernetesPending = alert?.K8s?.Pending == true,
        };
    }

    private static string SubjectKey(EnrichmentSubject subject) =>
        $"{subject.Namespace}/{subject.Pod}/{subject.WorkloadKind}/{subject.WorkloadName}"
        + (subject.Namespace is null ? $"/{subject.Node}/{subject.ContainerId}" : "");

    [LoggerMessage(Level = LogLevel.Warning, Message = "Incident {IncidentId}: Kubernetes enrichment unavailable ({Reason}); next try at {NextAttempt}")]
    private static partial void LogUnavailable(ILogger logger, long incidentId, string? reason, DateTimeOffset nextAttempt);
}
