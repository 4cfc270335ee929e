using System.Data.Common;
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
/// <c>mmap_size</c>: pages are read from a shared memory map instead of being copied in by a read system call per page
/// missing from the connection's small cache (those reads were about 5% of an ingest profile's samples; the effect
/// of the map alone was not measured). Writes still go through the WAL, so durability is unchanged.
/// </remarks>
internal sealed class SqliteConnectionSettings : DbConnectionInterceptor
{
    public static readonly SqliteConnectionSettings Instance = new();

    private const string Pragmas = "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; PRAGMA mmap_size = 268435456;";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
