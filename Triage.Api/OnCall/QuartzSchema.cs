using System.Globalization;
using Microsoft.EntityFrameworkCore.Migrations;

namespace Triage.Api.OnCall;

/// <summary>
/// Quartz.NET 4.7.3's own schema scripts (copied from the Quartz assembly so a migration stays the same when Quartz is
/// upgraded), run by an EF migration so that the job store lives in the triage database and is created with it.
/// Every statement is <c>CREATE … IF NOT EXISTS</c>.
/// </summary>
internal static class QuartzSchema
{
    public const string TablePrefix = "QRTZ_";

    public static void Create(MigrationBuilder migrationBuilder)
    {
        var provider = migrationBuilder.ActiveProvider ?? "";
        var name = provider.Contains("Npgsql", StringComparison.Ordinal) ? "quartz_postgres" : "quartz_sqlite";
        using var stream = typeof(QuartzSchema).Assembly.GetManifestResourceStream($"Triage.Api.OnCall.Schema.{name}.sql")
            ?? throw new InvalidOperationException($"Embedded Quartz schema {name}.sql is missing");
        using var reader = new StreamReader(stream);
        var script = reader.ReadToEnd().Replace("{0}", TablePrefix, StringComparison.Ordinal).Replace("{1}", TablePrefix, StringComparison.Ordinal);
        // Statements are separated by lines reading exactly "--;;"; other lines starting with "--" are comments.
        var statement = new List<string>();
        foreach (var line in script.Split('\n').Select(l => l.TrimEnd('\r')).Append("--;;"))
        {
            if (line == "--;;")
            {
                var sql = string.Join('\n', statement).Trim();
                if (sql.Length > 0)
                {
                    migrationBuilder.Sql(sql);
                }

                statement.Clear();
            }
            else if (!line.TrimStart().StartsWith("--", StringComparison.Ordinal))
            {
                statement.Add(line);
            }
        }
    }

    /// <summary>
    /// SQLite only: tells the query planner, through fixed rows in <c>sqlite_stat1</c>, that <c>SCHED_NAME</c> (the first
    /// column of every Quartz index) does not narrow anything, as there is one scheduler. Without statistics SQLite
    /// assumes an equality on an index's first column leaves about ten rows, so it answered Quartz's batched lookups
    /// (<c>SCHED_NAME = @s AND ((JOB_NAME = @n0 AND JOB_GROUP = @g0) OR …)</c>, one per firing batch and per batch of
    /// timers set) by reading every job or trigger of the scheduler and testing each against every key: 50–65 ms per
    /// batch with 20,000 timers pending, most of the escalation benchmark's CPU, with the write lock held. With these
    /// rows it seeks each key in the primary key (a "MULTI-INDEX OR" plan). Fixed rows rather than ANALYZE: they hold
    /// however many timers the tables have, and nothing has to run ANALYZE over a table that is being written (the
    /// statistics tables may be changed with INSERT and DELETE: sqlite.org/lang_analyze.html). A connection reads them
    /// when it opens; the migration runs before Quartz opens any.
    /// </summary>
    public static void WritePlannerStatistics(MigrationBuilder migrationBuilder)
    {
        if ((migrationBuilder.ActiveProvider ?? "").Contains("Npgsql", StringComparison.Ordinal))
        {
            return; // PostgreSQL keeps its own statistics (autovacuum's ANALYZE) and seeks each key of such an OR already.
        }

        // ANALYZE of the schema table alone creates sqlite_stat1 without reading any table.
        migrationBuilder.Sql("ANALYZE sqlite_schema;");
        migrationBuilder.Sql($"DELETE FROM sqlite_stat1 WHERE tbl LIKE '{TablePrefix}%';");
        // "rows, then rows per distinct value of each prefix of the index's columns": the first number of every index is
        // the same estimate of the table's size; SCHED_NAME's is all of it; a name (with or without its group) is one
        // row, a group or state alone is a large share.
        (string Table, string Index, string Stat)[] rows =
        [
            ("JOB_DETAILS", "sqlite_autoindex_{0}JOB_DETAILS_1", "100000 100000 1 1"), // SCHED_NAME, JOB_NAME, JOB_GROUP
            ("JOB_DETAILS", "IDX_{0}J_G_N", "100000 100000 50000 1"), // SCHED_NAME, JOB_GROUP, JOB_NAME
            ("TRIGGERS", "sqlite_autoindex_{0}TRIGGERS_1", "100000 100000 1 1"), // SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP
            ("TRIGGERS", "IDX_{0}T_J", "100000 100000 1 1"), // SCHED_NAME, JOB_NAME, JOB_GROUP
            ("TRIGGERS", "IDX_{0}T_G_N", "100000 100000 50000 1"), // SCHED_NAME, TRIGGER_GROUP, TRIGGER_NAME
            ("TRIGGERS", "IDX_{0}T_C", "100000 100000 100000"), // SCHED_NAME, CALENDAR_NAME (none here)
            ("TRIGGERS", "IDX_{0}T_NFT_ST", "100000 100000 20000 2 2 2"), // SCHED_NAME, TRIGGER_STATE, NEXT_FIRE_TIME, PRIORITY, MISFIRE_INSTR
            ("SIMPLE_TRIGGERS", "sqlite_autoindex_{0}SIMPLE_TRIGGERS_1", "100000 100000 1 1"),
            ("SIMPROP_TRIGGERS", "sqlite_autoindex_{0}SIMPROP_TRIGGERS_1", "100000 100000 1 1"),
            ("CRON_TRIGGERS", "sqlite_autoindex_{0}CRON_TRIGGERS_1", "100000 100000 1 1"),
            ("BLOB_TRIGGERS", "sqlite_autoindex_{0}BLOB_TRIGGERS_1", "100000 100000 1 1"),
            ("FIRED_TRIGGERS", "sqlite_autoindex_{0}FIRED_TRIGGERS_1", "1000 1000 1"), // SCHED_NAME, ENTRY_ID
            ("FIRED_TRIGGERS", "IDX_{0}FT_INST_JOB_REQ_RCVRY", "1000 1000 1000 500"), // SCHED_NAME, INSTANCE_NAME, REQUESTS_RECOVERY
            ("FIRED_TRIGGERS", "IDX_{0}FT_J_G", "1000 1000 1 1"), // SCHED_NAME, JOB_NAME, JOB_GROUP
            ("FIRED_TRIGGERS", "IDX_{0}FT_T_G", "1000 1000 1 1"), // SCHED_NAME, TRIGGER_NAME, TRIGGER_GROUP
        ];
        foreach (var (table, index, stat) in rows)
        {
            migrationBuilder.Sql($"INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('{TablePrefix}{table}', '{string.Format(CultureInfo.InvariantCulture, index, TablePrefix)}', '{stat}');");
        }

        migrationBuilder.Sql("ANALYZE sqlite_schema;"); // this connection reads them again
    }

    public static void RemovePlannerStatistics(MigrationBuilder migrationBuilder)
    {
        if (!(migrationBuilder.ActiveProvider ?? "").Contains("Npgsql", StringComparison.Ordinal))
        {
            migrationBuilder.Sql($"DELETE FROM sqlite_stat1 WHERE tbl LIKE '{TablePrefix}%';");
        }
    }
}
