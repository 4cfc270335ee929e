using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Triage.Api.Configuration;

namespace Triage.Api.Persistence;

internal static class DatabaseExtensions
{
    /// <summary>The embedded default: a SQLite file under ./data/, relative to the working directory.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=data/triage.db";

    /// <summary>
    /// Registers <see cref="TriageDbContext"/> for the configured provider. <paramref name="dbOverride"/> is the
    /// <c>--db</c> argument: a PostgreSQL connection string (contains <c>Host=</c>) or a SQLite file path.
    /// </summary>
    /// <remarks>
    /// Contexts come from a pool: every alert batch, pipeline step and outbox attempt opens a scope with its own
    /// context, and building one (options, internal service lookups) was about 8% of the ingest profile's samples.
    /// The contexts hold no state of their own, which pooling requires (EF resets the change tracker on return).
    /// </remarks>
    public static IServiceCollection AddTriageDatabase(this IServiceCollection services, DatabaseOptions options)
    {
        services.AddHostedService<DatabaseStartup>(); // hosted services start in order: the schema first
        services.AddSingleton<SqliteLogRestart>();
        if (options.Provider == "postgres")
        {
            services.AddDbContextPool<TriageDbContext, PostgresTriageDbContext>(db => ConfigurePostgres(db, options.ConnectionString!));
        }
        else
        {
            var connectionString = options.ConnectionString ?? DefaultSqliteConnectionString;
            services.AddDbContextPool<TriageDbContext, SqliteTriageDbContext>(db => ConfigureSqlite(db, connectionString));
            services.AddHostedService(sp => new SqliteCheckpointer(connectionString, sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<SqliteCheckpointer>>(), sp.GetRequiredService<SqliteLogRestart>()));
        }

        return services;
    }

    /// <summary>A context outside dependency injection, for the <c>migrate</c> command and tools.</summary>
    public static TriageDbContext CreateContext(DatabaseOptions options)
    {
        if (options.Provider == "postgres")
        {
            var postgres = new DbContextOptionsBuilder<PostgresTriageDbContext>();
            ConfigurePostgres(postgres, options.ConnectionString!);
            return new PostgresTriageDbContext(postgres.Options);
        }

        var sqlite = new DbContextOptionsBuilder<SqliteTriageDbContext>();
        ConfigureSqlite(sqlite, options.ConnectionString ?? DefaultSqliteConnectionString);
        return new SqliteTriageDbContext(sqlite.Options);
    }

    /// <summary>Turns a <c>--db</c> argument into database options.</summary>
    public static void ApplyOverride(this DatabaseOptions options, string dbOverride)
    {
        if (dbOverride.Contains("Host=", StringComparison.OrdinalIgnoreCase)
            || dbOverride.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
            || dbOverride.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            options.Provider = "postgres";
            options.ConnectionString = dbOverride;
        }
        else
        {
            options.Provider = "sqlite";
            options.ConnectionString = dbOverride.Contains('=', StringComparison.Ordinal) ? dbOverride : $"Data Source={dbOverride}";
        }
    }

    internal static void ConfigureSqlite(DbContextOptionsBuilder db, string connectionString)
    {
        EnsureSqliteDirectory(connectionString);
        db.UseSqlite(connectionString).AddInterceptors(SqliteConnectionSettings.Instance);
    }

    internal static void ConfigurePostgres(DbContextOptionsBuilder db, string connectionString) =>
        db.UseNpgsql(PostgresConnectionString(connectionString));

    /// <summary>
    /// The service's PostgreSQL connection string: the configured one with Npgsql's automatic preparation switched on and
    /// pooled connections not reset when they go back to the pool, unless the configuration sets either itself; and
    /// <paramref name="applicationName"/> (shown in <c>pg_stat_activity</c>) unless it names one.
    /// </summary>
    /// <remarks>
    /// Unprepared, the server parses and plans every query again, and every card refresh runs about twenty. By default
    /// Npgsql resets a pooled connection it hands out again: <c>DISCARD ALL</c>, or with prepared statements the same
    /// steps without <c>DEALLOCATE ALL</c>, sent ahead of the next query. Measured side by side (bench/RESULTS.md,
    /// session 10), preparing raised PostgreSQL's ingest rate and leaving out the reset raised it again. The service
    /// keeps no session state that a reset would have to clear: no <c>SET</c>, temporary tables, cursors, LISTEN or
    /// session-level advisory locks; transactions end before a connection goes back.
    /// </remarks>
    internal static string PostgresConnectionString(string configured, string? applicationName = null)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(configured);
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = configured }.Keys.Cast<string>()
            .Select(key => key.Replace(" ", "", StringComparison.Ordinal)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (!given.Contains(nameof(builder.MaxAutoPrepare)))
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }

        if (!given.Contains(nameof(builder.NoResetOnClose)))
        {
            builder.NoResetOnClose = true;
        }

        if (applicationName is not null && string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = applicationName;
        }

        return builder.ConnectionString;
    }

    private static void EnsureSqliteDirectory(string connectionString)
    {
        var builder = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connectionString);
        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (builder.DataSource != ":memory:" && !string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
    }
}

/// <summary>
/// Brings the schema up to date before the service takes traffic. SQLite (embedded, single node) migrates itself;
/// PostgreSQL is shared by replicas, so migrating is a deployment step and an out-of-date schema stops the start.
/// </summary>
internal sealed partial class DatabaseStartup(IServiceProvider services, ILogger<DatabaseStartup> logger) : IHostedService
{
    public const string PostgresMigrateCommand =
        "dotnet run --project Triage.Api -- migrate --db \"<connection string>\"";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (db is SqliteTriageDbContext)
        {
            if (pending.Count > 0)
            {
                LogMigrating(logger, pending.Count);
                await db.Database.MigrateAsync(cancellationToken);
            }

            // WAL lets readers (the incident API) run while the ingest writer commits. It is stored in the file; the
            // per-connection settings (synchronous, busy_timeout) come from SqliteConnectionSettings.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            return;
        }

        if (pending.Count > 0)
        {
            throw new InvalidOperationException(
                $"The PostgreSQL schema is out of date: {pending.Count} migration(s) not applied ({string.Join(", ", pending)}). "
                + $"Apply them with: {PostgresMigrateCommand}");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Applying {Count} migration(s) to the SQLite database")]
    private static partial void LogMigrating(ILogger logger, int count);
}

/// <summary>Lets <c>dotnet ef</c> build the SQLite context without starting the app.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteTriageDbContext>
{
    public SqliteTriageDbContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<SqliteTriageDbContext>();
        builder.UseSqlite("Data Source=design-time.db");
        return new SqliteTriageDbContext(builder.Options);
    }
}

/// <summary>Lets <c>dotnet ef</c> build the PostgreSQL context without a server.</summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresTriageDbContext>
{
    public PostgresTriageDbContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<PostgresTriageDbContext>();
        builder.UseNpgsql("Host=localhost;Database=triage_design");
        return new PostgresTriageDbContext(builder.Options);
    }
}
