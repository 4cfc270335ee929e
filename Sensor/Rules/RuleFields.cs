using System.Globalization;
using Sensor.Events;
using Sensor.Rules.Syntax;

namespace Sensor.Rules;

internal enum FieldType
{
    String,
    Number,
    Bool,
}

/// <summary>How string values of a field compare: plainly, as IP addresses, or as an IP against CIDR networks.</summary>
internal enum FieldFlavor
{
    Plain,
    Ip,
    Net,
}

/// <summary>Whether a field takes an argument in brackets (<c>proc.aname[2]</c>).</summary>
internal enum FieldArgument
{
    None,
    Optional,
    Required,
}

/// <summary>A field bound to its argument, ready to extract from an event. Exactly one extractor is set.</summary>
internal sealed class BoundField
{
    public required string Name { get; init; }
    public FieldType Type { get; init; }
    public FieldFlavor Flavor { get; init; }
    public Func<EventView, string?>? Text { get; init; }
    public Func<EventView, long?>? Number { get; init; }
    public Func<EventView, bool?>? Bool { get; init; }

    /// <summary>A field with several values (proc.aname without index): a comparison holds when it holds for any.</summary>
    public Func<EventView, IReadOnlyList<string>>? Many { get; init; }

    /// <summary>The value for outputs: string, long, bool or null when it cannot be extracted.</summary>
    public object? Extract(EventView view)
    {
        if (Text is not null)
        {
            return Text(view);
        }

        if (Number is not null)
        {
            return Number(view);
        }

        if (Bool is not null)
        {
            return Bool(view);
        }

        var many = Many!(view);
        return many.Count == 0 ? null : string.Join(',', many);
    }
}

/// <summary>One supported field: Falco's name and meaning, and where in <see cref="SensorEvent"/> it comes from.</summary>
internal sealed record FieldInfo(
    string Name,
    FieldType Type,
    FieldArgument Argument,
    string Description,
    string Source,
    Func<string?, BoundField?> Bind);

/// <summary>
/// The fields the engine understands, with Falco's names and meanings. A value that cannot be extracted (no container,
/// no socket, unknown ancestor) is null; as in Falco, every comparison on a null value is false except that
/// <c>not</c> turns it true, and <c>exists</c> tests for it.
/// </summary>
internal static class RuleFields
{
    /// <summary>Syscall arguments the sensor decodes into <see cref="SensorEvent.Args"/> (Falco's evt.arg.NAME).</summary>
    public static readonly IReadOnlySet<string> KnownArguments = new HashSet<string>(StringComparer.Ordinal)
    {
        "flags", "mode", "request", "domain", "type", "protocol", "target", "linkpath", "oldpath", "newpath", "path",
        "name", "filename", "fd", "oldfd", "newfd", "addr", "tuple", "nstype", "pid", "sig", "dirfd", "cmd", "uid",
        "gid", "dev", "dir", "fstype", "res", "exe_flags",
    };

    private static readonly string[] CapabilityNames =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    private static readonly Dictionary<long, string> ErrnoNames = new()
    {
        [1] = "EPERM", [2] = "ENOENT", [3] = "ESRCH", [4] = "EINTR", [5] = "EIO", [6] = "ENXIO", [7] = "E2BIG",
        [8] = "ENOEXEC", [9] = "EBADF", [10] = "ECHILD", [11] = "EAGAIN", [12] = "ENOMEM", [13] = "EACCES",
        [14] = "EFAULT", [16] = "EBUSY", [17] = "EEXIST", [18] = "EXDEV", [20] = "ENOTDIR", [21] = "EISDIR",
        [22] = "EINVAL", [28] = "ENOSPC", [30] = "EROFS", [36] = "ENAMETOOLONG", [38] = "ENOSYS", [39] = "ENOTEMPTY",
        [40] = "ELOOP", [95] = "EOPNOTSUPP", [97] = "EAFNOSUPPORT", [98] = "EADDRINUSE", [101] = "ENETUNREACH",
        [104] = "ECONNRESET", [107] = "ENOTCONN", [110] = "ETIMEDOUT", [111] = "ECONNREFUSED", [113] = "EHOSTUNREACH",
        [115] = "EINPROGRESS",
    };

    private static readonly HashSet<string> OpenSyscalls =
        new(StringComparer.Ordinal) { "open", "openat", "openat2", "creat" };

    private static readonly Dictionary<string, FieldInfo> ByName = Build().ToDictionary(f => f.Name, StringComparer.Ordinal);

    /// <summary>All supported fields in documentation order.</summary>
    public static IReadOnlyList<FieldInfo> All { get; } = Build();

