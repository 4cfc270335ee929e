using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Triage.Api.Persistence;

namespace Triage.Tests.Delivery;

/// <summary>A real SQLite file per test, with the triage schema; services get a scoped <see cref="TriageDbContext"/>.</summary>
internal sealed class SqliteTestDatabase : IAsyncDisposable
{
    private SqliteTestDatabase(string path)
    {
        Path = path;
        ConnectionString = $"Data Source={path};Pooling=False";
    }

    public string Path { get; }

    public string ConnectionString { get; }

    public static async Task<SqliteTestDatabase> CreateAsync()
    {
        var directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "triage-tests");
        Directory.CreateDirectory(directory);
        var database = new SqliteTestDatabase(System.IO.Path.Combine(directory, $"{Guid.NewGuid():N}.db"));
        await using var db = database.NewContext();
        await db.Database.MigrateOrCreateAsync();
        return database;
    }

    public SqliteTriageDbContext NewContext()
    {
        var options = new DbContextOptionsBuilder<SqliteTriageDbContext>().UseSqlite(ConnectionString).Options;
        return new SqliteTriageDbContext(options);
    }

    /// <summary>Registers the database the way the service does, for components that create their own scopes.</summary>
    public IServiceCollection AddTo(IServiceCollection services) =>
        services.AddDbContext<TriageDbContext, SqliteTriageDbContext>(o => o.UseSqlite(ConnectionString));

    public async Task<long> AddIncidentAsync(Action<Incident>? configure = null)
    {
        await using var db = NewContext();
        var incident = new Incident
        {
            Fingerprint = Guid.NewGuid().ToString("N"),
            Rule = "Contact cloud metadata service from container",
            Title = "IMDS query from payments/api",
            Priority = Triage.Contracts.AlertPriority.Critical,
            Node = "node-1",
            Source = "sensor",
            Namespace = "payments",
            AlertCount = 1,
        };
        configure?.Invoke(incident);
        db.Incidents.Add(incident);
        await db.SaveChangesAsync();
        return incident.Id;
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        foreach (var file in new[] { Path, Path + "-wal", Path + "-shm" })
        {
            File.Delete(file);
        }

        return ValueTask.CompletedTask;
    }
}

internal static class DatabaseFacadeExtensions
{
    /// <summary>Applies the migrations when the assembly has some, else creates the schema from the model.</summary>
    public static async Task MigrateOrCreateAsync(this Microsoft.EntityFrameworkCore.Infrastructure.DatabaseFacade database)
    {
        if (database.GetMigrations().Any())
        {
            await database.MigrateAsync();
        }
        else
        {
            await database.EnsureCreatedAsync();
        }
    }
}
