using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Quartz;
using Triage.Api.Configuration;
using Triage.Api.Delivery;
using Triage.Api.OnCall;
using Triage.Api.Persistence;
using Triage.Api.Routing;
using Triage.Tests.Delivery;

namespace Triage.Tests.OnCall;

/// <summary>
/// What the escalation benchmark's fixes rely on: firings of one incident may overlap (no Quartz
/// DisallowConcurrentExecution) without paging twice, and the SQLite job store answers Quartz's batched key lookups
/// by seeking keys instead of reading every timer.
/// </summary>
public sealed class EscalationFiringTests : IAsyncLifetime
{
    private const string Config = """
        teams:
          - name: payments
            kind: platform
            escalation_policy: once
          - name: soc
            kind: soc
        people:
          - { name: alice, teams: [payments] }
        escalation_policies:
          - name: once
            levels:
              - timeout: 5m
                targets: [{ person: alice }]
        routing:
          default:
            route: platform
        paging:
          webhooks:
            - name: ops
              url: http://127.0.0.1:9/hook
              secret: a-webhook-secret-of-some-length
        """;

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly TriageConfig _config = ConfigLoader.Parse(Config, "firing.yaml");
    private readonly List<ServiceProvider> _providers = [];
    private SqliteTestDatabase _database = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _database = await SqliteTestDatabase.CreateAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var provider in _providers)
        {
            await provider.DisposeAsync();
        }

        await _database.DisposeAsync();
    }

    /// <summary>The escalation side of one service process on the shared database; its Quartz scheduler is never started.</summary>
    private ServiceProvider Process()
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<TimeProvider>(_time);
        services.AddSingleton(_config);
        _database.AddTo(services);
        services.AddSingleton(new Outbox(_time));
        services.AddSingleton<OnCallService>();
        services.AddSingleton<RoutingMatrix>();
        services.AddSingleton<EscalationTimers>();
        services.AddSingleton<EscalationEngine>();
        services.AddEscalationScheduler(new DatabaseOptions { Provider = "sqlite", ConnectionString = _database.ConnectionString });
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        return provider;
    }

    /// <summary>Incidents with an active escalation at step 0, due now.</summary>
    private async Task<List<long>> ActiveEscalationsAsync(int count)
    {
        var ids = new List<long>();
        await using var db = _database.NewContext();
        for (var i = 0; i < count; i++)
        {
            var id = await _database.AddIncidentAsync(incident => incident.OwnerTeam = "payments");
            db.Add(new Escalation
            {
                IncidentId = id, Policy = "once", Team = "payments", Urgency = "high", State = EscalationState.Active,
                StartedAt = _time.GetUtcNow(), NextFireAt = _time.GetUtcNow(),
            });
            ids.Add(id);
        }

        await db.SaveChangesAsync(Ct);
        return ids;
    }

    [Fact]
    public async Task SameStepFiredInTwoProcessesAtOnce_PagesEachIncidentOnce()
    {
        var ids = await ActiveEscalationsAsync(20);
        var first = Process().GetRequiredService<EscalationEngine>();
        var second = Process().GetRequiredService<EscalationEngine>();

        // Each process has its own group commit, so the two write at the same time; only the escalation row's step
        // (a concurrency token) and the outbox key stand between them and a second page.
        var due = _time.GetUtcNow();
        await Task.WhenAll(ids.SelectMany(id => new[]
        {
            Task.Run(() => first.FireAsync(id, 0, due, Ct), Ct),
            Task.Run(() => second.FireAsync(id, 0, due, Ct), Ct),
        }));

        await using var db = _database.NewContext();
        var pages = await db.Set<OutboxMessage>().Where(m => m.Kind == "page").Select(m => m.IncidentId ?? 0).ToListAsync(Ct);
        Assert.Equal(ids.Order(), pages.Order());
        var paged = await db.Timeline.Where(t => t.Kind == "paged").Select(t => t.IncidentId).ToListAsync(Ct);
        Assert.Equal(ids.Order(), paged.Order());
        Assert.All(await db.Set<Escalation>().ToListAsync(Ct), e => Assert.Equal((1, EscalationState.Exhausted), (e.Step, e.State)));
    }

    [Fact]
    public async Task Timer_IsStoredAsAJobThatMayRunBesideItself()
    {
        var provider = Process();
        await provider.GetRequiredService<EscalationTimers>().ScheduleAsync(42, 3, _time.GetUtcNow().AddMinutes(5), Ct);

        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler(Ct);
        var job = await scheduler.GetJobDetail(new JobKey("incident-42", EscalationTimers.Group), Ct);
        Assert.NotNull(job);
        Assert.False(job.ConcurrentExecutionDisallowed);
        Assert.True(job.RequestsRecovery);
        await scheduler.Shutdown(waitForJobsToComplete: false, Ct);
    }

    [Theory]
    [InlineData("SELECT JOB_NAME FROM QRTZ_JOB_DETAILS WHERE SCHED_NAME = 's' AND ((JOB_NAME = 'incident-1' AND JOB_GROUP = 'escalation') OR (JOB_NAME = 'incident-2' AND JOB_GROUP = 'escalation'))")]
    [InlineData("SELECT TRIGGER_NAME, NEXT_FIRE_TIME FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 's' AND ((TRIGGER_NAME = 'incident-1' AND TRIGGER_GROUP = 'escalation') OR (TRIGGER_NAME = 'incident-2' AND TRIGGER_GROUP = 'escalation'))")]
    public async Task QuartzBatchedKeyLookup_OnTheMigratedSqliteDatabase_SeeksEachKey(string lookup)
    {
        var plan = await PlanAsync(lookup);

        // Without the planner statistics this is "SEARCH … USING … INDEX … (SCHED_NAME=?)": every timer of the scheduler.
        Assert.Contains("MULTI-INDEX OR", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("(SCHED_NAME=?)", plan, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QuartzAcquisition_OnTheMigratedSqliteDatabase_StillWalksTheFireTimeIndex()
    {
        var plan = await PlanAsync("SELECT TRIGGER_NAME FROM QRTZ_TRIGGERS WHERE SCHED_NAME = 's' AND TRIGGER_STATE = 'WAITING' "
            + "AND NEXT_FIRE_TIME <= 5 AND (MISFIRE_INSTR = -1 OR (MISFIRE_INSTR <> -1 AND NEXT_FIRE_TIME >= 1)) ORDER BY NEXT_FIRE_TIME ASC, PRIORITY DESC");

        Assert.Contains("IDX_QRTZ_T_NFT_ST (SCHED_NAME=? AND TRIGGER_STATE=? AND NEXT_FIRE_TIME<?)", plan, StringComparison.Ordinal);
        Assert.DoesNotContain("TEMP B-TREE", plan, StringComparison.Ordinal);
    }

    private async Task<string> PlanAsync(string query)
    {
        await using var connection = new SqliteConnection(_database.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + query;
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var lines = new List<string>();
        while (await reader.ReadAsync(Ct))
        {
            lines.Add(reader.GetString(3));
        }

        return string.Join('\n', lines);
    }
}
