using Sensor.Events;

namespace Sensor.Bench;

/// <summary>
/// A seeded, reproducible stream shaped like what reaches the rule engine on a busy Kubernetes node once the kernel
/// has dropped the syscalls no rule needs: mostly file opens, then execs and connects, dup2 of files onto stdio,
/// a little runtime namespace work, and a trickle (about 1%) of events that fire default rules.
/// </summary>
internal static class EventMix
{
    private static readonly string[] BenignPaths =
    [
        "/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/proc/self/stat", "/etc/hosts", "/etc/resolv.conf",
        "/usr/share/zoneinfo/UTC", "/sys/fs/cgroup/cpu.max", "/app/config/settings.json", "/tmp/upload-1234",
        "/var/lib/app/cache/entry-17", "/etc/nsswitch.conf", "/proc/meminfo", "/etc/passwd", "/usr/lib/python3.12/os.py",
    ];

    private static readonly (string Name, string[] Args)[] BenignExecs =
    [
        ("sh", ["-c", "date +%s"]), ("ls", ["-la", "/app"]), ("python3", ["/app/worker.py"]), ("node", ["server.js"]),
        ("curl", ["-s", "http://orders.shop.svc:8080/health"]), ("cat", ["/app/VERSION"]), ("gzip", ["-9", "/var/log/app.log.1"]),
        ("logrotate", ["/etc/logrotate.conf"]), ("nginx", ["-g", "daemon off;"]), ("grep", ["-c", "ERROR", "/var/log/app.log"]),
    ];

    public static SensorEvent[] Generate(int count, int seed = 20261125)
    {
        var random = new Random(seed);
        var events = new SensorEvent[count];
        var containers = Enumerable.Range(0, 8).Select(i => new ContainerContext
        {
            Id = $"c0ffee{i:D6}", Name = $"app-{i}", ImageRepository = $"registry.example.com/team/app{i}", ImageTag = "1.4.2",
        }).ToArray();
        var pods = Enumerable.Range(0, 8).Select(i => new KubernetesContext { Namespace = i < 4 ? "shop" : "payments", Pod = $"app-{i}-7d9f" }).ToArray();
        for (var i = 0; i < count; i++)
        {
            var inContainer = random.Next(10) < 8;
            var c = random.Next(containers.Length);
            var container = inContainer ? containers[c] : null;
            var pod = inContainer ? pods[c] : null;
            var (name, args) = BenignExecs[random.Next(BenignExecs.Length)];
            var process = new ProcessSnapshot
            {
                Pid = 1000 + random.Next(50_000), Ppid = 900, Name = name, Exe = name, ExePath = $"/usr/bin/{name}", Args = args,
                Uid = random.Next(4) == 0 ? 0 : 1000, User = "app", StartTimeNs = 1_000_000_000, Cwd = "/app",
            };
            var ancestors = new[]
            {
                new ProcessSnapshot { Pid = 900, Name = "node", ExePath = "/usr/local/bin/node", Args = ["server.js"] },
                new ProcessSnapshot { Pid = 800, Name = "tini", ExePath = "/sbin/tini", Args = ["--", "node"] },
                new ProcessSnapshot { Pid = 700, Name = "containerd-shim", ExePath = "/usr/bin/containerd-shim-runc-v2" },
                new ProcessSnapshot { Pid = 1, Name = "systemd", ExePath = "/usr/lib/systemd/systemd" },
            };
            var roll = random.Next(1000);
            var attack = random.Next(100) == 0;
            events[i] = roll switch
            {
                < 550 => Open(process, attack ? "/etc/shadow" : BenignPaths[random.Next(BenignPaths.Length)], random.Next(5) == 0 ? 0x241 : 0),
                < 700 => Exec(attack ? process with { Name = "xmrig", Args = ["-o", "stratum+tcp://pool:3333"] } : process),
                < 850 => Connect(process, attack ? "169.254.169.254" : $"10.96.{random.Next(4)}.{random.Next(250)}", attack ? 80 : 5432),
                < 930 => Dup(process, attack),
                < 990 => new SensorEvent { Type = random.Next(2) == 0 ? "setns" : "mount", Process = process with { Name = "runc:[2:INIT]", ExePath = "/usr/bin/runc" }, Result = 0 },
                _ => new SensorEvent { Type = "ptrace", Process = process, Result = 0, Args = new Dictionary<string, string> { ["request"] = attack ? "PTRACE_ATTACH" : "PTRACE_PEEKDATA" } },
            };

            SensorEvent Open(ProcessSnapshot p, string path, int flags) => new()
            {
                Type = "openat", Process = p, Ancestors = ancestors, Container = container, Kubernetes = pod, Result = 5, Number = (ulong)i + 1,
                Fd = new FdInfo { Name = path, TypeChar = 'f', OpenFlags = flags },
            };

            SensorEvent Exec(ProcessSnapshot p) => new()
            {
                Type = "execve", Process = p, Ancestors = ancestors, Container = container, Kubernetes = pod, Result = 0, Number = (ulong)i + 1,
            };

            SensorEvent Connect(ProcessSnapshot p, string ip, int port) => new()
            {
                Type = "connect", Process = p, Ancestors = ancestors, Container = container, Kubernetes = pod, Result = 0, Number = (ulong)i + 1,
                Fd = new FdInfo
                {
                    Name = $"10.88.0.5:41000->{ip}:{port}", TypeChar = '4', L4Proto = "tcp", ClientIp = "10.88.0.5", ClientPort = 41000,
                    ServerIp = ip, ServerPort = port,
                },
            };

            SensorEvent Dup(ProcessSnapshot p, bool socket) => new()
            {
                Type = "dup2", Process = p, Ancestors = ancestors, Container = container, Kubernetes = pod, Number = (ulong)i + 1,
                Result = socket ? 0 : 1 + random.Next(4),
                Fd = socket
                    ? new FdInfo { Name = "10.88.0.5:41000->203.0.113.9:4444", TypeChar = '4', L4Proto = "tcp", ServerIp = "203.0.113.9", ServerPort = 4444 }
                    : new FdInfo { Name = "/var/log/app.log", TypeChar = 'f' },
            };
        }

        return events;
    }
}
