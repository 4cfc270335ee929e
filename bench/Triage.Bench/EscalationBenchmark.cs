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
/// for each, how late the page is committed after its due time. Three cells per store: the node running throughout;
/// a plain restart (the node stops just before the first timer and a new one starts at once); and a node that stays
/// down while half the window falls due before a new one takes over, which measures how fast a backlog drains.
/// SQLite store, and the clustered PostgreSQL store when a server is given.
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
            levels:
              - { timeout: 1h, targets: [{ person: alice }] }
              - { timeout: 1h, targets: [{ person: alice }] }
        routing:
          default:
            route: platform
        paging:
          webhooks:
            - name: ops
              url: http://127.0.0.1:9/hook
              secret: a-webhook-secret-of-some-length
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var count = int.Parse(Option(args, "--escalations") ?? "10000", CultureInfo.InvariantCulture);
        var window = TimeSpan.FromSeconds(double.Parse(Option(args, "--window-seconds") ?? "30", CultureInfo.InvariantCulture));
        var postgres = Option(args, "--postgres") ?? Environment.GetEnvironmentVariable("TRIAGE_TEST_POSTGRES");
        var results = Option(args, "--results") ?? Path.Combine("bench", "RESULTS.md");
        var stores = (Option(args, "--stores") ?? (postgres is null ? "sqlite" : "sqlite,postgres")).Split(',');
        var cells = (Option(args, "--cells") ?? "running,restart-now,restart").Split(',').Select(ParseCell).ToList();
        // Direction-finding knobs (defaults: what the service runs with); see EscalationSchedulerTuning.
        var defaults = new EscalationSchedulerTuning();
        var tuning = new EscalationSchedulerTuning
        {
            MaxConcurrency = int.Parse(Option(args, "--max-concurrency") ?? defaults.MaxConcurrency.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
            MisfireThreshold = Option(args, "--misfire-threshold-seconds") is { } misfire ? TimeSpan.FromSeconds(double.Parse(misfire, CultureInfo.InvariantCulture)) : defaults.MisfireThreshold,
            RelaxedSchedulerCommits = !args.Contains("--durable-scheduler-commits"),
            SerializedJobs = args.Contains("--serialized-jobs"),
            MaxFiringBatch = int.Parse(Option(args, "--max-firing-batch") ?? defaults.MaxFiringBatch.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
            TimerSlot = Option(args, "--timer-slot-ms") is { } slot ? TimeSpan.FromMilliseconds(double.Parse(slot, CultureInfo.InvariantCulture)) : defaults.TimerSlot,
        };
        var warmup = int.Parse(Option(args, "--warmup") ?? "1000", CultureInfo.InvariantCulture);
        var warmupWindow = TimeSpan.FromSeconds(double.Parse(Option(args, "--warmup-seconds") ?? "10", CultureInfo.InvariantCulture));
        var scheduleBatch = int.Parse(Option(args, "--schedule-batch") ?? "1000", CultureInfo.InvariantCulture);
        // PostgreSQL only, opt-in (tracing every command costs CPU, which would count in the CPU per page): statements
        // per page in the note, and the most frequent ones on the console.
        var statements = Option(args, "--statements") is { } top ? int.Parse(top, CultureInfo.InvariantCulture) : (int?)null;
        var config = ConfigLoader.Parse(Config, "escalation-bench.yaml");
        var rows = new List<string>();
        var notes = new List<string>();
        Console.WriteLine($"tuning: {tuning}; schedule batch {scheduleBatch}");
        foreach (var store in stores)
        {
            if (store == "postgres" && postgres is null)
            {
                throw new InvalidOperationException("--stores postgres needs --postgres or TRIAGE_TEST_POSTGRES");
            }

            if (warmup > 0)
            {
                // Not counted: the first cell of a fresh process otherwise pays for the JIT (tier-0 code and the tier-1
                // recompiles of everything on the path, about a quarter of the CPU while the first 10,000 fire on
                // 2 vCPUs), which a service that has been running does not, and the cells after it did not either.
                // Over 10 s rather than 3: a slot timer's code runs once per slot (100 ms), not once per page, so a short
                // warm-up left it to be recompiled at tier 1 during the first counted cell (73% of that cell's CPU in a
                // profile). Then, as the ingest bench does, wait until the JIT is quiet.
                var (warmRow, _) = await RunCellAsync(config, store, postgres, warmup, warmupWindow, Cell.Running, tuning, scheduleBatch, null);
                Console.WriteLine($"warm-up (not counted): {warmRow}; JIT quiet after {await WaitForQuietJitAsync():F0} s");
            }

            foreach (var cell in cells)
            {
                using var counter = statements is not null && store == "postgres" ? new StatementCounter() : null;
                var (row, note) = await RunCellAsync(config, store, postgres, count, window, cell, tuning, scheduleBatch, counter);
                rows.Add(row);
                notes.Add(note);
                Console.WriteLine(row);
                Console.WriteLine(note);
                if (counter is not null)
                {
                    Console.WriteLine($"most frequent statements ({store}, {Label(cell)}):\n{counter.Report(count, statements!.Value)}");
                }
            }
        }

        var section = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"## Escalation lateness ({DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC)")
            .AppendLine()
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"Command: `dotnet bench/Triage.Bench/bin/Release/net10.0/Triage.Bench.dll escalation {string.Join(' ', args)}`")
                + (postgres is null ? "" : " (PostgreSQL from TRIAGE_TEST_POSTGRES / --postgres, clustered store)"))
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"Scheduler: {tuning}; timers scheduled {scheduleBatch} per call."))
            .AppendLine(string.Create(CultureInfo.InvariantCulture, $"{count:N0} pending escalations due spread evenly over {window.TotalSeconds:0} s; lateness = page handed to the outbox (the webhook page, timeline and escalation step committed together) minus due time, ms; every firing also sets the timer of the policy's next level. ")
                + $"Cells: *{Label(Cell.Running)}*: one node schedules the timers and runs; lateness from each page's due time. "
                + $"*{Label(Cell.RestartNow)}*: the node that scheduled the timers runs, stops 1 s before the first falls due and a new node on the same database starts at once; lateness from each page's due time, as running. "
                + $"*{Label(Cell.RestartAfterHalf)}* (measures the drain rate): the node stops right after scheduling, stays down until half the window has fallen due, and a new node on the same database takes over; "
                + "the pages due while it was down (backlog) count from the new node's start and are shown apart from those due after it. "
                + (warmup > 0 ? string.Create(CultureInfo.InvariantCulture, $"Each store first runs {warmup} escalations over {warmupWindow.TotalSeconds:0} s that are not counted, then waits until the JIT compiled under 50 ms in 2 s (JIT warm-up; --warmup 0 to skip). ") : "No warm-up (--warmup 0): the first cell pays for the JIT. ")
                + "No peer: the issue names none.")
            .AppendLine()
            .AppendLine("| store | run | pages | p50 ms | p99 ms | max ms | mean ms | pages/s (first due → last page) | schedule time |")
            .AppendLine("|---|---|---|---|---|---|---|---|---|");
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
        if (results != "none")
        {
            await File.AppendAllTextAsync(results, "\n" + section);
        }

        return 0;
    }

    private static async Task<(string Row, string Note)> RunCellAsync(TriageConfig config, string store, string? postgresAdmin,
        int count, TimeSpan window, Cell cell, EscalationSchedulerTuning tuning, int scheduleBatch, StatementCounter? counter)
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
                if (store == "sqlite")
                {
                    // As DatabaseStartup does in the service: WAL is a property of the file.
                    await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
                }
            }

            var clock = new ShiftedClock();
            var baseTime = clock.GetUtcNow() + TimeSpan.FromDays(1);
            var due = new Dictionary<long, DateTimeOffset>();
            var node = await StartNodeAsync(config, options, clock, tuning);
            var ids = await CreateEscalationsAsync(options, count, baseTime, window);
            var schedule = Stopwatch.StartNew();
            var timers = node.Services.GetRequiredService<EscalationTimers>();
            for (var i = 0; i < ids.Count; i++)
            {
                due[ids[i]] = baseTime + window * i / ids.Count;
            }

            // As the engine sets the next level's timer after a page: due a day ahead on the shifted clock, so slot timers.
            foreach (var chunk in ids.Chunk(Math.Max(1, scheduleBatch)))
            {
                await timers.SetAsync(chunk.Select(id => new EscalationTimer(id, 0, due[id])).ToList(), CancellationToken.None);
            }

            schedule.Stop();
            DateTimeOffset? restartedAt = null;
            var restartNote = "";
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var started = clock.GetUtcNow();
            if (cell == Cell.RestartAfterHalf)
            {
                // The node goes away before anything fell due; the timers live only in the database now.
                await node.DisposeAsync();
                clock.SetNow(baseTime + window / 2);
                node = await StartNodeAsync(config, options, clock, tuning);
                restartedAt = clock.GetUtcNow();
            }
            else if (cell == Cell.RestartNow)
            {
                // A deploy or a crash-free restart: the running node stops shortly before the first timer and its
                // successor starts at once; the timers live only in the database in between. CPU counts from the old
                // node's stop, so the new node's start-up (cluster check-in, recovery scan) is in the figure.
                clock.SetNow(baseTime - TimeSpan.FromSeconds(2));
                await node.Scheduler.Start();
                await Task.Delay(TimeSpan.FromSeconds(1));
                cpu = Process.GetCurrentProcess().TotalProcessorTime;
                started = clock.GetUtcNow();
                await node.DisposeAsync();
                node = await StartNodeAsync(config, options, clock, tuning);
                restartNote = string.Create(CultureInfo.InvariantCulture, $"; the old node stopped and the new one was built {(clock.GetUtcNow() - started).TotalMilliseconds:F0} ms later, {(baseTime - clock.GetUtcNow()).TotalMilliseconds:F0} ms before the first due time");
            }
            else
            {
                clock.SetNow(baseTime - TimeSpan.FromSeconds(3));
            }

            var paged = new ConcurrentDictionary<long, DateTimeOffset>();
            var batches = new ConcurrentDictionary<DateTimeOffset, int>();
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            node.Services.GetRequiredService<EscalationEngine>().Paged += (id, _, firedAt) =>
            {
                paged.TryAdd(id, clock.GetUtcNow());
                batches.AddOrUpdate(firedAt, 1, (_, n) => n + 1); // one batch shares one "now"
                if (paged.Count >= count)
                {
                    done.TrySetResult();
                }
            };
            if (cell != Cell.RestartNow)
            {
                started = clock.GetUtcNow();
                cpu = Process.GetCurrentProcess().TotalProcessorTime;
            }

            counter?.Start();
            // Stopwatch ticks are CLOCK_MONOTONIC on Linux: the window to pass to `perf report --time` for a profile
            // recorded with `perf record -k CLOCK_MONOTONIC`.
            var monotonicStart = Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
            await node.Scheduler.Start();
            await Task.WhenAny(done.Task, Task.Delay(window + TimeSpan.FromMinutes(10)));
            var finished = clock.GetUtcNow();
            cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            counter?.Stop();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"measured window (CLOCK_MONOTONIC): {monotonicStart:F3},{Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency:F3}"));
            await node.DisposeAsync();

            var stats = new Percentiles(store);
            var backlog = new Percentiles("backlog");
            var after = new Percentiles("after");
            foreach (var (id, at) in paged)
            {
                if (restartedAt is { } r && due[id] < r)
                {
                    backlog.Add(at - r);
                    stats.Add(at - r);
                }
                else
                {
                    after.Add(at - due[id]);
                    stats.Add(at - due[id]);
                }
            }

            // From the first due time (or the restart) to the last page: the arrival rate when the node keeps up.
            var firstDue = restartedAt ?? due.Values.Min();
            var rate = paged.Count / Math.Max(0.001, (paged.Values.DefaultIfEmpty(firstDue).Max() - firstDue).TotalSeconds);
            var run = Label(cell);
            var row = string.Create(CultureInfo.InvariantCulture,
                $"| {store}{(store == "postgres" ? " (clustered)" : "")} | {run} | {paged.Count}/{count} | {P(stats, 50)} | {P(stats, 99)} | {P(stats, 100)} | {(stats.Count == 0 ? "—" : stats.Mean.ToString("F0", CultureInfo.InvariantCulture))} | {rate:F0} | {schedule.Elapsed.TotalSeconds:F1} s |");
            var split = cell == Cell.RestartAfterHalf
                ? string.Create(CultureInfo.InvariantCulture,
                    $"; {backlog.Count} fell due while no node ran (backlog, from the new node's start: first page at {P(backlog, 0)} ms, p50 {P(backlog, 50)} ms, p99 {P(backlog, 99)} ms, drained in {P(backlog, 100)} ms), {after.Count} after it (p50 {P(after, 50)} ms, p99 {P(after, 99)} ms, max {P(after, 100)} ms)")
                : restartNote;
            var statementNote = counter is null ? "" : string.Create(CultureInfo.InvariantCulture, $"; {counter.Total / (double)Math.Max(1, paged.Count):F1} SQL statements per page (Npgsql tracing on, so its CPU figure is not comparable)");
            var note = string.Create(CultureInfo.InvariantCulture,
                $"{store}, {run}: {paged.Count} of {count} paged in {batches.Count} batches (mean {(batches.IsEmpty ? 0 : paged.Count / (double)batches.Count):F1} firings per commit){split}; "
                + $"scheduling {count} timers took {schedule.Elapsed.TotalSeconds:F1} s ({count / schedule.Elapsed.TotalSeconds:F0}/s); run {(finished - started).TotalSeconds:F0} s, "
                + $"process CPU {cpu.TotalMilliseconds / Math.Max(1, paged.Count):F2} ms per page (a load-independent cost; the machine's other work does not count){statementNote}.");
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

    private static async Task<Node> StartNodeAsync(TriageConfig config, DatabaseOptions options, TimeProvider clock, EscalationSchedulerTuning tuning)
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
        services.AddEscalationScheduler(options, tuning);
        var provider = services.BuildServiceProvider();
        var scheduler = await provider.GetRequiredService<ISchedulerFactory>().GetScheduler();
        return new Node(provider, scheduler);
    }

    /// <summary>Waits (at most 60 s) until the JIT compiled for under 50 ms in 2 s; returns the seconds waited.</summary>
    private static async Task<double> WaitForQuietJitAsync()
    {
        var waited = Stopwatch.StartNew();
        var compiled = System.Runtime.JitInfo.GetCompilationTime();
        while (waited.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(TimeSpan.FromSeconds(2));
            var now = System.Runtime.JitInfo.GetCompilationTime();
            if (now - compiled < TimeSpan.FromMilliseconds(50))
            {
                break;
            }

            compiled = now;
        }

        return waited.Elapsed.TotalSeconds;
    }

    /// <summary>The benchmark's cells; see the description the report opens with.</summary>
    private enum Cell
    {
        Running,
        RestartNow,
        RestartAfterHalf,
    }

    private static Cell ParseCell(string name) => name switch
    {
        "running" => Cell.Running,
        "restart-now" => Cell.RestartNow,
        "restart" => Cell.RestartAfterHalf,
        _ => throw new ArgumentException($"unknown cell '{name}' (running, restart-now, restart)"),
    };

    private static string Label(Cell cell) => cell switch
    {
        Cell.Running => "running throughout",
        Cell.RestartNow => "plain restart (new node at once)",
        _ => "down half the window, then restart (drain)",
    };

    private static string P(Percentiles stats, double percentile) =>
        stats.Count == 0 ? "—" : stats.P(percentile).ToString("F0", CultureInfo.InvariantCulture);

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