    /// <summary>Binds a field reference; null with <paramref name="error"/> when the field is not supported.</summary>
    public static BoundField? TryBind(FieldRef field, out string? error)
    {
        error = null;
        var name = field.Name;
        var argument = field.Argument;
        if (name.StartsWith("evt.arg.", StringComparison.Ordinal) && argument is null)
        {
            argument = name["evt.arg.".Length..];
            name = "evt.arg";
        }

        if (!ByName.TryGetValue(name, out var info))
        {
            error = $"field '{field}' is not provided by the sensor";
            return null;
        }

        if (info.Argument == FieldArgument.None && argument is not null)
        {
            error = $"field '{name}' takes no argument";
            return null;
        }

        if (info.Argument == FieldArgument.Required && argument is null)
        {
            error = $"field '{name}' needs an argument";
            return null;
        }

        var bound = info.Bind(argument);
        if (bound is null)
        {
            error = $"field '{field}' is not provided by the sensor (unsupported argument '{argument}')";
        }

        return bound;
    }

    /// <summary>Falco's rendering of evt.res: SUCCESS, or the errno name of a failure.</summary>
    public static string? ResultName(long? result) =>
        result switch
        {
            null => null,
            >= 0 => "SUCCESS",
            _ => ErrnoNames.TryGetValue(-result.Value, out var name) ? name : result.Value.ToString(CultureInfo.InvariantCulture),
        };

    /// <summary>Falco's rendering of a capability mask: names separated by spaces.</summary>
    public static string CapabilitiesText(ulong mask)
    {
        var names = new List<string>();
        for (var bit = 0; bit < CapabilityNames.Length; bit++)
        {
            if ((mask & (1UL << bit)) != 0)
            {
                names.Add(CapabilityNames[bit]);
            }
        }

        return string.Join(' ', names);
    }

    /// <summary>Falco's rendering of open flags (O_RDONLY|O_CLOEXEC ...).</summary>
    public static string OpenFlagsText(int flags)
    {
        var parts = new List<string>
        {
            (flags & 3) switch { 0 => "O_RDONLY", 1 => "O_WRONLY", _ => "O_RDWR" },
        };
        (int Bit, string Name)[] known =
        [
            (0x40, "O_CREAT"), (0x80, "O_EXCL"), (0x100, "O_NOCTTY"), (0x200, "O_TRUNC"), (0x400, "O_APPEND"),
            (0x800, "O_NONBLOCK"), (0x1000, "O_DSYNC"), (0x10000, "O_DIRECTORY"), (0x20000, "O_NOFOLLOW"),
            (0x80000, "O_CLOEXEC"), (0x200000, "O_PATH"), (0x400000, "O_TMPFILE"),
        ];
        foreach (var (bit, name) in known)
        {
            if ((flags & bit) == bit)
            {
                parts.Add(name);
            }
        }

        return string.Join('|', parts);
    }

    private static List<FieldInfo> Build()
    {
        var fields = new List<FieldInfo>();

        void Text(string name, string description, string source, Func<EventView, string?> get) =>
            fields.Add(new(name, FieldType.String, FieldArgument.None, description, source,
                arg => new BoundField { Name = name, Type = FieldType.String, Text = get }));

        void Ip(string name, string description, string source, Func<EventView, string?> get) =>
            fields.Add(new(name, FieldType.String, FieldArgument.None, description, source,
                arg => new BoundField { Name = name, Type = FieldType.String, Flavor = FieldFlavor.Ip, Text = get }));

        void Net(string name, string description, string source, Func<EventView, IReadOnlyList<string>> get) =>
            fields.Add(new(name, FieldType.String, FieldArgument.None, description, source,
                arg => new BoundField { Name = name, Type = FieldType.String, Flavor = FieldFlavor.Net, Many = get }));

        void Num(string name, string description, string source, Func<EventView, long?> get) =>
            fields.Add(new(name, FieldType.Number, FieldArgument.None, description, source,
                arg => new BoundField { Name = name, Type = FieldType.Number, Number = get }));

        void Flag(string name, string description, string source, Func<EventView, bool?> get) =>
            fields.Add(new(name, FieldType.Bool, FieldArgument.None, description, source,
                arg => new BoundField { Name = name, Type = FieldType.Bool, Bool = get }));

        void Ancestor(string name, FieldType type, string description, string source, Func<ProcessSnapshot, object> get,
            Func<EventView, IReadOnlyList<string>>? any) =>
            fields.Add(new(name, type, any is null ? FieldArgument.Required : FieldArgument.Optional, description, source, arg =>
            {
                if (arg is null)
                {
                    return new BoundField { Name = name, Type = type, Many = any };
                }

                if (!int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out var level))
                {
                    return null;
                }

                var display = $"{name}[{level}]";
                return type == FieldType.Number
                    ? new BoundField { Name = display, Type = type, Number = v => v.Ancestor(level) is { } p ? (long)(int)get(p) : null }
                    : new BoundField { Name = display, Type = type, Text = v => v.Ancestor(level) is { } p ? (string)get(p) : null };
            }));

