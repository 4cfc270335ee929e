using System.Data;
using Npgsql;

namespace Triage.Api.Persistence;

/// <summary>
/// Makes PostgreSQL commits made with <c>synchronous_commit = off</c> durable: a transaction that is given an id and
/// commits with the configured <c>synchronous_commit</c> flushes the server's log up to its own commit record, and with
/// it every commit before (the log is sequential). Runs on a connection of its own, used only by the caller's thread.
/// </summary>
/// <remarks>Each sync uses one transaction id, which the server's routine vacuum freezes like any other.</remarks>
internal sealed class PostgresFlushBarrier(string connectionString) : ICommitLog, IDisposable
{
    /// <summary>The application name of the barrier's connection (pg_stat_activity), unless the configuration names one.</summary>
    internal const string ApplicationName = "triage-ingest-sync";

    private readonly string _connectionString = Named(connectionString);
    private NpgsqlConnection? _connection;

    /// <summary>A lost connection loses no commit: the server flushes its log by itself shortly, so the next sync is just tried.</summary>
    public bool FailedSyncIsFatal => false;

    public void Sync()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (_connection is not { State: ConnectionState.Open })
                {
                    _connection?.Dispose();
                    _connection = new NpgsqlConnection(_connectionString);
                    _connection.Open();
                }

                using var command = new NpgsqlCommand("SELECT txid_current()", _connection);
                command.ExecuteScalar();
                return;
            }
            catch (Exception ex) when (attempt == 1 && ex is NpgsqlException or InvalidOperationException)
            {
                // A connection the server closed since the last sync (a restart, an idle timeout): once more on a new one.
                _connection?.Dispose();
                _connection = null;
            }
        }
    }

    public void Dispose() => _connection?.Dispose();

    private static string Named(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = ApplicationName;
        }

        return builder.ConnectionString;
    }
}
