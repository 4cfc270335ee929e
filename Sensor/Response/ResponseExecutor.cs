using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sensor.Evidence;
using Sensor.Kernel;
using Triage.Contracts;

namespace Sensor.Response;

/// <summary>
/// Carries out the node-local response actions the triage service queues for this node: long-polls the command
/// channel, executes each command once (a redelivered command gets the first result again), and reports back.
/// </summary>
internal sealed partial class ResponseExecutor(
    TriageCommandClient client,
    EvidenceCapture evidence,
    TimeProvider time,
    ILogger<ResponseExecutor> logger) : BackgroundService
{
    private readonly Dictionary<long, SensorCommandResult> _done = [];
    private readonly Queue<long> _doneOrder = new();

    /// <summary>How long one poll waits on the service. Default 25 s.</summary>
    public TimeSpan LongPoll { get; init; } = TimeSpan.FromSeconds(25);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                foreach (var command in await client.PollAsync(LongPoll, stoppingToken))
                {
                    var result = await ExecuteAsync(command, stoppingToken);
                    await client.ReportAsync(command.Id, result, stoppingToken);
                }

                backoff = TimeSpan.FromSeconds(1);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                LogPollFailed(logger, backoff.TotalSeconds, ex);
                await Task.Delay(backoff, time, stoppingToken);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }

    /// <summary>Executes one command, or returns the result it already had.</summary>
    public async Task<SensorCommandResult> ExecuteAsync(SensorCommand command, CancellationToken ct)
    {
        if (_done.TryGetValue(command.Id, out var earlier))
        {
            return earlier;
        }

        var result = command.Action switch
        {
            SensorCommandActions.KillProcess => Kill(command),
            SensorCommandActions.CaptureEvidence => await CaptureAsync(command, ct),
            _ => new SensorCommandResult { Outcome = SensorCommandOutcomes.Failed, Detail = $"this sensor does not know the action '{command.Action}'" },
        };
        LogExecuted(logger, command.Id, command.Action, result.Outcome ?? "", result.Detail ?? "");
        Remember(command.Id, result);
        return result;
    }

    private static SensorCommandResult Kill(SensorCommand command)
    {
        if (command.Target is not { Pid: { } pid, StartTimeNs: { } start })
        {
            return Result(SensorCommandOutcomes.Failed, "the command names no pid and start time");
        }

        // The pid must still be in the container the alert named: a pid in another container is never ours to kill.
        if (command.Target.ContainerId is { } container && !InContainer(pid, container))
        {
            return ProcFs.Read(pid) is null
                ? Result(SensorCommandOutcomes.Refused, $"process {pid} is already gone")
                : Result(SensorCommandOutcomes.Refused, $"pid {pid} now belongs to a process outside container {container[..12]}: not killed");
        }

        var at = (start / 1_000_000_000.0).ToString("0.00", CultureInfo.InvariantCulture);
        return ProcessKiller.Kill(pid, start) switch
        {
            KillResult.Killed => Result(SensorCommandOutcomes.Succeeded, $"process {pid} (started {at}s after boot) killed with SIGKILL through a pidfd"),
            KillResult.NotFound => Result(SensorCommandOutcomes.Refused, $"process {pid} is already gone"),
            KillResult.PidReused => Result(SensorCommandOutcomes.Refused, $"pid {pid} now belongs to a process that did not start at {at}s after boot (pid reused): not killed"),
            _ => Result(SensorCommandOutcomes.Failed, $"sending SIGKILL to process {pid} failed"),
        };
    }

    private async Task<SensorCommandResult> CaptureAsync(SensorCommand command, CancellationToken ct)
    {
        var request = new EvidenceRequest(command.AlertId, command.Id, command.IncidentId, command.Target.Pid,
            command.Target.StartTimeNs, command.Target.ContainerId, command.Target.ExeUpperLayer);
        var ids = await evidence.CaptureAndUploadAsync(request, ct);
        return ids.Count == 0
            ? Result(SensorCommandOutcomes.Failed, "no evidence could be uploaded")
            : new SensorCommandResult
            {
                Outcome = SensorCommandOutcomes.Succeeded,
                Detail = $"{ids.Count} evidence artifact(s) captured and uploaded",
                EvidenceIds = ids,
            };
    }

    private static bool InContainer(int pid, string containerId)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cgroup").Contains(containerId, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void Remember(long id, SensorCommandResult result)
    {
        _done[id] = result;
        _doneOrder.Enqueue(id);
        if (_doneOrder.Count > 1000)
        {
            _done.Remove(_doneOrder.Dequeue());
        }
    }

    private static SensorCommandResult Result(string outcome, string detail) => new() { Outcome = outcome, Detail = detail };

    [LoggerMessage(Level = LogLevel.Information, Message = "Command {Id} ({Action}): {Outcome}: {Detail}")]
    private static partial void LogExecuted(ILogger logger, long id, string action, string outcome, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Polling the triage service for commands failed; retrying in {Seconds}s")]
    private static partial void LogPollFailed(ILogger logger, double seconds, Exception exception);
}
