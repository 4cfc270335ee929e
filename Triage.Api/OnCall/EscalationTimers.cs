using System.Globalization;
using Quartz;

namespace Triage.Api.OnCall;

/// <summary>
/// The escalation timers: one Quartz trigger per incident in the persistent job store (the triage database), so a
/// restart loses none. A trigger carries the incident and the step it was set for; replacing it moves the timer.
/// </summary>
internal sealed class EscalationTimers(ISchedulerFactory schedulers, EscalationSchedulerTuning tuning)
{
    public const string Group = "escalation";

    public async Task ScheduleAsync(long incidentId, int step, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var (job, trigger) = Build(new EscalationTimer(incidentId, step, at));
        await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, cancellationToken);
    }

    /// <summary>Sets (or moves) several timers in one job store operation: one transaction instead of one each.</summary>
    public async Task ScheduleAsync(IReadOnlyCollection<EscalationTimer> timers, CancellationToken cancellationToken)
    {
        if (timers.Count == 0)
        {
            return;
        }

        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>();
        // The last timer set for an incident wins, as it would with one call each.
        foreach (var timer in timers.GroupBy(t => t.IncidentId).Select(g => g.Last()))
        {
            var (job, trigger) = Build(timer);
            jobs[job] = [trigger];
        }

        await scheduler.ScheduleJobs(jobs, new ScheduleJobOptions { Replace = true }, cancellationToken);
    }

    private (IJobDetail Job, ITrigger Trigger) Build(EscalationTimer timer)
    {
        var key = Key(timer.IncidentId);
        var job = JobBuilder.Create<EscalationJob>()
            .DisallowConcurrentExecution(tuning.SerializedJobs)
            .WithIdentity(key, Group)
            .UsingJobData(EscalationJob.IncidentKey, timer.IncidentId.ToString(CultureInfo.InvariantCulture))
            .UsingJobData(EscalationJob.StepKey, timer.Step.ToString(CultureInfo.InvariantCulture))
            .RequestRecovery()
            .Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity(key, Group)
            .StartAt(timer.At)
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
        return (job, trigger);
    }

    public async Task CancelAsync(long incidentId, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        await scheduler.DeleteJob(new JobKey(Key(incidentId), Group), cancellationToken);
    }

    public async Task<bool> ExistsAsync(long incidentId, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        return await scheduler.GetTrigger(new TriggerKey(Key(incidentId), Group), cancellationToken) is not null;
    }

    private static string Key(long incidentId) => $"incident-{incidentId.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>An escalation timer: fire step <paramref name="Step"/> of the incident's escalation at <paramref name="At"/>.</summary>
internal sealed record EscalationTimer(long IncidentId, int Step, DateTimeOffset At);

/// <summary>
/// The Quartz job behind <see cref="EscalationTimers"/>: hands the firing to <see cref="EscalationEngine"/>.
/// </summary>
/// <remarks>
/// Not <c>[DisallowConcurrentExecution]</c>: Quartz would then take the cluster-wide <c>TRIGGER_ACCESS</c> row lock on
/// every acquisition round (its lock-free rounds are only for jobs that may run beside themselves) and
/// write the job's trigger states to BLOCKED and back on every firing. Two firings of one incident at once are harmless
/// without it: the escalation row's step is a concurrency token, so of two firings of one step only one commits its
/// page and the other finds the step moved on (<see cref="EscalationEngine"/>), and within a process
/// <see cref="FiringBatches"/> writes one batch at a time.
/// </remarks>
internal sealed class EscalationJob(EscalationEngine engine) : IJob
{
    public const string IncidentKey = "incident_id";
    public const string StepKey = "step";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var data = context.MergedJobDataMap;
        var incidentId = long.Parse(data.GetString(IncidentKey)!, CultureInfo.InvariantCulture);
        var step = int.Parse(data.GetString(StepKey)!, CultureInfo.InvariantCulture);
        await engine.FireAsync(incidentId, step, context.ScheduledFireTimeUtc ?? context.FireTimeUtc, cancellationToken);
    }
}
