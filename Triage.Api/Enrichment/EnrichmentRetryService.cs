using Triage.Api.Operations;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Incidents;
using Triage.Api.Persistence;

namespace Triage.Api.Enrichment;

/// <summary>
/// Hands incidents whose Kubernetes enrichment was unavailable back to the pipeline once their next attempt is due.
/// The due time lives in the database, so retries survive restarts; the pipeline then runs every step again, and
/// routing sees the owner that the completed enrichment found.
/// </summary>
internal sealed partial class EnrichmentRetryService(
    IServiceScopeFactory scopes,
    IncidentPipeline pipeline,
    EnrichmentOptions options,
    TimeProvider time,
    ILogger<EnrichmentRetryService> logger) : BackgroundService
{
    /// <summary>Queues every due incident; returns how many.</summary>
    public async Task<int> EnqueueDueAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var now = time.GetUtcNow();
        var due = await db.Set<IncidentEnrichment>()
            .Where(e => e.Status == EnrichmentStatus.Unavailable && e.NextAttemptAt <= now)
            .OrderBy(e => e.NextAttemptAt) // Longest-waiting first when more than a round's worth are due.
            .Select(e => e.IncidentId)
            .Take(1000)
            .ToListAsync(cancellationToken);
        foreach (var id in due)
        {
            pipeline.Enqueue(id);
        }

        return due.Count;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // A third of the retry interval: a due incident waits at most that long beyond its due time.
        PeriodicWork.RunAsync(
            TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, options.Kubernetes.RetryInterval.Ticks / 3)),
            time,
            runAtStart: false,
            async ct =>
            {
                var queued = await EnqueueDueAsync(ct);
                if (queued > 0)
                {
                    LogRetrying(logger, queued);
                }
            },
            ex => LogScanFailed(logger, ex),
            stoppingToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Retrying Kubernetes enrichment of {Count} incident(s)")]
    private static partial void LogRetrying(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scan for due enrichment retries failed")]
    private static partial void LogScanFailed(ILogger logger, Exception exception);
}
