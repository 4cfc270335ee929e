using Microsoft.EntityFrameworkCore;
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
