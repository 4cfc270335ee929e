using Microsoft.EntityFrameworkCore;
using Prometheus;
using Triage.Api.Operations;
using Triage.Api.Persistence;

namespace Triage.Api.Delivery;

/// <summary>What one retention sweep deleted, and in how many DELETE statements.</summary>
internal sealed record OutboxSweep(int Superseded, int Statements);

/// <summary>
/// Keeps the outbox table from growing without bound: every <see cref="OutboxRetentionOptions.Interval"/> it deletes
/// sent messages nothing reads any more, in statements of at most <see cref="OutboxRetentionOptions.BatchSize"/> rows,
/// off the request path.
/// </summary>
/// <remarks>
/// <para>What goes: a message of a <see cref="OutboxMessage.Series"/> (a chat card's updates) that is delivered or
/// failed for good, once a later message of the same channel and series was delivered. A busy incident queues a card
/// update per count refresh; without this every one of them stayed, and the dispatcher's due-query and the chat
/// notifier's read of an incident's card messages grew with them.</para>
/// <para>What stays, and why: a pending message (also one in flight: its lease is a pending row) is never deleted.
/// The newest message of a series stays (nothing later supersedes it): the chat notifier reads the newest card
/// message's payload to decide whether the card is behind. Messages without a series stay — the card post (its remote
/// id is what later updates and replies edit), thread replies, pages and PagerDuty events — because their producers
/// enqueue them again under the same key when the row is missing, which would send them a second time. Every attempt
/// was written to the incident's timeline, so the history outlives the row.</para>
/// </remarks>
internal sealed partial class OutboxRetention(
    IServiceScopeFactory scopes,
    DeliveryOptions options,
    TimeProvider time,
    ILogger<OutboxRetention> logger) : BackgroundService
{
    private static readonly Counter Deleted = Metrics.CreateCounter(
        "triage_outbox_retention_deleted_total", "Outbox rows deleted by retention, by reason (superseded).",
        new CounterConfiguration { LabelNames = ["reason"] });

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PeriodicWork.RunAsync(options.Retention.Interval, time, runAtStart: false, async ct => await SweepAsync(ct),
            ex => LogSweepFailed(logger, ex), stoppingToken);

    /// <summary>Deletes everything retention may delete now, batch by batch.</summary>
    public async Task<OutboxSweep> SweepAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var batch = options.Retention.BatchSize;
        int superseded = 0, statements = 0;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        int deleted;
        do
        {
            // Each statement commits on its own, so other writers get in between batches.
            deleted = await DeleteSupersededAsync(db, batch, cancellationToken);
            statements++;
            superseded += deleted;
            Deleted.WithLabels("superseded").Inc(deleted);
            if (deleted > 0)
            {
                LogBatch(logger, deleted, "superseded");
            }
        }
        while (deleted == batch);

        if (superseded > 0)
        {
            var elapsed = time.GetElapsedTime(started);
            LogSwept(logger, superseded, statements, elapsed);
        }

        return new OutboxSweep(superseded, statements);
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Outbox retention deleted {Count} {Reason} message(s) in one statement")]
    private static partial void LogBatch(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbox retention deleted {Superseded} superseded message(s) in {Statements} statement(s), {Elapsed}")]
    private static partial void LogSwept(ILogger logger, int superseded, int statements, TimeSpan elapsed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Outbox retention sweep failed; retrying at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
