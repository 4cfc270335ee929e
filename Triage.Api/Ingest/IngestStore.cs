using System.Data.Common;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using NpgsqlTypes;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Ingest;

/// <summary>An open incident as the ingest writer needs it to group the next alerts.</summary>
internal sealed record OpenIncidentRow(
    long Id, string Fingerprint, int Version, DateTimeOffset LastSeen, AlertPriority Priority, long? SuppressionId,
    List<string> Tags, string? Namespace, string? Pod);

/// <summary>Planned changes to one incident in one commit; the rows are written by <see cref="IngestStore.WriteAsync"/>.</summary>
internal sealed class IncidentChange
{
    /// <summary>Set for an incident that exists in the database; null for one this commit opens.</summary>
    public OpenIncident? Existing { get; init; }

    /// <summary>The row's values for a new incident (the writer fills it); null for an existing one.</summary>
    public Incident? Created { get; init; }

    public long Id { get; set; }
    public required string Fingerprint { get; init; }

    /// <summary>Alerts added to an existing incident in this commit.</summary>
    public int Added { get; set; }

    public DateTimeOffset? MinTime { get; set; }
    public DateTimeOffset? MaxTime { get; set; }

    /// <summary>What the incident looks like after this commit, as far as grouping needs it.</summary>
    public DateTimeOffset LastSeen { get; set; }

    public AlertPriority Priority { get; set; }
    public long? SuppressionId { get; set; }
    public required List<string> Tags { get; set; }
    public bool HasNamespace { get; init; }
    public string? Pod { get; set; }
    public string? LastContainerId { get; set; }

    /// <summary>The incident stops grouping (quiet for longer than the window); a later alert opens a new one.</summary>
    public bool Close { get; set; }

    /// <summary>Bump the version, flag it for the pipeline and enqueue it after the commit.</summary>
    public bool Announce { get; set; }

    /// <summary>
    /// Only the alert count and times changed since the last announcement, and the refresh interval is up: enqueue it
    /// for the steps that show them, without flagging it or bumping its version.
    /// </summary>
    public bool CountOnly { get; set; }
}

/// <summary>A commit's alert id turned out to be stored already; the commit is redone after asking the database which are.</summary>
internal sealed class AlertStoredMeanwhileException() : Exception("An alert of the commit was stored already");

/// <summary>An incident's change was based on state that no longer holds (resolved, changed by another writer).</summary>
internal sealed class StaleIncidentException(IReadOnlyList<string> fingerprints)
    : Exception($"{fingerprints.Count} open incident(s) changed underneath the ingest writer")
{
    public IReadOnlyList<string> Fingerprints { get; } = fingerprints;
}

/// <summary>
/// The ingest writer's SQL, on a connection of its own that stays open between commits (reopened after a failure),
/// with its statements prepared once and their parameters reused. Values are converted by EF's own type mappings, so
/// they are stored exactly as EF stores them (SQLite keeps times as sortable integers, tags as JSON; PostgreSQL as
/// timestamptz and text[]).
/// </summary>
/// <remarks>
/// Why not a context per commit: a scope, a pooled context, a connection open (on SQLite the pragmas check), an EF
/// LINQ query for the duplicate ids and a fresh parameter per value through the type mappings cost about as much CPU
/// as the rest of the request. On PostgreSQL the connection asks Npgsql to prepare the writer's statements
/// (<see cref="DatabaseExtensions.PostgresConnectionString"/>): unprepared, the server parses and plans every INSERT of
/// every commit again.
/// On PostgreSQL a commit that opens no incident is one batch and one round trip, committed by the server when the
/// batch ends (<see cref="TryWriteAtOnceAsync"/>); one that opens incidents takes an explicit transaction, a round trip
/// for the new incidents' ids, one for the rest and one for COMMIT. SQLite runs in-process, so it executes the same
/// statements one by one on reused prepared commands.
/// Updates to existing incidents are guarded by <see cref="Incident.Version"/> and the open fingerprint: every other
/// code path that changes what grouping depends on (resolve, suppression votes, another replica raising the priority)
/// bumps the version, so a guarded update that hits no row means the writer's memory is stale, and the whole commit
/// is rolled back and redone from fresh rows. Counts and times are relative updates, so replicas adding alerts to the
/// same incident need no version bump and do not conflict.
/// Only the writer's loop uses an instance (one commit at a time).
/// </remarks>
internal sealed class IngestStore : IAsyncDisposable
{
    private readonly bool _postgres;
    private readonly string _connectionString;
    private readonly Table _incidents;
    private readonly Table _alerts;
    private readonly Table _timeline;
    /// <summary>The guarded incident updates, by <see cref="UpdateIndex"/>.</summary>
    private readonly Statement[] _updates;
    private readonly Statement _insertIncident;
    private readonly Statement _insertAlert;
    private readonly Statement _insertTimeline;

