using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Triage.Api.Configuration;
using Triage.Api.Persistence;
using Triage.Tests.Support;

namespace Triage.Tests.Persistence;

public sealed class MigrationTests
{
    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Model_HasNoChangesMissingFromMigrations(DatabaseKind kind)
    {
        var directory = Directory.CreateTempSubdirectory("triage-migrations-").FullName;
        await using var database = await TestDatabases.CreateAsync(kind, directory);
        var options = new DatabaseOptions();
        options.ApplyOverride(database.DbArgument);
        await using var db = DatabaseExtensions.CreateContext(options);

        await db.Database.MigrateAsync(TestContext.Current.CancellationToken);

        Assert.False(db.Database.HasPendingModelChanges(),
            "The EF model changed without a migration: run migrations/add.sh <Name>");
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    /// <summary>
    /// Before the outbox kept whether an attempt may have arrived, every retried Slack card or page looked for an
    /// earlier attempt's post. Messages already tried when the service is upgraded keep doing so (what became of their
    /// attempts was not recorded); untried and finished ones do not.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Upgrade_PendingMessagesAlreadyTried_StillLookForAnEarlierPost(DatabaseKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("triage-migrations-").FullName;
        await using var database = await TestDatabases.CreateAsync(kind, directory);
        var options = new DatabaseOptions();
        options.ApplyOverride(database.DbArgument);
        await using var db = DatabaseExtensions.CreateContext(options);
        var migrator = db.GetService<IMigrator>();
        await migrator.MigrateAsync("OutboxRetention", ct);

        // The schema of that migration: rows written by hand, times as each provider stores them.
        object at = database.IsPostgres ? DateTimeOffset.UtcNow : 638_000_000_000_000_000L;
        foreach (var (key, status, attempts) in new[] { ("tried", "Pending", 2), ("untried", "Pending", 0), ("done", "Delivered", 1) })
        {
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO outbox (\"Channel\", \"Kind\", \"Payload\", \"IdempotencyKey\", \"Priority\", \"Status\", \"Attempts\", \"CreatedAt\", \"NextAttemptAt\") VALUES ('slack', 'card', '{{}}', {key}, 0, {status}, {attempts}, {at}, {at})",
                ct);
        }

        await migrator.MigrateAsync(cancellationToken: ct);

        var rows = await db.Set<Triage.Api.Delivery.OutboxMessage>().AsNoTracking().ToDictionaryAsync(m => m.IdempotencyKey, ct);
        Assert.Equal(rows["tried"].CreatedAt, rows["tried"].MayHaveArrivedSince);
        Assert.Null(rows["untried"].MayHaveArrivedSince);
        Assert.Null(rows["done"].MayHaveArrivedSince);
        Assert.All(rows.Values, m => Assert.Null(m.AttemptStartedAt));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    [Fact]
    public async Task Start_PostgresWithOutdatedSchema_RefusesAndNamesTheMigrateCommand()
    {
        var directory = Directory.CreateTempSubdirectory("triage-migrations-").FullName;
        await using var database = await TestDatabases.CreateAsync(DatabaseKind.Postgres, directory);
        var configPath = Path.Combine(directory, "triage.yaml");
        await File.WriteAllTextAsync(configPath, TriageTestHost.BaseYaml, TestContext.Current.CancellationToken);
        var config = Triage.Api.TriageHost.LoadConfig(configPath, database.DbArgument);
        await using var app = Triage.Api.TriageHost.BuildApp(config, ["--urls", "http://127.0.0.1:0"]);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("migrate", error.Message, StringComparison.Ordinal);
        Assert.Contains("out of date", error.Message, StringComparison.Ordinal);
    }
}
