namespace Triage.Scenario;

/// <summary>
/// The network the attack runs in, all inside network namespaces this run creates (nothing leaves the machine):
/// the workload's namespace, joined by one veth pair to the fake metadata service's namespace (169.254.169.254/16)
/// and by another to the "second host" the attacker moves to (10.213.7.0/24). Deleted on dispose.
/// </summary>
public sealed class AttackNetwork : IAsyncDisposable
{
    public const string MetadataAddress = "169.254.169.254";
    public const string WorkloadMetadataSide = "169.254.1.2";
    public const string LateralAddress = "10.213.7.2";
    public const string WorkloadLateralSide = "10.213.7.1";
    public const int LateralPort = 4444;

    private readonly List<string> _created = [];

    private AttackNetwork(string id)
    {
        Workload = $"tsc-{id}-app";
        Metadata = $"tsc-{id}-imds";
        Lateral = $"tsc-{id}-lat";
    }

    /// <summary>The workload's namespace: containers join it with <c>--network ns:/run/netns/NAME</c>.</summary>
    public string Workload { get; }

    public string Metadata { get; }
    public string Lateral { get; }

    public static async Task<AttackNetwork> CreateAsync(string id)
    {
        var network = new AttackNetwork(id);
        try
        {
            foreach (var ns in new[] { network.Workload, network.Metadata, network.Lateral })
            {
                await Shell.RunAsync("ip", "netns", "add", ns);
                network._created.Add(ns);
                await Shell.RunAsync("ip", "-n", ns, "link", "set", "lo", "up");
            }

            // veth ends are created inside the namespaces, so their names never meet another run's on the host.
            await Pair(network.Workload, "to-imds", $"{WorkloadMetadataSide}/16", network.Metadata, "to-app", $"{MetadataAddress}/16");
            await Pair(network.Workload, "to-lat", $"{WorkloadLateralSide}/24", network.Lateral, "to-app", $"{LateralAddress}/24");
            return network;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    private static async Task Pair(string nsA, string ifA, string addressA, string nsB, string ifB, string addressB)
    {
        await Shell.RunAsync("ip", "link", "add", "name", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB);
        await Shell.RunAsync("ip", "-n", nsA, "addr", "add", addressA, "dev", ifA);
        await Shell.RunAsync("ip", "-n", nsB, "addr", "add", addressB, "dev", ifB);
        await Shell.RunAsync("ip", "-n", nsA, "link", "set", ifA, "up");
        await Shell.RunAsync("ip", "-n", nsB, "link", "set", ifB, "up");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var ns in _created)
        {
            await Shell.TryRunAsync("ip", "netns", "del", ns);
        }
    }
}

/// <summary>A busybox image built on the fly (no registry is reachable here) and imported under a name unique to the run.</summary>
public static class BusyboxImage
{
    public static async Task<string> BuildAsync(string name)
    {
        var root = Directory.CreateTempSubdirectory("triage-scenario-rootfs-");
        var tar = root.FullName + ".tar";
        try
        {
            foreach (var d in new[] { "bin", "etc", "tmp", "proc", "dev", "sys", "root", "app" })
            {
                Directory.CreateDirectory(Path.Combine(root.FullName, d));
            }

            File.Copy("/bin/busybox", Path.Combine(root.FullName, "bin", "busybox"));
            foreach (var applet in (await Shell.RunAsync("/bin/busybox", "--list")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (applet != "busybox")
                {
                    File.CreateSymbolicLink(Path.Combine(root.FullName, "bin", applet), "busybox");
                }
            }

            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "group"), "root:x:0:\napp:x:1000:\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "hostname"), "checkout\n");
            await Shell.RunAsync("tar", "-C", root.FullName, "-cf", tar, ".");
            await Shell.RunAsync("podman", "import", "-q", tar, name);
            return name;
        }
        finally
        {
            File.Delete(tar);
            root.Delete(recursive: true);
        }
    }
}