        // evt.*
        Text("evt.type", "Syscall or event name (execve, openat, connect, ...)", "Type", v => v.Event.Type);
        Text("evt.dir", "'<' exit, '>' entry", "Direction", v => v.Event.Direction.ToString());
        Text("evt.res", "SUCCESS, or the errno name (ENOENT, EPERM, ...) of a failed call", "Result", v => ResultName(v.Event.Result));
        Num("evt.rawres", "The return value as a number; negative is -errno", "Result", v => v.Event.Result);
        Flag("evt.failed", "True when the call returned an error", "Result", v => v.Event.Result is { } r ? r < 0 : null);
        Num("evt.num", "Event sequence number, from 1 (unavailable when the sensor does not number events)", "Number",
            v => v.Event.Number == 0 ? null : (long)v.Event.Number);
        Flag("evt.is_open_read", "open-family call opened the file for reading", "Fd.OpenFlags",
            v => OpenSyscalls.Contains(v.Event.Type) && v.Event.Fd?.OpenFlags is { } f ? (f & 3) is 0 or 2 : null);
        Flag("evt.is_open_write", "open-family call opened the file for writing", "Fd.OpenFlags",
            v => OpenSyscalls.Contains(v.Event.Type) && v.Event.Fd?.OpenFlags is { } f ? (f & 3) is 1 or 2 : null);
        fields.Add(new("evt.arg", FieldType.String, FieldArgument.Required,
            "A decoded syscall argument by name: evt.arg.flags, evt.arg.request, evt.arg.domain, evt.arg.target, ...", "Args",
            arg => arg is not null && KnownArguments.Contains(arg)
                ? new BoundField { Name = $"evt.arg.{arg}", Type = FieldType.String, Text = v => Argument(v, arg) }
                : null));
        Text("evt.args", "All decoded arguments as name=value pairs", "Args",
            v => string.Join(' ', v.Event.Args.Select(a => $"{a.Key}={a.Value}")));

        // proc.*, user.*, thread.*
        Text("proc.name", "Process name (comm, at most 15 characters)", "Process.Name", v => v.Event.Process.Name);
        Text("proc.exe", "argv[0]", "Process.Exe", v => v.Event.Process.Exe);
        Text("proc.exepath", "Full path of the executable", "Process.ExePath", v => v.Event.Process.ExePath);
        Text("proc.cmdline", "Name followed by the arguments", "Process.Name, Process.Args", v => v.Cmdline);
        Text("proc.args", "The arguments joined by spaces", "Process.Args", v => v.Args);
        Num("proc.pid", "Process id", "Process.Pid", v => v.Event.Process.Pid);
        Num("proc.ppid", "Parent process id", "Process.Ppid", v => v.Event.Process.Ppid);
        Text("proc.pname", "Parent's name", "Ancestors[0].Name", v => v.Parent?.Name);
        Text("proc.pcmdline", "Parent's command line", "Ancestors[0]", v => v.ParentCmdline);
        Text("proc.pexe", "Parent's argv[0]", "Ancestors[0].Exe", v => v.Parent?.Exe);
        Text("proc.pexepath", "Parent's executable path", "Ancestors[0].ExePath", v => v.Parent?.ExePath);
        Ancestor("proc.aname", FieldType.String,
            "Ancestor name: [0] self, [1] parent, [2] grandparent; without index, any ancestor", "Ancestors[].Name",
            p => p.Name, v => v.AncestorNames);
        Ancestor("proc.apid", FieldType.Number, "Ancestor pid, indexed like proc.aname", "Ancestors[].Pid", p => p.Pid, null);
        Ancestor("proc.aexe", FieldType.String, "Ancestor argv[0], indexed like proc.aname", "Ancestors[].Exe", p => p.Exe, null);
        Ancestor("proc.aexepath", FieldType.String, "Ancestor executable path, indexed like proc.aname", "Ancestors[].ExePath",
            p => p.ExePath, null);
        Ancestor("proc.acmdline", FieldType.String, "Ancestor command line, indexed like proc.aname", "Ancestors[].Cmdline",
            p => p.Cmdline, null);
        Num("proc.tty", "Controlling terminal; 0 when none", "Process.Tty", v => v.Event.Process.Tty);
        Flag("proc.is_exe_upper_layer", "Executable lives in the overlayfs upper layer (written after the container started)",
            "Process.IsExeUpperLayer", v => v.Event.Process.IsExeUpperLayer);
        Flag("proc.is_exe_from_memfd", "Executable is a memfd (fileless execution)", "Process.IsExeFromMemfd",
            v => v.Event.Process.IsExeFromMemfd);
        Text("proc.cwd", "Current working directory", "Process.Cwd", v => v.Event.Process.Cwd);
        Num("proc.duration", "Nanoseconds since the process started", "TimestampNs, Process.StartTimeNs",
            v => v.Event.TimestampNs != 0 && v.Event.Process.StartTimeNs != 0 && v.Event.TimestampNs >= v.Event.Process.StartTimeNs
                ? (long)(v.Event.TimestampNs - v.Event.Process.StartTimeNs)
                : null);
        Num("user.uid", "User id", "Process.Uid", v => v.Event.Process.Uid);
        Text("user.name", "User name", "Process.User", v => v.Event.Process.User);
        Num("user.loginuid", "Audit login uid; -1 when unset", "Process.LoginUid", v => v.Event.Process.LoginUid);
        Text("thread.cap_effective", "Effective capabilities, names separated by spaces", "Process.CapEffective",
            v => v.Event.Process.CapEffective is { } caps ? CapabilitiesText(caps) : null);

