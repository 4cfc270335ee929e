namespace Triage.Contracts;

/// <summary>
/// What a sensor reports about itself every heartbeat interval, as <c>POST /api/v1/sensors/{node}/heartbeat</c>
/// (snake_case on the wire). The service keeps the last one per node and flags a node whose heartbeats stop.
/// Counters are totals since the sensor started.
/// </summary>
public sealed record SensorHeartbeat
{
    /// <summary>The node's name, as in the alerts' <c>node</c>; must equal the URL's node.</summary>
    public string? Node { get; init; }

    /// <summary>The sensor's build version.</summary>
    public string? SensorVersion { get; init; }

    /// <summary>When the sensor process started.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When this heartbeat was sent (the sensor's clock).</summary>
    public DateTimeOffset? SentAt { get; init; }

    public double? UptimeSeconds { get; init; }

    /// <summary>Rules loaded and active.</summary>
    public int? RulesLoaded { get; init; }

    /// <summary>Events the kernel could not queue (ring buffer full), by category (exec, connect, open ...).</summary>
    public IReadOnlyDictionary<string, long>? KernelDrops { get; init; }

    /// <summary>Events lost between the ring buffer and the rules because the pipeline's channel was full.</summary>
    public long? ChannelDrops { get; init; }

    /// <summary>Alerts waiting in the on-disk spool.</summary>
    public int? SpoolDepth { get; init; }

    /// <summary>Alerts dropped because the spool was full.</summary>
    public long? SpoolDropped { get; init; }

    /// <summary>Seconds from the syscall to the service's acknowledgement of the newest shipped alert.</summary>
    public double? ShipLagSeconds { get; init; }

    /// <summary>When the sensor last saw a kernel event; null when none yet.</summary>
    public DateTimeOffset? LastEventAt { get; init; }

    /// <summary>Pods of the node known from the Kubernetes API; null when the sensor does not watch pods.</summary>
    public int? PodsKnown { get; init; }
}
