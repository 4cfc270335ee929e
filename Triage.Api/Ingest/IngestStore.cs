using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
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

/// <summary>An incident's change was based on state that no longer holds (resolved, changed by another writer).</summary>
internal sealed class StaleIncidentException(IReadOnlyList<string> fingerprints)
    : Exception($"{fingerprints.Count} open incident(s) changed underneath the ingest writer")
{
    public IReadOnlyList<string> Fingerprints { get; } = fingerprints;
}

/// <summary>
/// The ingest writer's SQL. Reads go through EF (two small queries per commit, no tracking); writes are raw statements
/// on the context's connection, with parameters made by EF's own type mappings so that values are stored exactly as
/// EF stores them (SQLite keeps times as sortable integers, tags as JSON; PostgreSQL as timestamptz and text[]).
/// </summary>
/// <remarks>
/// On PostgreSQL all writes of a commit go in one batch (one round trip, plus one for new incidents' ids and one for
/// COMMIT); SQLite runs in-process, so it executes the same statements one by one on reused prepared commands.
/// Updates to existing incidents are guarded by <see cref="Incident.Version"/> and the open fingerprint: every other
/// code path that changes what grouping depends on (resolve, suppression votes, another replica raising the priority)
/// bumps the version, so a guarded update that hits no row means the writer's memory is stale, and the whole commit
/// is rolled back and redone from fresh rows. Counts and times are relative updates, so replicas adding alerts to the
/// same incident need no version bump and do not conflict.
/// </remarks>
internal sealed class IngestStore
{
    private readonly Table _incidents;
    private readonly Table _alerts;
    private readonly Table _timeline;
    private readonly string _updateSql;
    private readonly string _insertIncidentSql;
    private readonly string _insertAlertSql;
    private readonly string _insertTimelineSql;

