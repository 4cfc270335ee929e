using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;

namespace Triage.Api.Incidents;

/// <summary>
/// A step that reacts to incident changes: enrichment (100), routing (200), suppression (250), notification (300),
/// escalation and paging (400), response (500). Steps run in ascending <see cref="Order"/> for one incident at a time.
/// </summary>
/// <remarks>
/// Steps receive only the incident id and must reconcile: read the incident's current state and do what is missing.
/// Several changes may arrive as one call, and a call may repeat after a crash. An exception retries the incident
/// later with backoff; the incident stays marked until every step has succeeded.
/// </remarks>
internal interface IIncidentObserver
{
    int Order { get; }

    Task ProcessAsync(long incidentId, CancellationToken cancellationToken);
}

/// <summary>Options of the incident pipeline.</summary>
internal sealed class IncidentPipelineOptions
{
    /// <summary>First retry delay after a failed step; doubles per attempt up to <see cref="MaxRetryDelay"/>. Default 1 s.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest delay between retries. Default 5 minutes.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(5);
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
    private readonly Channel<long> _queue = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IIncidentObserver[] _observers = [.. observers.OrderBy(o => o.Order)];
    private readonly Dictionary<long, int> _attempts = [];
    private readonly HashSet<long> _queued = [];
    private readonly Lock _gate = new();

    /// <summary>Queues an incident whose change is already committed. Duplicate requests coalesce.</summary>
    public void Enqueue(long incidentId)
    {
        lock (_gate)
        {
            if (!_queued.Add(incidentId))
            {
                return;
            }
        }

        _queue.Writer.TryWrite(incidentId);
    }

    /// <summary>Incidents waiting for their observers; for tests and readiness.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _queued.Count;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await RequeueUnfinishedAsync(stoppingToken);
        await foreach (var incidentId in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            lock (_gate)
            {
                _queued.Remove(incidentId);
            }

            await ProcessOneAsync(incidentId, stoppingToken);
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

    private async Task ProcessOneAsync(long incidentId, CancellationToken cancellationToken)
    {
        try
        {
            int version;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
                version = await db.Incidents.Where(i => i.Id == incidentId).Select(i => i.Version).FirstOrDefaultAsync(cancellationToken);
            }

            foreach (var observer in _observers)
            {
                await observer.ProcessAsync(incidentId, cancellationToken);
            }

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

            _attempts.Remove(incidentId);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // One failing observer must not stop the pipeline; the incident is retried.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            var attempt = _attempts[incidentId] = _attempts.GetValueOrDefault(incidentId) + 1;
            var delay = TimeSpan.FromTicks(Math.Min(options.MaxRetryDelay.Ticks, options.FirstRetryDelay.Ticks << Math.Min(attempt - 1, 20)));
            LogObserverFailed(logger, ex, incidentId, attempt, delay);
            _ = RetryLaterAsync(incidentId, delay, cancellationToken);
        }
    }

    private async Task RetryLaterAsync(long incidentId, TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, time, cancellationToken);
            Enqueue(incidentId);
        }
        catch (OperationCanceledException)
        {
            // Shutting down: the incident keeps NeedsProcessing and is picked up at the next start.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Incident {IncidentId}: processing failed (attempt {Attempt}); retrying in {Delay}")]
    private static partial void LogObserverFailed(ILogger logger, Exception exception, long incidentId, int attempt, TimeSpan delay);
}
