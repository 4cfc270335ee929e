using Triage.Contracts;

namespace Triage.Api.Persistence;

/// <summary>Lifecycle of an incident: triggered → acknowledged → resolved. A resolved incident never reopens.</summary>
public enum IncidentStatus
{
    Triggered = 0,
    Acknowledged = 1,
    Resolved = 2,
}

/// <summary>A group of alerts with the same fingerprint; the unit people own, are paged for and act on.</summary>
internal sealed class Incident
{
    public long Id { get; set; }

    /// <summary>What groups alerts: rule + namespace + workload, or rule + image + node without Kubernetes.</summary>
    public string Fingerprint { get; set; } = "";

    /// <summary>
    /// Equal to <see cref="Fingerprint"/> while new alerts may still join this incident, null afterwards.
    /// A unique index on it keeps concurrent writers (several replicas) from opening two incidents for one fingerprint.
    /// </summary>
    public string? OpenFingerprint { get; set; }

    public string Rule { get; set; } = "";
    public string Title { get; set; } = "";
    public AlertPriority Priority { get; set; }
    public IncidentStatus Status { get; set; }
    public int AlertCount { get; set; }
    public DateTimeOffset FirstSeen { get; set; }
    public DateTimeOffset LastSeen { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public string? Namespace { get; set; }
    public string? WorkloadKind { get; set; }
    public string? WorkloadName { get; set; }
    public string? Pod { get; set; }
    public string? Image { get; set; }
    public string Node { get; set; } = "";
    public string Source { get; set; } = "";

    /// <summary>The owning team once enrichment decided it; null until then.</summary>
    public string? OwnerTeam { get; set; }

    /// <summary>
    /// Set while every alert of this incident is covered by that suppression (a vote made it, or suppressed alerts
    /// opened it); cleared by the first alert outside it. Routing, notification and paging must not page for an
    /// incident with a suppression.
    /// </summary>
    public long? SuppressionId { get; set; }

    /// <summary>Tags of the alerts, deduplicated, in first-seen order.</summary>
    public List<string> Tags { get; set; } = [];

    public DateTimeOffset? AcknowledgedAt { get; set; }
    public string? AcknowledgedBy { get; set; }
    public DateTimeOffset? ResolvedAt { get; set; }
    public string? ResolvedBy { get; set; }

    /// <summary>
    /// Set in the same transaction as any change; cleared once every incident observer (enrichment, routing,
    /// notification) has handled the change. Survives restarts, so no change goes unprocessed.
    /// </summary>
    public bool NeedsProcessing { get; set; }

    /// <summary>
    /// Optimistic concurrency: incremented on every change that observers act on or that the ingest writer's memory
    /// depends on (status, priority, tags, suppression, resolution). Ingest's relative updates of the alert count
    /// and first/last seen do not increment it (they are announced at most every <c>ingest.count_refresh_interval</c>).
    /// </summary>
    public int Version { get; set; }

    public List<StoredAlert> Alerts { get; set; } = [];
    public List<TimelineEntry> Timeline { get; set; } = [];
}

/// <summary>An alert as received, stored once per id, always attached to an incident.</summary>
internal sealed class StoredAlert
{
    public string Id { get; set; } = "";
    public long IncidentId { get; set; }
    public DateTimeOffset Time { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }
    public string Source { get; set; } = "";
    public string Rule { get; set; } = "";
    public AlertPriority Priority { get; set; }
    public string Node { get; set; } = "";
    public string? Namespace { get; set; }
    public string? Pod { get; set; }
    public string? ContainerId { get; set; }

    /// <summary>The whole alert as JSON (the native model, after mapping for Falco input).</summary>
    public string Payload { get; set; } = "";

    /// <summary>The active suppression that covered this alert when it arrived; it was stored and counted, not paged.</summary>
    public long? SuppressionId { get; set; }
}

/// <summary>One append-only entry in an incident's history: when, who, through what channel, what changed.</summary>
internal sealed class TimelineEntry
{
    public long Id { get; set; }
    public long IncidentId { get; set; }
    public DateTimeOffset At { get; set; }

    /// <summary>A person's name, or <c>system</c>.</summary>
    public string Actor { get; set; } = "";

    /// <summary>Where it came from: <c>ingest</c>, <c>api</c>, <c>slack</c>, <c>teams</c>, <c>scheduler</c>, ...</summary>
    public string Channel { get; set; } = "";

    /// <summary>Machine-readable kind: <c>created</c>, <c>acknowledged</c>, <c>resolved</c>, <c>priority_raised</c>, ...</summary>
    public string Kind { get; set; } = "";

    /// <summary>Human-readable detail.</summary>
    public string Detail { get; set; } = "";
}
