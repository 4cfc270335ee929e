using System.Collections.Concurrent;
using System.Globalization;
using Quartz;

namespace Triage.Api.OnCall;

/// <summary>
/// The escalation timers, as Quartz triggers in the persistent job store (the triage database), so a restart loses
/// none. Two kinds:
/// <list type="bullet">
/// <item>A slot timer (<see cref="EnsureSlotsAsync"/>) for a step due later than <see cref="SlotLead"/>: one trigger per
/// <see cref="EscalationSchedulerTuning.TimerSlot"/> of due time, shared by every escalation due in it, of one durable job
/// stored once. When it fires, the escalations whose <see cref="Escalation.NextFireAt"/> lies in its slot fire
/// (<see cref="EscalationEngine.FireDueAsync"/>); the escalation row says what is due, the trigger only when to look.
/// The next level's timer, set by every page, is such a timer.</item>
/// <item>An incident timer (<see cref="ScheduleAsync(long, int, DateTimeOffset, CancellationToken)"/>): one trigger per
/// incident carrying the step it was set for, replaced to move it; for a step due now or soon (start, escalate-now).</item>
/// </list>
/// </summary>
/// <remarks>
/// Why slots: with a trigger per incident, every page cost about 22 statements on PostgreSQL (one round trip each), 10
/// of them replacing the incident's job and trigger under the cluster-wide <c>TRIGGER_ACCESS</c> lock, and the
/// benchmark process spent about 40% of its CPU in the thread pool waking up for those round trips. A slot's Quartz
/// work (store, acquire, fire, complete) is shared by the escalations due in it, and setting the next level's timer is
/// usually no statement at all (its slot is set already). The price is lateness of up to one slot width.
/// <para>
/// Order matters, and differs by kind. A slot trigger is set before the step that needs it is committed: it carries no
/// step, so setting it early is harmless (it fires, finds nothing due, and is gone), while setting it after the commit
/// would lose the timer in a crash in between. It cannot fire before that commit, as its slot ends at least
/// <see cref="SlotLead"/> later. An incident trigger carries the step, so it is set after the commit (a firing for a step
/// not yet committed would find the stored step behind it and do nothing).
/// </para>
/// </remarks>
internal sealed class EscalationTimers(ISchedulerFactory schedulers, EscalationSchedulerTuning tuning, TimeProvider time)
{
    public const string Group = "escalation";

    /// <summary>The durable job behind every slot trigger.</summary>
    public static readonly JobKey SlotJobKey = new("slots", Group);

    /// <summary>
    /// A timer due sooner than this is an incident timer, set after the commit. Slot timers must not fire before the
    /// commit of the step that set them; escalation level timeouts are at least a minute, so every next-level timer is
    /// a slot timer.
    /// </summary>
    public static readonly TimeSpan SlotLead = TimeSpan.FromSeconds(30);

    /// <summary>Slots this process has stored (by end, in ticks) and that have not ended: stored again, they would cost a transaction each.</summary>
    private readonly ConcurrentDictionary<long, byte> _slots = new();
    private volatile bool _slotJobStored;

    /// <summary>Whether a timer due at <paramref name="at"/> goes to a slot (set before the commit) rather than to the incident's own trigger.</summary>
    public bool IsSlotTimer(DateTimeOffset at) => at - time.GetUtcNow() >= SlotLead;

    /// <summary>The end of the slot a timer due at <paramref name="at"/> falls in: the slot is (end - width, end].</summary>
    public DateTimeOffset SlotEnd(DateTimeOffset at)
    {
        var width = tuning.TimerSlot.Ticks;
        var ticks = at.UtcTicks;
        return new DateTimeOffset((ticks + width - 1) / width * width, TimeSpan.Zero);
    }

    /// <summary>
    /// Makes sure a slot trigger covers each of <paramref name="times"/> (all <see cref="IsSlotTimer"/>). Slots already
    /// stored (by this process or by another node) are left as they are: replacing a trigger another node has acquired
    /// would fire it twice.
    /// </summary>
    public async Task EnsureSlotsAsync(IEnumerable<DateTimeOffset> times, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcTicks;
        foreach (var ended in _slots.Keys.Where(k => k < now))
        {
            _slots.TryRemove(ended, out _);
        }

        var missing = times.Select(SlotEnd).Distinct().Where(end => !_slots.ContainsKey(end.UtcTicks)).ToList();
        if (missing.Count == 0)
        {
            return;
        }

        var scheduler = await schedulers.GetScheduler(cancellationToken);
        if (!_slotJobStored)
        {
            // Once per process; replacing it changes nothing but its row.
            var job = JobBuilder.Create<EscalationSlotJob>().WithIdentity(SlotJobKey).StoreDurably().RequestRecovery().Build();
            await scheduler.AddJob(job, AddJobOptions.Replacing, cancellationToken);
            _slotJobStored = true;
        }

        foreach (var end in missing)
        {
            // Keep: a slot another node (or a concurrent batch here) stored first is left alone; it fires at the same time.
            await scheduler.ScheduleTrigger(SlotTrigger(end, SlotKey(end)), TriggerConflict.Keep, cancellationToken);
            _slots.TryAdd(end.UtcTicks, 0);
        }
    }

