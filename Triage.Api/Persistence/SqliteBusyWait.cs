using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Prometheus;

namespace Triage.Api.Persistence;

/// <summary>
/// How a connection to the embedded database waits for another connection's write lock: it tries again every
/// millisecond, for up to about ten seconds, where SQLite's own <c>busy_timeout</c> backs off to 25, 50 and 100 ms.
/// </summary>
/// <remarks>
/// The ingest writer, the pipeline's workers, the outbox and Quartz all write, and each commit holds the lock for about
/// a synced write (1–3 ms here). Under <c>busy_timeout</c> a waiter that missed the lock twice slept 5, then 10, 15, 20
/// and 25 ms while the others took turns: a trace of the ingest benchmark showed sleep runs of 1, 2, 5, 11, 15, 20, 25
/// and 34 ms, and every request in the ingest writer's group waited with it.
/// Microsoft.Data.Sqlite does not expose <c>sqlite3_busy_handler</c>, so it is called in the bundled e_sqlite3 library.
/// </remarks>
internal static partial class SqliteBusyWait
{
    /// <summary>About ten seconds of one-millisecond waits, as <c>busy_timeout = 10000</c> allowed before.</summary>
    private const int MaxRetries = 10_000;

    /// <summary>Every millisecond a connection waited for another's lock: how contended the single writer is.</summary>
    internal static readonly Counter Retries = Metrics.CreateCounter(
        "triage_sqlite_busy_retries_total", "Times a connection to the embedded database waited a millisecond for another connection's lock.");

    /// <summary>Makes <paramref name="handle"/> wait this way (replacing any <c>busy_timeout</c>).</summary>
    public static unsafe void Install(SQLitePCL.sqlite3 handle)
    {
        var result = sqlite3_busy_handler(handle.DangerousGetHandle(), &RetryAfterAMillisecond, 0);
        if (result != 0)
        {
            throw new InvalidOperationException($"sqlite3_busy_handler failed with SQLite error {result}");
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int RetryAfterAMillisecond(nint state, int retries)
    {
        if (retries >= MaxRetries)
        {
            return 0; // SQLITE_BUSY goes to the caller
        }

        Retries.Inc();
        Thread.Sleep(1);
        return 1;
    }

    [LibraryImport("e_sqlite3")]
    private static unsafe partial int sqlite3_busy_handler(nint db, delegate* unmanaged[Cdecl]<nint, int, int> handler, nint state);
}
