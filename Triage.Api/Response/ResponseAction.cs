namespace Triage.Api.Response;

/// <summary>Where a response action stands.</summary>
public enum ResponseActionStatus
{
    /// <summary>Waiting for the node's sensor to fetch it.</summary>
    Pending = 0,

    /// <summary>Handed to the sensor; waiting for its result.</summary>
    Delivered = 1,

    Succeeded = 2,
    Failed = 3,

    /// <summary>Deliberately not done (the pid was reused, the process is already gone).</summary>
    Refused = 4,

    /// <summary>No sensor fetched it or answered within <c>response.command_timeout</c>.</summary>
    Expired = 5,
}

/// <summary>
/// One requested response action and its outcome. Node-local actions (kill a process, capture evidence) are also
/// the sensor's command queue: <see cref="Node"/> names the sensor that must carry them out.
/// </summary>
internal sealed class ResponseAction
{
    public long Id { get; set; }
    public long IncidentId { get; set; }

    /// <summary>kill_process, isolate_pod, unisolate_pod or capture_evidence.</summary>
    public string Action { get; set; } = "";

    /// <summary>Person name, or <c>system</c> for automatic actions.</summary>
    public string Actor { get; set; } = "";

    public string Channel { get; set; } = "";

    /// <summary>Started by a <c>response.automatic</c> rule rather than a person.</summary>
    public bool Automatic { get; set; }

    public ResponseActionStatus Status { get; set; }
    public DateTimeOffset RequestedAt { get; set; }
    public DateTimeOffset? DeliveredAt { get; set; }
    public int Deliveries { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }

    /// <summary>One human line: what happened, or why not.</summary>
    public string? Detail { get; set; }

    /// <summary>The sensor's node for node-local actions; null for actions the service carries out itself.</summary>
    public string? Node { get; set; }

    public string? AlertId { get; set; }
    public int? Pid { get; set; }

    /// <summary>Process start time in ns since boot (stored signed; boot-relative nanoseconds fit easily).</summary>
    public long? StartTimeNs { get; set; }

    public string? ContainerId { get; set; }
    public bool? ExeUpperLayer { get; set; }
    public string? Namespace { get; set; }
    public string? Pod { get; set; }
}
