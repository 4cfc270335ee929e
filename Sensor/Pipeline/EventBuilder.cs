using System.Globalization;
using Sensor.Containers;
using Sensor.Events;
using Sensor.Kernel;
using Sensor.Processes;

namespace Sensor.Pipeline;

/// <summary>
/// Turns a kernel event into the rule engine's <see cref="SensorEvent"/>: Falco's event names, decoded arguments,
/// the fd, the process and its ancestors from the process table, and the container the cgroup names.
/// </summary>
internal sealed class EventBuilder(ProcessTable processes, ContainerDirectory containers, TimeProvider time)
{
    private ulong _number;

    // Kernel timestamps are CLOCK_MONOTONIC; wall time = now - (monotonic now - event).
    private static DateTimeOffset WallClock(TimeProvider time, ulong eventNs)
    {
        var nowMono = (ulong)(System.Diagnostics.Stopwatch.GetTimestamp() * (1_000_000_000.0 / System.Diagnostics.Stopwatch.Frequency));
        var ageNs = nowMono > eventNs ? nowMono - eventNs : 0;
        return time.GetUtcNow() - TimeSpan.FromTicks((long)(ageNs / 100));
    }

    /// <summary>Updates the process table; returns the event for the rules, or null for fork and exit.</summary>
    public SensorEvent? Build(KernelEvent e)
    {
        var process = processes.Apply(e);
        if (e.Kind is EventKind.Fork or EventKind.Exit)
            return null;
        var ancestors = processes.Ancestors(process);
        var containerId = ContainerIds.FromCgroupLeaf(e.CgroupName.Length > 0 ? e.CgroupName : process.CgroupName);
        return new SensorEvent
        {
            Type = TypeName(e),
            Direction = '<',
            Result = e.Kind == EventKind.Exec ? 0 : e.Result,
            Time = WallClock(time, e.TimestampNs),
            TimestampNs = e.TimestampNs,
            // The cgroup the kernel saw at this syscall: a table entry can predate a move (runc joins the container's
            // cgroup after it forked), and enforcement keys on the cgroup the process is in now.
            Process = process.ToEventSnapshot(e.LoginUid == uint.MaxValue ? -1 : e.LoginUid, e.CgroupId != 0 ? e.CgroupId : process.CgroupId,
                keep: e.Kind != EventKind.Exec),
            Ancestors = Snapshots(ancestors),
            Fd = Fd(e),
            Args = Args(e),
            Container = containerId is null ? null : containers.Get(containerId),
            Kubernetes = containerId is null ? null : containers.Pod(containerId),
            Number = ++_number,
        };
    }

    private static ProcessSnapshot[] Snapshots(IReadOnlyList<ProcessEntry> entries)
    {
        if (entries.Count == 0)
            return [];
        var snapshots = new ProcessSnapshot[entries.Count];
        for (var i = 0; i < snapshots.Length; i++)
            snapshots[i] = entries[i].ToSnapshot();
        return snapshots;
    }

    internal static string TypeName(KernelEvent e) => e.Kind switch
    {
        EventKind.Exec => "execve",
        EventKind.Connect or EventKind.ConnectDenied => "connect",
        EventKind.Open => e.Syscall switch { 2 => "open", 437 => "openat2", _ => "openat" },
        EventKind.Setns => "setns",
        EventKind.Unshare => "unshare",
        EventKind.Mount => "mount",
        EventKind.Ptrace => "ptrace",
        EventKind.Module => e.Syscall == 175 ? "init_module" : "finit_module",
        EventKind.Bpf => "bpf",
        EventKind.MemfdCreate => "memfd_create",
        EventKind.Dup => e.Syscall == 33 ? "dup2" : "dup3",
        _ => e.Kind.ToString().ToLowerInvariant(),
    };

    /// <summary>The Falco event types this sensor can produce, mapped to the kernel kinds that produce them.</summary>
    public static readonly IReadOnlyDictionary<string, EventKind> KindsByType = new Dictionary<string, EventKind>(StringComparer.Ordinal)
    {
        ["execve"] = EventKind.Exec,
        ["execveat"] = EventKind.Exec,
        ["connect"] = EventKind.Connect,
        ["open"] = EventKind.Open,
        ["openat"] = EventKind.Open,
        ["openat2"] = EventKind.Open,
        ["setns"] = EventKind.Setns,
        ["unshare"] = EventKind.Unshare,
        ["mount"] = EventKind.Mount,
        ["ptrace"] = EventKind.Ptrace,
        ["init_module"] = EventKind.Module,
        ["finit_module"] = EventKind.Module,
        ["bpf"] = EventKind.Bpf,
        ["memfd_create"] = EventKind.MemfdCreate,
        ["dup"] = EventKind.Dup,
        ["dup2"] = EventKind.Dup,
        ["dup3"] = EventKind.Dup,
    };

