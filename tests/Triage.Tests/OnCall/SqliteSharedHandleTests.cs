using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Triage.Api.OnCall;
using Triage.Api.Persistence;

namespace Triage.Tests.OnCall;

/// <summary>
/// EF and Quartz's job store open the same SQLite file with the same connection string, so Microsoft.Data.Sqlite's
/// pool hands one SQLite handle to both in turn; each must find its own settings on it, whoever used it before.
/// </summary>
public sealed class SqliteSharedHandleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Open_HandleLastUsedByTheJobStore_EfCommitsStillSyncFull()
    {
        var path = Path.Combine(Path.GetTempPath(), $"triage-shared-{Guid.NewGuid():N}.db");
        var connectionString = $"Data Source={path}";
        var jobStore = new SqliteJobStoreDataSource(connectionString, "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;");
        var options = new DbContextOptionsBuilder<SqliteTriageDbContext>().UseSqlite(connectionString)
            .AddInterceptors(SqliteConnectionSettings.Instance).Options;
        try
        {
            var handles = new List<SQLitePCL.sqlite3>();
            for (var round = 0; round < 3; round++)
            {
                await using (var db = new SqliteTriageDbContext(options))
                {
                    await db.Database.OpenConnectionAsync(Ct);
                    handles.Add(((SqliteConnection)db.Database.GetDbConnection()).Handle!);
                    Assert.Equal(2L, await ScalarAsync(db.Database.GetDbConnection(), "PRAGMA synchronous;")); // FULL
                }

                await using var quartz = jobStore.CreateConnection();
                await quartz.OpenAsync(Ct);
                handles.Add(((SqliteConnection)quartz).Handle!);
                Assert.Equal(1L, await ScalarAsync(quartz, "PRAGMA synchronous;")); // NORMAL
            }

            Assert.True(handles.Distinct().Count() < handles.Count, "expected EF and the job store to share pooled handles");
        }
        finally
        {
            await jobStore.DisposeAsync();
            SqliteConnection.ClearAllPools();
            File.Delete(path);
        }
    }

    private static async Task<object?> ScalarAsync(System.Data.Common.DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(Ct);
    }
}
