using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Response;

/// <summary>
/// Wakes a sensor's waiting long poll when a command for its node is queued. The database is the queue; this only
/// saves the poll from waiting out its timeout. A wake-up that finds no waiter is simply lost: the next poll reads
/// the database first.
/// </summary>
internal sealed class SensorCommandSignal
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);

    public Task WaitAsync(string node) =>
        _waiters.GetOrAdd(node, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Notify(string node)
    {
        if (_waiters.TryRemove(node, out var waiter))
        {
            waiter.TrySetResult();
        }
    }
}

/// <summary>Hands queued node-local actions to the node's sensor and records what the sensor reports back.</summary>
internal sealed partial class SensorCommandQueue(
    TriageDbContext db,
    SensorCommandSignal signal,
    ResponseOptions options,
    ResponseRecorder recorder,
    TimeProvider time,
    ILogger<SensorCommandQueue> logger)
{
    /// <summary>
    /// Returns the node's due commands, waiting up to <paramref name="wait"/> for one to arrive. Commands past
    /// <see cref="ResponseOptions.CommandTimeout"/> are marked expired instead of delivered.
    /// </summary>
    public async Task<IReadOnlyList<SensorCommand>> TakeAsync(string node, TimeSpan wait, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            // Subscribe before reading, so a command queued between the read and the wait still wakes us.
            var woken = signal.WaitAsync(node);
            var commands = await TakeDueAsync(node, ct);
            var remaining = deadline - time.GetUtcNow();
            if (commands.Count > 0 || remaining <= TimeSpan.Zero)
            {
                return commands;
            }

            try
            {
                await woken.WaitAsync(remaining, time, ct);
            }
            catch (TimeoutException)
            {
                return [];
            }
        }
    }

    private async Task<IReadOnlyList<SensorCommand>> TakeDueAsync(string node, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var leaseEnd = now - options.CommandLease;
        var candidates = await db.Set<ResponseAction>()
            .Where(a => a.Node == node && (a.Status == ResponseActionStatus.Pending || a.Status == ResponseActionStatus.Delivered))
            .OrderBy(a => a.Id)
            .ToListAsync(ct);

        var due = new List<ResponseAction>();
        foreach (var action in candidates)
        {
            if (now - action.RequestedAt > options.CommandTimeout)
            {
                await recorder.CompleteAsync(action, ResponseActionStatus.Expired,
                    $"no result from the sensor on {node} within {options.CommandTimeout.TotalSeconds:0}s"
                    + (action.Deliveries == 0 ? " (never fetched)" : $" (fetched {action.Deliveries} time(s))"), ct);
            }
            else if (action.Status == ResponseActionStatus.Pending || action.DeliveredAt <= leaseEnd)
            {
                action.Status = ResponseActionStatus.Delivered;
                action.DeliveredAt = now;
                action.Deliveries++;
                due.Add(action);
            }
        }

        await db.SaveChangesAsync(ct);
        foreach (var action in due)
        {
            LogDelivered(logger, action.Id, action.Action, node, action.Deliveries);
        }

        return due.Select(ToCommand).ToList();
    }

    /// <summary>Records a sensor's result. Returns false when the command is unknown or belongs to another node.</summary>
    public async Task<bool> CompleteAsync(string node, long id, SensorCommandResult result, CancellationToken ct)
    {
        var action = await db.Set<ResponseAction>().FirstOrDefaultAsync(a => a.Id == id && a.Node == node, ct);
        if (action is null)
        {
            return false;
        }

        if (action.Status is ResponseActionStatus.Succeeded or ResponseActionStatus.Failed or ResponseActionStatus.Refused)
        {
            // A redelivered command answered twice: the first answer stands.
            return true;
        }

        var status = result.Outcome switch
        {
            SensorCommandOutcomes.Succeeded => ResponseActionStatus.Succeeded,
            SensorCommandOutcomes.Refused => ResponseActionStatus.Refused,
            _ => ResponseActionStatus.Failed,
        };
        await recorder.CompleteAsync(action, status, result.Detail ?? result.Outcome ?? "", ct);
        return true;
    }

    /// <summary>Wakes the node's long poll after a command was committed.</summary>
    public void Notify(string node) => signal.Notify(node);

    private static SensorCommand ToCommand(ResponseAction action) => new()
    {
        Id = action.Id,
        Action = action.Action,
        IncidentId = action.IncidentId,
        AlertId = action.AlertId,
        IssuedAt = action.RequestedAt,
        Target = new SensorCommandTarget
        {
            Pid = action.Pid,
            StartTimeNs = action.StartTimeNs is { } ns ? (ulong)ns : null,
            ContainerId = action.ContainerId,
            ExeUpperLayer = action.ExeUpperLayer,
        },
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Delivered command {Id} ({Action}) to the sensor on {Node} (delivery {Delivery})")]
    private static partial void LogDelivered(ILogger logger, long id, string action, string node, int delivery);
}
