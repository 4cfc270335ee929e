using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Triage.Bench;

/// <summary>
/// Ingest throughput over real HTTP. Starts the built triage service (Triage.Api.dll) on 127.0.0.1 once per cell with a
/// fresh SQLite file or a fresh PostgreSQL database, and Prometheus Alertmanager as the peer, and drives each with the
/// same closed-loop generator: Falco alerts over 1,000 fingerprints, 10% exact retries, 1 and 100 alerts per request.
/// After each triage cell the service is killed (SIGKILL) and the database is counted: the stored alerts must equal
/// the distinct alerts sent, and there must be one incident per fingerprint seen.
/// </summary>
/// <remarks>
/// Usage: <c>ingest [--seconds 30] [--warmup 3] [--connections 16] [--batches 1,100] [--targets alertmanager,sqlite,postgres]
/// [--postgres &lt;admin connection string&gt;]</c>. Without --postgres the connection comes from TRIAGE_TEST_POSTGRES or
/// scripts/start-postgres.sh.
/// </remarks>
internal static class IngestBenchmark
{
    private const string FalcoToken = "local-falco-token-change-me";

    public static async Task<int> RunAsync(string[] args)
    {
        // One whole count-refresh cycle (ingest.count_refresh_interval, 30 s): the primed incidents' card refreshes fall
        // due together, once per cycle, so a shorter window measures with or without that burst depending on its phase.
        var seconds = IntOption(args, "--seconds", 30);
        var warmup = IntOption(args, "--warmup", 3);
        var connections = IntOption(args, "--connections", 16);
        var batches = (Option(args, "--batches") ?? "1,100").Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToList();
        var targets = (Option(args, "--targets") ?? "alertmanager,sqlite,postgres").Split(',').ToHashSet(StringComparer.Ordinal);

        var repo = FindRepositoryRoot();
        var apiDll = Path.Combine(repo, "Triage.Api", "bin", "Release", "net10.0", "Triage.Api.dll");
        if (!File.Exists(apiDll))
        {
            await Console.Error.WriteLineAsync($"{apiDll} is missing: build it with `dotnet build -c Release Triage.Api` (dotnet run -c Release of this project does).");
            return 1;
        }

        var postgresAdmin = targets.Contains("postgres") ? Option(args, "--postgres") ?? await PostgresAdminAsync(repo) : null;
        var work = Directory.CreateTempSubdirectory("triage-bench-ingest-");
        var cells = new List<Cell>();
        try
        {
            // Interleave targets per batch size so that background load on the shared machine hits all of them alike.
            var seed = 1;
            foreach (var batch in batches)
            {
                if (targets.Contains("alertmanager"))
                {
                    cells.Add(await RunAlertmanagerAsync(work.FullName, batch, connections, warmup, seconds, seed++));
                }

                if (targets.Contains("sqlite"))
                {
                    cells.Add(await RunTriageAsync(repo, apiDll, work.FullName, null, batch, connections, warmup, seconds, seed++));
                }

                if (postgresAdmin is not null)
                {
                    cells.Add(await RunTriageAsync(repo, apiDll, work.FullName, postgresAdmin, batch, connections, warmup, seconds, seed++));
                }
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }

        Console.WriteLine(Report(cells, seconds, warmup, connections));
        return cells.All(c => c.Outcome.Errors == 0 && (c.Stored is null || c.Stored == c.Outcome.DistinctSent)) ? 0 : 1;
    }

    /// <param name="CpuSeconds">CPU time (user + system) of the server process in the measured window (after warm-up).</param>
    private sealed record Cell(string Target, int Batch, LoadOutcome Outcome, double CpuSeconds, long? Stored, long? Incidents, long? FingerprintsSeen)
    {
        /// <summary>Server CPU milliseconds per acknowledged alert: the cost that the shared machine's noise does not change much.</summary>
        public double CpuMsPerAlert => CpuSeconds * 1000 / Math.Max(1, Outcome.Alerts);
    }

    /// <summary>
    /// Waits until the primed incidents have been through the pipeline (enriched, routed, carded, escalation
    /// scheduled): <c>triage_pipeline_pending</c> reads 0 on three scrapes in a row.
    /// </summary>
    private static async Task WaitPipelineIdleAsync(Uri metrics, string target)
    {
        using var client = new HttpClient();
        var started = Stopwatch.GetTimestamp();
        var idleScrapes = 0;
        while (idleScrapes < 3)
        {
            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(3))
            {
                throw new TimeoutException($"{target}: the incident pipeline did not catch up with the primed incidents within 3 minutes");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500));
            var text = await client.GetStringAsync(metrics);
            var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("triage_pipeline_pending ", StringComparison.Ordinal));
            idleScrapes = line is not null && double.Parse(line["triage_pipeline_pending ".Length..], CultureInfo.InvariantCulture) == 0 ? idleScrapes + 1 : 0;
        }

        Console.Error.WriteLine($"{target}: primed {IngestWorkload.Fingerprints} incidents, pipeline idle after {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
    }

    /// <summary>
    /// Warm-up for the .NET service: under load, its JIT recompiles hot methods at higher tiers for tens of seconds after
    /// start (about 30 s of JIT time in the first two minutes of a 100-per-request cell). Alertmanager is compiled ahead
    /// of time and has none of this. The window opens once the runtime spent under <see cref="JitQuietSeconds"/> of JIT
    /// time in the last <see cref="JitProbe"/> (its own <c>dotnet.jit.compilation.time</c> counter on /metrics), or
    /// after <see cref="JitWarmupLimit"/> regardless, which the report then says.
    /// </summary>
    private static async Task WaitJitQuietAsync(Uri metrics, string target)
    {
        using var client = new HttpClient();
        var started = Stopwatch.GetTimestamp();
        var last = await JitSecondsAsync(client, metrics);
        while (true)
        {
            await Task.Delay(JitProbe);
            var now = await JitSecondsAsync(client, metrics);
            if (now - last < JitQuietSeconds)
            {
                Console.Error.WriteLine($"{target}: JIT quiet ({(now - last) * 1000:F0} ms in the last {JitProbe.TotalSeconds:F0} s) after {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s of extra warm-up");
                return;
            }

            if (Stopwatch.GetElapsedTime(started) > JitWarmupLimit)
            {
                Console.Error.WriteLine($"{target}: JIT still compiling ({(now - last) * 1000:F0} ms in the last {JitProbe.TotalSeconds:F0} s) after {JitWarmupLimit.TotalSeconds:F0} s of extra warm-up; measuring anyway");
                return;
            }

            last = now;
        }
    }

    private static readonly TimeSpan JitProbe = TimeSpan.FromSeconds(2);
    private const double JitQuietSeconds = 0.05;
    private static readonly TimeSpan JitWarmupLimit = TimeSpan.FromSeconds(120);

    private static async Task<double> JitSecondsAsync(HttpClient client, Uri metrics)
    {
        const string Name = "system_runtime_dotnet_jit_compilation_time ";
        var line = (await client.GetStringAsync(metrics)).Split('\n').FirstOrDefault(l => l.StartsWith(Name, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{metrics} has no {Name.Trim()} (the runtime's System.Runtime meter)");
        return double.Parse(line[Name.Length..], CultureInfo.InvariantCulture);
    }

    /// <summary>utime + stime of a process from /proc/&lt;pid&gt;/stat, in seconds (USER_HZ is 100 on Linux).</summary>
    private static double CpuSeconds(Process process)
    {
        var stat = File.ReadAllText($"/proc/{process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static async Task<Cell> RunTriageAsync(string repo, string apiDll, string work, string? postgresAdmin,
        int batch, int connections, int warmup, int seconds, int seed)
    {
        var target = postgresAdmin is null ? "triage (SQLite)" : "triage (PostgreSQL)";
        var dir = Directory.CreateDirectory(Path.Combine(work, $"triage-{seed}")).FullName;
        var configPath = Path.Combine(dir, "triage.yaml");
        File.Copy(Path.Combine(repo, "config", "triage.example.yaml"), configPath);
        string db;
        string? database = null;
        if (postgresAdmin is null)
        {
            db = Path.Combine(dir, "triage.db");
        }
        else
        {
            database = $"triage_bench_{Environment.ProcessId}_{seed}";
            await PostgresAsync(postgresAdmin, $"CREATE DATABASE {database}");
            db = new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = database }.ConnectionString;
            await RunToEndAsync("dotnet", [apiDll, "migrate", "--config", configPath, "--db", db], dir);
        }

        try
        {
            var port = FreePort();
            var started = Stopwatch.GetTimestamp();
            using var service = Start("dotnet", [apiDll, "serve", "--config", configPath, "--db", db, "--urls", $"http://127.0.0.1:{port}"],
                dir, Path.Combine(dir, "service.log"));
            LoadOutcome outcome;
            double cpu;
            try
            {
                await WaitReadyAsync(new Uri($"http://127.0.0.1:{port}/readyz"), service, Path.Combine(dir, "service.log"));
                Console.Error.WriteLine($"{target}: pid {service.Id} ready in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s; {batch} alert(s)/request, {connections} connections, {warmup}+{seconds} s");
                var cpuAtMeasure = 0.0;
                outcome = await LoadGenerator.RunAsync(new Uri($"http://127.0.0.1:{port}/api/v1/ingest/falco"),
                    new AuthenticationHeaderValue("Bearer", FalcoToken), IngestWorkload.FalcoBody, batch, connections,
                    TimeSpan.FromSeconds(warmup), () => WaitJitQuietAsync(new Uri($"http://127.0.0.1:{port}/metrics"), target), TimeSpan.FromSeconds(seconds), seed,
                    () => WaitPipelineIdleAsync(new Uri($"http://127.0.0.1:{port}/metrics"), target),
                    () => cpuAtMeasure = CpuSeconds(service));
                cpu = CpuSeconds(service) - cpuAtMeasure;
            }
            finally
            {
                // SIGKILL, not a graceful stop: what is counted below is what survived a crash right after the answers.
                Stop(service);
            }

            var (stored, incidents, fingerprints) = postgresAdmin is null ? await CountSqliteAsync(db) : await CountPostgresAsync(db);
            Console.Error.WriteLine($"{target}: {Summary(outcome)}; stored {stored} of {outcome.DistinctSent} distinct sent, {incidents} incidents over {fingerprints} fingerprints");
            return new Cell(target, batch, outcome, cpu, stored, incidents, fingerprints);
        }
        finally
        {
            if (database is not null)
            {
                await PostgresAsync(postgresAdmin!, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            }
        }
    }

    private static async Task<Cell> RunAlertmanagerAsync(string work, int batch, int connections, int warmup, int seconds, int seed)
    {
        var dir = Directory.CreateDirectory(Path.Combine(work, $"alertmanager-{seed}")).FullName;
        var configPath = Path.Combine(dir, "alertmanager.yml");
        await File.WriteAllTextAsync(configPath, """
            route:
              receiver: blackhole
              group_by: [alertname, namespace]
            receivers:
              - name: blackhole
            """);
        var port = FreePort();
        using var service = Start("prometheus-alertmanager",
            [$"--config.file={configPath}", $"--storage.path={Path.Combine(dir, "data")}", $"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=", "--log.level=warn"],
            dir, Path.Combine(dir, "alertmanager.log"));
        try
        {
            await WaitReadyAsync(new Uri($"http://127.0.0.1:{port}/-/ready"), service, Path.Combine(dir, "alertmanager.log"));
            Console.Error.WriteLine($"alertmanager: pid {service.Id} ready; {batch} alert(s)/request, {connections} connections, {warmup}+{seconds} s");
            var cpuAtMeasure = 0.0;
            var outcome = await LoadGenerator.RunAsync(new Uri($"http://127.0.0.1:{port}/api/v2/alerts"), null,
                IngestWorkload.AlertmanagerBody, batch, connections, TimeSpan.FromSeconds(warmup), () => Task.CompletedTask, TimeSpan.FromSeconds(seconds), seed,
                () => Task.CompletedTask, () => cpuAtMeasure = CpuSeconds(service));
            var cpu = CpuSeconds(service) - cpuAtMeasure;
            Console.Error.WriteLine($"alertmanager: {Summary(outcome)}");
            return new Cell("Alertmanager 0.25 (memory)", batch, outcome, cpu, null, null, null);
        }
        finally
        {
            Stop(service);
        }
    }

    private static string Summary(LoadOutcome o) => string.Create(CultureInfo.InvariantCulture,
        $"{o.AlertsPerSecond:F0} alerts/s, {o.Requests} requests, p50 {P(o, 50):F2} ms, p99 {P(o, 99):F2} ms, {o.Errors} errors{(o.FirstError is null ? "" : $" (first: {o.FirstError})")}");

    /// <summary>A percentile, or NaN when no request succeeded in the measured window.</summary>
    private static double P(LoadOutcome o, double percentile) => o.Latency.Count == 0 ? double.NaN : o.Latency.P(percentile);

    private static string Report(List<Cell> cells, int seconds, int warmup, int connections)
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine(inv, $"{connections} connections; every fingerprint primed once and the pipeline idle, then at least {warmup} s warm-up (the triage service's until its JIT is quiet: under 50 ms of compiling in 2 s) and {seconds} s measured per cell; latency in ms per request.");
        text.AppendLine();
        text.AppendLine("| target | alerts/request | warm-up s | requests | alerts/s | p50 ms | p99 ms | errors | server CPU ms/alert | distinct sent | stored | incidents / fingerprints |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var c in cells)
        {
            var o = c.Outcome;
            text.AppendLine(inv,
                $"| {c.Target} | {c.Batch} | {o.WarmupSeconds:F0} | {o.Requests} | {o.AlertsPerSecond:F0} | {P(o, 50):F2} | {P(o, 99):F2} | {o.Errors} | {c.CpuMsPerAlert:F3} | {o.DistinctSent} | {(c.Stored is { } s ? s.ToString(inv) : "n/a (memory)")} | {(c.Incidents is { } i ? $"{i} / {c.FingerprintsSeen}" : "n/a")} |");
        }

        text.AppendLine();
        foreach (var group in cells.GroupBy(c => c.Batch))
        {
            var peer = group.FirstOrDefault(c => c.Target.StartsWith("Alertmanager", StringComparison.Ordinal));
            if (peer is null)
            {
                continue;
            }

            foreach (var c in group.Where(c => c != peer))
            {
                text.AppendLine(inv,
                    $"- {group.Key} alert(s)/request, {c.Target} ÷ Alertmanager: throughput {c.Outcome.AlertsPerSecond / peer.Outcome.AlertsPerSecond:F2}, p99 {P(c.Outcome, 99) / P(peer.Outcome, 99):F2}, server CPU per alert {c.CpuMsPerAlert / peer.CpuMsPerAlert:F2}");
            }
        }

        return text.ToString();
    }

    private static async Task<(long Stored, long Incidents, long Fingerprints)> CountSqliteAsync(string path)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        return (await ScalarAsync(connection, "SELECT COUNT(*) FROM alerts"),
            await ScalarAsync(connection, "SELECT COUNT(*) FROM incidents"),
            await ScalarAsync(connection, "SELECT COUNT(DISTINCT \"Fingerprint\") FROM incidents"));
    }

    private static async Task<(long Stored, long Incidents, long Fingerprints)> CountPostgresAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        return (await ScalarAsync(connection, "SELECT COUNT(*) FROM alerts"),
            await ScalarAsync(connection, "SELECT COUNT(*) FROM incidents"),
            await ScalarAsync(connection, "SELECT COUNT(DISTINCT \"Fingerprint\") FROM incidents"));
    }

    private static async Task<long> ScalarAsync(System.Data.Common.DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
#pragma warning disable CA2100 // Constant SQL written in this file.
        command.CommandText = sql;
#pragma warning restore CA2100
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task PostgresAsync(string adminConnectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
#pragma warning disable CA2100 // Database names are generated here from the process id, not input.
        command.CommandText = sql;
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> PostgresAdminAsync(string repo)
    {
        if (Environment.GetEnvironmentVariable("TRIAGE_TEST_POSTGRES") is { Length: > 0 } fromEnv)
        {
            return fromEnv;
        }

        var info = new ProcessStartInfo("bash", [Path.Combine(repo, "scripts", "start-postgres.sh")]) { RedirectStandardOutput = true };
        using var script = Process.Start(info)!;
        var output = await script.StandardOutput.ReadToEndAsync();
        await script.WaitForExitAsync();
        if (script.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/start-postgres.sh failed ({script.ExitCode}); pass --postgres or --targets without postgres");
        }

        return output.Trim().Split('\n')[^1];
    }

    /// <summary>Starts a server with its output in a log file (a full pipe would stall it) and returns its process.</summary>
    private static Process Start(string file, string[] arguments, string workingDirectory, string logPath)
    {
        var info = new ProcessStartInfo("/bin/sh") { WorkingDirectory = workingDirectory, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec \"$0\" \"$@\" >\"$LOG\" 2>&1");
        info.ArgumentList.Add(file);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["LOG"] = logPath;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = Process.Start(info)!;
        Children.Add(process);
        return process;
    }

    /// <summary>Servers started and not yet stopped: ended if the benchmark itself is stopped (Ctrl+C, SIGTERM, SIGHUP).</summary>
    private static readonly Children Children = new();

    private static async Task RunToEndAsync(string file, string[] arguments, string workingDirectory)
    {
        var log = Path.Combine(workingDirectory, "migrate.log");
        using var process = Start(file, arguments, workingDirectory, log);
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed: {await File.ReadAllTextAsync(log)}");
        }
    }

    private static void Stop(Process process)
    {
        Children.Remove(process);
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }
    }

    private static async Task WaitReadyAsync(Uri url, Process process, string logPath)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.GetTimestamp() + (120 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{url.Host}:{url.Port} exited with {process.ExitCode}: {await File.ReadAllTextAsync(logPath)}");
            }

            try
            {
                using var response = await client.GetAsync(url);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Starting slowly on a busy machine.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{url} not ready after 120 s");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Triage.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Triage.sln not found above " + AppContext.BaseDirectory);
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    private static int IntOption(string[] args, string name, int fallback) =>
        Option(args, name) is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;
}
