using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Triage.Scenario;

/// <summary>Where the repository and the built service, sensor and scenario binaries are.</summary>
public static class RepoLayout
{
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration this assembly was built in; the service and sensor are built alongside.</summary>
    public static string Configuration { get; } = typeof(RepoLayout).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "Configuration")?.Value ?? "Release";

    public static string ServiceDll => Dll("Triage.Api", "Triage.Api");
    public static string SensorDll => Dll("Sensor", "Sensor");
    public static string ScenarioDll => Dll(Path.Combine("tests", "Triage.Scenario"), "Triage.Scenario");
    public static string PodmanConfig => Path.Combine(Root, "config", "podman", "containers.conf");

    private static string Dll(string project, string name) =>
        Path.Combine(Root, project, "bin", Configuration, "net10.0", name + ".dll");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Triage.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("repository root (Triage.sln) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A process this scenario started: output lines go to a log file and to an optional callback; killed by pid on dispose.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _lock = new();

    private ChildProcess(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Called with every line the process writes (stdout and stderr), on a thread-pool thread.</summary>
    public Action<string>? OnLine { get; set; }

    public static ChildProcess Start(string logFile, IReadOnlyDictionary<string, string>? environment, string file, params string[] args)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["CONTAINERS_CONF"] = RepoLayout.PodmanConfig;
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process, log);
        process.OutputDataReceived += (_, e) => child.Line(e.Data);
        process.ErrorDataReceived += (_, e) => child.Line(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Writes to the process's standard input.</summary>
    public async Task WriteAsync(string text)
    {
        await _process.StandardInput.WriteAsync(text);
        await _process.StandardInput.FlushAsync();
    }

    private void Line(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _log.WriteLine(line);
        }

        OnLine?.Invoke(line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first so the service and the sensor shut down cleanly (spool flushed, programs detached).
            _ = Native.Kill(_process.Id, 15);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }

        _process.Dispose();
        lock (_lock)
        {
            _log.Dispose();
        }
    }
}

/// <summary>Runs short commands (podman, ip) to completion.</summary>
public static class Shell
{
    public static async Task<(int Code, string Output)> TryRunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["CONTAINERS_CONF"] = RepoLayout.PodmanConfig;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await output) + (await error));
    }

    public static async Task<string> RunAsync(string file, params string[] args)
    {
        var (code, output) = await TryRunAsync(file, args);
        return code == 0 ? output : throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({code}): {output.Trim()}");
    }

    /// <summary>A free TCP port on 127.0.0.1 (bound to port 0 and released), so parallel runs never collide.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

internal static partial class Native
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "geteuid")]
    internal static partial uint GetEuid();
}
