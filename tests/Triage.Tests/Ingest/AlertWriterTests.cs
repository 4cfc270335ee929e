using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Triage.Api;
using Triage.Api.Chat;
using Triage.Api.Delivery;
using Triage.Api.Incidents;
using Triage.Api.Ingest;
using Triage.Api.Persistence;
using Triage.Contracts;
using Triage.Tests.Support;

namespace Triage.Tests.Ingest;

/// <summary>
/// The ingest writer's memory of open incidents and when it tells the incident pipeline: it must stay right when
/// incidents change through other paths (API actions, another replica on the same PostgreSQL database).
/// </summary>
public sealed class AlertWriterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Ingest_AfterAckAndResolveThroughApi_JoinsAcknowledgedThenOpensNewIncident(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var first = await PostAsync(host, Some.Alert());

        // The ack changes the incident's version under the writer; the next alert still joins it.
        await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{first}/actions/ack", new { actor = "alice" }, Ct);
        var afterAck = await PostAsync(host, Some.Alert(time: Some.Time.AddMinutes(1)));
        await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{first}/actions/resolve", new { actor = "alice" }, Ct);
        var afterResolve = await PostAsync(host, Some.Alert(time: Some.Time.AddMinutes(2)));
        var again = await PostAsync(host, Some.Alert(time: Some.Time.AddMinutes(3)));

        Assert.Equal(first, afterAck);
        Assert.NotEqual(first, afterResolve);
        Assert.Equal(afterResolve, again);
        var incidents = await host.QueryAsync(db => db.Incidents.AsNoTracking().OrderBy(i => i.Id).ToListAsync(Ct));
        Assert.Equal([2, 2], incidents.Select(i => i.AlertCount));
        Assert.Equal([IncidentStatus.Resolved, IncidentStatus.Triggered], incidents.Select(i => i.Status));
        Assert.Equal([null, incidents[1].Fingerprint], incidents.Select(i => i.OpenFingerprint));
    }

    [Fact]
    public async Task Ingest_CountOnlyAlert_IsAnnouncedAfterRefreshInterval_PriorityRaiseAtOnce()
    {
        var clock = new FakeTimeProvider(Some.Time);
        var cards = Directory.CreateTempSubdirectory("triage-cards-");
        await using var host = await TriageTestHost.StartAsync(
            extraYaml: $"ingest:\n  count_refresh_interval: 30s\nchat:\n  sink_path: {cards.FullName}\n", clock: clock);
        var id = await PostAsync(host, Some.Alert(priority: "Warning"));
        await host.WaitForPipelineAsync();
        var created = await IncidentAsync(host, id);

        await PostAsync(host, Some.Alert(priority: "Warning", time: Some.Time.AddSeconds(5)));
        var countOnly = await IncidentAsync(host, id);

        // Nothing the observers act on changed: count and last seen are stored, the pipeline is not run yet.
        Assert.Equal(2, countOnly.AlertCount);
        Assert.Equal(Some.Time.AddSeconds(5), countOnly.LastSeen);
        Assert.Equal(created.Version, countOnly.Version);
        Assert.False(countOnly.NeedsProcessing);

        // The card must be out first: an update is queued only when no card message still waits for its first attempt
        // (a card not yet attempted renders the newest state anyway), and on a busy machine the post can lag.
        for (var deadline = DateTime.UtcNow.AddSeconds(10); !await CardAttemptedAsync(host, id) && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(20, Ct);
        }

        // After the interval only the card is refreshed: no flag, no new version (nothing else is redone).
        var cardMessages = await CardMessagesAsync(host, id);
        clock.Advance(TimeSpan.FromSeconds(31));
        for (var deadline = DateTime.UtcNow.AddSeconds(10); await CardMessagesAsync(host, id) == cardMessages && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(20, Ct);
        }

        await host.WaitForPipelineAsync();
        var refreshed = await IncidentAsync(host, id);
        Assert.True(await CardMessagesAsync(host, id) > cardMessages, "the count refresh did not update the card");
        Assert.Equal(2, refreshed.AlertCount);
        Assert.Equal(created.Version, refreshed.Version);
        Assert.False(refreshed.NeedsProcessing);

        await PostAsync(host, Some.Alert(priority: "Critical", time: Some.Time.AddSeconds(6)));
        var raised = await IncidentAsync(host, id);
        Assert.Equal(AlertPriority.Critical, raised.Priority);
        Assert.Equal(refreshed.Version + 1, raised.Version);
        Assert.Equal(1, await host.QueryAsync(db => db.Timeline.CountAsync(t => t.IncidentId == id && t.Kind == "priority_raised", Ct)));
    }

    private static Task<bool> CardAttemptedAsync(TriageTestHost host, long incidentId) =>
        host.QueryAsync(db => db.Set<OutboxMessage>().AnyAsync(m => m.IncidentId == incidentId && m.Kind == ChatKinds.Card && m.Attempts > 0, Ct));

    private static Task<int> CardMessagesAsync(TriageTestHost host, long incidentId) =>
        host.QueryAsync(db => db.Set<OutboxMessage>().CountAsync(m => m.IncidentId == incidentId && m.Kind == ChatKinds.CardUpdate, Ct));

    /// <summary>
    /// The writer answers retries of ids it committed lately from memory, without asking the database. An id another
    /// replica stored is not in that memory: its insert stores nothing, the commit is redone after asking the
    /// database, and the alert is answered as a duplicate of the first replica's incident, counted once.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Ingest_IdStoredByAnotherReplica_AnsweredAsDuplicateAndCountedOnce(DatabaseKind database)
    {
        var log = new WarningLog();
        await using var first = await TriageTestHost.StartAsync(database);
        await using var second = await TriageTestHost.StartAsync(database, replicaOf: first, configureServices: s => s.AddSingleton<ILoggerProvider>(log));
        var incident = await PostAsync(first, Some.Alert(id: "x-1"));
        Assert.Equal(incident, await PostAsync(second, Some.Alert(id: "x-2", time: Some.Time.AddSeconds(1))));

        var retried = await second.Ingest.PostAsJsonAsync("/api/v1/alerts",
            new[] { Some.Alert(id: "x-1"), Some.Alert(id: "x-3", time: Some.Time.AddSeconds(2)) }, TriageJson.Options, Ct);
        var again = await PostAsync(second, Some.Alert(id: "x-3", time: Some.Time.AddSeconds(2)));

        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        var receipts = (await TriageTestHost.ReadJsonAsync(retried)).GetProperty("alerts");
        Assert.Equal([true, false], receipts.EnumerateArray().Select(r => r.GetProperty("duplicate").GetBoolean()));
        Assert.All(receipts.EnumerateArray(), r => Assert.Equal(incident, r.GetProperty("incident_id").GetInt64()));
        Assert.Equal(incident, again);
        Assert.Equal(3, (await IncidentAsync(first, incident)).AlertCount);
        Assert.Equal(3, await first.QueryAsync(db => db.Alerts.CountAsync(Ct)));
        Assert.Empty(log.Warnings);
    }

    /// <summary>
    /// One commit adds to two open incidents, one of which was resolved through the API meanwhile: the commit is
    /// redone, the resolved one's alert opens a new incident and the other alert still joins its incident.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Ingest_OneOfTwoIncidentsResolvedMeanwhile_CommitRedoneAndEachAlertGrouped(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var checkout = await PostAsync(host, Some.Alert(id: "c-1", workload: "checkout"));
        var ledger = await PostAsync(host, Some.Alert(id: "l-1", workload: "ledger"));
        await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{ledger}/actions/resolve", new { actor = "alice" }, Ct);

        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts",
            new[] { Some.Alert(id: "c-2", workload: "checkout", time: Some.Time.AddMinutes(1)), Some.Alert(id: "l-2", workload: "ledger", time: Some.Time.AddMinutes(1)) },
            TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var incidents = await host.QueryAsync(db => db.Incidents.AsNoTracking().OrderBy(i => i.Id).ToListAsync(Ct));
        Assert.Equal([checkout, ledger], incidents.Take(2).Select(i => i.Id));
        Assert.Equal([2, 1, 1], incidents.Select(i => i.AlertCount));
        Assert.Equal([IncidentStatus.Triggered, IncidentStatus.Resolved, IncidentStatus.Triggered], incidents.Select(i => i.Status));
        Assert.Equal(incidents[1].Fingerprint, incidents[2].OpenFingerprint);
        Assert.Equal(incidents[2].Id, await host.QueryAsync(db => db.Alerts.Where(a => a.Id == "l-2").Select(a => a.IncidentId).SingleAsync(Ct)));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Ingest_SameFingerprintTwiceInOneRequestAfterWindow_ClosesAndOpensInOneCommit(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database, extraYaml: "incidents:\n  grouping_window: 30m\n");
        await PostAsync(host, Some.Alert());

        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts",
            new[] { Some.Alert(time: Some.Time.AddMinutes(10)), Some.Alert(time: Some.Time.AddMinutes(50)), Some.Alert(time: Some.Time.AddMinutes(100)) },
            TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var incidents = await host.QueryAsync(db => db.Incidents.AsNoTracking().OrderBy(i => i.Id).ToListAsync(Ct));
        Assert.Equal([2, 1, 1], incidents.Select(i => i.AlertCount));
        Assert.Equal(1, incidents.Count(i => i.OpenFingerprint is not null));
        Assert.NotNull(incidents[^1].OpenFingerprint);
    }

    /// <summary>
    /// An update that changes what the pipeline acts on (a priority raise; a raise and a close in one commit) marks the
    /// incident durably in the same commit as the alert. If the service stops before the pipeline has run, the next
    /// start (here a second host on the same database, while the first one's pipeline is held) finds and runs it.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Ingest_AnnouncingUpdate_MarksIncidentDurably_NextStartRunsIt(DatabaseKind database)
    {
        const string otherRule = "Drop and execute new binary in container";
        var held = new HeldObserver();
        await using var host = await TriageTestHost.StartAsync(database, extraYaml: "incidents:\n  grouping_window: 30m\n",
            configureServices: services => services.AddSingleton<IIncidentObserver>(held));
        var raised = await PostAsync(host, Some.Alert(priority: "Warning"));
        var raisedAndClosed = await PostAsync(host, Some.Alert(rule: otherRule, priority: "Warning"));
        await host.WaitForPipelineAsync();
        held.Hold();

        await PostAsync(host, Some.Alert(priority: "Critical", time: Some.Time.AddMinutes(1)));
        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts",
            new[] { Some.Alert(rule: otherRule, priority: "Critical", time: Some.Time.AddMinutes(1)), Some.Alert(rule: otherRule, time: Some.Time.AddMinutes(100)) },
            TriageJson.Options, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var flagged = await host.QueryAsync(db => db.Incidents.Where(i => i.NeedsProcessing).Select(i => i.Id).ToListAsync(Ct));
        Assert.Contains(raised, flagged);
        Assert.Contains(raisedAndClosed, flagged);
        Assert.Null((await IncidentAsync(host, raisedAndClosed)).OpenFingerprint);

        var recorded = new HeldObserver();
        await using (var next = await TriageTestHost.StartAsync(database, replicaOf: host,
            configureServices: services => services.AddSingleton<IIncidentObserver>(recorded)))
        {
            await next.WaitForPipelineAsync();
        }

        Assert.Contains(raised, recorded.Runs);
        Assert.Contains(raisedAndClosed, recorded.Runs);
        held.Release();
    }

    /// <summary>A pipeline step that records the incidents it ran for and, once held, waits until released.</summary>
    private sealed class HeldObserver : IIncidentObserver
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _holding;

        public int Order => 0;

        public System.Collections.Concurrent.ConcurrentQueue<long> Runs { get; } = new();

        public void Hold() => _holding = true;

        public void Release() => _release.TrySetResult();

        public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
        {
            Runs.Enqueue(incidentId);
            if (_holding)
            {
                await _release.Task.WaitAsync(cancellationToken);
            }
        }
    }

    /// <summary>
    /// Two service replicas ingest into one PostgreSQL database at once, over the same fingerprints, with retries of
    /// the same ids to both and a priority raise: one open incident per fingerprint, every distinct alert stored and
    /// counted once, one priority_raised entry per incident.
    /// </summary>
    [Fact]
    public async Task Ingest_TwoReplicasOnOnePostgres_CountsExactlyAndOpensOneIncidentPerFingerprint()
    {
        await using var first = await TriageTestHost.StartAsync(DatabaseKind.Postgres);
        await using var second = await TriageTestHost.StartAsync(DatabaseKind.Postgres, replicaOf: first);
        var workloads = new[] { "checkout", "ledger", "refunds" };
        var alerts = Enumerable.Range(0, 120)
            .Select(i => Some.Alert(id: $"r-{i}", workload: workloads[i % 3], priority: i >= 90 ? "Critical" : "Warning",
                time: Some.Time.AddSeconds(i)))
            .ToList();

        // Each replica gets every alert in its own order, from 4 concurrent clients: all ids arrive twice.
        async Task SendAllAsync(TriageTestHost host, int seed)
        {
            var order = alerts.OrderBy(a => HashCode.Combine(a.Id, seed)).ToList();
            await Task.WhenAll(Enumerable.Range(0, 4).Select(async client =>
            {
                foreach (var alert in order.Where((_, i) => i % 4 == client))
                {
                    var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
            }));
        }

        // The incidents open at Warning first, so that each sees exactly one raise.
        foreach (var alert in alerts.Take(3))
        {
            await PostAsync(first, alert);
        }

        await Task.WhenAll(SendAllAsync(first, 1), SendAllAsync(second, 2));

        var incidents = await first.QueryAsync(db => db.Incidents.AsNoTracking().ToListAsync(Ct));
        Assert.Equal(3, incidents.Count);
        Assert.All(incidents, i => Assert.NotNull(i.OpenFingerprint));
        Assert.All(incidents, i => Assert.Equal(40, i.AlertCount));
        Assert.All(incidents, i => Assert.Equal(AlertPriority.Critical, i.Priority));
        Assert.Equal([Some.Time, Some.Time.AddSeconds(1), Some.Time.AddSeconds(2)], incidents.Select(i => i.FirstSeen).Order());
        Assert.Equal([Some.Time.AddSeconds(117), Some.Time.AddSeconds(118), Some.Time.AddSeconds(119)], incidents.Select(i => i.LastSeen).Order());
        Assert.Equal(120, await first.QueryAsync(db => db.Alerts.CountAsync(Ct)));
        var perIncident = await first.QueryAsync(db => db.Alerts.GroupBy(a => a.IncidentId).Select(g => g.Count()).ToListAsync(Ct));
        Assert.All(perIncident, count => Assert.Equal(40, count));
        var raises = await first.QueryAsync(db => db.Timeline.Where(t => t.Kind == "priority_raised").GroupBy(t => t.IncidentId)
            .Select(g => g.Count()).ToListAsync(Ct));
        Assert.Equal([1, 1, 1], raises);
    }

    /// <summary>
    /// The writer keeps its connection and its prepared statements from one commit to the next: a commit that opens
    /// incidents, one that adds to them, a priority raise, new tags and a retried id each go through without a failed
    /// attempt (a retry would hide a statement that only works on a fresh connection), and store what EF reads back.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Ingest_ManyCommitsOnOneConnection_NoAttemptFailsAndValuesReadBack(DatabaseKind database)
    {
        var log = new WarningLog();
        await using var host = await TriageTestHost.StartAsync(database, configureServices: s => s.AddSingleton<ILoggerProvider>(log));
        var workloads = new[] { "checkout", "ledger" };
        for (var round = 0; round < 6; round++)
        {
            foreach (var workload in workloads)
            {
                var alert = Some.Alert(id: $"m-{workload}-{round}", workload: workload, priority: round < 3 ? "Warning" : "Critical",
                    time: Some.Time.AddSeconds(round));
                alert = round == 4 ? alert with { Tags = ["mitre_discovery", "ünïcode \"quoted\""] } : alert;
                await PostAsync(host, alert);
            }

            // The same id again: answered from the stored alert, not stored twice.
            await PostAsync(host, Some.Alert(id: $"m-checkout-{round}", workload: "checkout", time: Some.Time.AddSeconds(round)));
        }

        Assert.Empty(log.Warnings);
        var incidents = await host.QueryAsync(db => db.Incidents.AsNoTracking().OrderBy(i => i.Id).ToListAsync(Ct));
        Assert.Equal(2, incidents.Count);
        Assert.All(incidents, i => Assert.Equal(6, i.AlertCount));
        Assert.All(incidents, i => Assert.Equal(AlertPriority.Critical, i.Priority));
        Assert.All(incidents, i => Assert.Equal(Some.Time, i.FirstSeen));
        Assert.All(incidents, i => Assert.Equal(Some.Time.AddSeconds(5), i.LastSeen));
        Assert.All(incidents, i => Assert.Contains("ünïcode \"quoted\"", i.Tags));
        var alerts = await host.QueryAsync(db => db.Alerts.AsNoTracking().Where(a => a.IncidentId == incidents[0].Id).OrderBy(a => a.Time).ToListAsync(Ct));
        Assert.Equal(Enumerable.Range(0, 6).Select(r => Some.Time.AddSeconds(r)), alerts.Select(a => a.Time));
        Assert.Equal(6, await host.QueryAsync(db => db.Alerts.CountAsync(a => a.Time >= Some.Time.AddSeconds(3), Ct)));
    }

    /// <summary>
    /// Asked by the background checkpoint (the log grew long), the writer starts the log over between two commits: the
    /// request is taken, nothing fails, and the next commits are stored as usual.
    /// </summary>
    [Fact]
    public async Task Ingest_LogRestartRequested_WriterRestartsTheLogBetweenCommits()
    {
        var log = new WarningLog();
        await using var host = await TriageTestHost.StartAsync(DatabaseKind.Sqlite, configureServices: s => s.AddSingleton<ILoggerProvider>(log));
        var restart = host.App.Services.GetRequiredService<SqliteLogRestart>();
        await PostAsync(host, Some.Alert(id: "r-1"));
        restart.Request();
        await PostAsync(host, Some.Alert(id: "r-2", time: Some.Time.AddSeconds(1)));
        await PostAsync(host, Some.Alert(id: "r-3", time: Some.Time.AddSeconds(2)));

        Assert.False(restart.TakeRequest());
        Assert.Empty(log.Warnings);
        Assert.Equal(3, await host.QueryAsync(db => db.Alerts.CountAsync(Ct)));
    }

    /// <summary>A lost writer connection (here: terminated by the server) is replaced, and the request is still stored.</summary>
    [Fact]
    public async Task Ingest_WriterConnectionTerminated_ReopensAndStores()
    {
        await using var host = await TriageTestHost.StartAsync(DatabaseKind.Postgres);
        var first = await PostAsync(host, Some.Alert(id: "k-1"));
        var terminated = await host.QueryAsync(db => db.Database.SqlQueryRaw<bool>(
            "SELECT pg_terminate_backend(pid) AS \"Value\" FROM pg_stat_activity WHERE application_name = {0} AND datname = current_database()",
            IngestStore.ApplicationName).ToListAsync(Ct));
        Assert.Equal([true], terminated);

        var second = await PostAsync(host, Some.Alert(id: "k-2", time: Some.Time.AddSeconds(1)));

        Assert.Equal(first, second);
        Assert.Equal(2, (await IncidentAsync(host, first)).AlertCount);
        Assert.Equal(2, await host.QueryAsync(db => db.Alerts.CountAsync(Ct)));
    }

    /// <summary>Warnings and errors logged by the ingest writer.</summary>
    private sealed class WarningLog : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Warnings { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(WarningLog log, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && category == typeof(AlertWriter).FullName;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    log.Warnings.Enqueue($"{formatter(state, exception)}: {exception}");
                }
            }
        }
    }

    private static async Task<long> PostAsync(TriageTestHost host, NativeAlert alert)
    {
        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await TriageTestHost.ReadJsonAsync(response)).GetProperty("alerts")[0].GetProperty("incident_id").GetInt64();
    }

    private static Task<Incident> IncidentAsync(TriageTestHost host, long id) =>
        host.QueryAsync(db => db.Incidents.AsNoTracking().SingleAsync(i => i.Id == id, Ct));

    private static async Task<Incident> WaitForAsync(TriageTestHost host, long id, Func<Incident, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10); // wall-clock guard only; the refresh runs on the fake clock
        while (true)
        {
            var incident = await IncidentAsync(host, id);
            if (condition(incident))
            {
                return incident;
            }

            Assert.True(DateTime.UtcNow < deadline, "the incident did not change in time");
            await Task.Delay(20, Ct);
        }
    }
}