    /// <summary>Looks at the slot (<paramref name="start"/>, <paramref name="end"/>] again at <paramref name="at"/>: a retry after a failed slot firing.</summary>
    public async Task RetrySlotAsync(DateTimeOffset start, DateTimeOffset end, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var key = new TriggerKey($"{SlotKey(end).Name}-retry-{at.UtcTicks.ToString(CultureInfo.InvariantCulture)}", Group);
        var trigger = SlotTrigger(end, key, at);
        trigger.JobDataMap[EscalationSlotJob.SlotStartKey] = start.UtcTicks.ToString(CultureInfo.InvariantCulture);
        await scheduler.ScheduleTrigger(trigger, TriggerConflict.Keep, cancellationToken);
    }

    // The slot's start is stored with it rather than taken from the width when it fires: a trigger stored by a version
    // with another width still covers exactly its own slot.
    private ITrigger SlotTrigger(DateTimeOffset end, TriggerKey key, DateTimeOffset? at = null) => TriggerBuilder.Create()
        .WithIdentity(key)
        .ForJob(SlotJobKey)
        .UsingJobData(EscalationSlotJob.SlotStartKey, (end - tuning.TimerSlot).UtcTicks.ToString(CultureInfo.InvariantCulture))
        .UsingJobData(EscalationSlotJob.SlotEndKey, end.UtcTicks.ToString(CultureInfo.InvariantCulture))
        .StartAt(at ?? end)
        .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
        .Build();

    /// <summary>The key of the slot trigger that covers a timer due at <paramref name="at"/>.</summary>
    public TriggerKey SlotTriggerKey(DateTimeOffset at) => SlotKey(SlotEnd(at));

    private static TriggerKey SlotKey(DateTimeOffset end) => new($"slot-{end.UtcTicks.ToString(CultureInfo.InvariantCulture)}", Group);

    /// <summary>
    /// Sets timers for steps that are committed already: a slot timer for those due later than <see cref="SlotLead"/>, the
    /// incident's own trigger for the others.
    /// </summary>
    public async Task SetAsync(IReadOnlyCollection<EscalationTimer> timers, CancellationToken cancellationToken)
    {
        await EnsureSlotsAsync(timers.Where(t => IsSlotTimer(t.At)).Select(t => t.At), cancellationToken);
        await ScheduleAsync(timers.Where(t => !IsSlotTimer(t.At)).ToList(), cancellationToken);
    }

    public async Task ScheduleAsync(long incidentId, int step, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var (job, trigger) = Build(new EscalationTimer(incidentId, step, at));
        await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, cancellationToken);
    }

    /// <summary>Sets (or moves) several incident timers in one job store operation: one transaction instead of one each.</summary>
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

    /// <summary>Whether a timer for the incident's step due at <paramref name="at"/> is stored: its own trigger, or the slot's.</summary>
    public async Task<bool> ExistsAsync(long incidentId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var scheduler = await schedulers.GetScheduler(cancellationToken);
        return await scheduler.Exists(new TriggerKey(Key(incidentId), Group), cancellationToken)
            || await scheduler.Exists(SlotTriggerKey(at), cancellationToken);
    }

    private static string Key(long incidentId) => $"incident-{incidentId.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>An incident timer: fire step <paramref name="Step"/> of the incident's escalation at <paramref name="At"/>.</summary>
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

/// <summary>
/// The Quartz job behind every slot trigger of <see cref="EscalationTimers"/>: fires the escalations due in the slot.
/// Durable, so that it stays stored between slots, and asks for recovery, so that a slot whose node died while firing
/// it is fired again by another node (the escalations it did commit have moved on by then).
/// </summary>
internal sealed partial class EscalationSlotJob(EscalationEngine engine, EscalationTimers timers, TimeProvider time,
    ILogger<EscalationSlotJob> logger) : IJob
{
    public const string SlotStartKey = "slot_start";
    public const string SlotEndKey = "slot_end";

    /// <summary>How long after a failed slot firing the slot is looked at again.</summary>
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(30);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var start = Time(context.MergedJobDataMap, SlotStartKey);
        var end = Time(context.MergedJobDataMap, SlotEndKey);
        try
        {
            await engine.FireDueAsync(start, end, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The trigger fires once; without a retry the escalations of this slot that did not commit would wait for
            // their incident to change. Those that did commit find their step moved on.
            LogSlotFailed(logger, e, end, RetryDelay);
            await timers.RetrySlotAsync(start, end, time.GetUtcNow() + RetryDelay, CancellationToken.None);
        }
    }

    private static DateTimeOffset Time(JobDataMap data, string key) =>
        new(long.Parse(data.GetString(key)!, CultureInfo.InvariantCulture), TimeSpan.Zero);

    [LoggerMessage(Level = LogLevel.Error, Message = "Escalation slot ending {SlotEnd:o} failed; looking again in {Delay}")]
    private static partial void LogSlotFailed(ILogger logger, Exception exception, DateTimeOffset slotEnd, TimeSpan delay);
}
