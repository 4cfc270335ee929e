using Npgsql;

namespace Triage.Tests.Support;

/// <summary>The database kinds every persistence test runs against.</summary>
public enum DatabaseKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Fresh, empty databases for tests: a SQLite file in a temporary folder, or a new PostgreSQL database on the server
/// named by the TRIAGE_TEST_POSTGRES connection string (run-tests.sh starts one and sets it).
/// </summary>
internal static class TestDatabases
{
    public const string PostgresVariable = "TRIAGE_TEST_POSTGRES";

    public static TheoryData<DatabaseKind> Both => [DatabaseKind.Sqlite, DatabaseKind.Postgres];

    /// <summary>A value for <c>--db</c>; the database is dropped when the returned handle is disposed.</summary>
    public static async Task<TestDatabase> CreateAsync(DatabaseKind kind, string directory)
    {
        if (kind == DatabaseKind.Sqlite)
        {
            return new TestDatabase(Path.Combine(directory, "triage.db"), () => Task.CompletedTask);
        }

        var admin = Environment.GetEnvironmentVariable(PostgresVariable);
        Requires.That(!string.IsNullOrEmpty(admin), $"PostgreSQL tests need {PostgresVariable} (run-tests.sh sets it)");
        var name = $"triage_test_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false };
        return new TestDatabase(builder.ConnectionString, async () =>
        {
            await using var connection = new NpgsqlConnection(admin);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        });
    }
}

/// <summary>A database made for one test.</summary>
internal sealed class TestDatabase(string dbArgument, Func<Task> drop) : IAsyncDisposable
{
    /// <summary>The <c>--db</c> value: a SQLite path or a PostgreSQL connection string.</summary>
    public string DbArgument { get; } = dbArgument;

    public bool IsPostgres => DbArgument.Contains("Host=", StringComparison.OrdinalIgnoreCase);

    public ValueTask DisposeAsync() => new(drop());
}
