using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Triage.Api.Persistence;

namespace Triage.Tests.Persistence;

/// <summary>
/// Commits on the embedded database never checkpoint (that would stall the commit and every request waiting on it);
/// the background checkpointer copies the log into the database so that the next writer starts the log over.
/// </summary>
public sealed class SqliteCheckpointerTests
{
    private const int PageSize = 4096;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CheckpointOnce_AfterCommitsPastTheAutomaticThreshold_CopiesTheLogAndTheNextWriteStartsItOver()
    {
        var path = Path.Combine(Path.GetTempPath(), $"triage-checkpoint-{Guid.NewGuid():N}.db");
        var connectionString = $"Data Source={path}";
        var options = new DbContextOptionsBuilder<SqliteTriageDbContext>().UseSqlite(connectionString)
            .AddInterceptors(SqliteConnectionSettings.Instance).Options;
        // Closing the last connection to a database checkpoints and removes the log, and other tests clear every pool:
        // a connection that has read the database in WAL mode and stays open keeps the log in place.
        await using var keeper = new SqliteConnection(connectionString + ";Pooling=False");
        try
        {
            await using (var db = new SqliteTriageDbContext(options))
            {
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode = WAL; CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB);", Ct);
                await keeper.OpenAsync(Ct);
                await using (var read = keeper.CreateCommand())
                {
                    read.CommandText = "SELECT count(*) FROM blobs;";
                    await read.ExecuteScalarAsync(Ct);
                }

                // 1,500 commits of a page-sized row each: well past SQLite's automatic checkpoint at 1,000 log pages.
                for (var i = 0; i < 1500; i++)
                {
                    await db.Database.ExecuteSqlRawAsync("INSERT INTO blobs (body) VALUES (zeroblob(4000));", Ct);
                }
            }

            // An automatic checkpoint would have started the log over at 1,000 pages, so it would never have grown past that.
            Assert.True(new FileInfo(path + "-wal").Length > 1500L * PageSize, $"log of {new FileInfo(path + "-wal").Length} bytes");

            var restart = new SqliteLogRestart();
            var checkpointer = new SqliteCheckpointer(connectionString, TimeProvider.System, NullLogger<SqliteCheckpointer>.Instance, restart);
            var logged = checkpointer.CheckpointOnce();
            Assert.True(logged >= 1500);
            Assert.False(restart.TakeRequest()); // under 16,384 pages: the writer is not asked to start the log over
            await using (var db = new SqliteTriageDbContext(options))
            {
                await db.Database.ExecuteSqlRawAsync("INSERT INTO blobs (body) VALUES (zeroblob(4000));", Ct);
                Assert.Equal(1501L, await db.Database.SqlQueryRaw<long>("SELECT count(*) AS Value FROM blobs").SingleAsync(Ct));
            }

            Assert.InRange(checkpointer.CheckpointOnce(), 1, 10); // the insert above started the log over
            Assert.False(restart.TakeRequest());

            // One commit of 16,500 pages: past the length at which the writer is asked to start the log over, once.
            await using (var db = new SqliteTriageDbContext(options))
            {
                await db.Database.ExecuteSqlRawAsync(
                    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 16500) INSERT INTO blobs (body) SELECT zeroblob(4000) FROM n;", Ct);
            }

            Assert.True(checkpointer.CheckpointOnce() >= SqliteCheckpointer.LongLogFrames);
            Assert.True(restart.TakeRequest());
            Assert.False(restart.TakeRequest());
        }
        finally
        {
            await keeper.CloseAsync();
            SqliteConnection.ClearAllPools();
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
            {
                File.Delete(file);
            }
        }
    }
}
