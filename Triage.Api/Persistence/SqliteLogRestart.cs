namespace Triage.Api.Persistence;

/// <summary>
/// Passes the background checkpoint's request to start the embedded database's log over to the ingest writer.
/// </summary>
/// <remarks>
/// SQLite starts its write-ahead log over only when a write begins after a checkpoint copied all of it. Under sustained
/// ingest the writer commits every few milliseconds, so the background <c>PASSIVE</c> checkpoint always ends a few
/// frames short, and its <c>RESTART</c> fallback waits for the write lock the writer takes again at once: the log grew to
/// 700 MB in a 30-second benchmark, and would have grown until the disk was full. The writer holds no lock between its
/// own commits, so it runs the <c>RESTART</c> there, once the log holds
/// <see cref="SqliteCheckpointer.LongLogFrames"/> pages (64 MB). The background checkpoint has copied nearly everything
/// by then, but the writer still waits for the copy of the rest, the database file's sync, and readers on the log (for
/// those 20 ms at most). Asked from 4,096 pages on, and so several times as often, those waits showed in the
/// benchmark's p99 (26.9 ms in one of two rounds, against 13–15 ms).
/// </remarks>
internal sealed class SqliteLogRestart
{
    private int _wanted;

    public void Request() => Volatile.Write(ref _wanted, 1);

    /// <summary>True once per request.</summary>
    public bool TakeRequest() => Interlocked.Exchange(ref _wanted, 0) == 1;
}
