using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Prometheus;
using Triage.Api.Persistence;

namespace Triage.Api.Incidents;

/// <summary>
/// A step that reacts to incident changes: enrichment (100), routing (200), suppression (250), notification (300),
/// escalation and paging (400), response (500). Steps run in ascending <see cref="Order"/>; one incident is processed by
/// one worker at a time, different incidents in parallel.
/// </summary>
/// <remarks>
/// Steps receive only the incident id and must reconcile: read the incident's current state and do what is missing.
/// Several changes may arrive as one call, and a call may repeat after a crash. An exception retries the incident
/// later with backoff; the incident stays marked until every step has succeeded.
/// </remarks>
internal interface IIncidentObserver
{
    int Order { get; }

    /// <summary>
    /// Whether the step shows the alert count or last-seen time (a chat card does). Only such steps run when nothing
    /// but those changed (<see cref="IncidentPipeline.EnqueueCountChange"/>).
    /// </summary>
    bool ShowsAlertCount => false;

    Task ProcessAsync(long incidentId, CancellationToken cancellationToken);
}

/// <summary>Options of the incident pipeline.</summary>
internal sealed class IncidentPipelineOptions
{
    /// <summary>First retry delay after a failed step; doubles per attempt up to <see cref="MaxRetryDelay"/>. Default 1 s.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest delay between retries. Default 5 minutes.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Incidents processed at once (one incident is never processed twice at the same time). Several, so that a new
    /// incident's card does not wait for another incident's slow steps (a Kubernetes lookup, scheduling its
    /// escalation, a response action). Default 4.
    /// </summary>
    public int Workers { get; set; } = 4;
}

