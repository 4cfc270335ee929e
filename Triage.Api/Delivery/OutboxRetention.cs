using Microsoft.EntityFrameworkCore;
using Prometheus;
using Triage.Api.Operations;
using Triage.Api.Persistence;

namespace Triage.Api.Delivery;

/// <summary>What one retention sweep deleted, and in how many DELETE statements.</summary>
internal sealed record OutboxSweep(int Superseded, int Resolved, int Statements);

/// <summary>
/// Keeps the outbox table from growing without bound: every <see cref="OutboxRetentionOptions.Interval"/> it deletes
/// sent messages nothing reads any more, in statements of at most <see cref="OutboxRetentionOptions.BatchSize"/> rows,
/// off the request path.
/// </summary>
/// <remarks>
/// <para>What goes: a message of a <see cref="OutboxMessage.Series"/> (a chat card's updates) that is delivered or
/// failed for good, once a later message of the same channel and series was delivered. A busy incident queues a card
/// update per count refresh; without this every one of them stayed, and the dispatcher's due-query and the chat
/// notifier's read of an incident's card messages grew with them. And every message that is not pending of an incident
/// resolved <see cref="OutboxRetentionOptions.ResolvedIncidents"/> plus <see cref="OutboxRetentionOptions.ClosedGrace"/>
/// ago: from <see cref="OutboxRetentionOptions.ResolvedIncidents"/> on, the producers (chat notifier, escalation)
/// enqueue nothing more for it (<see cref="OutboxRetentionOptions.IsClosed"/>), so no key comes back.</para>
/// <para>What stays, and why: a pending message (also one in flight: its lease is a pending row) is never deleted.
/// Until the incident is closed, the newest message of a series stays (nothing later supersedes it): the chat notifier
/// reads the newest card message's payload to decide whether the card is behind. So do messages without a series — the
/// card post (its remote id is what later updates and replies edit), thread replies, pages and PagerDuty events —
/// because their producers enqueue them again under the same key when the row is missing, which would send them a
/// second time. Every attempt was written to the incident's timeline, so the history outlives the row.</para>
/// </remarks>
internal sealed partial class OutboxRetention(
    IServiceScopeFactory scopes,
    DeliveryOptions options,
    TimeProvider time,
    ILogger<OutboxRetention> logger) : BackgroundService
{
    private static readonly Counter Deleted = Metrics.CreateCounter(
        "triage_outbox_retention_deleted_total", "Outbox rows deleted by retention, by reason (superseded, resolved).",
        new CounterConfiguration { LabelNames = ["reason"] });

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PeriodicWork.RunAsync(options.Retention.Interval, time, runAtStart: false, async ct => await SweepAsync(ct),
            ex => LogSweepFailed(logger, ex), stoppingToken);

    /// <summary>Deletes everything retention may delete now, batch by batch.</summary>
    public async Task<OutboxSweep> SweepAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var retention = options.Retention;
        var resolvedBefore = time.GetUtcNow() - retention.ResolvedIncidents - OutboxRetentionOptions.ClosedGrace;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var (superseded, supersededStatements) = await InBatchesAsync("superseded",
            () => DeleteSupersededAsync(db, retention.BatchSize, cancellationToken));
        var (resolved, resolvedStatements) = await InBatchesAsync("resolved",
            () => DeleteResolvedAsync(db, resolvedBefore, retention.BatchSize, cancellationToken));
        var statements = supersededStatements + resolvedStatements;
        if (superseded + resolved > 0)
        {
            var elapsed = time.GetElapsedTime(started);
            LogSwept(logger, superseded, resolved, statements, elapsed);
        }

        return new OutboxSweep(superseded, resolved, statements);
    }

    /// <summary>Repeats one bounded DELETE until it comes back short. Returns the rows and statements.</summary>
    private async Task<(int Rows, int Statements)> InBatchesAsync(string reason, Func<Task<int>> deleteBatch)
    {
        int rows = 0, statements = 0, deleted;
        do
        {
            // Each statement commits on its own, so other writers get in between batches.
            deleted = await deleteBatch();
            statements++;
            rows += deleted;
            Deleted.WithLabels(reason).Inc(deleted);
            if (deleted > 0)
            {
                LogBatch(logger, deleted, reason);
            }
        }
        while (deleted == options.Retention.BatchSize);

        return (rows, statements);
    }

    /// <summary>One DELETE of at most <paramref name="limit"/> superseded messages, oldest first. Returns how many went.</summary>
    internal static Task<int> DeleteSupersededAsync(TriageDbContext db, int limit, CancellationToken cancellationToken)
    {
        var outbox = db.Set<OutboxMessage>();
        var doomed = outbox
            .Where(m => m.Series != null
                && (m.Status == OutboxStatus.Delivered || m.Status == OutboxStatus.Failed)
                && outbox.Any(later => later.Series == m.Series && later.Channel == m.Channel && later.Id > m.Id
                    && later.Status == OutboxStatus.Delivered))
            .OrderBy(m => m.Id)
            .Take(limit)
            .Select(m => m.Id);

        // By id through a subquery: both providers translate it to one DELETE … WHERE id IN (SELECT … LIMIT n).
        return outbox.Where(m => doomed.Contains(m.Id)).ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>
    /// One DELETE of at most <paramref name="limit"/> messages that are not pending of incidents resolved before
    /// <paramref name="resolvedBefore"/>, oldest first. Returns how many went.
    /// </summary>
    internal static Task<int> DeleteResolvedAsync(TriageDbContext db, DateTimeOffset resolvedBefore, int limit, CancellationToken cancellationToken)
    {
        var outbox = db.Set<OutboxMessage>();
        var resolved = db.Incidents.Where(i => i.Status == IncidentStatus.Resolved && i.ResolvedAt < resolvedBefore).Select(i => (long?)i.Id);
        var doomed = outbox
            .Where(m => m.Status != OutboxStatus.Pending && resolved.Contains(m.IncidentId))
            .OrderBy(m => m.Id)
            .Take(limit)
            .Select(m => m.Id);
        return outbox.Where(m => doomed.Contains(m.Id)).ExecuteDeleteAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Outbox retention deleted {Count} {Reason} message(s) in one statement")]
    private static partial void LogBatch(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Outbox retention deleted {Superseded} superseded message(s) and {Resolved} of long-resolved incidents in {Statements} statement(s), {Elapsed}")]
    private static partial void LogSwept(ILogger logger, int superseded, int resolved, int statements, TimeSpan elapsed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Outbox retention sweep failed; retrying at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
