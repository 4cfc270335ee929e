using Microsoft.Data.Sqlite;
using Triage.Api.OnCall;

namespace Triage.Tests.OnCall;

/// <summary>
/// The Quartz SQLite job store's connections apply their settings once per pooled SQLite handle: every connection it
/// hands out, new or reused from the pool, has them.
/// </summary>
public sealed class SqliteJobStoreDataSourceTests
{
    [Fact]
    public async Task Open_NewAndPooledHandles_AllCarryTheSettings()
    {
        var path = Path.Combine(Path.GetTempPath(), $"triage-jobstore-{Guid.NewGuid():N}.db");
        var source = new SqliteJobStoreDataSource($"Data Source={path}", "PRAGMA busy_timeout = 4321;");
        try
        {
            var handles = new List<SQLitePCL.sqlite3>();
            for (var round = 0; round < 3; round++)
            {
                // Two at once: the second needs a handle of its own, the next round reuses both from the pool.
                await using var first = source.CreateConnection();
                await using var second = source.CreateConnection();
                await first.OpenAsync(TestContext.Current.CancellationToken);
                await second.OpenAsync(TestContext.Current.CancellationToken);
                foreach (var connection in new[] { first, second })
                {
                    handles.Add(((SqliteConnection)connection).Handle!);
                    await using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA busy_timeout;";
                    Assert.Equal(4321L, await command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
                }
            }

            // The pool did hand back handles already set up, so the rounds after the first ran without the settings' statement.
            Assert.True(handles.Distinct().Count() < handles.Count, "expected pooled handles to be reused");
        }
        finally
        {
            await source.DisposeAsync();
            SqliteConnection.ClearAllPools();
            File.Delete(path);
        }
    }
}
