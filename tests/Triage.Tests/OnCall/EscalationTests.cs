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

/// <summary>Escalation through real Quartz timers in the SQLite job store, driven by a fake clock.</summary>
public sealed class EscalationTests : IAsyncLifetime
{
    private const string Config = """
        teams:
          - name: payments
            kind: platform
            schedule: payments-primary
            escalation_policy: payments-default
            working_hours: { time_zone: Europe/Berlin, days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00" }
          - name: soc
            kind: soc
        people:
          - { name: alice, teams: [payments] }
          - { name: bob, teams: [payments] }
          - { name: dave, teams: [payments] }
        schedules:
          - name: payments-primary
            time_zone: Europe/Berlin
            layers:
              - { name: weekly, users: [alice, bob], handoff: "09:00", start: 2026-11-02 }
        escalation_policies:
          - name: payments-default
            repeat: 1
            levels:
              - timeout: 5m
                targets: [{ schedule: payments-primary }]
              - timeout: 10m
                targets: [{ person: dave }, { team_channel: payments }]
        routing:
          rules:
            - name: deploy-noise
              match: { max_priority: Notice }
              route: platform
              urgency: low
          default:
            route: platform
        paging:
          webhooks:
            - name: ops
              url: http://127.0.0.1:9/hook
              secret: a-webhook-secret-of-some-length
        """;

    // Tuesday 2026-11-24 12:00 UTC = 13:00 in Berlin; bob's week in payments-primary.
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly TriageConfig _config = ConfigLoader.Parse(Config, "escalation.yaml");
    private SqliteTestDatabase _database = null!;
    private ServiceProvider? _services;
    private IScheduler? _scheduler;

