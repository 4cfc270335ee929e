using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Prometheus;
using Triage.Api.Incidents;
using Triage.Api.Ingest;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Sensors;

/// <summary>One sensor as <c>GET /api/v1/sensors</c> shows it.</summary>
internal sealed record SensorView(
    string Node,
    string Status,
    DateTimeOffset LastSeen,
    double SecondsSinceLastSeen,
    DateTimeOffset FirstSeen,
    DateTimeOffset? SilentSince,
    long? SilentIncidentId,
    string? SensorVersion,
    DateTimeOffset? StartedAt,
    double? UptimeSeconds,
    int? RulesLoaded,
    IReadOnlyDictionary<string, long> KernelDrops,
    long? ChannelDrops,
    int? SpoolDepth,
    long? SpoolDropped,
    double? ShipLagSeconds,
    DateTimeOffset? LastEventAt,
    int? PodsKnown);

/// <summary>What one silence check did.</summary>
internal sealed record SilenceCheckResult(IReadOnlyList<string> Silenced, IReadOnlyList<long> Incidents);

/// <summary>
/// Keeps the last heartbeat per node and decides which sensors are silent. A sensor goes silent when no heartbeat
/// arrived for <see cref="SensorsOptions.EffectiveSilentAfter"/>: a warning is logged, the <c>triage_sensors</c> gauge
/// counts it, and (unless switched off) an alert "Sensor silent" from source <c>triage</c> goes through the normal
/// ingest path, so the incident is grouped by node, routed, shown and paged like any other. The alert id is the node
/// plus the last heartbeat's time: one alert per silence episode, however many checks or replicas see it.
/// When heartbeats come back the incident gets a timeline entry but stays open: a sensor that stopped may have been
/// stopped (an attacker's first move on a node), so a person decides whether the gap needs looking into.
/// </summary>
internal sealed partial class SensorHealth(
    IServiceScopeFactory scopes,
    AlertWriter writer,
    IncidentPipeline pipeline,
    SensorsOptions options,
    TimeProvider time,
    ILogger<SensorHealth> logger)
{
    public const string SilentRule = "Sensor silent";
    public const string Source = "triage";

    private static readonly Gauge SensorsByStatus = Metrics.CreateGauge("triage_sensors",
        "Sensors that sent a heartbeat, by status (ok, silent).", new GaugeConfiguration { LabelNames = ["status"] });

    private static readonly Gauge SilentNodes = Metrics.CreateGauge("triage_sensor_silent",
        "1 for each node whose sensor is silent (no heartbeat within sensors.silent_after).", new GaugeConfiguration { LabelNames = ["node"] });

    /// <summary>Stores a heartbeat; when the node was silent, records its recovery on the silence incident.</summary>
    public async Task RecordAsync(string node, SensorHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await RecordOnceAsync(node, heartbeat, cancellationToken);
                return;
            }
            catch (DbUpdateException) when (attempt < 3)
            {
                // The silence check (or another replica) changed the row, or a first heartbeat raced another: the
                // next attempt reads the fresh row.
            }
        }
    }

    private async Task RecordOnceAsync(string node, SensorHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var now = time.GetUtcNow();
        var record = await db.Set<SensorRecord>().FirstOrDefaultAsync(s => s.Node == node, cancellationToken);
        if (record is null)
        {
            record = new SensorRecord { Node = node, FirstSeen = now };
            db.Add(record);
            LogFirstHeartbeat(logger, node, heartbeat.SensorVersion ?? "?");
        }

        record.LastSeen = now;
        record.SensorVersion = heartbeat.SensorVersion is { Length: > 100 } v ? v[..100] : heartbeat.SensorVersion;
        record.StartedAt = heartbeat.StartedAt?.ToUniversalTime();
        record.UptimeSeconds = heartbeat.UptimeSeconds;
        record.RulesLoaded = heartbeat.RulesLoaded;
        record.KernelDrops = JsonSerializer.Serialize(heartbeat.KernelDrops ?? new Dictionary<string, long>());
        record.ChannelDrops = heartbeat.ChannelDrops;
        record.SpoolDepth = heartbeat.SpoolDepth;
        record.SpoolDropped = heartbeat.SpoolDropped;
        record.ShipLagSeconds = heartbeat.ShipLagSeconds;
        record.LastEventAt = heartbeat.LastEventAt?.ToUniversalTime();
        record.PodsKnown = heartbeat.PodsKnown;
        record.Version++;

        long? recoveredIncident = null;
        if (record.Status == SensorStatus.Silent)
        {
            var since = record.SilentSince ?? now;
            record.Status = SensorStatus.Ok;
            record.SilentSince = null;
            LogRecovered(logger, node, since, now - since);
            if (record.SilentIncidentId is { } incidentId
                && await db.Incidents.FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken) is { } incident)
            {
                IncidentTimeline.Append(db, incidentId, now, Actor.System("sensor"), "sensor_recovered",
                    $"Sensor on node {node} sends heartbeats again (last heard {Format(since)}, silent for {Format(now - since)}; "
                    + $"started {(heartbeat.StartedAt is { } s ? Format(s) : "at an unknown time")}). "
                    + "The incident stays open: check why it stopped and what the node did meanwhile.");
                incident.Version++;
                incident.UpdatedAt = now;
                incident.NeedsProcessing = true;
                recoveredIncident = incidentId;
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        if (recoveredIncident is { } id)
        {
            pipeline.Enqueue(id);
        }
    }

    /// <summary>Every sensor that ever sent a heartbeat, with its status now.</summary>
    public async Task<IReadOnlyList<SensorView>> ListAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var records = await db.Set<SensorRecord>().AsNoTracking().ToListAsync(cancellationToken);
        var now = time.GetUtcNow();
        return [.. records.OrderBy(r => r.Node, StringComparer.Ordinal).Select(r => View(r, now))];
    }

    /// <summary>
    /// Flags sensors silent whose last heartbeat is older than the threshold, raising one incident per silence
    /// episode; refreshes the gauges. Safe to run on several replicas at once.
    /// </summary>
    public async Task<SilenceCheckResult> CheckAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var cutoff = now - options.EffectiveSilentAfter;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var overdue = await db.Set<SensorRecord>()
            .Where(s => s.Status == SensorStatus.Ok && s.LastSeen <= cutoff)
            .ToListAsync(cancellationToken);

        var silenced = new List<string>();
        var incidents = new List<long>();
        foreach (var record in overdue)
        {
            LogSilent(logger, record.Node, record.LastSeen, now - record.LastSeen);
            long? incidentId = null;
            if (options.RaiseIncident)
            {
                // Written before the status changes: a crash in between repeats the write, which the stable id
                // turns into a duplicate of the same incident.
                var receipts = await writer.WriteAsync([SilentAlert(record, now)], Source, cancellationToken);
                incidentId = receipts[0].IncidentId;
                incidents.Add(incidentId.Value);
            }

            record.Status = SensorStatus.Silent;
            record.SilentSince = record.LastSeen;
            record.SilentIncidentId = incidentId ?? record.SilentIncidentId;
            record.Version++;
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                silenced.Add(record.Node);
            }
            catch (DbUpdateConcurrencyException)
            {
                // A heartbeat arrived meanwhile (or another replica flagged it): the row says what is true now.
                db.Entry(record).State = EntityState.Detached;
            }
        }

        await UpdateGaugesAsync(db, now, cancellationToken);
        return new SilenceCheckResult(silenced, incidents);
    }

    /// <summary>The alert a silence raises: rule "Sensor silent" on the node, id stable for this episode.</summary>
    internal NativeAlert SilentAlert(SensorRecord record, DateTimeOffset now) => new()
    {
        Id = $"sensor-silent:{record.Node}:{record.LastSeen.UtcTicks.ToString(CultureInfo.InvariantCulture)}",
        Time = now,
        Node = record.Node,
        Rule = SilentRule,
        Priority = options.IncidentPriority,
        Source = Source,
        Tags = ["sensor_health"],
        Output = $"Sensor on node {record.Node} is silent: no heartbeat since {Format(record.LastSeen)} "
            + $"({Format(now - record.LastSeen)}; threshold {Format(options.EffectiveSilentAfter)}). "
            + "The node's runtime activity is not being watched.",
        OutputFields = new Dictionary<string, JsonNode?>
        {
            ["sensor.node"] = record.Node,
            ["sensor.last_seen"] = Format(record.LastSeen),
            ["sensor.version"] = record.SensorVersion,
            ["sensor.last_event"] = record.LastEventAt is { } e ? Format(e) : null,
        },
    };

    private async Task UpdateGaugesAsync(TriageDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var all = await db.Set<SensorRecord>().AsNoTracking()
            .Select(s => new { s.Node, s.LastSeen, s.Status })
            .ToListAsync(cancellationToken);
        var cutoff = now - options.EffectiveSilentAfter;
        var silent = all.Where(s => s.Status == SensorStatus.Silent || s.LastSeen <= cutoff).Select(s => s.Node).ToHashSet(StringComparer.Ordinal);
        SensorsByStatus.WithLabels("ok").Set(all.Count - silent.Count);
        SensorsByStatus.WithLabels("silent").Set(silent.Count);
        foreach (var node in all.Select(s => s.Node))
        {
            SilentNodes.WithLabels(node).Set(silent.Contains(node) ? 1 : 0);
        }
    }

    private SensorView View(SensorRecord r, DateTimeOffset now)
    {
        var silent = r.Status == SensorStatus.Silent || now - r.LastSeen >= options.EffectiveSilentAfter;
        return new SensorView(
            r.Node,
            silent ? "silent" : "ok",
            r.LastSeen,
            Math.Round(Math.Max(0, (now - r.LastSeen).TotalSeconds), 1),
            r.FirstSeen,
            silent ? r.SilentSince ?? r.LastSeen : null,
            r.SilentIncidentId,
            r.SensorVersion,
            r.StartedAt,
            r.UptimeSeconds,
            r.RulesLoaded,
            JsonSerializer.Deserialize<Dictionary<string, long>>(r.KernelDrops) ?? [],
            r.ChannelDrops,
            r.SpoolDepth,
            r.SpoolDropped,
            r.ShipLagSeconds,
            r.LastEventAt,
            r.PodsKnown);
    }

    private static string Format(DateTimeOffset at) =>
        at.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Format(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours}h{span.Minutes:D2}m"
        : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m{span.Seconds:D2}s"
        : $"{(int)span.TotalSeconds}s";

    [LoggerMessage(Level = LogLevel.Information, Message = "First heartbeat from the sensor on node {Node} (version {Version})")]
    private static partial void LogFirstHeartbeat(ILogger logger, string node, string version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sensor on node {Node} is silent: last heartbeat {LastSeen} ({Ago} ago)")]
    private static partial void LogSilent(ILogger logger, string node, DateTimeOffset lastSeen, TimeSpan ago);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor on node {Node} sends heartbeats again (silent since {Since}, for {For})")]
    private static partial void LogRecovered(ILogger logger, string node, DateTimeOffset since, TimeSpan @for);
}
