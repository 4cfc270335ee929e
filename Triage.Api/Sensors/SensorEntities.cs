namespace Triage.Api.Sensors;

/// <summary>Whether the service hears from a sensor.</summary>
internal enum SensorStatus
{
    Ok,
    Silent,
}

/// <summary>The last heartbeat of one node's sensor, and its silence state. One row per node.</summary>
internal sealed class SensorRecord
{
    public string Node { get; set; } = "";
    public DateTimeOffset FirstSeen { get; set; }

    /// <summary>When the service received the last heartbeat (the service's clock: sensors' clocks may be off).</summary>
    public DateTimeOffset LastSeen { get; set; }

    public string? SensorVersion { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public double? UptimeSeconds { get; set; }
    public int? RulesLoaded { get; set; }

    /// <summary>Kernel drops by category as JSON (<c>{"exec":0,...}</c>): the categories are the sensor's to name.</summary>
    public string KernelDrops { get; set; } = "{}";

    public long? ChannelDrops { get; set; }
    public int? SpoolDepth { get; set; }
    public long? SpoolDropped { get; set; }
    public double? ShipLagSeconds { get; set; }
    public DateTimeOffset? LastEventAt { get; set; }
    public int? PodsKnown { get; set; }

    /// <summary>Set by the silence check; back to Ok by the next heartbeat.</summary>
    public SensorStatus Status { get; set; }

    /// <summary>Last heartbeat before the current silence; null while Ok.</summary>
    public DateTimeOffset? SilentSince { get; set; }

    /// <summary>The incident raised for the current (or last) silence, for the recovery's timeline entry.</summary>
    public long? SilentIncidentId { get; set; }

    /// <summary>Optimistic concurrency between heartbeats and the silence check (and between replicas).</summary>
    public int Version { get; set; }
}
