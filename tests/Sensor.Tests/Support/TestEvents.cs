using Sensor.Events;

namespace Sensor.Tests.Support;

/// <summary>Builds SensorEvents the way the sensor fills them from kernel events, with short defaults.</summary>
internal static class TestEvents
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static ProcessSnapshot Proc(string name, params string[] args) => new()
    {
        Pid = 4242,
        Ppid = 4000,
        Name = name,
        Exe = name,
        ExePath = name.StartsWith('/') ? name : $"/usr/bin/{name}",
        Args = args,
        Uid = 0,
        User = "root",
        StartTimeNs = 1_000_000_000,
    };

    public static ContainerContext Container(string image = "docker.io/library/nginx", string tag = "1.27") => new()
    {
        Id = "3f2a9c1b7d4e",
        Name = "web-1",
        ImageRepository = image,
        ImageTag = tag,
    };

    public static KubernetesContext Pod(string ns = "shop", string pod = "web-7d9f") => new() { Namespace = ns, Pod = pod };

    public static SensorEvent Event(
        string type,
        ProcessSnapshot process,
        FdInfo? fd = null,
        long? result = 0,
        ContainerContext? container = null,
        IReadOnlyList<ProcessSnapshot>? ancestors = null,
        IReadOnlyDictionary<string, string>? args = null,
        KubernetesContext? k8s = null,
        ulong timestampNs = 10_000_000_000) => new()
    {
        Type = type,
        Direction = '<',
        Result = result,
        Time = Now,
        TimestampNs = timestampNs,
        Number = 7,
        Process = process,
        Ancestors = ancestors ?? [Proc("bash"), Proc("sshd")],
        Fd = fd,
        Args = args ?? new Dictionary<string, string>(),
        Container = container,
        Kubernetes = k8s,
    };

    public static SensorEvent Exec(ProcessSnapshot process, ContainerContext? container = null,
        IReadOnlyList<ProcessSnapshot>? ancestors = null, KubernetesContext? k8s = null) =>
        Event("execve", process, container: container, ancestors: ancestors, k8s: k8s);

    /// <summary>openat of a file; flags 0 is O_RDONLY, 1 O_WRONLY, 0x241 O_WRONLY|O_CREAT|O_TRUNC.</summary>
    public static SensorEvent Open(ProcessSnapshot process, string path, int flags = 0, long result = 3,
        ContainerContext? container = null, string? rawPath = null, IReadOnlyList<ProcessSnapshot>? ancestors = null) =>
        Event("openat", process, new FdInfo { Name = path, NameRaw = rawPath, TypeChar = 'f', OpenFlags = flags }, result, container,
            ancestors);

    public static SensorEvent Connect(ProcessSnapshot process, string serverIp, int serverPort, long result = 0,
        ContainerContext? container = null, KubernetesContext? k8s = null, string proto = "tcp")
    {
        var v6 = serverIp.Contains(':', StringComparison.Ordinal);
        var clientIp = v6 ? "fd00::2" : "10.88.0.5";
        return Event("connect", process, new FdInfo
        {
            Name = v6 ? $"[{clientIp}]:40000->[{serverIp}]:{serverPort}" : $"{clientIp}:40000->{serverIp}:{serverPort}",
            TypeChar = v6 ? '6' : '4',
            L4Proto = proto,
            ClientIp = clientIp,
            ClientPort = 40000,
            ServerIp = serverIp,
            ServerPort = serverPort,
            Connected = result == 0,
        }, result, container, k8s: k8s);
    }
}
