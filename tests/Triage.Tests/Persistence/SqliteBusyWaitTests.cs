using Microsoft.Data.Sqlite;
using Triage.Api.Persistence;

namespace Triage.Tests.Persistence;

/// <summary>A connection that finds the write lock taken waits for it in millisecond steps and then writes.</summary>
public sealed class SqliteBusyWaitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Apply_WriteWhileAnotherConnectionHoldsTheLock_WaitsInMillisecondStepsAndWrites()
    {
        var path = Path.Combine(Path.GetTempPath(), $"triage-busy-{Guid.NewGuid():N}.db");
        var connectionString = $"Data Source={path};Pooling=False";
        try
        {
            await using var holder = new SqliteConnection(connectionString);
            await holder.OpenAsync(Ct);
            await ExecuteAsync(holder, "PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);");
            await using var waiter = new SqliteConnection(connectionString);
            await waiter.OpenAsync(Ct);
            SqliteConnectionSettings.Apply(waiter, SqliteConnectionSettings.EveryConnection);

            await ExecuteAsync(holder, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1);");
            var retriesBefore = SqliteBusyWait.Retries.Value;
            var write = Task.Run(() => ExecuteAsync(waiter, "INSERT INTO t VALUES (2);"), Ct);
            await Task.Delay(200, Ct); // the waiter keeps retrying meanwhile
            Assert.False(write.IsCompleted);
            await ExecuteAsync(holder, "COMMIT;");
            await write.WaitAsync(TimeSpan.FromSeconds(30), Ct);

            // Microsoft.Data.Sqlite's own retry (without a handler) sleeps 150 ms at a time and counts nothing here.
            Assert.True(SqliteBusyWait.Retries.Value - retriesBefore >= 20, $"{SqliteBusyWait.Retries.Value - retriesBefore} retries");
            await using var count = holder.CreateCommand();
            count.CommandText = "SELECT count(*) FROM t;";
            Assert.Equal(2L, await count.ExecuteScalarAsync(Ct));
        }
        finally
        {
            foreach (var file in new[] { path, path + "-wal", path + "-shm" })
            {
                File.Delete(file);
            }
        }
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(Ct);
    }
}
