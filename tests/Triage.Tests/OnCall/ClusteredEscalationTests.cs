using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Quartz;
using Triage.Api.Configuration;
using Triage.Api.Delivery;
using Triage.Api.OnCall;
using Triage.Api.Persistence;
using Triage.Api.Routing;
using Triage.Tests.Support;

namespace Triage.Tests.OnCall;

/// <summary>
/// The clustered Quartz store on a real PostgreSQL database (TRIAGE_TEST_POSTGRES): an escalation started by one
/// node is finished by another node started after the first stopped, and no step is paged twice.
/// </summary>
public sealed class ClusteredEscalationTests : IAsyncLifetime
{
    private const string Config = """
        teams:
          - name: payments
            kind: platform
            escalation_policy: payments-default
          - name: soc
            kind: soc
        people:
          - { name: alice, teams: [payments] }
          - { name: dave, teams: [payments] }
        escalation_policies:
          - name: payments-default
            levels:
              - timeout: 5m
                targets: [{ person: alice }]
              - timeout: 10m
                targets: [{ person: dave }]
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
    private readonly TriageConfig _config = ConfigLoader.Parse(Config, "clustered.yaml");
    private readonly string _directory = Directory.CreateTempSubdirectory("triage-clustered-").FullName;
    private TestDatabase? _database;
    private DatabaseOptions _options = null!;
    private readonly List<(ServiceProvider Services, IScheduler Scheduler)> _nodes = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _database = await TestDatabases.CreateAsync(DatabaseKind.Postgres, _directory);
        _options = new DatabaseOptions { Provider = "postgres", ConnectionString = _database.DbArgument };
        await using var db = DatabaseExtensions.CreateContext(_options);
        await db.Database.MigrateAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await StopAsync(node);
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>One service node: engine, outbox and the clustered Quartz scheduler on the shared database and clock.</summary>
    private async Task<(ServiceProvider Services, IScheduler Scheduler)> StartNodeAsync()
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<TimeProvider>(_time);
        services.AddSingleton(_config);
        services.AddDbContext<TriageDbContext, PostgresTriageDbContext>(o => o.UseNpgsql(_options.ConnectionString));
        services.AddSingleton(new Outbox(_time));
        services.AddSingleton<OnCallService>();
        services.AddSingleton<RoutingMatrix>();
        services.AddSingleton<EscalationTimers>();
        services.AddSingleton<EscalationEngine>();
        services.AddEscalationScheduler(_options);
        var provider = services.BuildServiceProvider();
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler(Ct);
        await scheduler.Start(Ct);
        var node = (provider, scheduler);
        _nodes.Add(node);
        return node;
    }

    private static async Task StopAsync((ServiceProvider Services, IScheduler Scheduler) node)
    {
        await node.Scheduler.Shutdown(waitForJobsToComplete: true, Ct);
        await node.Services.DisposeAsync();
    }

    private async Task<Escalation> WaitForStepAsync(long incidentId, int step)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60); // wall-clock guard only; the schedule runs on the fake clock
        while (true)
        {
            await using var db = DatabaseExtensions.CreateContext(_options);
            var escalation = await db.Set<Escalation>().AsNoTracking().SingleAsync(e => e.IncidentId == incidentId, Ct);
            if (escalation.Step >= step)
            {
                return escalation;
            }

            Assert.True(DateTime.UtcNow < deadline, $"escalation of incident {incidentId} did not reach step {step} (at {escalation.Step})");
            await Task.Delay(50, Ct);
        }
    }

    private Incident NewIncident() => new()
    {
        Fingerprint = Guid.NewGuid().ToString("N"), Rule = "r", Title = "IMDS query", Node = "node-1", Source = "sensor",
        Priority = Triage.Contracts.AlertPriority.Critical, OwnerTeam = "payments", AlertCount = 1, CreatedAt = _time.GetUtcNow(),
        FirstSeen = _time.GetUtcNow(), LastSeen = _time.GetUtcNow(),
    };

    [Fact]
    public async Task NodeStopsMidEscalation_AnotherNodeOnTheSameDatabasePagesTheNextLevel_Once()
    {
        var first = await StartNodeAsync();
        long id;
        await using (var db = DatabaseExtensions.CreateContext(_options))
        {
            var incident = NewIncident();
            db.Incidents.Add(incident);
            await db.SaveChangesAsync(Ct);
            id = incident.Id;
        }

        await new RoutingObserver(first.Services.GetRequiredService<IServiceScopeFactory>(), new RoutingMatrix(_config), _time).ProcessAsync(id, Ct);
        await first.Services.GetRequiredService<EscalationEngine>().ReconcileAsync(id, Ct);
        await WaitForStepAsync(id, 1);
        var firstId = await first.Scheduler.GetSchedulerInstanceId(Ct);
        await StopAsync(first);
        _nodes.Remove(first);

        _time.Advance(TimeSpan.FromMinutes(7)); // level 2 fell due while no node ran
        var second = await StartNodeAsync();
        var after = await WaitForStepAsync(id, 2);

        Assert.Equal("level 2/2: dave", after.LastPaged);
        Assert.Equal(EscalationState.Exhausted, after.State);
        Assert.NotEqual(firstId, await second.Scheduler.GetSchedulerInstanceId(Ct)); // generated per node, as a cluster needs
        await using var check = DatabaseExtensions.CreateContext(_options);
        var pages = await check.Set<OutboxMessage>().Where(m => m.IncidentId == id && m.Kind == "page")
            .Select(m => m.IdempotencyKey).ToListAsync(Ct);
        Assert.Equal([$"incident-{id}/webhook/ops/page/0", $"incident-{id}/webhook/ops/page/1"], pages.Order());
        var paged = await check.Timeline.CountAsync(t => t.IncidentId == id && t.Kind == "paged", Ct);
        Assert.Equal(2, paged);
        // The timer lived in PostgreSQL's Quartz tables, not in the first node's memory.
        await using var connection = new NpgsqlConnection(_options.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var nodes = new NpgsqlCommand("select count(*) from qrtz_scheduler_state", connection);
        Assert.True((long)(await nodes.ExecuteScalarAsync(Ct))! >= 1);
    }

    [Fact]
    public async Task DueAFractionOfAMicrosecondIntoASlot_FiresWithThatSlot()
    {
        var node = await StartNodeAsync();
        var timers = node.Services.GetRequiredService<EscalationTimers>();
        // 0.4 µs after a slot boundary: in the slot after it by its ticks, but PostgreSQL keeps microseconds, so the row
        // says the boundary itself, which is the end of the slot before.
        var boundary = timers.SlotEnd(_time.GetUtcNow() + TimeSpan.FromHours(1));
        var due = boundary + TimeSpan.FromTicks(4);
        long id;
        await using (var db = DatabaseExtensions.CreateContext(_options))
        {
            var incident = NewIncident();
            db.Incidents.Add(incident);
            await db.SaveChangesAsync(Ct);
            id = incident.Id;
            db.Add(new Escalation
            {
                IncidentId = id, Policy = "payments-default", Team = "payments", Urgency = "high", State = EscalationState.Active,
                StartedAt = _time.GetUtcNow(), NextFireAt = due,
            });
            await db.SaveChangesAsync(Ct);
        }

        var end = timers.SlotEnd(due);
        var width = node.Services.GetRequiredService<EscalationSchedulerTuning>().TimerSlot;
        Assert.Equal(boundary + width, end);
        await node.Services.GetRequiredService<EscalationEngine>().FireDueAsync(end - width, end, Ct);

        await using var check = DatabaseExtensions.CreateContext(_options);
        Assert.Equal(1, (await check.Set<Escalation>().SingleAsync(e => e.IncidentId == id, Ct)).Step);
    }
}
