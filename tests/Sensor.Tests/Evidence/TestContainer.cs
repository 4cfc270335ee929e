using System.Diagnostics;
using Sensor.Tests.Support;

namespace Sensor.Tests.Evidence;

/// <summary>
/// A real podman container from a busybox image imported on the fly (no registry is reachable here), with the podman
/// settings this VM needs (runc, small ulimits). Removed, with its image, on dispose.
/// </summary>
internal sealed class TestContainer : IAsyncDisposable
{
    private readonly string _image;

    private TestContainer(string image, string name, string id, int pid)
    {
        _image = image;
        Name = name;
        Id = id;
        Pid = pid;
    }

    public string Name { get; }
    public string Id { get; }

    /// <summary>Host pid of the container's first process.</summary>
    public int Pid { get; }

    /// <summary>Podman configuration used by every call (runc, ulimits the VM allows).</summary>
    public static string ConfigFile { get; } = WriteConfig();

    public static void Require()
    {
        Requires.Root();
        if (!File.Exists("/usr/bin/podman") || !File.Exists("/bin/busybox"))
        {
            Requires.Unmet("needs podman and busybox-static (apt-get install -y podman runc busybox-static)");
        }
    }

    /// <summary>Starts a container running <c>sh -c <paramref name="script"/></c> and waits until <paramref name="ready"/> exists in it.</summary>
    public static async Task<TestContainer> StartAsync(string script, string ready, params string[] extraArgs)
    {
        var tag = $"{Environment.ProcessId}-{Guid.NewGuid():N}"[..20];
        var image = $"localhost/responsetest-busybox:{tag}";
        var root = Directory.CreateTempSubdirectory("responsetest-rootfs-");
        try
        {
            foreach (var d in new[] { "bin", "etc", "tmp", "proc", "dev", "sys", "root" })
            {
                Directory.CreateDirectory(Path.Combine(root.FullName, d));
            }

            File.Copy("/bin/busybox", Path.Combine(root.FullName, "bin", "busybox"));
            foreach (var applet in new[] { "sh", "sleep", "cp", "chmod", "echo", "cat", "nc", "wget", "ls", "touch" })
            {
                File.CreateSymbolicLink(Path.Combine(root.FullName, "bin", applet), "busybox");
            }

            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
            await Run("tar", "-C", root.FullName, "-cf", root.FullName + ".tar", ".");
            await Run("podman", "import", "-q", root.FullName + ".tar", image);
        }
        finally
        {
            File.Delete(root.FullName + ".tar");
            root.Delete(recursive: true);
        }

        var name = $"responsetest-{tag}";
        var id = (await Run(["podman", "run", "-d", "--name", name, .. extraArgs, image, "sh", "-c", script])).Trim();
        var container = new TestContainer(image, name, id, 0);
        for (var i = 0; i < 200; i++)
        {
            // Look through the container's root from the host: cheaper than podman exec and needs no applet.
            var inspected = (await TryRun("podman", "inspect", "--format", "{{.State.Pid}}", name)).Output.Trim();
            if (int.TryParse(inspected, System.Globalization.CultureInfo.InvariantCulture, out var pid) && pid > 0
                && File.Exists($"/proc/{pid}/root{ready}"))
            {
                return new TestContainer(image, name, id, pid);
            }

            await Task.Delay(50);
        }

        await container.DisposeAsync();
        throw new InvalidOperationException($"container {name} never created {ready}");
    }

    public static Task<string> Run(params string[] command) => RunChecked(command);

    public static async Task<(int Code, string Output)> TryRun(params string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in command[1..])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["CONTAINERS_CONF"] = ConfigFile;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    private static async Task<string> RunChecked(string[] command)
    {
        var (code, output) = await TryRun(command);
        return code == 0 ? output : throw new InvalidOperationException($"{string.Join(' ', command)} failed ({code}): {output}");
    }

    private static string WriteConfig()
    {
        var path = Path.Combine(Path.GetTempPath(), "responsetest-containers.conf");
        File.WriteAllText(path, """
            [containers]
            default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

            [engine]
            runtime = "runc"
            """);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await TryRun("podman", "rm", "-f", "-t", "0", "--ignore", Name);
        await TryRun("podman", "rmi", "-f", _image);
    }
}
