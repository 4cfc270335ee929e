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
}