    public IngestStore(TriageDbContext db)
    {
        var sql = db.GetService<ISqlGenerationHelper>();
        var postgres = db is PostgresTriageDbContext;
        _incidents = new Table(db.Model, typeof(Incident), sql);
        _alerts = new Table(db.Model, typeof(StoredAlert), sql);
        _timeline = new Table(db.Model, typeof(TimelineEntry), sql);
        var (least, greatest) = postgres ? ("LEAST", "GREATEST") : ("min", "max");
        var i = _incidents;
        _updateSql = $"""
            UPDATE {i.Name} SET
              {i.C("AlertCount")} = {i.C("AlertCount")} + @added,
              {i.C("FirstSeen")} = {least}({i.C("FirstSeen")}, COALESCE(@first, {i.C("FirstSeen")})),
              {i.C("LastSeen")} = {greatest}({i.C("LastSeen")}, COALESCE(@last, {i.C("LastSeen")})),
              {i.C("Pod")} = COALESCE({i.C("Pod")}, @pod),
              {i.C("Priority")} = {greatest}({i.C("Priority")}, @priority),
              {i.C("Tags")} = @tags,
              {i.C("SuppressionId")} = @suppression,
              {i.C("UpdatedAt")} = @now,
              {i.C("Version")} = {i.C("Version")} + @bump,
              {i.C("NeedsProcessing")} = ({i.C("NeedsProcessing")} OR @announce),
              {i.C("OpenFingerprint")} = CASE WHEN @close THEN NULL ELSE {i.C("OpenFingerprint")} END
            WHERE {i.C("Id")} = @id AND {i.C("Version")} = @version AND {i.C("OpenFingerprint")} IS NOT NULL
              AND (NOT @close OR {i.C("LastSeen")} <= @known)
            """;
        _insertIncidentSql = Insert(_incidents, IncidentColumns) + $" RETURNING {i.C("Id")}";
        _insertAlertSql = Insert(_alerts, AlertColumns);
        _insertTimelineSql = Insert(_timeline, TimelineColumns);
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

    private static string Insert(Table table, string[] columns) =>
        $"INSERT INTO {table.Name} ({string.Join(", ", columns.Select(table.C))}) VALUES ({string.Join(", ", columns.Select(c => "@" + c))})";

    /// <summary>Incident ids of the alerts among <paramref name="ids"/> that are already stored.</summary>
    public static Task<Dictionary<string, long>> FindStoredAsync(TriageDbContext db, List<string> ids, CancellationToken cancellationToken) =>
        db.Alerts.AsNoTracking().Where(a => ids.Contains(a.Id))
            .ToDictionaryAsync(a => a.Id, a => a.IncidentId, StringComparer.Ordinal, cancellationToken);

    /// <summary>The open incidents for <paramref name="fingerprints"/>.</summary>
    public static Task<List<OpenIncidentRow>> LoadOpenAsync(TriageDbContext db, List<string> fingerprints, CancellationToken cancellationToken) =>
        db.Incidents.AsNoTracking()
            .Where(i => i.OpenFingerprint != null && fingerprints.Contains(i.OpenFingerprint))
            .Select(i => new OpenIncidentRow(i.Id, i.OpenFingerprint!, i.Version, i.LastSeen, i.Priority, i.SuppressionId, i.Tags, i.Namespace, i.Pod))
            .ToListAsync(cancellationToken);

    /// <summary>
    /// Writes one commit on <paramref name="db"/>'s open connection: guarded updates of existing incidents (first, so
    /// that a closed incident frees its fingerprint), new incidents, alerts, timeline entries. Throws <see cref="StaleIncidentException"/> (after
    /// rolling back) when a guarded update found its incident changed.
    /// </summary>
    public async Task WriteAsync(TriageDbContext db, IReadOnlyList<IncidentChange> changes, IReadOnlyList<(IncidentChange Incident, StoredAlert Alert)> alerts,
        IReadOnlyList<(IncidentChange Incident, TimelineEntry Entry)> timeline, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var connection = db.Database.GetDbConnection();
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var executor = new Executor(connection, transaction);

        var updates = changes.Where(c => c.Existing is not null).ToList();
        var created = changes.Where(c => c.Created is not null).ToList();
        foreach (var change in updates)
        {
            executor.Add(_updateSql, UpdateParameters(executor, change, now));
        }

        // Without new incidents everything goes in one batch; the guards are checked before the commit.
        if (created.Count == 0)
        {
            AddRows(executor, alerts, timeline);
        }

        var affected = await executor.ExecuteAsync(cancellationToken);
        var stale = updates.Where((_, index) => affected[index] != 1).Select(c => c.Fingerprint).ToList();
        if (stale.Count > 0)
        {
            await transaction.RollbackAsync(cancellationToken);
            throw new StaleIncidentException(stale);
        }

        if (created.Count > 0)
        {
            foreach (var change in created)
            {
                executor.Add(_insertIncidentSql, Parameters(executor, _incidents, IncidentColumns, change.Created!));
            }

            var ids = await executor.ExecuteScalarsAsync(cancellationToken);
            for (var index = 0; index < created.Count; index++)
            {
                created[index].Id = ids[index];
                created[index].Created!.Id = ids[index];
            }

            AddRows(executor, alerts, timeline);
            await executor.ExecuteAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private DbParameter[] UpdateParameters(Executor executor, IncidentChange change, DateTimeOffset now)
    {
        var existing = change.Existing!;
        var i = _incidents;
        return
        [
            i.Parameter(executor, "AlertCount", "@added", change.Added),
            i.Parameter(executor, "FirstSeen", "@first", change.MinTime, nullable: true),
            i.Parameter(executor, "LastSeen", "@last", change.MaxTime, nullable: true),
            i.Parameter(executor, "Pod", "@pod", change.Pod),
            i.Parameter(executor, "Priority", "@priority", change.Priority),
            i.Parameter(executor, "Tags", "@tags", change.Tags),
            i.Parameter(executor, "SuppressionId", "@suppression", change.SuppressionId),
            i.Parameter(executor, "UpdatedAt", "@now", now),
            i.Parameter(executor, "Version", "@bump", change.Announce ? 1 : 0),
            i.Parameter(executor, "NeedsProcessing", "@announce", change.Announce),
            i.Parameter(executor, "NeedsProcessing", "@close", change.Close),
            i.Parameter(executor, "Id", "@id", change.Id),
            i.Parameter(executor, "Version", "@version", existing.Version),
            i.Parameter(executor, "LastSeen", "@known", existing.LastSeen),
        ];
    }

    private void AddRows(Executor executor, IReadOnlyList<(IncidentChange Incident, StoredAlert Alert)> alerts, IReadOnlyList<(IncidentChange Incident, TimelineEntry Entry)> timeline)
    {
        foreach (var (change, alert) in alerts)
        {
            alert.IncidentId = change.Id;
            executor.Add(_insertAlertSql, Parameters(executor, _alerts, AlertColumns, alert));
        }

        foreach (var (change, entry) in timeline)
        {
            entry.IncidentId = change.Id;
            executor.Add(_insertTimelineSql, Parameters(executor, _timeline, TimelineColumns, entry));
        }
    }

    private static DbParameter[] Parameters<T>(Executor executor, Table table, string[] columns, T row)
    {
        var parameters = new DbParameter[columns.Length];
        for (var index = 0; index < columns.Length; index++)
        {
            parameters[index] = table.Parameter(executor, columns[index], "@" + columns[index], table.Value(columns[index], row));
        }

        return parameters;
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

        public object? Value<T>(string property, T row) => _columns[property].Property.GetGetter().GetClrValueUsingContainingEntity(row!);

        public DbParameter Parameter(Executor executor, string property, string name, object? value, bool? nullable = null)
        {
            var mapping = _columns[property].Mapping;
            return mapping.CreateParameter(executor.ParameterFactory, name, value, nullable ?? _columns[property].Property.IsNullable);
        }
    }

    /// <summary>
    /// Runs statements as one batch where the provider has batches (PostgreSQL: one round trip), else one by one on
    /// commands reused per statement text (SQLite keeps them prepared).
    /// </summary>
    private sealed class Executor(DbConnection connection, DbTransaction transaction) : IAsyncDisposable
    {
        private readonly List<(string Sql, DbParameter[] Parameters)> _pending = [];
        private readonly Dictionary<string, DbCommand> _commands = new(StringComparer.Ordinal);

        /// <summary>A command used only to create provider parameters.</summary>
        public DbCommand ParameterFactory { get; } = connection.CreateCommand();

        public void Add(string sql, DbParameter[] parameters) => _pending.Add((sql, parameters));

        /// <summary>Executes the pending statements; rows affected per statement.</summary>
        public async Task<int[]> ExecuteAsync(CancellationToken cancellationToken)
        {
            var affected = new int[_pending.Count];
            if (_pending.Count == 0)
            {
                return affected;
            }

            if (connection.CanCreateBatch)
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
                    affected[index] = await Command(_pending[index]).ExecuteNonQueryAsync(cancellationToken);
                }
            }

            _pending.Clear();
            return affected;
        }

        /// <summary>Executes the pending statements, each returning one integer (RETURNING "Id").</summary>
        public async Task<long[]> ExecuteScalarsAsync(CancellationToken cancellationToken)
        {
            var results = new long[_pending.Count];
            if (connection.CanCreateBatch)
            {
                await using var batch = Batch();
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
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
            else
            {
                for (var index = 0; index < results.Length; index++)
                {
                    results[index] = Convert.ToInt64(await Command(_pending[index]).ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            _pending.Clear();
            return results;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var command in _commands.Values)
            {
                await command.DisposeAsync();
            }

            await ParameterFactory.DisposeAsync();
        }

        private DbBatch Batch()
        {
            var batch = connection.CreateBatch();
            batch.Transaction = transaction;
            foreach (var (sql, parameters) in _pending)
            {
                var command = batch.CreateBatchCommand();
                command.CommandText = sql;
                command.Parameters.AddRange(parameters);
                batch.BatchCommands.Add(command);
            }

            return batch;
        }

        private DbCommand Command((string Sql, DbParameter[] Parameters) statement)
        {
            if (!_commands.TryGetValue(statement.Sql, out var command))
            {
                command = connection.CreateCommand();
                command.CommandText = statement.Sql;
                command.Transaction = transaction;
                _commands[statement.Sql] = command;
            }

            command.Parameters.Clear();
            command.Parameters.AddRange(statement.Parameters);
            return command;
        }
    }
}
