using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Triage.Api.Persistence;

/// <summary>
/// The triage database. One model, two providers: <see cref="SqliteTriageDbContext"/> (embedded default) and
/// <see cref="PostgresTriageDbContext"/>, each with its own migrations under <c>migrations/</c>.
/// </summary>
/// <remarks>
/// After changing the model, add a migration for both providers from the repository root:
/// <code>
/// dotnet ef migrations add NAME --project Triage.Api --context SqliteTriageDbContext --output-dir ../migrations/Sqlite
/// dotnet ef migrations add NAME --project Triage.Api --context PostgresTriageDbContext --output-dir ../migrations/Postgres
/// </code>
/// </remarks>
internal class TriageDbContext(DbContextOptions options) : DbContext(options)
{
    public DbSet<Incident> Incidents => Set<Incident>();
    public DbSet<StoredAlert> Alerts => Set<StoredAlert>();
    public DbSet<TimelineEntry> Timeline => Set<TimelineEntry>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(TriageDbContext).Assembly,
            type => type.Namespace == typeof(TriageDbContext).Namespace + ".EntityConfigurations");
    }
}

/// <summary>SQLite flavour of <see cref="TriageDbContext"/>.</summary>
internal sealed class SqliteTriageDbContext(DbContextOptions<SqliteTriageDbContext> options) : TriageDbContext(options)
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite has no timestamp type; EF stores DateTimeOffset as text it cannot compare in queries.
        // All times are UTC here, so a sortable integer is exact and keeps range queries in SQL.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
    }
}

/// <summary>PostgreSQL flavour of <see cref="TriageDbContext"/>.</summary>
internal sealed class PostgresTriageDbContext(DbContextOptions<PostgresTriageDbContext> options) : TriageDbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);

        // Every ingest commit updates its incidents' counts and times. Free room in each page lets PostgreSQL write
        // the new row version in place (a HOT update: no new index entries) instead of on another page.
        modelBuilder.Entity<Incident>().HasStorageParameter("fillfactor", 80);
    }
}
