using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Sensor.Processes;
using Triage.Contracts;

namespace Sensor.Evidence;

/// <summary>What to capture: a container and, when known, the process that alerted.</summary>
internal sealed record EvidenceRequest(
    string? AlertId,
    long? CommandId,
    long? IncidentId,
    int? Pid,
    ulong? StartTimeNs,
    string? ContainerId,
    bool? ExeUpperLayer);

/// <summary>One captured artifact: bytes in memory or a file on disk (large exports), or the reason it is missing.</summary>
internal sealed record CapturedArtifact(
    string Kind,
    string Name,
    string ContentType,
    DateTimeOffset CapturedAt,
    byte[]? Content = null,
    string? FilePath = null,
    string? Unavailable = null)
{
    public long Size => Content?.LongLength ?? (FilePath is null ? 0 : new FileInfo(FilePath).Length);
}

/// <summary>Options of evidence capture on the node.</summary>
internal sealed class SensorEvidenceOptions
{
    /// <summary>Export the container's file system while it is paused (podman pause / export / unpause). Default true.</summary>
    public bool PausedExport { get; set; } = true;

    /// <summary>
    /// Kubelet checkpoint endpoint (<c>https://node:10250</c>); when unset the checkpoint is reported unavailable.
    /// </summary>
    public string? KubeletCheckpointUrl { get; set; }

    /// <summary>Largest executable copied, in bytes. Default 64 MiB.</summary>
    public long MaxExecutableBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Where exports are written before upload. Default: the temp directory.</summary>
    public string WorkDirectory { get; set; } = Path.GetTempPath();

    /// <summary>Longest a runtime command (podman diff, export) may run. Default 60 s.</summary>
    public TimeSpan RuntimeCommandTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The podman binary. Default <c>podman</c> from PATH.</summary>
    public string Podman { get; set; } = "podman";

    /// <summary>
    /// Rules whose alerts capture evidence on the node at detection time, by name; <c>*</c> means every rule. Default none
    /// (see <see cref="CaptureMinPriority"/>).
    /// </summary>
    public List<string> CaptureRules { get; set; } = [];

    /// <summary>
    /// Alerts at or above this Falco priority capture evidence at detection time whatever their rule; <c>none</c> turns
    /// this off. Default <c>Critical</c> (the default pack's credential theft, drift, escape and reverse shell rules).
    /// </summary>
    public string CaptureMinPriority { get; set; } = "Critical";

