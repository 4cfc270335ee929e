namespace Triage.Contracts;

/// <summary>
/// Names of the node-local response actions the triage service asks a sensor to carry out, as they appear in
/// <see cref="SensorCommand.Action"/>.
/// </summary>
public static class SensorCommandActions
{
    /// <summary>Send SIGKILL to one process, after checking its start time so that a reused pid is never hit.</summary>
    public const string KillProcess = "kill_process";

    /// <summary>Capture an evidence bundle for a container (and the process that alerted) and upload it.</summary>
    public const string CaptureEvidence = "capture_evidence";
}

/// <summary>
/// One command for the sensor on a node, as returned by <c>GET /api/v1/sensors/{node}/commands</c>.
/// Delivery is at least once: a command whose result did not arrive within the lease is handed out again,
/// so the sensor treats a command id it has already carried out as done and reports the same result.
/// </summary>
public sealed record SensorCommand
{
    public long Id { get; init; }

    /// <summary>One of <see cref="SensorCommandActions"/>.</summary>
    public string Action { get; init; } = "";

    public long IncidentId { get; init; }

    /// <summary>The alert the command was derived from, when there is one; evidence is linked to it.</summary>
    public string? AlertId { get; init; }

    public SensorCommandTarget Target { get; init; } = new();

    public DateTimeOffset IssuedAt { get; init; }
}

/// <summary>What a command acts on.</summary>
public sealed record SensorCommandTarget
{
    public int? Pid { get; init; }

    /// <summary>
    /// Start time of <see cref="Pid"/> in nanoseconds since boot, as the sensor reported it in the alert.
    /// A kill is refused when the live process with that pid started at another time (the pid was reused).
    /// </summary>
    public ulong? StartTimeNs { get; init; }

    public string? ContainerId { get; init; }

    /// <summary>Whether the alert said the executable came from the container's upper layer.</summary>
    public bool? ExeUpperLayer { get; init; }
}

/// <summary>Outcome states a sensor reports for a command.</summary>
public static class SensorCommandOutcomes
{
    /// <summary>Done as asked.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>Attempted and failed (permission, runtime error).</summary>
    public const string Failed = "failed";

    /// <summary>Deliberately not done, e.g. the pid now belongs to another process or the process is already gone.</summary>
    public const string Refused = "refused";

    public static readonly IReadOnlySet<string> All = new HashSet<string>([Succeeded, Failed, Refused], StringComparer.Ordinal);
}

/// <summary>Body of <c>POST /api/v1/sensors/{node}/commands/{id}/result</c>.</summary>
public sealed record SensorCommandResult
{
    /// <summary>One of <see cref="SensorCommandOutcomes"/>.</summary>
    public string? Outcome { get; init; }

    /// <summary>One human line: what was done or why not.</summary>
    public string? Detail { get; init; }

    /// <summary>Ids of evidence artifacts uploaded for this command, if any.</summary>
    public IReadOnlyList<long>? EvidenceIds { get; init; }
}

/// <summary>Kinds of evidence artifact a sensor uploads (the <c>kind</c> query parameter of the upload).</summary>
public static class EvidenceKinds
{
    /// <summary>JSON: the processes of the container as a tree, each with pid, ppid, start time, exe and command line.</summary>
    public const string ProcessTree = "process_tree";

    /// <summary>JSON: path, SHA-256, size, whether it came from the upper layer or a memfd, of the alerting executable.</summary>
    public const string ExecutableInfo = "executable_info";

    /// <summary>The executable's bytes, copied when it came from the container's upper layer or a memfd.</summary>
    public const string Executable = "executable";

    /// <summary>JSON: the open sockets of the container's processes.</summary>
    public const string Sockets = "sockets";

    /// <summary>JSON: files added, changed or deleted in the container since it started.</summary>
    public const string FilesystemDiff = "filesystem_diff";

    /// <summary>A tar of the container's filesystem, exported while the container was paused.</summary>
    public const string FilesystemExport = "filesystem_export";

    /// <summary>A checkpoint of the container (kubelet checkpoint API / CRIU).</summary>
    public const string Checkpoint = "checkpoint";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(
        [ProcessTree, ExecutableInfo, Executable, Sockets, FilesystemDiff, FilesystemExport, Checkpoint],
        StringComparer.Ordinal);
}

/// <summary>Answer to an evidence upload.</summary>
public sealed record EvidenceUploaded(long Id, string? Sha256, long Size);
