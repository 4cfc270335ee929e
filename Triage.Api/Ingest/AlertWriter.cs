using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Incidents;
using Triage.Api.Persistence;
using Triage.Api.Suppression;
using Triage.Contracts;

namespace Triage.Api.Ingest;

/// <summary>The outcome for one posted alert.</summary>
/// <param name="Duplicate">True when an alert with this id was already stored (a retried post).</param>
internal sealed record AlertReceipt(string Id, long IncidentId, bool Duplicate);

/// <summary>What the writer remembers about an open incident between commits; touched only by the writer's loop.</summary>
internal sealed class OpenIncident
{
    public required long Id { get; init; }
    public required string Fingerprint { get; init; }

    /// <summary>The committed version; updates are guarded by it.</summary>
    public required int Version { get; set; }

    public required DateTimeOffset LastSeen { get; set; }
    public required AlertPriority Priority { get; set; }
    public required long? SuppressionId { get; set; }
    public required List<string> Tags { get; set; }
    public required bool HasNamespace { get; init; }
    public required string? Pod { get; set; }
    public string? LastContainerId { get; set; }

    /// <summary>When the pipeline was last asked to look at this incident (or when the writer learnt of it).</summary>
    public required DateTimeOffset AnnouncedAt { get; set; }

    /// <summary>When a commit last touched it (server time).</summary>
    public DateTimeOffset TouchedAt { get; set; }
}