    /// <summary>PostgreSQL only: the updates and the alert insert as they go in a commit written at once (see <see cref="TryWriteAtOnceAsync"/>).</summary>
    private readonly Statement[]? _updatesAtOnce;

    private readonly Statement? _insertAlertAtOnce;
    private readonly string _findStoredSql;
    private Session? _session;

    public IngestStore(TriageDbContext db)
    {
        var sql = db.GetService<ISqlGenerationHelper>();
        _postgres = db is PostgresTriageDbContext;
        var connectionString = db.Database.GetConnectionString()
            ?? throw new InvalidOperationException("The database has no connection string");
        _connectionString = _postgres ? DatabaseExtensions.PostgresConnectionString(connectionString, ApplicationName) : connectionString;
        _incidents = new Table(db.Model, typeof(Incident), sql);
        _alerts = new Table(db.Model, typeof(StoredAlert), sql);
        _timeline = new Table(db.Model, typeof(TimelineEntry), sql);
        var i = _incidents;
        _updates =
        [
            Update(announce: false, close: false), Update(announce: true, close: false),
            Update(announce: false, close: true), Update(announce: true, close: true),
        ];
        _insertIncident = Insert(_incidents, IncidentColumns, $" RETURNING {i.C("Id")}");
        _insertAlert = Insert(_alerts, AlertColumns, $" ON CONFLICT ({_alerts.C("Id")}) DO NOTHING");
        _insertTimeline = Insert(_timeline, TimelineColumns, "");
        if (_postgres)
        {
            _updatesAtOnce = [.. _updates.Select(FailUnlessOneRow)];
            _insertAlertAtOnce = FailUnlessOneRow(_insertAlert);
        }
        var a = _alerts;
        _findStoredSql = _postgres
            ? $"SELECT {a.C("Id")}, {a.C("IncidentId")} FROM {a.Name} WHERE {a.C("Id")} = ANY (@ids)"
            : $"SELECT {a.C("Id")}, {a.C("IncidentId")} FROM {a.Name} WHERE {a.C("Id")} IN (SELECT value FROM json_each(@ids))";
    }

    private static readonly string[] IncidentColumns =
    [
        "Fingerprint", "OpenFingerprint", "Rule", "Title", "Priority", "Status", "AlertCount", "FirstSeen", "LastSeen",
        "CreatedAt", "UpdatedAt", "Namespace", "WorkloadKind", "WorkloadName", "Pod", "Image", "Node", "Source",
        "SuppressionId", "Tags", "NeedsProcessing", "Version",
    ];

    private static readonly string[] AlertColumns =
    [
        "Id", "IncidentId", "Time", "ReceivedAt", "Source", "Rule", "Priority", "Node", "Namespace", "Pod", "ContainerId",
        "Payload", "SuppressionId",
    ];

    private static readonly string[] TimelineColumns = ["IncidentId", "At", "Actor", "Channel", "Kind", "Detail"];

    /// <summary>The application name of the writer's PostgreSQL connection (pg_stat_activity), unless the configuration names one.</summary>
    internal const string ApplicationName = "triage-ingest-writer";

