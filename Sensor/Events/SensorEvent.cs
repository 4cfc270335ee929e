namespace Sensor.Events;

/// <summary>
/// One event as the rule engine sees it: a kernel event joined with the process table and the container and
/// Kubernetes context. Names follow Falco's field classes (evt, proc, fd, container, k8s) so that rule fields map
/// one to one.
/// </summary>
internal sealed class SensorEvent
{
    /// <summary>Syscall or event name as Falco spells it: execve, connect, openat, setns, ptrace, ...</summary>
    public required string Type { get; init; }

    /// <summary>'&gt;' for entry, '&lt;' for exit (Falco's evt.dir).</summary>
    public char Direction { get; init; } = '<';

    /// <summary>Return value on exit; negative is -errno (Falco's evt.res / evt.rawres).</summary>
    public long? Result { get; init; }

    /// <summary>Wall-clock time of the event.</summary>
    public DateTimeOffset Time { get; init; }

    /// <summary>Kernel monotonic timestamp of the event in nanoseconds (for latency measurement).</summary>
    public ulong TimestampNs { get; init; }

    public required ProcessSnapshot Process { get; init; }

    /// <summary>Parent first; as many as the process table knows (at least five when they exist).</summary>
    public IReadOnlyList<ProcessSnapshot> Ancestors { get; init; } = [];

    /// <summary>The file or socket the syscall used, when it used one.</summary>
    public FdInfo? Fd { get; init; }

    /// <summary>Decoded syscall arguments by name (flags, target, request, nstype, ...).</summary>
    public IReadOnlyDictionary<string, string> Args { get; init; } = new Dictionary<string, string>();

    /// <summary>Null for host processes.</summary>
    public ContainerContext? Container { get; init; }

    /// <summary>Null outside Kubernetes or while the pod is not known yet.</summary>
    public KubernetesContext? Kubernetes { get; set; }

    /// <summary>
    /// Sequence number the sensor gives each event, starting at 1 (Falco's evt.num). 0 means "not numbered": the rule
    /// engine then treats evt.num as unavailable, so Falco's <c>never_true</c> macro (<c>evt.num=0</c>) stays false.
    /// </summary>
    public ulong Number { get; init; }
}

/// <summary>A process as the process table knows it at the time of the event.</summary>
internal sealed record ProcessSnapshot
{
    public int Pid { get; init; }
    public int Ppid { get; init; }
    public string Name { get; init; } = "";

    /// <summary>argv[0] (Falco's proc.exe).</summary>
    public string Exe { get; init; } = "";

    /// <summary>Full path of the executable (Falco's proc.exepath).</summary>
    public string ExePath { get; init; } = "";

    public IReadOnlyList<string> Args { get; init; } = [];
    public int Uid { get; init; }
    public string User { get; init; } = "";

    /// <summary>Controlling terminal device number; 0 when none (Falco's proc.tty).</summary>
    public int Tty { get; init; }

    public bool IsExeUpperLayer { get; init; }
    public bool IsExeFromMemfd { get; init; }

    /// <summary>Start time in nanoseconds since boot; with the pid it names a process uniquely.</summary>
    public ulong StartTimeNs { get; init; }

    public ulong CgroupId { get; init; }

    /// <summary>Current working directory (Falco's proc.cwd); null when the sensor did not read it.</summary>
    public string? Cwd { get; init; }

    /// <summary>Audit login uid (Falco's user.loginuid); -1 when unset, as Falco prints it.</summary>
    public long LoginUid { get; init; } = -1;

    /// <summary>Effective capability mask, bit n = capability n (Falco's thread.cap_effective); null when unknown.</summary>
    public ulong? CapEffective { get; init; }

    /// <summary>Name followed by the arguments (Falco's proc.cmdline).</summary>
    public string Cmdline => Args.Count == 0 ? Name : $"{Name} {string.Join(' ', Args)}";
}

/// <summary>A file descriptor's target, with Falco's fd.* meanings.</summary>
internal sealed record FdInfo
{
    /// <summary>Path for files; "client:port->server:port" for connected sockets.</summary>
    public string Name { get; init; } = "";

    /// <summary>'f' file, '4' IPv4 socket, '6' IPv6 socket, 'u' unix socket, 'm' memfd (Falco's fd.typechar).</summary>
    public char TypeChar { get; init; }

    /// <summary>tcp, udp or empty.</summary>
    public string L4Proto { get; init; } = "";

    public string? ClientIp { get; init; }
    public int? ClientPort { get; init; }
    public string? ServerIp { get; init; }
    public int? ServerPort { get; init; }

    /// <summary>Open flags for files (O_WRONLY etc.), when known.</summary>
    public int? OpenFlags { get; init; }

    /// <summary>
    /// The descriptor number (Falco's fd.num). When null the rule engine derives it for open-family syscalls from the
    /// return value (the new fd, or -1 on failure), as Falco does.
    /// </summary>
    public long? Num { get; init; }

    /// <summary>The path exactly as the process passed it, before normalisation (Falco's fd.nameraw).</summary>
    public string? NameRaw { get; init; }

    /// <summary>True when this process accepted the socket (server side), false when it connected (client side).
    /// Decides which end fd.rip/fd.lip and fd.rport/fd.lport name.</summary>
    public bool IsServerSide { get; init; }

    /// <summary>For TCP/UDP sockets: connected (Falco's fd.connected); null when unknown.</summary>
    public bool? Connected { get; init; }

    /// <summary>True when a sendto/sendmsg changed the socket's peer (Falco's fd.name_changed); null when unknown.</summary>
    public bool? NameChanged { get; init; }
}

/// <summary>The container a process runs in.</summary>
internal sealed record ContainerContext
{
    public required string Id { get; init; }

    /// <summary>The runtime's full 64-hex id (Id is Falco's 12-character form); matches containerStatuses[].containerID.</summary>
    public string? FullId { get; init; }

    public string Name { get; init; } = "";
    public string ImageRepository { get; init; } = "";
    public string ImageTag { get; init; } = "";
    public string? ImageDigest { get; init; }
    public bool Privileged { get; init; }

    /// <summary>Repository and tag, as the runtime shows the image.</summary>
    public string Image => ImageTag.Length == 0 ? ImageRepository : $"{ImageRepository}:{ImageTag}";
}

/// <summary>The pod a container belongs to.</summary>
internal sealed record KubernetesContext
{
    public required string Namespace { get; init; }
    public required string Pod { get; init; }
    public string? WorkloadKind { get; init; }
    public string? WorkloadName { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>spec.serviceAccountName; null when the pod came from the runtime's labels only.</summary>
    public string? ServiceAccount { get; init; }

    /// <summary>spec.nodeName; null when the pod came from the runtime's labels only.</summary>
    public string? Node { get; init; }

    /// <summary>metadata.uid; null when the pod came from the runtime's labels only.</summary>
    public string? PodUid { get; init; }
}