        // fd.*
        Text("fd.name", "Path for files; client:port->server:port for sockets", "Fd.Name", v => v.Event.Fd?.Name);
        Text("fd.nameraw", "The path as the process passed it", "Fd.NameRaw", v => v.Event.Fd is { } fd ? fd.NameRaw ?? fd.Name : null);
        Text("fd.directory", "Directory part of a file path", "Fd.Name", v => FileDirectory(v.Event.Fd));
        Text("fd.filename", "File name part of a file path", "Fd.Name", v => FileName(v.Event.Fd));
        Text("fd.typechar", "f file, d directory, 4 IPv4, 6 IPv6, u unix, p pipe, m memfd", "Fd.TypeChar",
            v => v.Event.Fd is { TypeChar: not '\0' } fd ? fd.TypeChar.ToString() : null);
        Text("fd.type", "file, directory, ipv4, ipv6, unix, pipe, memfd", "Fd.TypeChar", v => FdType(v.Event.Fd));
        Num("fd.num", "Descriptor number; for open-family calls the new fd, -1 on failure", "Fd.Num, Result", FdNum);
        Text("fd.l4proto", "tcp, udp, icmp or raw", "Fd.L4Proto", v => v.Event.Fd is { L4Proto.Length: > 0 } fd ? fd.L4Proto : null);
        Ip("fd.sip", "Server IP", "Fd.ServerIp", v => v.Event.Fd?.ServerIp);
        Ip("fd.cip", "Client IP", "Fd.ClientIp", v => v.Event.Fd?.ClientIp);
        Num("fd.sport", "Server port", "Fd.ServerPort", v => v.Event.Fd?.ServerPort);
        Num("fd.cport", "Client port", "Fd.ClientPort", v => v.Event.Fd?.ClientPort);
        Ip("fd.rip", "Remote IP (the server when this process connected, the client when it accepted)", "Fd",
            v => v.Event.Fd is { } fd ? (fd.IsServerSide ? fd.ClientIp : fd.ServerIp) : null);
        Ip("fd.lip", "Local IP", "Fd", v => v.Event.Fd is { } fd ? (fd.IsServerSide ? fd.ServerIp : fd.ClientIp) : null);
        Num("fd.rport", "Remote port", "Fd", v => v.Event.Fd is { } fd ? (fd.IsServerSide ? fd.ClientPort : fd.ServerPort) : null);
        Num("fd.lport", "Local port", "Fd", v => v.Event.Fd is { } fd ? (fd.IsServerSide ? fd.ServerPort : fd.ClientPort) : null);
        Net("fd.ip", "Client or server IP (matches either)", "Fd.ClientIp, Fd.ServerIp", Both);
        Net("fd.net", "Client or server IP compared with CIDR networks", "Fd.ClientIp, Fd.ServerIp", Both);
        Net("fd.snet", "Server IP compared with CIDR networks", "Fd.ServerIp", v => One(v.Event.Fd?.ServerIp));
        Net("fd.cnet", "Client IP compared with CIDR networks", "Fd.ClientIp", v => One(v.Event.Fd?.ClientIp));
        Net("fd.rnet", "Remote IP compared with CIDR networks", "Fd",
            v => One(v.Event.Fd is { } fd ? (fd.IsServerSide ? fd.ClientIp : fd.ServerIp) : null));
        Net("fd.lnet", "Local IP compared with CIDR networks", "Fd",
            v => One(v.Event.Fd is { } fd ? (fd.IsServerSide ? fd.ServerIp : fd.ClientIp) : null));
        Flag("fd.connected", "Socket is connected", "Fd.Connected", v => v.Event.Fd?.Connected);
        Flag("fd.is_server", "This process is the server end of the socket (it listens or accepted it)", "Fd.IsServerSide",
            v => v.Event.Fd is { TypeChar: '4' or '6' } fd ? fd.IsServerSide : null);
        Flag("fd.name_changed", "sendto/sendmsg changed the peer", "Fd.NameChanged", v => v.Event.Fd?.NameChanged);