    private static Statement Insert(Table table, string[] columns, string suffix) => new(
        $"INSERT INTO {table.Name} ({string.Join(", ", columns.Select(table.C))}) VALUES ({string.Join(", ", columns.Select(c => "@" + c))}){suffix}",
        [.. columns.Select(c => table.P(c, "@" + c))],
        [.. columns.Select(table.Getter)]);

    private static int UpdateIndex(bool announce, bool close) => (announce ? 1 : 0) + (close ? 2 : 0);

    /// <summary>
    /// The guarded update of an existing incident. The flag and the open fingerprint are assigned only by the variants
    /// that change them: SQLite rewrites an index entry whenever its column is assigned, even to the value it has, so
    /// assigning the fingerprint on every update dirtied a page of its index per incident in each commit (about a sixth
    /// of the pages the log took at one alert per request).
    /// </summary>
    private Statement Update(bool announce, bool close)
    {
        var i = _incidents;
        var (least, greatest) = _postgres ? ("LEAST", "GREATEST") : ("min", "max");
        var set = new List<string>
        {
            $"{i.C("AlertCount")} = {i.C("AlertCount")} + @added",
            $"{i.C("FirstSeen")} = {least}({i.C("FirstSeen")}, COALESCE(@first, {i.C("FirstSeen")}))",
            $"{i.C("LastSeen")} = {greatest}({i.C("LastSeen")}, COALESCE(@last, {i.C("LastSeen")}))",
            $"{i.C("Pod")} = COALESCE({i.C("Pod")}, @pod)",
            $"{i.C("Priority")} = {greatest}({i.C("Priority")}, @priority)",
            $"{i.C("Tags")} = @tags",
            $"{i.C("SuppressionId")} = @suppression",
            $"{i.C("UpdatedAt")} = @now",
        };
        Param[] parameters =
        [
            i.P("AlertCount", "@added"), i.P("FirstSeen", "@first", nullable: true), i.P("LastSeen", "@last", nullable: true),
            i.P("Pod", "@pod"), i.P("Priority", "@priority"), i.P("Tags", "@tags"), i.P("SuppressionId", "@suppression"),
            i.P("UpdatedAt", "@now"), i.P("Id", "@id"), i.P("Version", "@version"),
        ];
        var where = $"{i.C("Id")} = @id AND {i.C("Version")} = @version AND {i.C("OpenFingerprint")} IS NOT NULL";
        if (announce)
        {
            set.Add($"{i.C("Version")} = {i.C("Version")} + 1");
            set.Add($"{i.C("NeedsProcessing")} = TRUE");
        }

        if (close)
        {
            set.Add($"{i.C("OpenFingerprint")} = NULL");
            where += $" AND {i.C("LastSeen")} <= @known";
            parameters = [.. parameters, i.P("LastSeen", "@known")];
        }

        return new Statement($"UPDATE {i.Name} SET {string.Join(", ", set)} WHERE {where}", parameters);
    }

    /// <summary>
    /// PostgreSQL: <paramref name="statement"/> made to fail (division by zero, SQLSTATE 22012) unless it writes exactly
    /// one row, so that a guard that trips inside a batch written without an explicit transaction rolls the whole batch
    /// back on the server. The divisor is the statement's row count, so the planner cannot fold it into a constant.
    /// </summary>
    private static Statement FailUnlessOneRow(Statement statement) =>
        statement.WithSql($"WITH written AS ({statement.Sql} RETURNING 1) SELECT 1 / count(*)::integer FROM written");

    /// <summary>Opens the writer's connection unless it is open already.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (_session is { Connection.State: System.Data.ConnectionState.Open })
        {
            return;
        }

        await ResetAsync();
        DbConnection connection = _postgres ? new NpgsqlConnection(_connectionString) : new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            if (connection is SqliteConnection sqlite)
            {
                SqliteConnectionSettings.Apply(sqlite, SqliteConnectionSettings.IngestWriter);
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        _session = new Session(connection);
    }

