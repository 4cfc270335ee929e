using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Quartz;
using Triage.Api.Configuration;
using Triage.Api.Delivery;
using Triage.Api.OnCall;
using Triage.Api.Persistence;
using Triage.Api.Routing;

namespace Triage.Bench;

/// <summary>
/// Escalation lateness: N pending escalations (Quartz triggers in the triage database) fall due spread over a window;
/// for each, how late the page is committed after its due time. Twice per store: with the node running throughout,
/// and across a restart (the node stops after scheduling, stays down while half the window falls due, and a new
/// node on the same database takes over). SQLite store, and the clustered PostgreSQL store when a server is given.
/// </summary>
/// <remarks>
/// The clock is the system clock shifted by a constant set once before the scheduler starts, so that the
/// escalations can be written with due times in the future however long writing 10,000 of them takes on a loaded
/// machine; lateness is measured on that same clock.
/// </remarks>
internal static class EscalationBenchmark
{
    private const string Config = """
        teams:
          - name: payments
            kind: platform
            escalation_policy: pager
          - name: soc
            kind: soc
        people:
          - { name: alice, teams: [payments] }
        escalation_policies:
          - name: pager
            levels: [{ timeout: 1h, targets: [{ person: alice }] }]
        routing:
          default:
            route: platform
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var count = int.Parse(Option(args, "--escalations") ?? "10000", CultureInfo.InvariantCulture);
        var window = TimeSpan.FromSeconds(double.Parse(Option(args, "--window-seconds") ?? "30", CultureInfo.InvariantCulture));
        var postgres = Option(args, "--postgres") ?? Environment.GetEnvironmentVariable("TRIAGE_TEST_POSTGRES");
        var results = Option(args, "--results") ?? Path.Combine("bench", "RESULTS.md");
        var config = ConfigLoader.Parse(Config, "escalation-bench.yaml");
        var rows = new List<string>();
        var notes = new List<string>();
        foreach (var store in postgres is null ? ["sqlite"] : new[] { "sqlite", "postgres" })
        {
            foreach (var restart in new[] { false, true })
            {
                var (row, note) = await RunCellAsync(config, store, postgres, count, window, restart);
                rows.Add(row);
                notes.Add(note);
                Console.WriteLine(row);
            }
        }

        var section = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"## Escalation lateness ({DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC)")
            .AppendLine()
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"Command: `dotnet run -c Release --project bench/Triage.Bench -- escalation --escalations {count} --window-seconds {window.TotalSeconds}`")
                + (postgres is null ? "" : " (PostgreSQL from TRIAGE_TEST_POSTGRES / --postgres, clustered store)"))
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"{count:N0} pending escalations due spread evenly over {window.TotalSeconds:0} s; lateness = page committed (timeline + escalation row) minus due time, ms. ")
                + "Restart: the node stops right after scheduling, stays down until half the window has fallen due, and a new node on the same database takes over; "
                + "for the pages due while it was down, lateness counts from the new node's start instead. No peer: the issue names none.")
            .AppendLine()
            .AppendLine("| store | run | pages | p50 ms | p99 ms | max ms | mean ms | schedule time |")
            .AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            section.AppendLine(row);
        }

        section.AppendLine();
        foreach (var note in notes)
        {
            section.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
        }

        section.AppendLine("- Caveat: 2 vCPUs shared with other agents' builds and tests during the run; absolute figures are noisy.");
        Console.WriteLine(section);
        await File.AppendAllTextAsync(results, "\n" + section);
        return 0;
    }

    private static async Task<(string Row, string Note)> RunCellAsync(TriageConfig config, string store, string? postgresAdmin,
        int count, TimeSpan window, bool restart)
    {
        var directory = Directory.CreateTempSubdirectory("triage-escalation-bench-").FullName;
        string? dropName = null;
        var options = new DatabaseOptions { Provider = store };
        if (store == "sqlite")
        {
            options.ConnectionString = $"Data Source={Path.Combine(directory, "triage.db")}";
        }
        else
        {
            dropName = $"triage_bench_{Guid.NewGuid():N}";
            await using var admin = new NpgsqlConnection(postgresAdmin);
            await admin.OpenAsync();
            await using (var create = new NpgsqlCommand($"CREATE DATABASE {dropName}", admin))
            {
                await create.ExecuteNonQueryAsync();
            }

            options.ConnectionString = new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = dropName }.ConnectionString;
        }

        try
        {
            await using (var db = DatabaseExtensions.CreateContext(options))
            {
                await db.Database.MigrateAsync();
            }

            var clock = new ShiftedClock();
            var baseTime = clock.GetUtcNow() + TimeSpan.FromDays(1);
            var due = new Dictionary<long, DateTimeOffset>();
            var node = await StartNodeAsync(config, options, clock, start: false);
            var schedule = Stopwatch.StartNew();
            var ids = await CreateEscalationsAsync(options, count, baseTime, window);
            var timers = node.Services.GetRequiredService<EscalationTimers>();
            for (var i = 0; i < ids.Count; i++)
            {
                due[ids[i]] = baseTime + window * i / ids.Count;
                await timers.ScheduleAsync(ids[i], 0, due[ids[i]], CancellationToken.None);
            }

            schedule.Stop();
            DateTimeOffset? restartedAt = null;
            if (restart)
            {
                // The node goes away before anything fell due; the timers live only in the database now.
                await node.DisposeAsync();
                clock.SetNow(baseTime + window / 2);
                node = await StartNodeAsync(config, options, clock, start: false);
                restartedAt = clock.GetUtcNow();
            }
            else
            {
                clock.SetNow(baseTime - TimeSpan.FromSeconds(3));
            }

            var paged = new ConcurrentDictionary<long, DateTimeOffset>();
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            node.Services.GetRequiredService<EscalationEngine>().Paged += (id, _, _) =>
            {
                paged.TryAdd(id, clock.GetUtcNow());
                if (paged.Count >= count)
                {
                    done.TrySetResult();
                }
            };
            await node.Scheduler.Start();
            await Task.WhenAny(done.Task, Task.Delay(window + TimeSpan.FromMinutes(20)));
            await node.DisposeAsync();

            var stats = new Percentiles(store);
            var overdue = 0;
            foreach (var (id, at) in paged)
            {
                var from = restartedAt is { } r && due[id] < r ? r : due[id];
                overdue += restartedAt is { } r2 && due[id] < r2 ? 1 : 0;
                stats.Add(at - from);
            }

            var run = restart ? "across a restart" : "running throughout";
            var row = string.Create(CultureInfo.InvariantCulture,
                $"| {store}{(store == "postgres" ? " (clustered)" : "")} | {run} | {paged.Count}/{count} | {stats.P(50):F0} | {stats.P(99):F0} | {stats.P(100):F0} | {stats.Mean:F0} | {schedule.Elapsed.TotalSeconds:F1} s |");
            var down = restart ? string.Create(CultureInfo.InvariantCulture, $"; {overdue} fell due while no node ran") : "";
            var note = string.Create(CultureInfo.InvariantCulture,
                $"{store}, {run}: {paged.Count} of {count} paged{down}; scheduling {count} timers took {schedule.Elapsed.TotalSeconds:F1} s ({count / schedule.Elapsed.TotalSeconds:F0}/s).");
            return (row, note);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (dropName is not null)
            {
                await using var admin = new NpgsqlConnection(postgresAdmin);
                await admin.OpenAsync();
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {dropName} WITH (FORCE)", admin);
                await drop.ExecuteNonQueryAsync();
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Incidents with a route and an active escalation at step 0, written in batches.</summary>
    private static async Task<List<long>> CreateEscalationsAsync(DatabaseOptions options, int count, DateTimeOffset baseTime, TimeSpan window)
    {
        var ids = new List<long>(count);
        for (var offset = 0; offset < count; offset += 1000)
        {
            await using var db = DatabaseExtensions.CreateContext(options);
            var batch = Enumerable.Range(offset, Math.Min(1000, count - offset)).Select(i => new Incident
            {
                Fingerprint = $"bench-{i}", Rule = "Contact cloud metadata service from container", Title = $"bench incident {i}",
                Priority = Triage.Contracts.AlertPriority.Critical, Node = "node-1", Source = "bench", OwnerTeam = "payments",
                AlertCount = 1, CreatedAt = baseTime, FirstSeen = baseTime, LastSeen = baseTime, UpdatedAt = baseTime,
            }).ToList();
            db.Incidents.AddRange(batch);
            await db.SaveChangesAsync();
            foreach (var incident in batch)
            {
                var at = baseTime + window * ids.Count / count;
                db.Add(new IncidentRoute { IncidentId = incident.Id, Row = "default", Route = "platform", PrimaryTeam = "payments", Urgency = "high", EscalationPolicy = "pager", Why = "bench", Enrichment = "not_applicable", DecidedAt = baseTime });
                db.Add(new Escalation { IncidentId = incident.Id, Policy = "pager", Team = "payments", Urgency = "high", State = EscalationState.Active, StartedAt = baseTime, NextFireAt = at });
                ids.Add(incident.Id);
            }

            await db.SaveChangesAsync();
        }

        return ids;
    }

    private static async Task<Node> StartNodeAsync(TriageConfig config, DatabaseOptions options, TimeProvider clock, bool start)
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning).AddConsole());
        services.AddSingleton(clock);
        services.AddSingleton(config);
        services.AddTriageDatabase(options);
        services.AddSingleton(new Outbox(clock));
        services.AddSingleton<OnCallService>();
        services.AddSingleton<RoutingMatrix>();
        services.AddSingleton<EscalationTimers>();
        services.AddSingleton<EscalationEngine>();
        services.AddEscalationScheduler(options);
        var provider = services.BuildServiceProvider();
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
        if (start)
        {
            await scheduler.Start();
        }

        return new Node(provider, scheduler);
    }

    private sealed record Node(ServiceProvider Services, IScheduler Scheduler) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Scheduler.Shutdown(waitForJobsToComplete: true);
            await Services.DisposeAsync();
        }
    }

    /// <summary>The system clock plus an offset that is set once, before the scheduler starts.</summary>
    private sealed class ShiftedClock : TimeProvider
    {
        private TimeSpan _offset;

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + _offset;

        public void SetNow(DateTimeOffset now) => _offset = now - System.GetUtcNow();
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
