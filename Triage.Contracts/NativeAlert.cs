using System.Text.Json.Nodes;

namespace Triage.Contracts;

/// <summary>
/// One runtime alert as the sensor sends it to <c>POST /api/v1/alerts</c> (snake_case on the wire).
/// Members are nullable so that a receiver can name every missing field instead of failing on the first;
/// <see cref="NativeAlertValidator"/> states which ones are required.
/// </summary>
public sealed record NativeAlert
{
    /// <summary>Unique id chosen by the sender; a retried post with the same id is stored once.</summary>
    public string? Id { get; init; }

    /// <summary>When the syscall that fired the rule happened.</summary>
    public DateTimeOffset? Time { get; init; }

    /// <summary>Host name of the node the sensor runs on.</summary>
    public string? Node { get; init; }

    /// <summary>Name of the rule that fired.</summary>
    public string? Rule { get; init; }

    /// <summary>One of Falco's priority names (<see cref="AlertPriorities.Names"/>).</summary>
    public string? Priority { get; init; }

    /// <summary>Rule tags; MITRE ATT&amp;CK ids (T1552.005) and tactics (mitre_credential_access) among them.</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>Where the alert came from: <c>sensor</c> (default) or <c>falco</c>.</summary>
    public string? Source { get; init; }

    /// <summary>The syscall that fired the rule.</summary>
    public SyscallInfo? Syscall { get; init; }

    /// <summary>The process that made the syscall.</summary>
    public ProcessInfo? Process { get; init; }

    /// <summary>The process's ancestors, parent first; the sensor sends at least five when they exist.</summary>
    public IReadOnlyList<AncestorInfo>? Ancestors { get; init; }

    /// <summary>The container the process ran in; absent for host processes.</summary>
    public ContainerInfo? Container { get; init; }

    /// <summary>Kubernetes context of the container; absent outside Kubernetes.</summary>
    public KubernetesInfo? K8s { get; init; }

    /// <summary>One human-readable line, the rule's output with fields substituted.</summary>
    public string? Output { get; init; }

    /// <summary>Field values by Falco's field names (<c>proc.cmdline</c>, <c>fd.sip</c>, ...).</summary>
    public IReadOnlyDictionary<string, JsonNode?>? OutputFields { get; init; }

    /// <summary>Name of the runbook the rule points to, when the rule names one.</summary>
    public string? Runbook { get; init; }

    /// <summary>What the sensor enforced on its own (connect denied, process killed), when anything.</summary>
    public IReadOnlyList<string>? Enforced { get; init; }
}

/// <summary>The syscall that fired a rule.</summary>
public sealed record SyscallInfo
{
    /// <summary>Syscall name, e.g. <c>connect</c>.</summary>
    public string? Name { get; init; }

    /// <summary>Decoded arguments by name, e.g. <c>addr</c> = <c>169.254.169.254:80</c>.</summary>
    public IReadOnlyDictionary<string, string>? Args { get; init; }

    /// <summary>Return value; negative values are -errno. Absent when the rule fired on entry.</summary>
    public long? Return { get; init; }
}

/// <summary>A process as the sensor saw it.</summary>
public sealed record ProcessInfo
{
    public int? Pid { get; init; }
    public string? Name { get; init; }
    public string? Exe { get; init; }
    public string? Cmdline { get; init; }
    public int? Uid { get; init; }
    public string? User { get; init; }

    /// <summary>True when the executable was written or changed in the container's upper layer after start.</summary>
    public bool? ExeUpperLayer { get; init; }

    /// <summary>Process start time in nanoseconds since boot; lets a responder refuse to act on a reused pid.</summary>
    public ulong? StartTimeNs { get; init; }
}

/// <summary>An ancestor of the alerting process.</summary>
public sealed record AncestorInfo
{
    public int? Pid { get; init; }
    public string? Exe { get; init; }
    public string? Cmdline { get; init; }
}

/// <summary>A container.</summary>
public sealed record ContainerInfo
{
    public string? Id { get; init; }

    /// <summary>Image reference as the runtime reports it, e.g. <c>registry/app:1.4</c>.</summary>
    public string? Image { get; init; }

    public string? ImageDigest { get; init; }
    public string? Name { get; init; }
}

/// <summary>Kubernetes context of a container.</summary>
public sealed record KubernetesInfo
{
    public string? Namespace { get; init; }
    public string? Pod { get; init; }

    /// <summary>Kind of the owning workload: Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod.</summary>
    public string? WorkloadKind { get; init; }

    public string? WorkloadName { get; init; }
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>
    /// True when the sensor could not resolve the pod in time and shipped the alert anyway;
    /// the service completes the context during enrichment.
    /// </summary>
    public bool? Pending { get; init; }
}
