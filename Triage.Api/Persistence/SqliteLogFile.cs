using Microsoft.Data.Sqlite;
using Microsoft.Win32.SafeHandles;

namespace Triage.Api.Persistence;

/// <summary>
/// The embedded database's write-ahead log, held open so that commits made without a sync
/// (<c>synchronous = NORMAL</c>) can be made durable afterwards, several at once, by syncing the file: fsync writes out
/// every change to the file, whichever descriptor made it.
/// </summary>
/// <remarks>
/// The log is only deleted when the last connection to the database closes, so it stays the same file while the
/// connection that opened this stays open. Frames written but not yet synced can be lost to a power cut, never torn:
/// SQLite checks every frame's checksum when it recovers the log.
/// </remarks>
internal sealed class SqliteLogFile : ICommitLog, IDisposable
{
    private readonly SafeFileHandle _handle;

    private SqliteLogFile(SafeFileHandle handle) => _handle = handle;

    /// <summary>The log of <paramref name="connection"/>'s database; null when it keeps none (not in WAL mode, in memory).</summary>
    public static SqliteLogFile? Open(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();

        // Reading the journal mode also starts a read, which opens (or creates) the log file in WAL mode.
        command.CommandText = "PRAGMA journal_mode;";
        var mode = command.ExecuteScalar() as string;
        var path = string.IsNullOrEmpty(connection.DataSource) ? null : connection.DataSource + "-wal";
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase) || path is null || !File.Exists(path))
        {
            return null;
        }

        return new SqliteLogFile(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
    }

    /// <summary>Blocks until everything written to the log so far is on disk.</summary>
    public void Sync() => RandomAccess.FlushToDisk(_handle);

    /// <summary>
    /// After a failed fsync Linux may have dropped the pages it could not write and marked them clean, so what readers
    /// see may no longer be what is on disk.
    /// </summary>
    public bool FailedSyncIsFatal => true;

    public void Dispose() => _handle.Dispose();
}
