using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Triage.Api.Persistence;

/// <summary>
/// SQLite settings that live on each connection rather than in the file, applied whenever EF opens one.
/// </summary>
/// <remarks>
/// <c>busy_timeout</c>: without it a writer that finds the write lock taken (the ingest writer and the incident
/// pipeline both write) gets SQLITE_BUSY at once, and Microsoft.Data.Sqlite retries only after sleeping 150 ms; the
/// ingest benchmark showed those sleeps on the request path. With it SQLite waits for the lock in steps of 1–100 ms.
/// <c>synchronous = FULL</c>: in WAL mode NORMAL does not sync the log on commit, so an answered alert could be lost
/// to a power cut; FULL syncs on every commit, and the writer's group commit shares that cost across requests.
/// <c>wal_autocheckpoint = 0</c>: by default the commit that takes the log past 1,000 pages also copies the log into
/// the database file and syncs it, so every ~40th ingest commit waited for that, and every request in its group with
/// it; <see cref="SqliteCheckpointer"/> checkpoints in the background instead.
/// No <c>mmap_size</c>: in WAL mode a connection that finds the log changed since its last transaction (which, with the
/// writer and the pipeline committing all the time, is nearly every transaction) unmaps the whole file, so a map is
/// torn down and faulted in again page by page; munmap and those faults were about 8% of an ingest profile's samples.
/// The settings are applied when a SQLite handle does not carry them yet: pooled connections keep their handle (and
/// its settings) across the open and close EF does around every query, and parsing the pragmas on each open showed in
/// the profile. Quartz's job store (<see cref="OnCall.SqliteJobStoreDataSource"/>) opens the same file with the same
/// connection string, so the pool hands one handle to both in turn with different settings (its commits may sync less);
/// both go through <see cref="Apply"/>, which remembers what each handle carries, so each finds its own.
/// </remarks>
internal sealed class SqliteConnectionSettings : DbConnectionInterceptor
{
    public static readonly SqliteConnectionSettings Instance = new();

    /// <summary>
    /// What every connection to the embedded database carries, EF's and Quartz's alike: the busy timeout, and no
    /// checkpoint by the connection that commits (<see cref="SqliteCheckpointer"/> does them, off the request path), and a
    /// log file cut back to 64 MB when it starts over.
    /// </summary>
    public const string EveryConnection = "PRAGMA busy_timeout = 10000; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;";

    private const string Pragmas = EveryConnection + " PRAGMA synchronous = FULL;";

    /// <summary>
    /// The ingest writer's connection: EF's settings and a page cache of up to 32 MB instead of SQLite's 2 MB. A commit
    /// of many alerts touches a random page of each alert index per alert; with 2 MB the cache filled with dirty pages
    /// mid-commit, SQLite spilled them to the log and read them back: at 100 alerts per request 5.5 log pages were read
    /// back per alert stored (58,525 reads in 5 s with this cache against 321,691 without).
    /// </summary>
    public const string IngestWriter = Pragmas + " PRAGMA cache_size = -32768;";

    /// <summary>The settings each SQLite handle carries now; a handle closed for good is collected with its entry.</summary>
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, string> Carried = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) =>
        Apply((SqliteConnection)connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        // Settings are a few in-process statements: nothing to wait for.
        Apply((SqliteConnection)connection);
        return Task.CompletedTask;
    }

    /// <summary>EF's settings, for any other connection of the service's own (so a pooled handle is not set back and forth).</summary>
    public static void Apply(SqliteConnection connection) => Apply(connection, Pragmas);

    /// <summary>Runs <paramref name="pragmas"/> on the open <paramref name="connection"/> unless its handle already carries them.</summary>
    public static void Apply(SqliteConnection connection, string pragmas)
    {
        var handle = connection.Handle;
        if (handle is not null && Carried.TryGetValue(handle, out var carried) && carried == pragmas)
        {
            return;
        }

        using (var command = connection.CreateCommand())
        {
            command.CommandText = pragmas;
            command.ExecuteNonQuery();
        }

        if (handle is not null)
        {
            Carried.AddOrUpdate(handle, pragmas);
        }
    }
}