    /// <summary>Closes the connection (after a failure: the next commit opens a fresh one).</summary>
    public async ValueTask ResetAsync()
    {
        if (_session is { } session)
        {
            _session = null;
            await session.DisposeAsync();
        }
    }

    public ValueTask DisposeAsync() => ResetAsync();

    /// <summary>
    /// SQLite: a <c>RESTART</c> checkpoint on the writer's connection, between commits, so the next commit starts the
    /// log over (<see cref="SqliteLogRestart"/>). Synchronous: SQLite has no asynchronous I/O.
    /// </summary>
    public void RestartLog()
    {
        if (_session is { Connection: SqliteConnection { State: System.Data.ConnectionState.Open } sqlite })
        {
            // It waits for readers still on the log; not for long: a log not started over now is asked for again.
            using var command = sqlite.CreateCommand();
            command.CommandText = "PRAGMA busy_timeout = 20;";
            command.ExecuteNonQuery();
            try
            {
                command.CommandText = "PRAGMA wal_checkpoint(RESTART);";
                command.ExecuteNonQuery();
            }
            finally
            {
                command.CommandText = SqliteConnectionSettings.EveryConnection;
                command.ExecuteNonQuery();
            }
        }
    }

    private Session Current => _session ?? throw new InvalidOperationException("The ingest store's connection is not open");

    /// <summary>Incident ids of the alerts among <paramref name="ids"/> that are already stored.</summary>
    public async Task<Dictionary<string, long>> FindStoredAsync(List<string> ids, CancellationToken cancellationToken)
    {
        var command = Current.FindStored(_findStoredSql, _postgres);
        command.Parameters[0].Value = _postgres ? ids.ToArray() : JsonSerializer.Serialize(ids);
        var found = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            found[reader.GetString(0)] = reader.GetInt64(1);
        }

