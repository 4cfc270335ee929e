using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Triage.Bench;

/// <summary>
/// The peer of <c>bench/sqlite-floor/floor.c</c>: the same statements, database, pragmas and data through
/// Microsoft.Data.Sqlite (prepared commands, parameters reused), as the service's ingest writer runs them. Side by side
/// with the C program (<c>bench/sqlite-floor/floor.sh</c> runs both per cell), the difference is what the .NET data
/// provider adds per alert, apart from everything else the service does.
/// Usage: <c>sqlite-floor DB ALERTS_PER_COMMIT COMMITS FULL|OFF service|alerts-only|no-index|no-checkpoint</c>.
/// </summary>
internal static class SqliteFloorBenchmark
{
    private const int Incidents = 1000;
    private const int PayloadBytes = 1448;

    public static Task<int> RunAsync(string[] args)
    {
        if (args.Length != 5)
        {
            Console.Error.WriteLine("usage: sqlite-floor DB ALERTS_PER_COMMIT COMMITS FULL|OFF service|alerts-only|no-index|no-checkpoint");
            return Task.FromResult(2);
        }

        var (path, synchronous, variant) = (args[0], args[3], args[4]);
        var perCommit = int.Parse(args[1], CultureInfo.InvariantCulture);
        var commits = int.Parse(args[2], CultureInfo.InvariantCulture);
        var updateIncidents = variant is "service" or "no-checkpoint";
        if (!updateIncidents && variant is not ("alerts-only" or "no-index"))
        {
            Console.Error.WriteLine($"sqlite-floor: unknown variant '{variant}'");
            return Task.FromResult(2);
        }

        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        Execute(connection, $"PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA cache_size = -32768; " +
            $"PRAGMA foreign_keys = 1; PRAGMA wal_autocheckpoint = {(variant == "no-checkpoint" ? 0 : 1000)};");
        if (variant == "no-index")
        {
            Execute(connection, "DROP INDEX \"IX_alerts_IncidentId_Time\"");
        }

        using (var opening = connection.BeginTransaction())
        {
            using var openIncident = Command(connection,
                "INSERT INTO incidents (Id, Fingerprint, OpenFingerprint, Rule, Title, Priority, Status, AlertCount, FirstSeen, LastSeen, " +
                "CreatedAt, UpdatedAt, Namespace, WorkloadKind, WorkloadName, Pod, Image, Node, Source, Tags, NeedsProcessing, Version) " +
                "VALUES ($id, printf('fp%040d', $id), printf('fp%040d', $id), 'Read sensitive file untrusted', " +
                "'Sensitive file opened for reading by non-trusted program', 4, 'Triggered', 1, 0, 0, 0, 0, 'payments', 'Deployment', " +
                "'api', 'api-7d9f8b6c5d-x2x9q', 'registry.example.com/payments/api:1.2.3', 'node-1', 'falco', '[\"container\"]', 0, 1)",
                "$id");
            for (var id = 1; id <= Incidents; id++)
            {
                openIncident.Parameters[0].Value = id;
                openIncident.ExecuteNonQuery();
            }

            opening.Commit();
        }

        using var insertAlert = Command(connection,
            "INSERT INTO alerts (Id, IncidentId, Time, ReceivedAt, Source, Rule, Priority, Node, Namespace, Pod, ContainerId, Payload, " +
            "SuppressionId) VALUES ($id, $incident, $time, $received, 'falco', 'Read sensitive file untrusted', 4, 'node-1', 'payments', " +
            "'api-7d9f8b6c5d-x2x9q', 'abcdef123456', $payload, NULL) ON CONFLICT (Id) DO NOTHING",
            "$id", "$incident", "$time", "$received", "$payload");
        using var updateIncident = Command(connection,
            "UPDATE incidents SET AlertCount = AlertCount + $added, FirstSeen = min(FirstSeen, COALESCE($first, FirstSeen)), " +
            "LastSeen = max(LastSeen, COALESCE($last, LastSeen)), Pod = COALESCE(Pod, $pod), Priority = max(Priority, $priority), Tags = $tags, " +
            "SuppressionId = $suppression, UpdatedAt = $now WHERE Id = $incident AND Version = $version AND OpenFingerprint IS NOT NULL",
            "$added", "$first", "$last", "$pod", "$priority", "$tags", "$suppression", "$now", "$incident", "$version");

        var payload = string.Create(PayloadBytes, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + i * 7 % 26);
            }
        });
        var random = new Random(42);
        var idBytes = new byte[20];
        var added = new int[Incidents + 1];
        long sequence = 0;
        using var process = Process.GetCurrentProcess();
        var cpuStart = process.TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        for (var c = 0; c < commits; c++)
        {
            Array.Clear(added);
            using var transaction = connection.BeginTransaction();
            insertAlert.Transaction = transaction;
            updateIncident.Transaction = transaction;
            for (var k = 0; k < perCommit; k++)
            {
                // Falco alert ids are hashes (falco-<40 hex>): each insert lands on a random page of the id index.
                random.NextBytes(idBytes);
                var incident = 1 + random.Next(Incidents);
                var at = 1_700_000_000_000_000L + sequence++ * 1000;
                insertAlert.Parameters[0].Value = "falco-" + Convert.ToHexStringLower(idBytes);
                insertAlert.Parameters[1].Value = incident;
                insertAlert.Parameters[2].Value = at;
                insertAlert.Parameters[3].Value = at;
                insertAlert.Parameters[4].Value = payload;
                insertAlert.ExecuteNonQuery();
                added[incident]++;
            }

            // Then one guarded update per incident the commit touched, as the writer makes them.
            for (var incident = 1; updateIncidents && incident <= Incidents; incident++)
            {
                if (added[incident] == 0)
                {
                    continue;
                }

                var at = 1_700_000_000_000_000L + sequence * 1000;
                var values = updateIncident.Parameters;
                values[0].Value = added[incident];
                values[1].Value = at;
                values[2].Value = at;
                values[3].Value = "api-7d9f8b6c5d-x2x9q";
                values[4].Value = 4;
                values[5].Value = "[\"container\"]";
                values[6].Value = DBNull.Value;
                values[7].Value = at;
                values[8].Value = incident;
                values[9].Value = 1;
                if (updateIncident.ExecuteNonQuery() != 1)
                {
                    Console.Error.WriteLine($"sqlite-floor: the update of incident {incident} hit no row");
                    return Task.FromResult(1);
                }
            }

            transaction.Commit();
        }

        var wall = Stopwatch.GetElapsedTime(started).TotalSeconds;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds;
        var alerts = (long)perCommit * commits;
        using var count = Command(connection, "SELECT count(*) FROM alerts");
        if ((long)count.ExecuteScalar()! != alerts)
        {
            Console.Error.WriteLine($"sqlite-floor: {count.ExecuteScalar()} alerts stored of {alerts}");
            return Task.FromResult(1);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| .NET (Microsoft.Data.Sqlite) | {perCommit} | {variant} | {synchronous} | {alerts} | {cpu * 1e6 / alerts:F1} | {wall * 1e6 / alerts:F1} | {alerts / wall:F0} |"));
        return Task.FromResult(0);
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = Command(connection, sql);
        command.ExecuteNonQuery();
    }

    /// <summary>A prepared command whose parameters are created once and reused, as the writer's are.</summary>
    private static SqliteCommand Command(SqliteConnection connection, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter(name, null));
        }

        return command;
    }
}