        // container.*, k8s.*
        Text("container.id", "12-character container id; 'host' for host processes", "Container.Id",
            v => v.Event.Container?.Id ?? "host");
        Text("container.name", "Container name; 'host' for host processes", "Container.Name",
            v => v.Event.Container?.Name ?? "host");
        Text("container.image", "Image repository:tag", "Container.Image", v => v.Event.Container?.Image);
        Text("container.image.repository", "Image repository", "Container.ImageRepository",
            v => v.Event.Container is { ImageRepository.Length: > 0 } c ? c.ImageRepository : null);
        Text("container.image.tag", "Image tag", "Container.ImageTag",
            v => v.Event.Container is { ImageTag.Length: > 0 } c ? c.ImageTag : null);
        Text("container.image.digest", "Image digest", "Container.ImageDigest", v => v.Event.Container?.ImageDigest);
        Flag("container.privileged", "Container runs privileged", "Container.Privileged", v => v.Event.Container?.Privileged);
        Text("k8s.ns.name", "Kubernetes namespace", "Kubernetes.Namespace", v => v.Event.Kubernetes?.Namespace);
        Text("k8s.pod.name", "Kubernetes pod name", "Kubernetes.Pod", v => v.Event.Kubernetes?.Pod);
        fields.Add(new("k8s.pod.label", FieldType.String, FieldArgument.Required, "A pod label by key: k8s.pod.label[app]",
            "Kubernetes.Labels", arg => new BoundField
            {
                Name = $"k8s.pod.label[{arg}]",
                Type = FieldType.String,
                Text = v => v.Event.Kubernetes?.Labels.TryGetValue(arg!, out var value) == true ? value : null,
            }));
        return fields;
    }

    private static string? Argument(EventView view, string name)
    {
        if (view.Event.Args.TryGetValue(name, out var value))
        {
            return value;
        }

        return name == "flags" && view.Event.Fd?.OpenFlags is { } flags ? OpenFlagsText(flags) : null;
    }

    private static long? FdNum(EventView view)
    {
        var e = view.Event;
        if (e.Fd?.Num is { } num)
        {
            return num;
        }

        return OpenSyscalls.Contains(e.Type) && e.Result is { } r ? (r >= 0 ? r : -1) : null;
    }

    private static string? FdType(FdInfo? fd) => fd?.TypeChar switch
    {
        'f' => "file",
        'd' => "directory",
        '4' => "ipv4",
        '6' => "ipv6",
        'u' => "unix",
        'p' => "pipe",
        'm' => "memfd",
        'e' => "event",
        'n' => "netlink",
        _ => null,
    };

    private static bool IsPath(FdInfo? fd) => fd is { TypeChar: 'f' or 'd' or '\0' } && fd.Name.StartsWith('/');

    private static string? FileDirectory(FdInfo? fd)
    {
        if (!IsPath(fd))
        {
            return null;
        }

        if (fd!.TypeChar == 'd')
        {
            return fd.Name;
        }

        var slash = fd.Name.LastIndexOf('/');
        return slash <= 0 ? "/" : fd.Name[..slash];
    }

    private static string? FileName(FdInfo? fd)
    {
        if (!IsPath(fd) || fd!.TypeChar == 'd')
        {
            return null;
        }

        return fd.Name[(fd.Name.LastIndexOf('/') + 1)..];
    }

    private static IReadOnlyList<string> Both(EventView view)
    {
        var fd = view.Event.Fd;
        return (fd?.ClientIp, fd?.ServerIp) switch
        {
            (null, null) => [],
            ({ } c, null) => [c],
            (null, { } s) => [s],
            ({ } c, { } s) => [c, s],
        };
    }

    private static IReadOnlyList<string> One(string? value) => value is null ? [] : [value];
}