        return found;
    }

    /// <summary>The open incidents for <paramref name="fingerprints"/> (rarely: only fingerprints the writer does not remember).</summary>
    public static Task<List<OpenIncidentRow>> LoadOpenAsync(TriageDbContext db, List<string> fingerprints, CancellationToken cancellationToken) =>
        db.Incidents.AsNoTracking()
            .Where(i => i.OpenFingerprint != null && fingerprints.Contains(i.OpenFingerprint))
            .Select(i => new OpenIncidentRow(i.Id, i.OpenFingerprint!, i.Version, i.LastSeen, i.Priority, i.SuppressionId, i.Tags, i.Namespace, i.Pod))
            .ToListAsync(cancellationToken);

    /// <summary>
    /// Writes one commit on the writer's connection: guarded updates of existing incidents (first, so that a closed
    /// incident frees its fingerprint), new incidents, alerts, timeline entries. Throws <see cref="StaleIncidentException"/>
    /// (after rolling back) when a guarded update found its incident changed.
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<IncidentChange> changes, IReadOnlyList<(IncidentChange Incident, StoredAlert Alert)> alerts,
        IReadOnlyList<(IncidentChange Incident, TimelineEntry Entry)> timeline, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var updates = changes.Where(c => c.Existing is not null).ToList();
        var created = changes.Where(c => c.Created is not null).ToList();
        if (_postgres && created.Count == 0 && await TryWriteAtOnceAsync(updates, alerts, timeline, now, cancellationToken))
        {
            return;
        }

        var session = Current;
        await using var transaction = await session.Connection.BeginTransactionAsync(cancellationToken);
        var executor = new Executor(session, transaction);
        AddUpdates(executor, _updates, updates, now);

        // Without new incidents everything goes in one batch; the guards are checked before the commit.
        if (created.Count == 0)
        {
            AddRows(executor, _insertAlert, alerts, timeline);
        }

        var affected = await executor.ExecuteAsync(cancellationToken);
        var stale = updates.Where((_, index) => affected[index] != 1).Select(c => c.Fingerprint).ToList();
        if (stale.Count > 0)
        {
            await transaction.RollbackAsync(cancellationToken);
            throw new StaleIncidentException(stale);
        }

        if (created.Count == 0)
        {
            await CheckAlertsInsertedAsync(affected, updates.Count, alerts.Count, transaction, cancellationToken);
        }
        else
        {
            foreach (var change in created)
            {
                executor.Add(_insertIncident, _insertIncident.Values(change.Created!));
            }

            var ids = await executor.ExecuteScalarsAsync(cancellationToken);
            for (var index = 0; index < created.Count; index++)
            {
                created[index].Id = ids[index];
                created[index].Created!.Id = ids[index];
            }

            AddRows(executor, _insertAlert, alerts, timeline);
            await CheckAlertsInsertedAsync(await executor.ExecuteAsync(cancellationToken), 0, alerts.Count, transaction, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Rolls back and throws <see cref="AlertStoredMeanwhileException"/> when an alert's insert stored nothing: its id
    /// was stored already (by another replica, or before the writer's memory of recent ids), so the commit counted it
    /// wrongly. The alerts' inserts are the <paramref name="count"/> statements from <paramref name="first"/> on.
    /// </summary>
    private static async Task CheckAlertsInsertedAsync(int[] affected, int first, int count, DbTransaction transaction, CancellationToken cancellationToken)
    {
        for (var index = first; index < first + count; index++)
        {
            if (affected[index] != 1)
            {
                await transaction.RollbackAsync(cancellationToken);
                throw new AlertStoredMeanwhileException();
            }
        }
    }

    /// <summary>
    /// PostgreSQL, a commit that opens no incident: every statement in one batch without an explicit transaction, which
    /// the server runs as one implicit transaction and commits when the batch ends. That saves the COMMIT round trip,
    /// about a quarter of a commit's time at one alert per request. Each guard fails its statement instead of
    /// reporting a row count (<see cref="FailUnlessOneRow"/>), so a stale incident or an alert stored meanwhile rolls
    /// the batch back; the commit then runs again in an explicit transaction, which finds out which guards tripped.
    /// </summary>
    /// <returns>False when a guard tripped and nothing was written.</returns>
    private async Task<bool> TryWriteAtOnceAsync(List<IncidentChange> updates, IReadOnlyList<(IncidentChange Incident, StoredAlert Alert)> alerts,
        IReadOnlyList<(IncidentChange Incident, TimelineEntry Entry)> timeline, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var executor = new Executor(Current, transaction: null);
        AddUpdates(executor, _updatesAtOnce!, updates, now);
        AddRows(executor, _insertAlertAtOnce!, alerts, timeline);
        try
        {
            await executor.ExecuteAsync(cancellationToken);
            return true;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DivisionByZero)
        {
            return false;
        }
    }

    /// <summary>The guarded updates of existing incidents, each with the variant of <paramref name="statements"/> it needs.</summary>
    private static void AddUpdates(Executor executor, Statement[] statements, List<IncidentChange> updates, DateTimeOffset now)
    {
        foreach (var change in updates)
        {
            var existing = change.Existing!;
            object?[] values =
            [
                change.Added, change.MinTime, change.MaxTime, change.Pod, change.Priority, change.Tags, change.SuppressionId,
                now, change.Id, existing.Version,
            ];
            executor.Add(statements[UpdateIndex(change.Announce, change.Close)], change.Close ? [.. values, existing.LastSeen] : values);
        }
    }

    private void AddRows(Executor executor, Statement insertAlert, IReadOnlyList<(IncidentChange Incident, StoredAlert Alert)> alerts,
        IReadOnlyList<(IncidentChange Incident, TimelineEntry Entry)> timeline)
    {
        foreach (var (change, alert) in alerts)
        {
            alert.IncidentId = change.Id;
            executor.Add(insertAlert, insertAlert.Values(alert));
        }

        foreach (var (change, entry) in timeline)
        {
            entry.IncidentId = change.Id;
            executor.Add(_insertTimeline, _insertTimeline.Values(entry));
        }
    }

    /// <summary>A parameter: its name, EF's type mapping for the column it is compared with or stored in, nullability.</summary>
    private sealed record Param(string Name, RelationalTypeMapping Mapping, bool Nullable)
    {
        /// <summary>A provider parameter configured by the mapping (type, size); its value is set per execution.</summary>
        public DbParameter Create(DbCommand factory) => Mapping.CreateParameter(factory, Name, null, Nullable);

        /// <summary>The value as EF would send it: through the mapping's converter (times, enums, JSON tags on SQLite).</summary>
        public object ProviderValue(object? value)
        {
            if (value is null)
            {
                return DBNull.Value;
            }

            if (Mapping.Converter is { } converter)
            {
                return converter.ConvertToProvider(value) ?? DBNull.Value;
            }

            return value is Enum ? Convert.ChangeType(value, Enum.GetUnderlyingType(value.GetType()), System.Globalization.CultureInfo.InvariantCulture) : value;
        }
    }

    /// <summary>A statement's text and parameters; for inserts, the getters that read a row's values.</summary>
    private sealed class Statement(string sql, Param[] parameters, Func<object, object?>[]? getters = null)
    {
        public string Sql { get; } = sql;
        public Param[] Parameters { get; } = parameters;

        /// <summary>The same parameters and row getters around other text.</summary>
        public Statement WithSql(string text) => new(text, Parameters, getters);

        public object?[] Values(object row)
        {
            var values = new object?[getters!.Length];
            for (var index = 0; index < values.Length; index++)
            {
                values[index] = getters[index](row);
            }

            return values;
        }

        public void Bind(DbParameterCollection target, object?[] values)
        {
            for (var index = 0; index < values.Length; index++)
            {
                target[index].Value = Parameters[index].ProviderValue(values[index]);
            }
        }
    }

    /// <summary>A mapped table: its delimited name and, per property, the delimited column and EF's type mapping.</summary>
    private sealed class Table
    {
        private readonly Dictionary<string, (string Column, RelationalTypeMapping Mapping, IProperty Property)> _columns = new(StringComparer.Ordinal);

        public Table(IModel model, Type clrType, ISqlGenerationHelper sql)
        {
            var entity = model.FindEntityType(clrType)!;
            var store = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            Name = sql.DelimitIdentifier(entity.GetTableName()!, entity.GetSchema());
            foreach (var property in entity.GetProperties())
            {
                _columns[property.Name] = (sql.DelimitIdentifier(property.GetColumnName(store)!), (RelationalTypeMapping)property.GetRelationalTypeMapping(), property);
            }
        }

        public string Name { get; }

        public string C(string property) => _columns[property].Column;

        public Param P(string property, string name, bool? nullable = null) =>
            new(name, _columns[property].Mapping, nullable ?? _columns[property].Property.IsNullable);

        public Func<object, object?> Getter(string property)
        {
            var getter = _columns[property].Property.GetGetter();
            return getter.GetClrValueUsingContainingEntity;
        }
    }

    /// <summary>
    /// The open connection and what was prepared on it: one reused command per statement on SQLite (kept prepared by
    /// Microsoft.Data.Sqlite, parameters reused); on PostgreSQL the statements are prepared on the server by Npgsql's
    /// automatic preparation, by their text.
    /// </summary>
    private sealed class Session(DbConnection connection) : IAsyncDisposable
    {
        private readonly Dictionary<Statement, DbCommand> _commands = [];
        private DbCommand? _findStored;

        public DbConnection Connection { get; } = connection;

        /// <summary>Creates provider parameters (never executed).</summary>
        public DbCommand ParameterFactory { get; } = connection.CreateCommand();

        public DbCommand FindStored(string sql, bool postgres)
        {
            if (_findStored is null)
            {
                _findStored = Connection.CreateCommand();
                _findStored.CommandText = sql;
                _findStored.Parameters.Add(postgres
                    ? new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text)
                    : new SqliteParameter("@ids", SqliteType.Text));
            }

            _findStored.Transaction = null;
            return _findStored;
        }

        public DbCommand Command(Statement statement, DbTransaction? transaction)
        {
            if (!_commands.TryGetValue(statement, out var command))
            {
                command = Connection.CreateCommand();
                command.CommandText = statement.Sql;
                foreach (var parameter in statement.Parameters)
                {
                    command.Parameters.Add(parameter.Create(command));
                }

                _commands[statement] = command;
            }

            command.Transaction = transaction;
            return command;
        }

        /// <summary>
        /// A batch command for <paramref name="statement"/> with fresh parameters: Npgsql's parameters and batch commands
        /// do not survive reuse from one batch to the next ("Missing type info or binding info" on the second use).
        /// </summary>
        public DbBatchCommand BatchCommand(DbBatch batch, Statement statement, object?[] values)
        {
            var command = batch.CreateBatchCommand();
            command.CommandText = statement.Sql;
            for (var index = 0; index < values.Length; index++)
            {
                var parameter = statement.Parameters[index].Create(ParameterFactory);
                parameter.Value = statement.Parameters[index].ProviderValue(values[index]);
                command.Parameters.Add(parameter);
            }

            return command;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var command in _commands.Values)
            {
                await command.DisposeAsync();
            }

            if (_findStored is not null)
            {
                await _findStored.DisposeAsync();
            }

            await ParameterFactory.DisposeAsync();
            await Connection.DisposeAsync();
        }
    }

    /// <summary>
    /// Runs statements as one batch where the provider has batches (PostgreSQL: one round trip), else one by one on
    /// the session's reused commands (SQLite, in-process).
    /// </summary>
    private sealed class Executor(Session session, DbTransaction? transaction)
    {
        private readonly List<(Statement Statement, object?[] Values)> _pending = [];

        public void Add(Statement statement, object?[] values) => _pending.Add((statement, values));

        /// <summary>Executes the pending statements; rows affected per statement.</summary>
        public async Task<int[]> ExecuteAsync(CancellationToken cancellationToken)
        {
            var affected = new int[_pending.Count];
            if (_pending.Count == 0)
            {
                return affected;
            }

            if (session.Connection.CanCreateBatch)
            {
                await using var batch = Batch();
                await batch.ExecuteNonQueryAsync(cancellationToken);
                for (var index = 0; index < affected.Length; index++)
                {
                    affected[index] = batch.BatchCommands[index].RecordsAffected;
                }
            }
            else
            {
                for (var index = 0; index < affected.Length; index++)
                {
                    // In-process and synchronous underneath: the async path would only add a state machine per row.
                    affected[index] = Command(_pending[index]).ExecuteNonQuery();
                }
            }

            _pending.Clear();
            return affected;
        }

        /// <summary>Executes the pending statements, each returning one integer (RETURNING "Id").</summary>
        public async Task<long[]> ExecuteScalarsAsync(CancellationToken cancellationToken)
        {
            var results = new long[_pending.Count];
            if (session.Connection.CanCreateBatch)
            {
                await using var batch = Batch();
                await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
                {
                    for (var index = 0; index < results.Length; index++)
                    {
                        if (index > 0)
                        {
                            await reader.NextResultAsync(cancellationToken);
                        }

                        await reader.ReadAsync(cancellationToken);
                        results[index] = reader.GetInt64(0);
                    }
                }
            }
            else
            {
                for (var index = 0; index < results.Length; index++)
                {
                    results[index] = Convert.ToInt64(Command(_pending[index]).ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            _pending.Clear();
            return results;
        }

        private DbBatch Batch()
        {
            var batch = session.Connection.CreateBatch();
            batch.Transaction = transaction;
            foreach (var (statement, values) in _pending)
            {
                batch.BatchCommands.Add(session.BatchCommand(batch, statement, values));
            }

            return batch;
        }

        private DbCommand Command((Statement Statement, object?[] Values) pending)
        {
            var command = session.Command(pending.Statement, transaction);
            pending.Statement.Bind(command.Parameters, pending.Values);
            return command;
        }
    }
}
