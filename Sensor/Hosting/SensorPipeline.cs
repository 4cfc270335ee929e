using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Prometheus;
using Sensor.Containers;
using Sensor.Delivery;
using Sensor.Detection;
using Sensor.Events;
using Sensor.Evidence;
using Sensor.Kernel;
using Triage.Contracts;

namespace Sensor.Hosting;

/// <summary>Options of the event pipeline.</summary>
internal sealed record PipelineOptions
{
    /// <summary>How long an alert from a container waits for its pod before it ships with k8s.pending=true. Default 2 s.</summary>
    public TimeSpan PodWait { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Alerts waiting for container metadata at once; beyond that they ship without waiting. Default 1000.</summary>
    public int MaxWaitingAlerts { get; init; } = 1000;
}

/// <summary>
/// kernel channel → process table and context (<see cref="Pipeline.EventBuilder"/>) → rules → bounded wait for
/// container and pod metadata → spool. One reader thread evaluates rules; metadata waits run concurrently so a slow
/// runtime lookup never stalls the kernel channel. Evidence capture (when <paramref name="capture"/> is given) is
/// queued the moment a rule fires, before the metadata wait, so it races the container's exit as early as it can.
/// </summary>
internal sealed partial class SensorPipeline(
    ChannelReader<KernelEvent> events,
    Pipeline.EventBuilder builder,
    RuleDetector detector,
    ContainerDirectory containers,
    AlertSpool spool,
    SensorMetrics metrics,
    PipelineOptions options,
    ILogger<SensorPipeline> log,
    DetectionCapture? capture = null)
{
    private int _waiting;

    /// <summary>Raised for every event after rules ran (tests and the benchmark observe the pipeline here).</summary>
    public event Action<SensorEvent>? Observed;

    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var e in events.ReadAllAsync(ct))
            {
                // ReadAllAsync checks the token only while it waits; on a busy node the channel is never empty, so
                // without this the pipeline (and the sensor's shutdown) would never stop.
                if (ct.IsCancellationRequested)
                    break;
                metrics.EventsOf(e.Kind).Inc();
                SensorEvent? se;
                IReadOnlyList<NativeAlert> alerts;
                try
                {
                    se = builder.Build(e);
                    if (se is null)
                        continue;
                    alerts = detector.Detect(se);
                }
#pragma warning disable CA1031 // one bad event must not stop the sensor
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    LogEventFailed(log, e.Kind, ex);
                    continue;
                }
                Observed?.Invoke(se);
                foreach (var alert in alerts)
                {
                    metrics.Alerts.WithLabels(alert.Rule ?? "").Inc();
                    metrics.Detected.Observe(SecondsSince(se.TimestampNs));
                    capture?.OnAlert(alert, se);
                    var fullId = se.Container?.FullId;
                    if (fullId is null)
                    {
                        Spool(alert, se.TimestampNs);
                        continue;
                    }
                    if (Interlocked.Increment(ref _waiting) > options.MaxWaitingAlerts)
                    {
                        Interlocked.Decrement(ref _waiting);
                        Spool(alert with { K8s = alert.K8s ?? (containers.ExpectsPods ? new KubernetesInfo { Pending = true } : null) }, se.TimestampNs);
                        continue;
                    }
                    _ = CompleteAndSpoolAsync(alert, fullId, se.TimestampNs, ct);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task CompleteAndSpoolAsync(NativeAlert alert, string fullId, ulong syscallNs, CancellationToken ct)
    {
        try
        {
            var (container, pod, pending) = await containers.WaitForPodAsync(fullId, options.PodWait, ct);
            Spool(alert with
            {
                Container = new ContainerInfo
                {
                    Id = container.Id,
                    Name = container.Name.Length > 0 ? container.Name : null,
                    Image = container.Image.Length > 0 ? container.Image : null,
                    ImageDigest = container.ImageDigest,
                },
                K8s = pod is not null
                    ? new KubernetesInfo
                    {
                        Namespace = pod.Namespace,
                        Pod = pod.Pod,
                        WorkloadKind = pod.WorkloadKind,
                        WorkloadName = pod.WorkloadName,
                        Labels = pod.Labels.Count > 0 ? pod.Labels : null,
                    }
                    : pending ? new KubernetesInfo { Pending = true } : null,
            }, syscallNs);
        }
        catch (OperationCanceledException)
        {
            // Shutting down: ship what we have rather than lose it.
            Spool(alert, syscallNs);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    private void Spool(NativeAlert alert, ulong syscallNs)
    {
        if (!spool.Enqueue(alert))
            LogSpoolFull(log, alert.Id ?? "", spool.Dropped);
        else
            metrics.Spooled.Observe(SecondsSince(syscallNs));
    }

    /// <summary>Age of a kernel timestamp (CLOCK_MONOTONIC, as Stopwatch reads it on Linux).</summary>
    internal static double SecondsSince(ulong kernelNs)
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp() * (1_000_000_000.0 / System.Diagnostics.Stopwatch.Frequency);
        return kernelNs == 0 || now < kernelNs ? 0 : (now - kernelNs) / 1e9;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {Kind} could not be processed")]
    private static partial void LogEventFailed(ILogger logger, EventKind kind, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Spool full: alert {Id} dropped ({Dropped} dropped so far)")]
    private static partial void LogSpoolFull(ILogger logger, string id, long dropped);
}

/// <summary>The sensor's own metrics, served on /metrics.</summary>
internal sealed class SensorMetrics
{
    // Detection latency buckets (seconds): fine below the 100 ms target, coarse above it.
    private static readonly double[] LatencyBuckets =
        [0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30];

    private readonly Counter.Child[] _eventsByKind;

    public SensorMetrics(CollectorRegistry registry)
    {
        var f = Metrics.WithCustomRegistry(registry);
        Events = f.CreateCounter("sensor_events_total", "Kernel events received, by type.", "type");
        // One child per kind up front: the pipeline counts every event, and a label lookup per event is measurable.
        _eventsByKind = Enum.GetValues<EventKind>().Select(k => Events.WithLabels(k.ToString().ToLowerInvariant())).ToArray();
        DetectionLatency = f.CreateHistogram("sensor_detection_latency_seconds",
            "Time from the syscall (kernel timestamp) to the alert being handed to HTTP for the first time.",
            new HistogramConfiguration { Buckets = LatencyBuckets });
        var stages = f.CreateHistogram("sensor_alert_stage_seconds",
            "Time from the syscall to a stage of the alert's way out: detected (rule fired), spooled (container metadata added, on disk).",
            new HistogramConfiguration { LabelNames = ["stage"], Buckets = LatencyBuckets });
        Detected = stages.WithLabels("detected");
        Spooled = stages.WithLabels("spooled");
        Containers = f.CreateGauge("sensor_containers_known", "Containers the sensor keeps metadata for (seen within the retention).");
        Alerts = f.CreateCounter("sensor_alerts_total", "Alerts raised, by rule.", "rule");
        KernelDrops = f.CreateGauge("sensor_kernel_drops", "Events the kernel could not queue (ring buffer full), by category.", "category");
        UserDrops = f.CreateGauge("sensor_channel_drops", "Events read from the ring buffer but lost because the pipeline channel was full.");
        SpoolDepth = f.CreateGauge("sensor_spool_depth", "Alerts waiting in the on-disk spool.");
        SpoolDropped = f.CreateGauge("sensor_spool_dropped", "Alerts dropped because the spool was full.");
        ShipLag = f.CreateGauge("sensor_ship_lag_seconds", "Time from the syscall to the service's acknowledgement of the newest shipped alert.");
        Shipped = f.CreateGauge("sensor_alerts_shipped", "Alerts acknowledged by the triage service.");
        Processes = f.CreateGauge("sensor_process_table_entries", "Processes in the process table (live and tombstones).", "state");
        EvidenceRequested = f.CreateGauge("sensor_evidence_captures_requested", "Evidence captures queued at detection time.");
        // dotnet_total_memory_bytes counts live objects only; what the GC holds from the OS (committed) and how much of
        // that is free space between objects (fragmentation) tell a managed leak or fragmentation from native growth.
        GcMemory = f.CreateGauge("sensor_gc_memory_bytes",
            "The GC's memory after the last collection: committed (held from the OS), heap (objects and free space), fragmented (free space).", "kind");
        EvidenceDropped = f.CreateGauge("sensor_evidence_captures_dropped", "Evidence captures at detection time dropped because the capture queue was full.");
        DenyEntries = f.CreateGauge("sensor_enforcement_deny_entries", "Entries of the kernel's connect deny map (cgroup and address; 1,024 at most).");
        DenyRemoved = f.CreateGauge("sensor_enforcement_removed_cgroups", "Denied cgroups whose deny entries were dropped because the cgroup (its container) was removed.");
        DenyFailures = f.CreateGauge("sensor_enforcement_deny_failures", "Deny entries that could not be programmed (map full, no cgroup v2) or removed.");
    }

    public Counter Events { get; }

    /// <summary>The events counter of one kind (cached child).</summary>
    public Counter.Child EventsOf(EventKind kind) => (uint)kind < (uint)_eventsByKind.Length ? _eventsByKind[(int)kind] : Events.WithLabels(kind.ToString().ToLowerInvariant());

    public Histogram DetectionLatency { get; }
    public Histogram.Child Detected { get; }
    public Histogram.Child Spooled { get; }
    public Gauge Containers { get; }
    public Counter Alerts { get; }
    public Gauge KernelDrops { get; }
    public Gauge UserDrops { get; }
    public Gauge SpoolDepth { get; }
    public Gauge SpoolDropped { get; }
    public Gauge ShipLag { get; }
    public Gauge Shipped { get; }
    public Gauge Processes { get; }
    public Gauge EvidenceRequested { get; }
    public Gauge EvidenceDropped { get; }
    public Gauge GcMemory { get; }
    public Gauge DenyEntries { get; }
    public Gauge DenyRemoved { get; }
    public Gauge DenyFailures { get; }
}