    /// <summary>The same rule in the same container captures again only after this time. Default 60 s.</summary>
    public TimeSpan CaptureCooldown { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Captures evidence on the node at detection time, cheapest and most perishable first: the process tree and the
/// executable (gone when the process exits), the open sockets, then the container's file-system changes, a paused
/// export, and a checkpoint where the platform can take one.
/// </summary>
internal sealed partial class EvidenceCollector(SensorEvidenceOptions options, TimeProvider time, ILogger<EvidenceCollector> logger)
{
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    private static readonly string[] CriuPaths = ["/usr/sbin/criu", "/usr/bin/criu", "/usr/local/sbin/criu"];

    public async Task<IReadOnlyList<CapturedArtifact>> CaptureAsync(EvidenceRequest request, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var artifacts = new List<CapturedArtifact>();
        var members = request.ContainerId is { } id ? ProcFs.InContainer(id) : [];
        artifacts.Add(ProcessTree(request, members));
        if (request.Pid is { } pid)
        {
            artifacts.AddRange(Executable(request, pid));
        }

        var socketPids = members.Select(p => p.Pid).Concat(request.Pid is { } p2 ? [p2] : []).Distinct();
        artifacts.Add(Json(EvidenceKinds.Sockets, "sockets.json", new { container_id = request.ContainerId, sockets = ProcFs.Sockets(socketPids) }));

        if (request.ContainerId is { } container)
        {
            artifacts.Add(await FilesystemDiffAsync(container, ct));
            artifacts.Add(options.PausedExport
                ? await PausedExportAsync(container, ct)
                : Missing(EvidenceKinds.FilesystemExport, "disabled by configuration (evidence.paused_export: false)"));
        }

        artifacts.Add(await CheckpointAsync(ct));
        var captured = artifacts.Count(a => a.Unavailable is null);
        var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        LogCaptured(logger, captured, artifacts.Count, request.ContainerId ?? "-", elapsedMs);
        return artifacts;
    }

    private CapturedArtifact ProcessTree(EvidenceRequest request, List<ProcProcess> members)
    {
        var alerting = request.Pid is { } pid ? ProcFs.Read(pid) : null;
        if (alerting is not null && request.StartTimeNs is { } start && !ProcStat.SameStart(alerting.StartTicks, start))
        {
            // The pid now names another process: do not present its tree as the attacker's.
            alerting = null;
        }

        var ancestors = alerting is null ? [] : ProcFs.Ancestors(alerting.Pid);
        var processes = members.Count > 0 ? members : alerting is null ? [] : [alerting];
        var lines = new List<string>();
        var byParent = processes.ToLookup(p => p.Ppid);
        var pids = processes.Select(p => p.Pid).ToHashSet();
        foreach (var root in processes.Where(p => !pids.Contains(p.Ppid)).OrderBy(p => p.Pid))
        {
            Render(root, 0);
        }

        void Render(ProcProcess process, int depth)
        {
            lines.Add($"{new string(' ', depth * 2)}{process.Pid} {process.Cmdline}{(process.Pid == request.Pid ? "   <- alerting process" : "")}");
            foreach (var child in byParent[process.Pid].OrderBy(p => p.Pid))
            {
                Render(child, depth + 1);
            }
        }

        return Json(EvidenceKinds.ProcessTree, "process-tree.json", new
        {
            container_id = request.ContainerId,
            alerting_pid = request.Pid,
            alerting_process_alive = alerting is not null,
            tree = lines,
            processes = processes.Select(Describe),
            ancestors = ancestors.Select(Describe),
        });
    }

    private static object Describe(ProcProcess p) => new
    {
        pid = p.Pid,
        ppid = p.Ppid,
        start_time_ns = p.StartTicks * ProcFs.NsPerTick,
        uid = p.Uid,
        comm = p.Comm,
        exe = p.Exe,
        cmdline = p.Cmdline,
    };

    private List<CapturedArtifact> Executable(EvidenceRequest request, int pid)
    {
        var now = time.GetUtcNow();
        var process = ProcFs.Read(pid);
        if (process is null || (request.StartTimeNs is { } start && !ProcStat.SameStart(process.StartTicks, start)))
        {
            return [Missing(EvidenceKinds.ExecutableInfo, $"process {pid} exited before capture")];
        }

        var link = process.Exe ?? "";
        var fromMemfd = link.StartsWith("/memfd:", StringComparison.Ordinal);
        var path = link.EndsWith(" (deleted)", StringComparison.Ordinal) ? link[..^" (deleted)".Length] : link;
        var upperDir = ProcFs.UpperDir(pid);
        var inUpper = upperDir is not null && !fromMemfd && path.StartsWith('/') && File.Exists(upperDir + path);
        byte[] bytes;
        try
        {
            // /proc/<pid>/exe opens the very inode the process runs, even when deleted or a memfd.
            using var exe = File.OpenRead($"/proc/{pid}/exe");
            if (exe.Length > options.MaxExecutableBytes)
            {
                bytes = [];
            }
            else
            {
                bytes = new byte[exe.Length];
                exe.ReadExactly(bytes);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [Missing(EvidenceKinds.ExecutableInfo, $"cannot read /proc/{pid}/exe: {ex.Message}")];
        }

        var copy = (inUpper || fromMemfd || request.ExeUpperLayer == true) && bytes.Length > 0;
        var artifacts = new List<CapturedArtifact>();
        artifacts.Add(Json(EvidenceKinds.ExecutableInfo, "executable.json", new
        {
            pid,
            path = link,
            sha256 = bytes.Length > 0 ? Convert.ToHexStringLower(SHA256.HashData(bytes)) : null,
            size = bytes.Length,
            upper_layer = inUpper || request.ExeUpperLayer == true,
            from_memfd = fromMemfd,
            deleted = link.EndsWith(" (deleted)", StringComparison.Ordinal),
            copied = copy,
            too_large = bytes.Length == 0,
        }));
        if (copy)
        {
            artifacts.Add(new CapturedArtifact(EvidenceKinds.Executable, SafeName(Path.GetFileName(path)) + ".bin", "application/octet-stream", now, bytes));
        }

        return artifacts;
    }

    private async Task<CapturedArtifact> FilesystemDiffAsync(string containerId, CancellationToken ct)
    {
        var (code, output, error) = await RunAsync(options.Podman, ["diff", "--format", "json", containerId], ct);
        return code == 0
            ? new CapturedArtifact(EvidenceKinds.FilesystemDiff, "filesystem-diff.json", "application/json", time.GetUtcNow(), Encoding.UTF8.GetBytes(output))
            : Missing(EvidenceKinds.FilesystemDiff, $"podman diff failed ({code}): {First(error)}");
    }

    private async Task<CapturedArtifact> PausedExportAsync(string containerId, CancellationToken ct)
    {
        var file = Path.Combine(options.WorkDirectory, $"triage-export-{containerId[..12]}-{Guid.NewGuid():N}.tar");
        var (pauseCode, _, pauseError) = await RunAsync(options.Podman, ["pause", containerId], ct);
        var paused = pauseCode == 0;
        try
        {
            var (code, _, error) = await RunAsync(options.Podman, ["export", "-o", file, containerId], ct);
            if (code != 0)
            {
                File.Delete(file);
                return Missing(EvidenceKinds.FilesystemExport, $"podman export failed ({code}): {First(error)}");
            }
        }
        finally
        {
            if (paused)
            {
                await RunAsync(options.Podman, ["unpause", containerId], CancellationToken.None);
            }
        }

        var name = paused ? "filesystem-paused.tar" : "filesystem.tar";
        if (!paused)
        {
            LogNotPaused(logger, containerId, First(pauseError));
        }

        return new CapturedArtifact(EvidenceKinds.FilesystemExport, name, "application/x-tar", time.GetUtcNow(), FilePath: file);
    }

    /// <summary>
    /// A container checkpoint needs the kubelet's checkpoint API, which needs CRIU on the node. Without a configured
    /// kubelet, or with a CRIU that cannot run on this kernel, the reason is recorded instead.
    /// </summary>
    private async Task<CapturedArtifact> CheckpointAsync(CancellationToken ct)
    {
        var criu = await CriuStatusAsync(ct);
        if (options.KubeletCheckpointUrl is null)
        {
            return Missing(EvidenceKinds.Checkpoint, $"no kubelet checkpoint endpoint configured (evidence.kubelet_checkpoint_url); {criu}");
        }

        // Requesting it against a kubelet whose CRIU fails would only produce an error from the kubelet.
        return Missing(EvidenceKinds.Checkpoint, $"kubelet checkpoint not requested: {criu}");
    }

    private async Task<string> CriuStatusAsync(CancellationToken ct)
    {
        var criu = CriuPaths.FirstOrDefault(File.Exists);
        if (criu is null)
        {
            return "CRIU is not installed on this node";
        }

        var (code, output, error) = await RunAsync(criu, ["check"], ct);
        return code == 0 && !error.Contains("Error", StringComparison.Ordinal)
            ? "CRIU check passed"
            : $"CRIU cannot checkpoint on this kernel (criu check: {Last(error.Length > 0 ? error : output)})";
    }

    private async Task<(int Code, string Output, string Error)> RunAsync(string file, string[] args, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.RuntimeCommandTimeout);
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return (-1, "", $"{file} timed out after {options.RuntimeCommandTimeout.TotalSeconds:0}s");
            }

            return (process.ExitCode, await output, await error);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, "", $"{file}: {ex.Message}");
        }
    }

    private CapturedArtifact Json(string kind, string name, object value) =>
        new(kind, name, "application/json", time.GetUtcNow(), JsonSerializer.SerializeToUtf8Bytes(value, JsonOptions));

    private CapturedArtifact Missing(string kind, string reason) =>
        new(kind, kind, "text/plain", time.GetUtcNow(), Unavailable: reason);

    private static string First(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";

    private static string Last(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";

    private static string SafeName(string name)
    {
        var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray());
        return safe.Length == 0 ? "executable" : safe;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Captured {Captured} of {Total} evidence artifacts for container {Container} in {Ms:0} ms")]
    private static partial void LogCaptured(ILogger logger, int captured, int total, string container, double ms);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not pause container {Container} before export ({Reason}); exported it running")]
    private static partial void LogNotPaused(ILogger logger, string container, string reason);
}