    public async ValueTask InitializeAsync() => _database = await SqliteTestDatabase.CreateAsync();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _database.DisposeAsync();
    }

    /// <summary>Starts the escalation side of the service: engine, outbox, Quartz on the test database and clock.</summary>
    private async Task<EscalationEngine> StartAsync()
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
        _services = services.BuildServiceProvider();
        _scheduler = await _services.GetRequiredService<ISchedulerFactory>().GetScheduler(TestContext.Current.CancellationToken);
        await _scheduler.Start(TestContext.Current.CancellationToken);
        return _services.GetRequiredService<EscalationEngine>();
    }

    /// <summary>Stops it as a process exit would: timers stay in the job store.</summary>
    private async Task StopAsync()
    {
        if (_scheduler is not null)
        {
            await _scheduler.Shutdown(waitForJobsToComplete: true, TestContext.Current.CancellationToken);
            _scheduler = null;
        }

        if (_services is not null)
        {
            await _services.DisposeAsync();
            _services = null;
        }
    }

    private async Task<long> OpenIncidentAsync(EscalationEngine engine, Triage.Contracts.AlertPriority priority = Triage.Contracts.AlertPriority.Critical)
    {
        var id = await _database.AddIncidentAsync(i =>
        {
            i.OwnerTeam = "payments";
            i.Priority = priority;
            i.CreatedAt = _time.GetUtcNow();
        });
        await new RoutingObserver(_services!.GetRequiredService<IServiceScopeFactory>(), new RoutingMatrix(_config), _time)
            .ProcessAsync(id, CancellationToken.None);
        await engine.ReconcileAsync(id, CancellationToken.None);
        return id;
    }

    private async Task<Escalation> WaitForStepAsync(long incidentId, int step)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60); // wall-clock guard only; the schedule runs on the fake clock
        while (true)
        {
            await using var db = _database.NewContext();
            var escalation = await db.Set<Escalation>().AsNoTracking().SingleAsync(e => e.IncidentId == incidentId, TestContext.Current.CancellationToken);
            if (escalation.Step >= step)
            {
                return escalation;
            }

            Assert.True(DateTime.UtcNow < deadline, $"escalation of incident {incidentId} did not reach step {step} (at {escalation.Step})");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    private async Task<List<string>> TimelineAsync(long incidentId, string kind)
    {
        await using var db = _database.NewContext();
        return await db.Timeline.Where(t => t.IncidentId == incidentId && t.Kind == kind).OrderBy(t => t.Id)
            .Select(t => t.Detail).ToListAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task HighUrgency_PagesAtOnceThenNextLevelAfterTimeout_AndAckStopsIt()
    {
        var engine = await StartAsync();
        var id = await OpenIncidentAsync(engine);

        var first = await WaitForStepAsync(id, 1);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromMinutes(5), first.NextFireAt);
        Assert.StartsWith("Paged level 1/2: bob (on call in payments-primary)", (await TimelineAsync(id, "paged"))[0], StringComparison.Ordinal);

        _time.Advance(TimeSpan.FromMinutes(5));
        var second = await WaitForStepAsync(id, 2);
        Assert.Equal("level 2/2: dave, team channel payments", second.LastPaged);
        Assert.Equal(EscalationState.Active, second.State); // repeat: 1 starts over after level 2

        await using (var db = _database.NewContext())
        {
            var incident = await db.Incidents.SingleAsync(i => i.Id == id, TestContext.Current.CancellationToken);
            incident.Status = IncidentStatus.Acknowledged;
            incident.AcknowledgedBy = "dave";
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        await engine.ReconcileAsync(id, CancellationToken.None);

        await using var check = _database.NewContext();
        var stopped = await check.Set<Escalation>().SingleAsync(e => e.IncidentId == id, TestContext.Current.CancellationToken);
        Assert.Equal(EscalationState.Stopped, stopped.State);
        Assert.Equal("acknowledged by dave", stopped.StopReason);
        Assert.Equal(["page", "page", "acknowledge"], await OutboxKindsAsync(id));

        // The next level's timer is a slot timer, shared with whatever else is due then, so it stays; when it fires, the
        // stopped escalation is not among the due ones. Waiting for the trigger to be gone waits for that firing to end.
        var slot = _services!.GetRequiredService<EscalationTimers>().SlotTriggerKey(second.NextFireAt);
        Assert.True(await _scheduler!.Exists(slot, TestContext.Current.CancellationToken));
        _time.Advance(TimeSpan.FromMinutes(10));
        await WaitForTriggerGoneAsync(slot);
        Assert.Equal(["page", "page", "acknowledge"], await OutboxKindsAsync(id));
        await using var after = _database.NewContext();
        Assert.Equal(2, (await after.Set<Escalation>().SingleAsync(e => e.IncidentId == id, TestContext.Current.CancellationToken)).Step);
    }

    [Fact]
    public async Task NextLevelTimers_OfEscalationsDueInOneSlot_AreOneQuartzTrigger()
    {
        var engine = await StartAsync();
        var ids = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await OpenIncidentAsync(engine));
        }

        foreach (var id in ids)
        {
            await WaitForStepAsync(id, 1);
        }

        var triggers = await _scheduler!.QueryTriggers(new TriggerQuery { Group = GroupMatcher<TriggerKey>.GroupEquals(EscalationTimers.Group) }, TestContext.Current.CancellationToken);
        var keys = triggers.Items.Select(t => t.Key).ToList();
        var timers = _services!.GetRequiredService<EscalationTimers>();
        // All three paged at the fake clock's one "now", so their level-2 timers (now + 5m) share a slot; the incident
        // triggers of the first pages fired and are gone.
        Assert.Equal([timers.SlotTriggerKey(_time.GetUtcNow() + TimeSpan.FromMinutes(5))], keys);

        _time.Advance(TimeSpan.FromMinutes(5));
        foreach (var id in ids)
        {
            Assert.Equal("level 2/2: dave, team channel payments", (await WaitForStepAsync(id, 2)).LastPaged);
        }
    }

    private async Task WaitForTriggerGoneAsync(TriggerKey key)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30); // wall-clock guard only; the schedule runs on the fake clock
        while (await _scheduler!.Exists(key, TestContext.Current.CancellationToken))
        {
            Assert.True(DateTime.UtcNow < deadline, $"trigger {key} did not fire");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task RestartInTheMiddle_TheNextPageStillGoesOut()
    {
        var engine = await StartAsync();
        var id = await OpenIncidentAsync(engine);
        await WaitForStepAsync(id, 1);

        await StopAsync();
        _time.Advance(TimeSpan.FromMinutes(7)); // the level-2 timer fell due while the service was down

        await StartAsync();
        var after = await WaitForStepAsync(id, 2);

        Assert.Equal("level 2/2: dave, team channel payments", after.LastPaged);
        await using var db = _database.NewContext();
        var pages = await db.Set<OutboxMessage>().Where(m => m.IncidentId == id && m.Kind == "page")
            .Select(m => m.IdempotencyKey).ToListAsync(TestContext.Current.CancellationToken);
        Assert.Equal([$"incident-{id}/webhook/ops/page/0", $"incident-{id}/webhook/ops/page/1"], pages.Order());
    }

    [Fact]
    public async Task LowUrgency_OutsideWorkingHours_WaitsForTheTeamsMorning()
    {
        _time.SetUtcNow(new DateTimeOffset(2026, 11, 27, 19, 0, 0, TimeSpan.Zero)); // Friday 20:00 in Berlin
        var engine = await StartAsync();

        var id = await OpenIncidentAsync(engine, Triage.Contracts.AlertPriority.Notice);

        await using (var db = _database.NewContext())
        {
            var escalation = await db.Set<Escalation>().SingleAsync(e => e.IncidentId == id, TestContext.Current.CancellationToken);
            Assert.Equal(0, escalation.Step);
            Assert.Equal(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero), escalation.NextFireAt); // Monday 09:00 CET
        }

        _time.SetUtcNow(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero));
        var paged = await WaitForStepAsync(id, 1);
        Assert.StartsWith("level 1/2: alice", paged.LastPaged, StringComparison.Ordinal); // Monday 09:00 is also the weekly hand-off to alice
    }

    private async Task SetSuppressionAsync(long incidentId, long? suppressionId)
    {
        await using var db = _database.NewContext();
        var incident = await db.Incidents.SingleAsync(i => i.Id == incidentId, TestContext.Current.CancellationToken);
        incident.SuppressionId = suppressionId;
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
    }

    private async Task<List<string>> OutboxKindsAsync(long incidentId)
    {
        await using var db = _database.NewContext();
        return await db.Set<OutboxMessage>().Where(m => m.IncidentId == incidentId).OrderBy(m => m.Id)
            .Select(m => m.Kind).ToListAsync(TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData(1, true)] // within delivery.retention.resolved_incidents (7d)
    [InlineData(8, false)] // closed for delivery: retention may have deleted the resolve that made this once
    public async Task Resolved_TellsWebhooksOnlyUntilClosedForDelivery(int resolvedDaysAgo, bool told)
    {
        var engine = await StartAsync();
        var id = await OpenIncidentAsync(engine);
        await WaitForStepAsync(id, 1);
        await using (var db = _database.NewContext())
        {
            var incident = await db.Incidents.SingleAsync(i => i.Id == id, TestContext.Current.CancellationToken);
            incident.Status = IncidentStatus.Resolved;
            incident.ResolvedAt = _time.GetUtcNow() - TimeSpan.FromDays(resolvedDaysAgo);
            incident.ResolvedBy = "alice";
            await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        await engine.ReconcileAsync(id, CancellationToken.None);

        Assert.Equal(told, (await OutboxKindsAsync(id)).Contains("resolve"));
    }

    [Fact]
    public async Task SuppressedIncident_StartsNoEscalation_UntilTheSuppressionIsLifted()
    {
        var engine = await StartAsync();
        var id = await _database.AddIncidentAsync(i =>
        {
            i.OwnerTeam = "payments";
            i.Priority = Triage.Contracts.AlertPriority.Critical;
            i.CreatedAt = _time.GetUtcNow();
            i.SuppressionId = 41;
        });
        await new RoutingObserver(_services!.GetRequiredService<IServiceScopeFactory>(), new RoutingMatrix(_config), _time)
            .ProcessAsync(id, CancellationToken.None);

        await engine.ReconcileAsync(id, CancellationToken.None);

        await using (var db = _database.NewContext())
        {
            Assert.False(await db.Set<Escalation>().AnyAsync(e => e.IncidentId == id, TestContext.Current.CancellationToken));
        }

        Assert.Empty(await OutboxKindsAsync(id));

        await SetSuppressionAsync(id, null); // an alert outside the scope arrived
        await engine.ReconcileAsync(id, CancellationToken.None);
        await WaitForStepAsync(id, 1);
        Assert.Equal(["page"], await OutboxKindsAsync(id));
    }

    [Fact]
    public async Task SuppressedAfterTheFirstPage_HoldsTheNextLevel_AndResumesWhenLifted()
    {
        var engine = await StartAsync();
        var id = await OpenIncidentAsync(engine);
        await WaitForStepAsync(id, 1);

        await SetSuppressionAsync(id, 41); // a vote reached quorum after the first page
        _time.Advance(TimeSpan.FromMinutes(5));
        var held = await WaitForTimelineAsync(id, "page_held", 1);
        Assert.StartsWith("Not paging level 2/2: covered by suppression 41", held[0], StringComparison.Ordinal);
        Assert.Equal(["page"], await OutboxKindsAsync(id));

        await SetSuppressionAsync(id, null); // revoked
        _time.Advance(TimeSpan.FromMinutes(10));
        var resumed = await WaitForStepAsync(id, 2);
        Assert.Equal("level 2/2: dave, team channel payments", resumed.LastPaged);
        Assert.Equal(["page", "page"], await OutboxKindsAsync(id));
    }

    private async Task<List<string>> WaitForTimelineAsync(long incidentId, string kind, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60); // wall-clock guard only; the schedule runs on the fake clock
        while (true)
        {
            var entries = await TimelineAsync(incidentId, kind);
            if (entries.Count >= count)
            {
                return entries;
            }

            Assert.True(DateTime.UtcNow < deadline, $"incident {incidentId} has {entries.Count} '{kind}' entries, expected {count}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
