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

/// <summary>
/// Stores alerts and groups them into incidents. One writer per process takes requests from a bounded queue and
/// commits many of them in one transaction (group commit): each request is answered only after its alerts are
/// durable, and throughput does not depend on one fsync per request.
/// </summary>
internal sealed partial class AlertWriter(
    IServiceScopeFactory scopes,
    IncidentPipeline pipeline,
    TriageConfig config,
    TimeProvider time,
    IngestMetrics metrics,
    SuppressionMatcher suppressions,
    ILogger<AlertWriter> logger) : BackgroundService
{
    /// <summary>Most alerts committed in one transaction.</summary>
    private const int MaxAlertsPerCommit = 2000;

    private const int MaxCommitAttempts = 5;

    private readonly Channel<PendingWrite> _queue = Channel.CreateBounded<PendingWrite>(
        new BoundedChannelOptions(10_000) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private sealed record PendingWrite(IReadOnlyList<NativeAlert> Alerts, string Source, TaskCompletionSource<IReadOnlyList<AlertReceipt>> Done);

    /// <summary>Queues validated alerts and completes when they are committed (or the commit failed for good).</summary>
    public async Task<IReadOnlyList<AlertReceipt>> WriteAsync(IReadOnlyList<NativeAlert> alerts, string source, CancellationToken cancellationToken)
    {
        var pending = new PendingWrite(alerts, source, new TaskCompletionSource<IReadOnlyList<AlertReceipt>>(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.Writer.WriteAsync(pending, cancellationToken);
        return await pending.Done.Task.WaitAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<PendingWrite>();
        while (await _queue.Reader.WaitToReadAsync(stoppingToken))
        {
            batch.Clear();
            var count = 0;
            while (count < MaxAlertsPerCommit && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
                count += pending.Alerts.Count;
            }

            await CommitAsync(batch, stoppingToken);
        }
    }

    private async Task CommitAsync(List<PendingWrite> batch, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var (receipts, touched) = await StoreAsync(batch, cancellationToken);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.TrySetResult(receipts[i]);
                }

                foreach (var incidentId in touched)
                {
                    pipeline.Enqueue(incidentId);
                }

                metrics.CommitDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                foreach (var pending in batch)
                {
                    pending.Done.TrySetCanceled(cancellationToken);
                }

                throw;
            }
#pragma warning disable CA1031 // The writer must outlive a failed commit: the callers get the error, later requests a fresh try.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                if (attempt < MaxCommitAttempts && IsTransient(ex))
                {
                    LogCommitRetry(logger, ex, attempt);
                    await Task.Delay(TimeSpan.FromMilliseconds(20 * attempt), time, cancellationToken);
                    continue;
                }

                LogCommitFailed(logger, ex, batch.Sum(b => b.Alerts.Count));
                foreach (var pending in batch)
                {
                    pending.Done.TrySetException(new StoreUnavailableException("The database did not accept the alerts; nothing was stored. Retry later.", ex));
                }

                return;
            }
        }
    }

    /// <summary>Unique-key races with another replica and lost connections are worth another try.</summary>
    private static bool IsTransient(Exception ex) =>
        ex is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or TimeoutException;

    private async Task<(List<IReadOnlyList<AlertReceipt>> Receipts, HashSet<long> Touched)> StoreAsync(
        List<PendingWrite> batch, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var now = time.GetUtcNow();

        var allIds = batch.SelectMany(b => b.Alerts).Select(a => a.Id!).Distinct(StringComparer.Ordinal).ToList();
        var existing = await db.Alerts.Where(a => allIds.Contains(a.Id))
            .Select(a => new { a.Id, a.IncidentId })
            .ToDictionaryAsync(a => a.Id, a => a.IncidentId, StringComparer.Ordinal, cancellationToken);

        var fresh = batch.SelectMany(b => b.Alerts.Select(a => (Alert: a, b.Source)))
            .Where(x => !existing.ContainsKey(x.Alert.Id!))
            .DistinctBy(x => x.Alert.Id, StringComparer.Ordinal)
            .Select(x => (x.Alert, x.Source, Fingerprint: IncidentFingerprint.Of(x.Alert)))
            .OrderBy(x => x.Alert.Time)
            .ToList();
        var fingerprints = fresh.Select(x => x.Fingerprint).Distinct(StringComparer.Ordinal).ToList();
        var open = await db.Incidents.Where(i => i.OpenFingerprint != null && fingerprints.Contains(i.OpenFingerprint))
            .ToDictionaryAsync(i => i.OpenFingerprint!, StringComparer.Ordinal, cancellationToken);

        var assigned = new Dictionary<string, Incident>(StringComparer.Ordinal);
        foreach (var (alert, source, fingerprint) in fresh)
        {
            var incident = open.GetValueOrDefault(fingerprint);
            if (incident is not null && alert.Time!.Value - incident.LastSeen > config.Incidents.GroupingWindow)
            {
                // Quiet for longer than the window: this is a new occurrence, and the old incident stops grouping.
                incident.OpenFingerprint = null;
                incident = null;
            }

            // Suppressed alerts are stored and counted like any other; only the incident's flag differs, and
            // escalation pages nobody while the incident is covered by a suppression (the card still shows it).
            var suppressionId = suppressions.Match(alert, now);
            if (incident is null)
            {
                incident = NewIncident(alert, source, fingerprint, now);
                incident.SuppressionId = suppressionId;
                IncidentTimeline.Append(incident, now, Actor.System("ingest"), "created",
                    $"Opened by {incident.Rule} ({incident.Priority.ToFalcoName()}) from {source}");
                db.Incidents.Add(incident);
                open[fingerprint] = incident;
            }
            else
            {
                AddToIncident(incident, alert, now);
                if (suppressionId is null && incident.SuppressionId is { } lifted)
                {
                    // One alert outside the suppression's scope makes the whole incident live again.
                    incident.SuppressionId = null;
                    IncidentTimeline.Append(incident, now, Actor.System("ingest"), "suppression_lifted",
                        $"Alert {alert.Id} is outside suppression {lifted}; this incident pages again");
                }
            }

            assigned[alert.Id!] = incident;
            var stored = ToStored(alert, source, now);
            stored.SuppressionId = suppressionId;
            incident.Alerts.Add(stored);
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        foreach (var (alert, source, _) in fresh)
        {
            metrics.AlertsStored.WithLabels(source).Inc();
        }

        var receipts = batch.Select(b => (IReadOnlyList<AlertReceipt>)b.Alerts
            .Select(a => existing.TryGetValue(a.Id!, out var incidentId)
                ? new AlertReceipt(a.Id!, incidentId, Duplicate: true)
                : new AlertReceipt(a.Id!, assigned[a.Id!].Id, Duplicate: false))
            .ToList()).ToList();
        return (receipts, assigned.Values.Select(i => i.Id).ToHashSet());
    }

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

    private static void AddToIncident(Incident incident, NativeAlert alert, DateTimeOffset now)
    {
        var priority = AlertPriorities.Parse(alert.Priority);
        var time = alert.Time!.Value.ToUniversalTime();
        incident.AlertCount++;
        incident.FirstSeen = time < incident.FirstSeen ? time : incident.FirstSeen;
        incident.LastSeen = time > incident.LastSeen ? time : incident.LastSeen;
        incident.Pod ??= alert.K8s?.Pod;
        foreach (var tag in alert.Tags ?? [])
        {
            if (!incident.Tags.Contains(tag))
            {
                incident.Tags.Add(tag);
            }
        }

        if (priority > incident.Priority)
        {
            IncidentTimeline.Append(incident, now, Actor.System("ingest"), "priority_raised",
                $"Priority raised from {incident.Priority.ToFalcoName()} to {priority.ToFalcoName()} by alert {alert.Id}");
            incident.Priority = priority;
        }

        incident.UpdatedAt = now;
        incident.NeedsProcessing = true;
        incident.Version++;
    }

    private static StoredAlert ToStored(NativeAlert alert, string source, DateTimeOffset now)
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
            Payload = JsonSerializer.Serialize(alert, TriageJson.Options),
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert commit failed (attempt {Attempt}); retrying")]
    private static partial void LogCommitRetry(ILogger logger, Exception exception, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Alert commit failed for good; {Count} alert(s) refused with 503")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, int count);
}

/// <summary>The database could not store the request; the client should retry (503).</summary>
internal sealed class StoreUnavailableException(string message, Exception inner) : Exception(message, inner);
