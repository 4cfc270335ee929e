using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Triage.Api.OnCall;

/// <summary>
/// How the Quartz scheduler behind the escalation timers runs. The defaults are what the escalation benchmark
/// (<c>bench/Triage.Bench escalation</c>) measured best; the benchmark can set each one to compare.
/// </summary>
internal sealed record EscalationSchedulerTuning
{
    /// <summary>
    /// Escalation jobs run at once, which is also the most triggers one acquisition round takes and the largest batch
    /// <see cref="FiringBatches"/> can form. Default 50: the jobs are asynchronous, so this costs no threads.
    /// </summary>
    public int MaxConcurrency { get; init; } = 50;

    /// <summary>
    /// How late a trigger may be before Quartz treats it as misfired. A misfired escalation timer still fires at once
    /// (<c>FireNow</c>), but only after the misfire handler has rewritten it, which puts it behind the later ones and
    /// costs a write each; a long threshold keeps a backlog (after a restart) firing in due order. Default 1 hour.
    /// </summary>
    public TimeSpan MisfireThreshold { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The scheduler's own commits (acquire, fired, complete, store a timer) do not wait for the disk; the escalation
    /// step, its pages and timeline always do. SQLite: <c>synchronous = NORMAL</c> on Quartz's connections (WAL);
    /// PostgreSQL: <c>synchronous_commit = off</c> for them. Both logs are sequential, so a crash can lose only the
    /// scheduler commits after the last durable commit of ours, never one before it: a lost completion or
    /// acquisition fires the job again, which finds the step moved on, pages nobody and sets the current timer again
    /// (<see cref="EscalationEngine"/>); a page is never lost and a repeated one is deduplicated by its outbox key.
    /// Default true.
    /// </summary>
    public bool RelaxedSchedulerCommits { get; init; } = true;

    /// <summary>
    /// Store the timers' jobs with Quartz's disallow-concurrent-execution flag, as the service did before (see
    /// <see cref="EscalationJob"/> for why it no longer does): for the benchmark's side-by-side comparison only.
    /// Default false.
    /// </summary>
    public bool SerializedJobs { get; init; }

    /// <summary>Most firings written in one transaction (<see cref="FiringBatches"/>); 1 writes each alone. Default 500.</summary>
    public int MaxFiringBatch { get; init; } = 500;

    /// <summary>
    /// Width of a slot timer (<see cref="EscalationTimers"/>): escalations due within one slot share one Quartz trigger,
    /// which fires at the slot's end, so a page is up to this late on top of the firing itself. Default 100 ms: at the
    /// benchmark's 333 pages a second, 10 triggers a second instead of 333.
    /// </summary>
    public TimeSpan TimerSlot { get; init; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>
/// Connections for Quartz's SQLite job store with the per-connection settings EF's get from
/// <see cref="Persistence.SqliteConnectionSettings"/>: without <c>busy_timeout</c>, a Quartz statement that finds the
/// writer lock taken by an escalation commit fails at once and Microsoft.Data.Sqlite retries it only after sleeping
/// 150 ms.
/// </summary>
/// <remarks>
/// Quartz opens a connection for every transaction (about one per firing); Microsoft.Data.Sqlite hands it a pooled
/// SQLite handle, which keeps its settings. So the settings run only when the handle does not carry them (see
/// <see cref="Persistence.SqliteConnectionSettings.Apply"/>, shared with EF, which uses the same pool): they were two of
/// the about 25 statements (each parsed anew) that one escalation firing cost.
/// </remarks>
internal sealed class SqliteJobStoreDataSource(string connectionString, string pragmas) : DbDataSource
{
    public override string ConnectionString => connectionString;

    protected override DbConnection CreateDbConnection() => new PragmaConnection(connectionString, pragmas);

    private sealed class PragmaConnection(string connectionString, string pragmas) : SqliteConnection(connectionString)
    {
        public override void Open()
        {
            base.Open();
            Persistence.SqliteConnectionSettings.Apply(this, pragmas);
        }

        public override Task OpenAsync(CancellationToken cancellationToken)
        {
            Open();
            return Task.CompletedTask;
        }
    }
}
