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
/// No <c>mmap_size</c>: in WAL mode a connection that finds the log changed since its last transaction (which, with the
/// writer and the pipeline committing all the time, is nearly every transaction) unmaps the whole file, so a map is
/// torn down and faulted in again page by page; munmap and those faults were about 8% of an ingest profile's samples.
/// The settings are applied once per SQLite handle: pooled connections keep their handle (and its settings) across
/// the open and close EF does around every query, and parsing the pragmas on each open showed in the profile too.
/// </remarks>
internal sealed class SqliteConnectionSettings : DbConnectionInterceptor
{
    public static readonly SqliteConnectionSettings Instance = new();

    private const string Pragmas = "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL;";

    /// <summary>The SQLite handles that already carry the settings; a handle closed for good is collected with its entry.</summary>
    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> Configured = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        if (IsConfigured(connection))
        {
            return;
        }

        using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        command.ExecuteNonQuery();
        MarkConfigured(connection);
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (IsConfigured(connection))
        {
            return;
        }

        await using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        await command.ExecuteNonQueryAsync(cancellationToken);
        MarkConfigured(connection);
    }

    private static bool IsConfigured(DbConnection connection) =>
        connection is SqliteConnection { Handle: { } handle } && Configured.TryGetValue(handle, out _);

    private static void MarkConfigured(DbConnection connection)
    {
        if (connection is SqliteConnection { Handle: { } handle })
        {
            Configured.AddOrUpdate(handle, Configured);
        }
    }
}
