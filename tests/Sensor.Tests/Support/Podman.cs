
[assembly: AssemblyFixture(typeof(Sensor.Tests.Support.Podman))]

namespace Sensor.Tests.Support;

/// <summary>
/// Real podman containers for the tests: a busybox root filesystem built on the fly and imported under a name unique
/// to this test run (no registry is reachable), removed at the end. Podman reads the repository's
/// config/podman/containers.conf (runc, ulimits this VM allows).
/// </summary>
public sealed class Podman : IAsyncDisposable
{
    private readonly Lazy<Task<string>> _image;
    private readonly List<string> _containers = [];

    public Podman() => _image = new(BuildImage);

    public static string ConfigPath { get; } = Path.Combine(RepoRoot(), "config", "podman", "containers.conf");

    /// <summary>The busybox image, imported on first use.</summary>
    public Task<string> Image => _image.Value;

    /// <summary>A container name unique to this run.</summary>
    public static string UniqueName(string what) => $"sensortest-{what}-{Environment.ProcessId}-{Guid.NewGuid():N}";

    /// <summary>Runs a container to completion (<c>podman run --rm</c>); returns its full id and output.</summary>
    public async Task<(string Id, int ExitCode, string Output)> Run(string[] podmanArgs, params string[] command)
    {
        var image = await Image;
        var cidFile = Path.Combine(Path.GetTempPath(), $"{Guid.NewGuid():N}.cid");
        var name = UniqueName("c");
        lock (_containers)
            _containers.Add(name);
        string[] args = ["run", "--rm", "--name", name, "--cidfile", cidFile, .. podmanArgs, image, .. command];
        var (_, code, output) = await Shell.Run("podman", args);
        var id = File.Exists(cidFile) ? (await File.ReadAllTextAsync(cidFile)).Trim() : "";
        File.Delete(cidFile);
        Assert.True(id.Length == 64, $"podman run gave no container id (exit {code}): {output}");
        return (id, code, output);
    }

    /// <summary>Starts a container in the background (<c>podman run -d</c>); returns its full id and name. Removed at the end of the run.</summary>
    public async Task<(string Id, string Name)> Start(string[] podmanArgs, params string[] command)
    {
        var image = await Image;
        var name = UniqueName("d");
        lock (_containers)
            _containers.Add(name);
        var id = (await Shell.Check("podman", ["run", "-d", "--name", name, .. podmanArgs, image, .. command])).Trim();
        Assert.True(id.Length == 64, $"podman run -d gave no container id: {id}");
        return (id, name);
    }

    private async Task<string> BuildImage()
    {
        var root = Directory.CreateTempSubdirectory("sensor-rootfs-");
        try
        {
            foreach (var d in new[] { "bin", "etc", "tmp", "proc", "dev", "sys", "root" })
                Directory.CreateDirectory(Path.Combine(root.FullName, d));
            File.Copy("/bin/busybox", Path.Combine(root.FullName, "bin", "busybox"));
            var applets = await Shell.Check("/bin/busybox", "--list");
            foreach (var applet in applets.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (applet != "busybox")
                    File.CreateSymbolicLink(Path.Combine(root.FullName, "bin", applet), "busybox");
            }
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "shadow"), "root:*:19000:0:99999:7:::\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "gshadow"), "root:*::\n");
            var tar = root.FullName + ".tar";
            await Shell.Check("tar", "-C", root.FullName, "-cf", tar, ".");
            var image = $"localhost/sensortest-busybox-{Environment.ProcessId}:{Guid.NewGuid():N}";
            await Shell.Check("podman", "import", "-q", tar, image);
            File.Delete(tar);
            return image;
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        string[] names;
        lock (_containers)
            names = [.. _containers];
        foreach (var n in names)
            await Shell.Run("podman", "rm", "-f", "--ignore", n);
        if (_image.IsValueCreated && _image.Value.IsCompletedSuccessfully)
            await Shell.Run("podman", "rmi", "-f", _image.Value.Result);
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Triage.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("repository root (Triage.sln) not found above " + AppContext.BaseDirectory);
    }
}
