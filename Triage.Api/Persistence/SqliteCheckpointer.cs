using Microsoft.Data.Sqlite;
using Prometheus;
using Triage.Api.Operations;

namespace Triage.Api.Persistence;

/// <summary>
/// Copies the embedded database's write-ahead log into the database file in the background, twice a second. Connections
/// do not checkpoint on commit (<see cref="SqliteConnectionSettings.EveryConnection"/>), so no request waits for one.
/// </summary>
/// <remarks>
/// A <c>PASSIVE</c> checkpoint takes no lock that writers or readers wait for; it copies what no open read still needs,
/// and the next writer starts the log over once all of it is copied. Should readers keep it from catching up until the
/// log holds <see cref="LongLogFrames"/> pages (about 64 MB), a <c>RESTART</c> checkpoint waits for them (holding
/// writers back for that time, as an automatic checkpoint would have), and the ingest writer is asked to start the log
/// over between two of its commits (<see cref="SqliteLogRestart"/>): under sustained ingest it always adds frames before
/// a checkpoint ends and takes the write lock again at once, so neither checkpoint here would let the log start over.
/// </remarks>
internal sealed partial class SqliteCheckpointer(
    string connectionString, TimeProvider time, ILogger<SqliteCheckpointer> logger, SqliteLogRestart? restart = null)
    : BackgroundService
{
    internal const int LongLogFrames = 16_384;

    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(500);

    private static readonly Gauge LogFrames = Metrics.CreateGauge(
        "triage_sqlite_wal_frames", "Pages in the SQLite write-ahead log after the last background checkpoint.");

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PeriodicWork.RunAsync(Period, time, runAtStart: false, ct => Task.Run(CheckpointOnce, ct),
            ex => LogCheckpointFailed(logger, ex), stoppingToken);

    /// <summary>One checkpoint; returns the pages left in the log. Synchronous: SQLite has no asynchronous I/O.</summary>
    internal int CheckpointOnce()
    {
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        SqliteConnectionSettings.Apply(connection);
        var (logged, copied) = Checkpoint(connection, "PASSIVE");
        if (logged >= LongLogFrames)
        {
            // Under sustained ingest the writer takes the write lock again at once, so only it can start the log over.
            restart?.Request();
            if (copied < logged)
            {
                LogLongLog(logger, logged, copied);
                (logged, copied) = Checkpoint(connection, "RESTART");
            }
        }

        LogFrames.Set(logged);
        return logged;
    }

    private static (int Logged, int Copied) Checkpoint(SqliteConnection connection, string mode)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA wal_checkpoint({mode});";
        using var reader = command.ExecuteReader();
        reader.Read();
        // Columns: busy flag, pages in the log, pages copied into the database (-1, -1 when not in WAL mode).
        return (reader.GetInt32(1), reader.GetInt32(2));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite background checkpoint failed; retrying at the next tick")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite write-ahead log holds {Logged} pages ({Copied} copied): readers kept the background checkpoint from catching up; waiting for them once")]
    private static partial void LogLongLog(ILogger logger, int logged, int copied);
}