/// <summary>
/// Hands changed incidents to the <see cref="IIncidentObserver"/>s. Durable through <see cref="Incident.NeedsProcessing"/>:
/// the flag is set in the transaction that changes the incident and cleared only after all observers succeeded, and
/// at start-up every flagged incident is queued again.
/// </summary>
internal sealed partial class IncidentPipeline(
    IServiceScopeFactory scopes,
    IEnumerable<IIncidentObserver> observers,
    IncidentPipelineOptions options,
    TimeProvider time,
    ILogger<IncidentPipeline> logger) : BackgroundService
{
    private static readonly Histogram StepDuration = Metrics.CreateHistogram(
        "triage_pipeline_step_duration_seconds", "Time one incident pipeline step took for one incident, by step.",
        new HistogramConfiguration { LabelNames = ["step"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });

    private static readonly Histogram QueueWait = Metrics.CreateHistogram(
        "triage_pipeline_queue_wait_seconds", "Time a changed incident waited for a pipeline worker.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });

    private static readonly Gauge PendingGauge = Metrics.CreateGauge(
        "triage_pipeline_pending", "Changed incidents waiting for or in their observers (0 when the pipeline has caught up).");

    private readonly Channel<(long IncidentId, long QueuedAt)> _queue = Channel.CreateUnbounded<(long, long)>();
    private readonly IIncidentObserver[] _observers = [.. observers.OrderBy(o => o.Order)];
    private readonly IIncidentObserver[] _countObservers = [.. observers.Where(o => o.ShowsAlertCount).OrderBy(o => o.Order)];
    private readonly Dictionary<long, int> _attempts = [];
    private readonly HashSet<long> _queued = [];

    /// <summary>Queued incidents whose only change is their alert count and last-seen time.</summary>
    private readonly HashSet<long> _countOnly = [];

    private readonly HashSet<long> _running = [];

    /// <summary>Incidents changed while a worker had them, and whether the change was count-only.</summary>
    private readonly Dictionary<long, bool> _changedWhileRunning = [];
    private readonly Lock _gate = new();

    /// <summary>Queues an incident whose change is already committed, for every step. Duplicate requests coalesce.</summary>
    public void Enqueue(long incidentId) => Enqueue(incidentId, countOnly: false);

    /// <summary>
    /// Queues an incident whose alert count or last-seen time changed and nothing else, for the steps that show them.
    /// Not durable: the count is already stored, and the next change or refresh shows it.
    /// </summary>
    public void EnqueueCountChange(long incidentId) => Enqueue(incidentId, countOnly: true);

    private void Enqueue(long incidentId, bool countOnly)
    {
        lock (_gate)
        {
            if (_running.Contains(incidentId))
            {
                // Its worker may already have read the old state: run it once more when that worker is done.
                _changedWhileRunning[incidentId] = countOnly && _changedWhileRunning.GetValueOrDefault(incidentId, true);
                return;
            }

            if (!_queued.Add(incidentId))
            {
                if (!countOnly)
                {
                    _countOnly.Remove(incidentId);
                }

                return;
            }

            if (countOnly)
            {
                _countOnly.Add(incidentId);
            }

            PendingGauge.Set(_queued.Count + _running.Count);
        }

        _queue.Writer.TryWrite((incidentId, Stopwatch.GetTimestamp()));
    }

    /// <summary>Incidents waiting for or in their observers; for tests and readiness.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _queued.Count + _running.Count;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await RequeueUnfinishedAsync(stoppingToken);
        await Task.WhenAll(Enumerable.Range(0, Math.Max(1, options.Workers)).Select(_ => Task.Run(() => WorkAsync(stoppingToken), stoppingToken)));
    }

    private async Task WorkAsync(CancellationToken stoppingToken)
    {
        await foreach (var (incidentId, queuedAt) in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            QueueWait.Observe(Stopwatch.GetElapsedTime(queuedAt).TotalSeconds);
            bool countOnly;
            lock (_gate)
            {
                _queued.Remove(incidentId);
                countOnly = _countOnly.Remove(incidentId);
                _running.Add(incidentId);
            }

            try
            {
                await ProcessOneAsync(incidentId, countOnly, stoppingToken);
            }
            finally
            {
                bool again;
                bool againCountOnly;
                lock (_gate)
                {
                    _running.Remove(incidentId);
                    again = _changedWhileRunning.Remove(incidentId, out againCountOnly);
                    PendingGauge.Set(_queued.Count + _running.Count);
                }

                if (again)
                {
                    Enqueue(incidentId, againCountOnly);
                }
            }
        }
    }

    private async Task RequeueUnfinishedAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var unfinished = await db.Incidents.Where(i => i.NeedsProcessing).Select(i => i.Id).ToListAsync(cancellationToken);
        foreach (var id in unfinished)
        {
            Enqueue(id);
        }
    }

    private async Task ProcessOneAsync(long incidentId, bool countOnly, CancellationToken cancellationToken)
    {
        try
        {
            if (countOnly)
            {
                // The incident is not flagged for a count change, so there is no flag to clear.
                await RunAsync(_countObservers, incidentId, cancellationToken);
                return;
            }

            int version;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
                version = await db.Incidents.Where(i => i.Id == incidentId).Select(i => i.Version).FirstOrDefaultAsync(cancellationToken);
            }

            await RunAsync(_observers, incidentId, cancellationToken);

            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();

                // Clear the flag only if nothing changed meanwhile; a newer change keeps it set and is queued again.
                var cleared = await db.Incidents
                    .Where(i => i.Id == incidentId && i.Version == version)
                    .ExecuteUpdateAsync(s => s.SetProperty(i => i.NeedsProcessing, false), cancellationToken);
                if (cleared == 0)
                {
                    Enqueue(incidentId);
                }
            }

            lock (_gate)
            {
                _attempts.Remove(incidentId);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // One failing observer must not stop the pipeline; the incident is retried.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            int attempt;
            lock (_gate)
            {
                attempt = _attempts[incidentId] = _attempts.GetValueOrDefault(incidentId) + 1;
            }

            var delay = TimeSpan.FromTicks(Math.Min(options.MaxRetryDelay.Ticks, options.FirstRetryDelay.Ticks << Math.Min(attempt - 1, 20)));
            LogObserverFailed(logger, ex, incidentId, attempt, delay);
            _ = RetryLaterAsync(incidentId, countOnly, delay, cancellationToken);
        }
    }

    private static async Task RunAsync(IIncidentObserver[] observers, long incidentId, CancellationToken cancellationToken)
    {
        foreach (var observer in observers)
        {
            var started = Stopwatch.GetTimestamp();
            await observer.ProcessAsync(incidentId, cancellationToken);
            StepDuration.WithLabels(observer.GetType().Name).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private async Task RetryLaterAsync(long incidentId, bool countOnly, TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, time, cancellationToken);
            Enqueue(incidentId, countOnly);
        }
        catch (OperationCanceledException)
        {
            // Shutting down: the incident keeps NeedsProcessing and is picked up at the next start.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Incident {IncidentId}: processing failed (attempt {Attempt}); retrying in {Delay}")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, long incidentId, int attempt, TimeSpan delay);
}
