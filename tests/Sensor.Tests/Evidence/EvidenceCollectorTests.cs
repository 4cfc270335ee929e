using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Sensor.Evidence;
using Triage.Contracts;

namespace Sensor.Tests.Evidence;

public sealed class EvidenceCollectorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EvidenceCollector Collector() => new(
        new SensorEvidenceOptions(), TimeProvider.System, NullLogger<EvidenceCollector>.Instance);

    private static ulong StartNs(int pid) => ProcFs.Read(pid)!.StartTicks * ProcFs.NsPerTick;

    [Fact]
    public async Task CaptureAsync_DroppedBinaryInRealContainer_CapturesTreeHashCopyDiffExportAndCheckpointReason()
    {
        TestContainer.Require();
        Environment.SetEnvironmentVariable("CONTAINERS_CONF", TestContainer.ConfigFile);
        await using var container = await TestContainer.StartAsync(
            "cp /bin/busybox /tmp/sleep && chmod 755 /tmp/sleep && echo planted > /etc/marker && exec /tmp/sleep 300", "/etc/marker");
        var request = new EvidenceRequest("alert-1", null, null, container.Pid, StartNs(container.Pid), container.Id, null);

        var artifacts = await Collector().CaptureAsync(request, Ct);

        var byKind = artifacts.ToDictionary(a => a.Kind);
        var tree = JsonDocument.Parse(byKind[EvidenceKinds.ProcessTree].Content!).RootElement;
        Assert.True(tree.GetProperty("alerting_process_alive").GetBoolean());
        Assert.Contains(tree.GetProperty("processes").EnumerateArray(), p => p.GetProperty("pid").GetInt32() == container.Pid
            && p.GetProperty("cmdline").GetString() == "/tmp/sleep 300");
        Assert.NotEmpty(tree.GetProperty("ancestors").EnumerateArray());

        var busybox = await File.ReadAllBytesAsync("/bin/busybox", Ct);
        var exe = JsonDocument.Parse(byKind[EvidenceKinds.ExecutableInfo].Content!).RootElement;
        Assert.Equal("/tmp/sleep", exe.GetProperty("path").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(busybox)), exe.GetProperty("sha256").GetString());
        Assert.True(exe.GetProperty("upper_layer").GetBoolean());
        Assert.Equal(busybox, byKind[EvidenceKinds.Executable].Content);

        var diff = JsonDocument.Parse(byKind[EvidenceKinds.FilesystemDiff].Content!).RootElement;
        var added = diff.GetProperty("added").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("/tmp/sleep", added);
        Assert.Contains("/etc/marker", added);

        var export = byKind[EvidenceKinds.FilesystemExport];
        Assert.Equal("filesystem-paused.tar", export.Name);
        var names = new List<string>();
        await using (var tar = new TarReader(File.OpenRead(export.FilePath!)))
        {
            while (await tar.GetNextEntryAsync(cancellationToken: Ct) is { } entry)
            {
                names.Add(entry.Name.TrimStart('.', '/'));
            }
        }

        File.Delete(export.FilePath!);
        Assert.Contains("tmp/sleep", names);
        Assert.Contains("etc/marker", names);

        // The container was paused for the export only: it runs again afterwards.
        Assert.Equal("running", (await TestContainer.Run("podman", "inspect", "--format", "{{.State.Status}}", container.Name)).Trim());

        var checkpoint = byKind[EvidenceKinds.Checkpoint];
        Assert.Null(checkpoint.Content);
        Assert.Contains("CRIU", checkpoint.Unavailable, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CaptureAsync_ImageBinary_HashedButNotCopied()
    {
        TestContainer.Require();
        Environment.SetEnvironmentVariable("CONTAINERS_CONF", TestContainer.ConfigFile);
        await using var container = await TestContainer.StartAsync("touch /tmp/ready && exec sleep 300", "/tmp/ready");
        var request = new EvidenceRequest("alert-2", null, null, container.Pid, StartNs(container.Pid), container.Id, null);

        var artifacts = await Collector().CaptureAsync(request, Ct);

        var exe = JsonDocument.Parse(artifacts.Single(a => a.Kind == EvidenceKinds.ExecutableInfo).Content!).RootElement;
        Assert.False(exe.GetProperty("upper_layer").GetBoolean());
        Assert.False(exe.GetProperty("copied").GetBoolean());
        Assert.DoesNotContain(artifacts, a => a.Kind == EvidenceKinds.Executable);
        foreach (var file in artifacts.Where(a => a.FilePath is not null))
        {
            File.Delete(file.FilePath!);
        }
    }

    [Fact]
    public async Task CaptureAsync_PidWithOtherStartTime_DoesNotPresentItAsTheAlertingProcess()
    {
        TestContainer.Require();
        Environment.SetEnvironmentVariable("CONTAINERS_CONF", TestContainer.ConfigFile);
        await using var container = await TestContainer.StartAsync("touch /tmp/ready && exec sleep 300", "/tmp/ready");
        var reused = StartNs(container.Pid) + 5_000_000_000;
        var request = new EvidenceRequest("alert-3", null, null, container.Pid, reused, container.Id, null);

        var artifacts = await new EvidenceCollector(new SensorEvidenceOptions { PausedExport = false }, TimeProvider.System,
            NullLogger<EvidenceCollector>.Instance).CaptureAsync(request, Ct);

        var tree = JsonDocument.Parse(artifacts.Single(a => a.Kind == EvidenceKinds.ProcessTree).Content!).RootElement;
        Assert.False(tree.GetProperty("alerting_process_alive").GetBoolean());
        Assert.Contains("exited before capture", artifacts.Single(a => a.Kind == EvidenceKinds.ExecutableInfo).Unavailable, StringComparison.Ordinal);
        Assert.Contains("disabled", artifacts.Single(a => a.Kind == EvidenceKinds.FilesystemExport).Unavailable, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0100007F:1F90", "127.0.0.1:8080")]
    [InlineData("FEA9FEA9:0050", "169.254.169.254:80")]
    [InlineData("00000000000000000000000001000000:0016", "[::1]:22")]
    public void Endpoint_ProcNetHex_Decoded(string hex, string expected) => Assert.Equal(expected, ProcFs.Endpoint(hex));
}
