using System.Globalization;
using Quartz;

namespace Triage.Api.OnCall;

/// <summary>
/// The escalation timers: one Quartz trigger per incident in the persistent job store (the triage database), so a
/// restart loses none. A trigger carries the incident and the step it was set for; replacing it moves the timer.
/// </summary>
internal sealed class EscalationTimers(ISchedulerFactory schedulers)
{
    public const string Group = "escalation";

    public async Task ScheduleAsync(long incidentId, int step, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var key = Key(incidentId);
        var job = JobBuilder.Create<EscalationJob>()
            .WithIdentity(key, Group)
            .UsingJobData(EscalationJob.IncidentKey, incidentId.ToString(CultureInfo.InvariantCulture))
            .UsingJobData(EscalationJob.StepKey, step.ToString(CultureInfo.InvariantCulture))
            .RequestRecovery()
            .Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity(key, Group)
            .StartAt(at)
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
        await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, cancellationToken);
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

/// <summary>The Quartz job behind <see cref="EscalationTimers"/>: hands the firing to <see cref="EscalationEngine"/>.</summary>
[DisallowConcurrentExecution]
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