/// <summary>
/// Stores alerts and groups them into incidents. One writer per process takes requests from a bounded queue and
/// commits many of them in one transaction (group commit): each request is answered only after its alerts are
/// durable, and throughput does not depend on one fsync per request.
/// </summary>
/// <remarks>
/// The writer keeps the open incidents it has seen in memory (by fingerprint, loaded on first use), and the alert ids
/// it committed lately, so a small commit costs only raw batched writes (<see cref="IngestStore"/>); large commits, and
/// commits that meet an id stored elsewhere, add one query for the stored ids. Its memory is checked on every
/// write: an incident resolved through the API, changed by a vote, or changed by another replica fails the guarded
/// update, and the commit is redone from fresh rows.
/// The incident pipeline is told at once about what its observers act on (a new incident, a higher priority, new tags,
/// a newly known pod or container, a lifted suppression). An alert that only raises the count and last-seen time is
/// announced at most once per <see cref="IngestOptions.CountRefreshInterval"/> per incident, so a busy incident's
/// card is refreshed every few seconds instead of after every alert; and such an announcement runs only the steps that
/// show the count (<see cref="IncidentPipeline.EnqueueCountChange"/>), without flagging the incident or bumping its
/// version, so enrichment, routing and escalation are not redone and the guarded updates do not go stale.
/// </remarks>
internal sealed partial class AlertWriter(
    IServiceScopeFactory scopes,
    IncidentPipeline pipeline,
    TriageConfig config,
    TimeProvider time,
    IngestMetrics metrics,
    SuppressionMatcher suppressions,
    SqliteLogRestart logRestart,
    ILogger<AlertWriter> logger) : BackgroundService
{
    /// <summary>Most alerts committed in one transaction.</summary>
    private const int MaxAlertsPerCommit = 2000;

    private const int MaxCommitAttempts = 5;

    /// <summary>
    /// How many committed alert ids the writer remembers: a client's retry comes soon after its first try, so this
    /// covers the retries of the last few thousand requests.
    /// </summary>
    private const int RecentAlertsKept = 16_384;

    /// <summary>Commits with more alerts than this ask the database which ids are stored, whatever the writer remembers.</summary>
    private const int MaxAlertsWithoutLookup = 64;

    /// <summary>A queue item that only asks the writer to announce count changes that are due.</summary>
    private static readonly PendingWrite RefreshTick = new([], [], "", null);

    private readonly Channel<PendingWrite> _queue = Channel.CreateBounded<PendingWrite>(
        new BoundedChannelOptions(10_000) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly Dictionary<string, OpenIncident> _open = new(StringComparer.Ordinal);

    /// <summary>Open incidents whose count changed since they were last announced.</summary>
    private readonly HashSet<OpenIncident> _unannounced = [];

    private IngestStore? _store;

    /// <summary>Ids this writer committed lately, with their incidents (see <see cref="StoreAsync"/>).</summary>
    private readonly RecentAlerts _recent = new(RecentAlertsKept);

    /// <param name="Prepared">Per alert, what does not depend on the database, worked out by the caller (see <see cref="WriteAsync"/>).</param>
    private sealed record PendingWrite(
        IReadOnlyList<NativeAlert> Alerts, PreparedAlert[] Prepared, string Source, TaskCompletionSource<IReadOnlyList<AlertReceipt>>? Done);

    /// <summary>An alert's fingerprint and stored JSON.</summary>
    private readonly record struct PreparedAlert(string Fingerprint, string Payload);

    /// <summary>Queues validated alerts and completes when they are committed (or the commit failed for good).</summary>
    /// <remarks>
    /// The fingerprint and the stored JSON are worked out here, on the request's thread: the writer's loop is the one
    /// serial step every alert passes through, so what it does not have to do, requests do side by side.
    /// </remarks>
    public async Task<IReadOnlyList<AlertReceipt>> WriteAsync(IReadOnlyList<NativeAlert> alerts, string source, CancellationToken cancellationToken)
    {
        var prepared = new PreparedAlert[alerts.Count];
        for (var i = 0; i < prepared.Length; i++)
        {
            prepared[i] = new PreparedAlert(IncidentFingerprint.Of(alerts[i]), JsonSerializer.Serialize(alerts[i], TriageJson.Options));
        }

        var pending = new PendingWrite(alerts, prepared, source, new TaskCompletionSource<IReadOnlyList<AlertReceipt>>(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.Writer.WriteAsync(pending, cancellationToken);
        return await pending.Done!.Task.WaitAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = config.Ingest.CountRefreshInterval;
        var period = interval < TimeSpan.FromSeconds(5) ? interval : TimeSpan.FromSeconds(5);

        // A full queue means the writer is busy and announces due counts with the next commit anyway.
        using var timer = time.CreateTimer(_ => _queue.Writer.TryWrite(RefreshTick), null, period, period);
        await using (var scope = scopes.CreateAsyncScope())
        {
            _store = new IngestStore(scope.ServiceProvider.GetRequiredService<TriageDbContext>());
        }

        await using var store = _store;
        var batch = new List<PendingWrite>();
        while (await _queue.Reader.WaitToReadAsync(stoppingToken))
        {
            batch.Clear();
            var count = 0;
            var refresh = false;
            while (count < MaxAlertsPerCommit && _queue.Reader.TryRead(out var pending))
            {
                if (pending.Done is null)
                {
                    refresh = true;
                    continue;
                }

                batch.Add(pending);
                count += pending.Alerts.Count;
            }

            if (batch.Count > 0 || (refresh && _unannounced.Count > 0))
            {
                await CommitAsync(batch, refresh, stoppingToken);
            }

            if (logRestart.TakeRequest())
            {
                RestartLog();
            }

            if (refresh)
            {
                ForgetQuiet(time.GetUtcNow());
            }
        }
    }

    /// <summary>
    /// Forgets incidents no commit touched for a grouping window: memory stays bounded by the active fingerprints,
    /// and a forgotten incident that is still open is simply loaded again by its next alert.
    /// </summary>
    private void ForgetQuiet(DateTimeOffset now)
    {
        var horizon = now - config.Incidents.GroupingWindow;
        var quiet = _open.Where(e => e.Value.TouchedAt < horizon && !_unannounced.Contains(e.Value)).Select(e => e.Key).ToList();
        foreach (var fingerprint in quiet)
        {
            _open.Remove(fingerprint);
        }
    }

    private async Task CommitAsync(List<PendingWrite> batch, bool refresh, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var lookUp = false;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var (receipts, changes) = await StoreAsync(batch, refresh, lookUp, cancellationToken);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done!.TrySetResult(receipts[i]);
                }

                foreach (var change in changes)
                {
                    if (change.Announce)
                    {
                        pipeline.Enqueue(change.Id);
                    }
                    else if (change.CountOnly)
                    {
                        pipeline.EnqueueCountChange(change.Id);
                    }
                }

                metrics.CommitDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                foreach (var pending in batch)
                {
                    pending.Done!.TrySetCanceled(cancellationToken);
                }

                throw;
            }
            catch (AlertStoredMeanwhileException) when (!lookUp)
            {
                // Nothing was stored; this time the database says which ids it has.
                lookUp = true;
                attempt--;
            }
            catch (StaleIncidentException ex) when (attempt < MaxCommitAttempts)
            {
                // Resolved through the API, changed by a vote or by another replica: forget them, reload, redo.
                LogStale(logger, ex.Fingerprints.Count, attempt);
                foreach (var fingerprint in ex.Fingerprints)
                {
                    if (_open.Remove(fingerprint, out var stale))
                    {
                        _unannounced.Remove(stale);
                    }
                }
            }
#pragma warning disable CA1031 // The writer must outlive a failed commit: the callers get the error, later requests a fresh try.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                // Whatever failed (a unique key another replica took first, a lost connection), start from fresh rows
                // on a fresh connection.
                _open.Clear();
                _unannounced.Clear();
                await _store!.ResetAsync();
                if (attempt < MaxCommitAttempts && IsTransient(ex))
                {
                    LogCommitRetry(logger, ex, attempt);
                    await Task.Delay(TimeSpan.FromMilliseconds(20 * attempt), time, cancellationToken);
                    continue;
                }

                LogCommitFailed(logger, ex, batch.Sum(b => b.Alerts.Count));
                foreach (var pending in batch)
                {
                    pending.Done!.TrySetException(new StoreUnavailableException("The database did not accept the alerts; nothing was stored. Retry later.", ex));
                }

                return;
            }
        }
    }

    /// <summary>Starts the embedded database's log over between two commits (see <see cref="SqliteLogRestart"/>).</summary>
    private void RestartLog()
    {
        try
        {
            _store!.RestartLog();
        }
#pragma warning disable CA1031 // A log not started over now is asked for again after the next background checkpoint.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogRestartFailed(logger, ex);
        }
    }

    /// <summary>Unique-key races with another replica and lost connections are worth another try.</summary>
    private static bool IsTransient(Exception ex) =>
        ex is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or TimeoutException or StaleIncidentException
            or AlertStoredMeanwhileException;

    /// <remarks>
    /// Which ids are stored already: a small commit takes them from the ids this writer committed lately and skips the
    /// query, which on PostgreSQL is a round trip of its own (a fifth of a commit's time at one alert per request). An
    /// id stored elsewhere (another replica, before a restart) then inserts nothing: the store rolls back
    /// (<see cref="AlertStoredMeanwhileException"/>) and the commit is redone with <paramref name="lookUp"/>.
    /// Large commits look up anyway, since their retried ids are more likely to be older than what is remembered.
    /// </remarks>
    private async Task<(List<IReadOnlyList<AlertReceipt>> Receipts, List<IncidentChange> Changes)> StoreAsync(
        List<PendingWrite> batch, bool refresh, bool lookUp, CancellationToken cancellationToken)
    {
        var store = _store!;
        var now = time.GetUtcNow();

        // The writer's own connection, open from one commit to the next.
        await store.OpenAsync(cancellationToken);

        var allIds = batch.SelectMany(b => b.Alerts).Select(a => a.Id!).Distinct(StringComparer.Ordinal).ToList();
        var existing = allIds.Count == 0 ? []
            : lookUp || allIds.Count > MaxAlertsWithoutLookup ? await store.FindStoredAsync(allIds, cancellationToken)
            : _recent.Find(allIds);

        var fresh = batch.SelectMany(b => b.Alerts.Select((a, i) => (Alert: a, b.Source, b.Prepared[i].Fingerprint, b.Prepared[i].Payload)))
            .Where(x => !existing.ContainsKey(x.Alert.Id!))
            .DistinctBy(x => x.Alert.Id, StringComparer.Ordinal)
            .OrderBy(x => x.Alert.Time)
            .ToList();
        var unknown = fresh.Select(x => x.Fingerprint).Where(f => !_open.ContainsKey(f)).Distinct(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            // Rare once the active fingerprints are remembered: EF's query on a pooled context is fine here.
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
            foreach (var row in await IngestStore.LoadOpenAsync(db, unknown, cancellationToken))
            {
                _open[row.Fingerprint] = new OpenIncident
                {
                    Id = row.Id,
                    Fingerprint = row.Fingerprint,
                    Version = row.Version,
                    LastSeen = row.LastSeen,
                    Priority = row.Priority,
                    SuppressionId = row.SuppressionId,
                    Tags = row.Tags,
                    HasNamespace = row.Namespace is not null,
                    Pod = row.Pod,
                    AnnouncedAt = now,
                    TouchedAt = now,
                };
            }
        }

        var current = new Dictionary<string, IncidentChange>(StringComparer.Ordinal);
        var changes = new List<IncidentChange>();
        var alerts = new List<(IncidentChange, StoredAlert)>(fresh.Count);
        var timeline = new List<(IncidentChange, TimelineEntry)>();
        var assigned = new Dictionary<string, IncidentChange>(StringComparer.Ordinal);
        foreach (var (alert, source, fingerprint, payload) in fresh)
        {
            var change = current.GetValueOrDefault(fingerprint);
            if (change is null && _open.TryGetValue(fingerprint, out var open))
            {
                change = Track(open);
                current[fingerprint] = change;
                changes.Add(change);
            }

            if (change is not null && alert.Time!.Value - change.LastSeen > config.Incidents.GroupingWindow)
            {
                // Quiet for longer than the window: this is a new occurrence, and the old incident stops grouping.
                change.Close = true;
                current.Remove(fingerprint);
                change = null;
            }

            // Suppressed alerts are stored and counted like any other; only the incident's flag differs, and
            // escalation pages nobody while the incident is covered by a suppression (the card still shows it).
            var suppressionId = suppressions.Match(alert, now);
            if (change is null)
            {
                change = Open(alert, source, fingerprint, suppressionId, now, timeline);
                current[fingerprint] = change;
                changes.Add(change);
            }
            else
            {
                AddAlert(change, alert, now, timeline);
                if (suppressionId is null && change.SuppressionId is { } lifted)
                {
                    // One alert outside the suppression's scope makes the whole incident live again.
                    change.SuppressionId = null;
                    change.Announce = true;
                    timeline.Add((change, Entry(now, "suppression_lifted", $"Alert {alert.Id} is outside suppression {lifted}; this incident pages again")));
                }
            }

            assigned[alert.Id!] = change;
            var stored = ToStored(alert, payload, source, now);
            stored.SuppressionId = suppressionId;
            alerts.Add((change, stored));
        }

        AnnounceDueCounts(changes, refresh, now);
        foreach (var change in changes)
        {
            if (change.Created is { } incident)
            {
                incident.AlertCount = 1 + change.Added;
                incident.FirstSeen = change.MinTime is { } min && min < incident.FirstSeen ? min : incident.FirstSeen;
                incident.LastSeen = change.LastSeen;
                incident.Priority = change.Priority;
                incident.SuppressionId = change.SuppressionId;
                incident.Tags = change.Tags;
                incident.Pod = change.Pod;
                incident.OpenFingerprint = change.Close ? null : change.Fingerprint;
            }
        }

        // A count refresh of an incident that got no alert in this commit has nothing to write.
        var written = changes.Where(c => c.Existing is null || c.Added > 0 || c.Announce || c.Close).ToList();
        if (written.Count > 0)
        {
            await store.WriteAsync(written, alerts, timeline, now, cancellationToken);
        }

        foreach (var group in fresh.GroupBy(x => x.Source, StringComparer.Ordinal))
        {
            metrics.AlertsStored.WithLabels(group.Key).Inc(group.Count());
        }

        foreach (var change in changes)
        {
            Remember(change, now);
        }

        foreach (var (id, change) in assigned)
        {
            _recent.Add(id, change.Id);
        }

        foreach (var (id, incidentId) in existing)
        {
            _recent.Add(id, incidentId);
        }

        var receipts = batch.Select(b => (IReadOnlyList<AlertReceipt>)b.Alerts
            .Select(a => existing.TryGetValue(a.Id!, out var incidentId)
                ? new AlertReceipt(a.Id!, incidentId, Duplicate: true)
                : new AlertReceipt(a.Id!, assigned[a.Id!].Id, Duplicate: false))
            .ToList()).ToList();
        return (receipts, changes);
    }

    private static IncidentChange Track(OpenIncident open) => new()
    {
        Existing = open,
        Id = open.Id,
        Fingerprint = open.Fingerprint,
        LastSeen = open.LastSeen,
        Priority = open.Priority,
        SuppressionId = open.SuppressionId,

        // A copy: the remembered list stays as committed until the commit succeeds.
        Tags = [.. open.Tags],
        HasNamespace = open.HasNamespace,
        Pod = open.Pod,
        LastContainerId = open.LastContainerId,
    };

    private static IncidentChange Open(NativeAlert alert, string source, string fingerprint, long? suppressionId, DateTimeOffset now,
        List<(IncidentChange, TimelineEntry)> timeline)
    {
        var incident = NewIncident(alert, source, fingerprint, now);
        var change = new IncidentChange
        {
            Created = incident,
            Fingerprint = fingerprint,
            LastSeen = incident.LastSeen,
            Priority = incident.Priority,
            SuppressionId = suppressionId,
            Tags = incident.Tags,
            HasNamespace = incident.Namespace is not null,
            Pod = incident.Pod,
            LastContainerId = alert.Container?.Id,
            Announce = true,
        };
        timeline.Add((change, Entry(now, "created", $"Opened by {incident.Rule} ({incident.Priority.ToFalcoName()}) from {source}")));
        return change;
    }

    /// <summary>Adds an alert to the incident's planned state; marks what the pipeline's observers act on.</summary>
    private static void AddAlert(IncidentChange change, NativeAlert alert, DateTimeOffset now, List<(IncidentChange, TimelineEntry)> timeline)
    {
        var priority = AlertPriorities.Parse(alert.Priority);
        var at = alert.Time!.Value.ToUniversalTime();
        var newest = at >= change.LastSeen;
        change.Added++;
        change.MinTime = change.MinTime is { } min && min < at ? min : at;
        change.MaxTime = change.MaxTime is { } max && max > at ? max : at;
        change.LastSeen = newest ? at : change.LastSeen;
        if (change.Pod is null && alert.K8s?.Pod is { } pod)
        {
            // Enrichment looks the workload up by pod.
            change.Pod = pod;
            change.Announce = true;
        }

        if (!change.HasNamespace && newest && alert.Container?.Id is { } container && container != change.LastContainerId)
        {
            // Without Kubernetes context enrichment keys on the newest alert's container.
            change.LastContainerId = container;
            change.Announce = true;
        }

        foreach (var tag in alert.Tags ?? [])
        {
            if (!change.Tags.Contains(tag))
            {
                change.Tags.Add(tag);
                change.Announce = true;
            }
        }

        if (priority > change.Priority)
        {
            timeline.Add((change, Entry(now, "priority_raised",
                $"Priority raised from {change.Priority.ToFalcoName()} to {priority.ToFalcoName()} by alert {alert.Id}")));
            change.Priority = priority;
            change.Announce = true;
        }
    }

    /// <summary>
    /// Count-only changes are announced when the incident was not announced for the refresh interval; on the refresh
    /// tick, also incidents that received no alert in this commit.
    /// </summary>
    private void AnnounceDueCounts(List<IncidentChange> changes, bool refresh, DateTimeOffset now)
    {
        var interval = config.Ingest.CountRefreshInterval;
        foreach (var change in changes)
        {
            if (change.Existing is { } open && !change.Announce && change.Added > 0 && now - open.AnnouncedAt >= interval)
            {
                change.CountOnly = true;
            }
        }

        if (!refresh || _unannounced.Count == 0)
        {
            return;
        }

        var touched = changes.Where(c => c.Existing is not null).Select(c => c.Existing!).ToHashSet();
        foreach (var open in _unannounced)
        {
            if (!touched.Contains(open) && now - open.AnnouncedAt >= interval)
            {
                var change = Track(open);
                change.CountOnly = true;
                changes.Add(change);
            }
        }
    }

    /// <summary>After the commit: the writer's memory takes the committed state.</summary>
    private void Remember(IncidentChange change, DateTimeOffset now)
    {
        if (change.Existing is { } open)
        {
            if (change.Close)
            {
                if (_open.TryGetValue(open.Fingerprint, out var same) && ReferenceEquals(same, open))
                {
                    _open.Remove(open.Fingerprint);
                }

                _unannounced.Remove(open);
                return;
            }

            open.Version += change.Announce ? 1 : 0;
            open.TouchedAt = now;
            open.LastSeen = change.LastSeen;
            open.Priority = change.Priority;
            open.SuppressionId = change.SuppressionId;
            open.Tags = change.Tags;
            open.Pod = change.Pod;
            open.LastContainerId = change.LastContainerId;
            if (change.Announce || change.CountOnly)
            {
                open.AnnouncedAt = now;
                _unannounced.Remove(open);
            }
            else if (change.Added > 0)
            {
                _unannounced.Add(open);
            }

            return;
        }

        if (!change.Close)
        {
            _open[change.Fingerprint] = new OpenIncident
            {
                Id = change.Id,
                Fingerprint = change.Fingerprint,
                Version = change.Created!.Version,
                LastSeen = change.LastSeen,
                Priority = change.Priority,
                SuppressionId = change.SuppressionId,
                Tags = change.Tags,
                HasNamespace = change.HasNamespace,
                Pod = change.Pod,
                LastContainerId = change.LastContainerId,
                AnnouncedAt = now,
                TouchedAt = now,
            };
        }
    }

    private static TimelineEntry Entry(DateTimeOffset now, string kind, string detail) => new()
    {
        At = now,
        Actor = "system",
        Channel = "ingest",
        Kind = kind,
        Detail = detail,
    };

    private static Incident NewIncident(NativeAlert alert, string source, string fingerprint, DateTimeOffset now)
    {
        var priority = AlertPriorities.Parse(alert.Priority);
        return new Incident
        {
            Fingerprint = fingerprint,
            OpenFingerprint = fingerprint,
            Rule = alert.Rule!,
            Title = alert.Output!,
            Priority = priority,
            Status = IncidentStatus.Triggered,
            AlertCount = 1,
            FirstSeen = alert.Time!.Value.ToUniversalTime(),
            LastSeen = alert.Time.Value.ToUniversalTime(),
            CreatedAt = now,
            UpdatedAt = now,
            Namespace = alert.K8s?.Namespace,
            WorkloadKind = alert.K8s?.WorkloadKind,
            WorkloadName = alert.K8s?.WorkloadName,
            Pod = alert.K8s?.Pod,
            Image = alert.Container?.Image,
            Node = alert.Node!,
            Source = source,
            Tags = [.. (alert.Tags ?? []).Distinct(StringComparer.Ordinal)],
            NeedsProcessing = true,
            Version = 1,
        };
    }

    private static StoredAlert ToStored(NativeAlert alert, string payload, string source, DateTimeOffset now)
    {
        var priority = AlertPriorities.Parse(alert.Priority);
        return new StoredAlert
        {
            Id = alert.Id!,
            Time = alert.Time!.Value.ToUniversalTime(),
            ReceivedAt = now,
            Source = source,
            Rule = alert.Rule!,
            Priority = priority,
            Node = alert.Node!,
            Namespace = alert.K8s?.Namespace,
            Pod = alert.K8s?.Pod,
            ContainerId = alert.Container?.Id,
            Payload = payload,
        };
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Count} open incident(s) changed underneath the ingest writer (attempt {Attempt}); reloading")]
    private static partial void LogStale(ILogger logger, int count, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Starting the database log over failed; the next background checkpoint asks again")]
    private static partial void LogRestartFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert commit failed (attempt {Attempt}); retrying")]
    private static partial void LogCommitRetry(ILogger logger, Exception exception, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Alert commit failed for good; {Count} alert(s) refused with 503")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, int count);
}

/// <summary>The database could not store the request; the client should retry (503).</summary>
internal sealed class StoreUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The last <c>capacity</c> alert ids a writer committed and their incidents, oldest forgotten first. Only the
/// writer's loop uses it. An id it holds is stored for certain; an id it lacks may be stored too.
/// </summary>
internal sealed class RecentAlerts(int capacity)
{
    private readonly Dictionary<string, long> _incidents = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public void Add(string id, long incidentId)
    {
        if (!_incidents.TryAdd(id, incidentId))
        {
            return;
        }

        _order.Enqueue(id);
        if (_order.Count > capacity)
        {
            _incidents.Remove(_order.Dequeue());
        }
    }

    /// <summary>Incident ids of the alerts among <paramref name="ids"/> it holds.</summary>
    public Dictionary<string, long> Find(List<string> ids)
    {
        var found = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (_incidents.TryGetValue(id, out var incidentId))
            {
                found[id] = incidentId;
            }
        }

        return found;
    }
}