    // Falco renders evt.arg.request of ptrace by name (PTRACE_ATTACH); rules written for Falco compare with the names.
    private static readonly Dictionary<ulong, string> PtraceRequests = new()
    {
        [0] = "PTRACE_TRACEME", [1] = "PTRACE_PEEKTEXT", [2] = "PTRACE_PEEKDATA", [3] = "PTRACE_PEEKUSR",
        [4] = "PTRACE_POKETEXT", [5] = "PTRACE_POKEDATA", [6] = "PTRACE_POKEUSR", [7] = "PTRACE_CONT", [8] = "PTRACE_KILL",
        [9] = "PTRACE_SINGLESTEP", [12] = "PTRACE_GETREGS", [13] = "PTRACE_SETREGS", [14] = "PTRACE_GETFPREGS",
        [15] = "PTRACE_SETFPREGS", [16] = "PTRACE_ATTACH", [17] = "PTRACE_DETACH", [18] = "PTRACE_GETFPXREGS",
        [19] = "PTRACE_SETFPXREGS", [24] = "PTRACE_SYSCALL", [0x4200] = "PTRACE_SETOPTIONS", [0x4201] = "PTRACE_GETEVENTMSG",
        [0x4202] = "PTRACE_GETSIGINFO", [0x4203] = "PTRACE_SETSIGINFO", [0x4204] = "PTRACE_GETREGSET",
        [0x4205] = "PTRACE_SETREGSET", [0x4206] = "PTRACE_SEIZE", [0x4207] = "PTRACE_INTERRUPT", [0x4208] = "PTRACE_LISTEN",
        [0x4209] = "PTRACE_PEEKSIGINFO",
    };

    internal static string PtraceRequest(ulong request) =>
        PtraceRequests.TryGetValue(request, out var name) ? name : request.ToString(CultureInfo.InvariantCulture);

    private static FdInfo? Fd(KernelEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Connect or EventKind.ConnectDenied when e.Address is { } a:
            {
                var v6 = a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
                var ip = a.Address.ToString();
                return new FdInfo
                {
                    Name = v6 ? $"->[{ip}]:{a.Port}" : $"->{ip}:{a.Port}",
                    TypeChar = v6 ? '6' : '4',
                    L4Proto = "tcp",
                    ServerIp = ip,
                    ServerPort = a.Port,
                    Num = (long)e.Args[0],
                    Connected = e.Result == 0,
                };
            }
            case EventKind.Open:
                return new FdInfo
                {
                    Name = e.Path,
                    NameRaw = e.Path,
                    TypeChar = 'f',
                    OpenFlags = (int)e.Args[5],
                };
            case EventKind.Dup when e.Address is { } peer:
            {
                // The kernel sent the peer and the local port; Falco names a socket client:port->server:port.
                var v6 = peer.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
                var server = e.Flags.HasFlag(EventFlags.DupServer);
                var local = (int)e.Args[2];
                var remote = peer.Address.ToString();
                string Endpoint(string? ip, int port) => ip is null ? $":{port}" : v6 ? $"[{ip}]:{port}" : $"{ip}:{port}";
                return new FdInfo
                {
                    Name = server ? $"{Endpoint(remote, peer.Port)}->{Endpoint(null, local)}" : $"{Endpoint(null, local)}->{Endpoint(remote, peer.Port)}",
                    TypeChar = v6 ? '6' : '4',
                    L4Proto = e.Args[3] switch { 6 => "tcp", 17 => "udp", _ => "" },
                    IsServerSide = server,
                    ClientIp = server ? remote : null,
                    ClientPort = server ? peer.Port : local,
                    ServerIp = server ? null : remote,
                    ServerPort = server ? local : peer.Port,
                    Num = (long)e.Args[1],
                    Connected = peer.Port != 0,
                };
            }
            case EventKind.Dup:
                // Not an IP socket (unix, netlink): a reverse shell needs a network peer.
                return new FdInfo { Name = "socket", TypeChar = 'u', Num = (long)e.Args[1] };
            default:
                return null;
        }
    }

    private static Dictionary<string, string> Args(KernelEvent e)
    {
        var c = CultureInfo.InvariantCulture;
        return e.Kind switch
        {
            EventKind.Exec => new() { ["filename"] = e.Path },
            EventKind.Connect or EventKind.ConnectDenied => new()
            {
                ["fd"] = ((long)e.Args[0]).ToString(c),
                ["addr"] = e.Address?.ToString() ?? "",
            },
            EventKind.Open => new() { ["name"] = e.Path, ["flags"] = e.Args[5].ToString(c) },
            EventKind.Setns => new() { ["fd"] = ((long)e.Args[0]).ToString(c), ["nstype"] = e.Args[1].ToString(c) },
            EventKind.Unshare => new() { ["flags"] = e.Args[0].ToString(c) },
            EventKind.Mount => new() { ["dev"] = e.Path2, ["dir"] = e.Path, ["flags"] = e.Args[3].ToString(c) },
            EventKind.Ptrace => new() { ["request"] = PtraceRequest(e.Args[0]), ["pid"] = ((long)e.Args[1]).ToString(c) },
            EventKind.Bpf => new() { ["cmd"] = e.Args[0].ToString(c) },
            EventKind.MemfdCreate => new() { ["name"] = e.Path, ["flags"] = e.Args[1].ToString(c) },
            EventKind.Dup => new() { ["oldfd"] = e.Args[0].ToString(c), ["newfd"] = e.Args[1].ToString(c) },
            _ => [],
        };
    }
}
