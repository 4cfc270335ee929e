using Microsoft.Data.Sqlite;
using Triage.Api.Persistence;

namespace Triage.Tests.Persistence;

/// <summary>The ingest writer syncs the database's log itself: it must find the log in WAL mode, and know when there is none.</summary>
public sealed class SqliteLogFileTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("WAL", true)]
    [InlineData("DELETE", false)]
    public async Task Open_FindsTheLogOnlyInWalMode_AndSyncsIt(string journalMode, bool hasLog)
    {
        var path = Path.Combine(Path.GetTempPath(), $"triage-log-{Guid.NewGuid():N}.db");
        try
        {
            await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
            await connection.OpenAsync(Ct);
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = $"PRAGMA journal_mode = {journalMode}; CREATE TABLE t (x); INSERT INTO t VALUES (1);";
                await command.ExecuteNonQueryAsync(Ct);
            }

            using var log = SqliteLogFile.Open(connection);
            Assert.Equal(hasLog, log is not null);
            log?.Sync();
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
            {
                File.Delete(file);
            }
        }
    }
}
