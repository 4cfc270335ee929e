using Sensor.Native;

namespace Sensor.Kernel;

/// <summary>
/// What eBPF needs before anything is loaded, checked up front so that the sensor can say in one plain line why it is
/// off instead of failing inside libbpf: root, kernel BTF, tracefs (classic tracepoints), bpffs, a cgroup v2 mount and
/// the compiled object. tracefs and bpffs are mounted when missing and we are root.
/// </summary>
internal static class Preflight
{
    internal const string TraceFs = "/sys/kernel/tracing";
    internal const string BpfFs = "/sys/fs/bpf";
    internal const string KernelBtf = "/sys/kernel/btf/vmlinux";

    /// <summary>Problems found, empty when eBPF can run; each names what is missing.</summary>
    public static IReadOnlyList<string> Check(string objectPath)
    {
        var problems = new List<string>();
        if (LibC.geteuid() != 0)
        {
            problems.Add("not running as root (eBPF programs need CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)");
            return problems;
        }
        if (!File.Exists(KernelBtf))
            problems.Add($"no kernel BTF at {KernelBtf} (kernel built without CONFIG_DEBUG_INFO_BTF), so CO-RE programs cannot load");
        if (!EnsureMounted(TraceFs, "tracefs", Path.Combine(TraceFs, "events")))
            problems.Add($"tracefs is not mounted at {TraceFs} and mounting it failed");
        if (!EnsureMounted(BpfFs, "bpf", null))
            problems.Add($"bpffs is not mounted at {BpfFs} and mounting it failed");
        if (CgroupV2Root() is null)
            problems.Add("no cgroup v2 hierarchy mounted (needed for container ids and connect enforcement)");
        if (!File.Exists(objectPath))
            problems.Add($"BPF object {objectPath} not found (build with `dotnet build Sensor`; needs clang, bpftool and libbpf-dev)");
        return problems;
    }

    /// <summary>Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup/unified on hybrid hosts, else /sys/fs/cgroup.</summary>
    public static string? CgroupV2Root()
    {
        foreach (var line in ReadLines("/proc/self/mountinfo"))
        {
            // ... <mount point> ... - cgroup2 cgroup2 rw
            var sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0 || !line.AsSpan(sep + 3).StartsWith("cgroup2 ", StringComparison.Ordinal))
                continue;
            var fields = line[..sep].Split(' ');
            if (fields.Length > 4)
                return fields[4];
        }
        return null;
    }

    private static bool EnsureMounted(string path, string fsType, string? probe)
    {
        if (IsMountPoint(path, fsType) || (probe is not null && Directory.Exists(probe)))
            return true;
        if (!Directory.Exists(path))
            return false;
        return LibC.mount(fsType, path, fsType, 0, 0) == 0 || IsMountPoint(path, fsType);
    }

    private static bool IsMountPoint(string path, string fsType) =>
        ReadLines("/proc/self/mounts").Any(l =>
        {
            var f = l.Split(' ');
            return f.Length > 2 && f[1] == path && f[2] == fsType;
        });

    private static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (IOException)
        {
            return [];
        }
    }
}
