using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using Sensor.Containers;
using Sensor.Delivery;
using Sensor.Detection;
using Sensor.Hosting;
using Sensor.Kernel;
using Sensor.Processes;
using Sensor.Tests.Support;
using Triage.Contracts;

namespace Sensor.Tests.Hosting;

/// <summary>The whole sensor minus HTTP: real kernel programs, real podman containers, the default rule pack.</summary>
public sealed class SensorPipelineTests(Podman podman)
{
    private sealed class Running : IAsyncDisposable
    {
        public required KernelProbe Probe { get; init; }
        public required AlertSpool Spool { get; init; }
        public required CancellationTokenSource Stop { get; init; }
        public required Task Run { get; init; }
        public required DirectoryInfo Dir { get; init; }

        public async Task<NativeAlert> WaitForAlert(Func<NativeAlert, bool> match, string what)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline)
            {
                var hit = Spool.Peek(10_000).Select(x => x.Alert).FirstOrDefault(match);
                if (hit is not null)
                    return hit;
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
            var seen = string.Join("; ", Spool.Peek(10_000).Select(x => $"{x.Alert.Rule} {x.Alert.Container?.Id}"));
            Assert.Fail($"no alert within 20 s: {what}; spool has: {seen}");
            return null!;
        }

        public async ValueTask DisposeAsync()
        {
            await Stop.CancelAsync();
            await Run;
            await Probe.DisposeAsync();
            Dir.Delete(true);
        }
    }

    private static Running Start(string obj)
    {
        var time = TimeProvider.System;
        var detector = RuleDetector.Load([Path.Combine(RepoFiles.Root, "Sensor", "rules")], "test-node");
        var channel = Channel.CreateBounded<KernelEvent>(65_536);
        var probe = KernelProbe.Start(new KernelProbeOptions
        {
            ObjectPath = obj,
            Kinds = detector.RequiredKinds(),
            // As SensorHost does: the opens the loaded rules can match (here /etc/shadow and /etc/gshadow).
            WatchedPathPrefixes = RuleDetector.WatchedOpenPaths(detector.Rules).Prefixes,
            WatchedPathSuffixes = RuleDetector.WatchedOpenPaths(detector.Rules).Suffixes,
            // Other tests' sensors and containers share this machine: host syscalls would only put the pipeline behind.
            ContainerOnly = true,
        }, channel.Writer, time);
        var table = new ProcessTable(time);
        table.SeedFromProc();
        var containers = new ContainerDirectory(new PodmanRuntime(Podman.ConfigPath), pods: null, time);
        var dir = Directory.CreateTempSubdirectory("sensor-spool-");
        var spool = new AlertSpool(dir.FullName);
        var pipeline = new SensorPipeline(channel.Reader, new Sensor.Pipeline.EventBuilder(table, containers, time), detector, containers,
            spool, new SensorMetrics(Metrics.NewCustomRegistry()),
            // A loaded 2-vCPU machine can take seconds for podman inspect; the assertions need the pod labels.
            new PipelineOptions { PodWait = TimeSpan.FromSeconds(15) }, NullLogger<SensorPipeline>.Instance);
        var stop = new CancellationTokenSource();
        return new Running { Probe = probe, Spool = spool, Stop = stop, Run = pipeline.RunAsync(stop.Token), Dir = dir };
    }

    [Fact]
    public async Task Container_UnshareAndShadowRead_RaiseAlertsWithContainerTreeAndPodLabels()
    {
        var obj = Requires.Ebpf();
        Requires.Podman();
        await using var sensor = Start(obj);

        var (id, _, output) = await podman.Run(
            ["--network", "none", "--label", "io.kubernetes.pod.name=web-7f9c", "--label", "io.kubernetes.pod.namespace=shop"],
            "sh", "-c", "unshare -U true; cat /etc/shadow; sh -c 'sh -c \"cat /etc/gshadow\"'; sleep 5; exit 0");

        var ns = await sensor.WaitForAlert(a => a.Rule == "Namespace change from container" && a.Container?.Id == id[..12] && a.Syscall?.Name == "unshare" && a.Process?.Cmdline?.Contains("true", StringComparison.Ordinal) == true, "unshare in the container");
        Assert.Equal("unshare", ns.Syscall!.Name);
        // busybox re-executes itself through /proc/self/exe, so the kernel names the process "exe".
        Assert.Contains("-U true", ns.Process!.Cmdline!, StringComparison.Ordinal);
        Assert.Equal("shop", ns.K8s?.Namespace);
        Assert.Equal("web-7f9c", ns.K8s?.Pod);
        Assert.StartsWith("localhost/sensortest-busybox", ns.Container!.Image, StringComparison.Ordinal);
        Assert.NotNull(ns.Ancestors);
        Assert.Equal("sh", ns.Ancestors![0].Cmdline!.Split(' ')[0]);
        Assert.True(ns.Ancestors.Count >= 5, $"only {ns.Ancestors.Count} ancestors: {output}");

        var shadow = await sensor.WaitForAlert(a => a.Rule == "Shadow password file read" && a.Container?.Id == id[..12] && a.Output!.Contains("/etc/gshadow", StringComparison.Ordinal), "gshadow read");
        Assert.EndsWith(" /etc/gshadow", shadow.Process!.Cmdline, StringComparison.Ordinal);
        Assert.True(shadow.Ancestors!.Count >= 5);
        // cat <- the container's sh (busybox sh execs the nested -c commands in place) <- runc create <- conmon ...
        Assert.StartsWith("sh -c", shadow.Ancestors[0].Cmdline!, StringComparison.Ordinal);
        Assert.Equal("/usr/bin/runc", shadow.Ancestors[1].Exe);
        Assert.Equal(0ul, sensor.Probe.KernelDrops(EventKind.Open));
    }

    [Fact]
    public async Task Container_ConnectToMetadataAddress_RaisesCriticalAlert()
    {
        var obj = Requires.Ebpf();
        Requires.Podman();
        await using var sensor = Start(obj);

        // --network none: the connect fails at once (ENETUNREACH) and no packet leaves the machine; the attempt is the signal.
        var (id, _, _) = await podman.Run(["--network", "none"], "sh", "-c", "nc -w 1 169.254.169.254 80 </dev/null; exit 0");

        var alert = await sensor.WaitForAlert(a => a.Rule == "Cloud metadata service contacted from container" && a.Container?.Id == id[..12], "connect to 169.254.169.254");
        Assert.Equal("Critical", alert.Priority, ignoreCase: true);
        Assert.Equal("connect", alert.Syscall!.Name);
        Assert.Equal("169.254.169.254:80", alert.Syscall.Args!["addr"]);
        Assert.True(alert.Syscall.Return < 0);
        Assert.Contains("T1552.005", alert.Tags!);
    }
}
