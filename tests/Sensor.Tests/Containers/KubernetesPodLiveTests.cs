using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using Sensor.Containers;
using Sensor.Delivery;
using Sensor.Detection;
using Sensor.Hosting;
using Sensor.Kernel;
using Sensor.Processes;
using Sensor.Tests.Rules.Live;
using Sensor.Tests.Support;
using Triage.Contracts;
using Triage.Fakes.Kubernetes;

namespace Sensor.Tests.Containers;

/// <summary>
/// The real sensor (kernel programs, process table, default rules, spool) with its pod context from the Kubernetes API:
/// a real podman container is presented as a pod of the fake API (its id in <c>containerStatuses[].containerID</c>),
/// and the alert it raises must name that pod, also when the pod was deleted before the alert was processed.
/// </summary>
public sealed class KubernetesPodLiveTests(Podman podman) : IAsyncLifetime
{
    private const string Node = "live-k8s-node";
    private FakeKubernetesApi _api = null!;
    private k8s.Kubernetes _client = null!;
    private KubernetesPodDirectory _pods = null!;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];
    private KernelProbe? _probe;
    private AlertSpool _spool = null!;
    private DirectoryInfo _dir = null!;

    public async ValueTask InitializeAsync()
    {
        _api = await FakeKubernetesApi.StartAsync(bearerToken: "live-sensor-token-0123456789");
        _api.AddNamespace("shop");
        _client = new k8s.Kubernetes(_api.ClientConfiguration());
        _pods = new KubernetesPodDirectory(_client, new PodIndex(TimeProvider.System, TimeSpan.FromMinutes(5)),
            new PodWatchOptions { NodeName = Node }, TimeProvider.System, NullLogger<KubernetesPodDirectory>.Instance);
        _running.Add(_pods.RunAsync(_stop.Token));
        await _pods.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_running);
        if (_probe is not null)
            await _probe.DisposeAsync();
        _dir?.Delete(true);
        _client.Dispose();
        await _api.DisposeAsync();
        _stop.Dispose();
    }

    /// <summary>The pipeline as <see cref="SensorHost"/> composes it, with the pod directory; containers only.</summary>
    private void StartSensor(string obj)
    {
        var time = TimeProvider.System;
        var detector = RuleDetector.Load([Path.Combine(RepoFiles.Root, "Sensor", "rules")], Node);
        var channel = Channel.CreateBounded<KernelEvent>(65_536);
        _probe = KernelProbe.Start(new KernelProbeOptions
        {
            ObjectPath = obj,
            Kinds = detector.RequiredKinds(),
            // As SensorHost does: the opens the loaded rules can match (here /etc/shadow and /etc/gshadow).
            WatchedPathPrefixes = RuleDetector.WatchedOpenPaths(detector.Rules).Prefixes,
            WatchedPathSuffixes = RuleDetector.WatchedOpenPaths(detector.Rules).Suffixes,
            ContainerOnly = true,
        }, channel.Writer, time);
        var table = new ProcessTable(time);
        table.SeedFromProc();
        var containers = new ContainerDirectory(new PodmanRuntime(Podman.ConfigPath), _pods, time);
        _dir = Directory.CreateTempSubdirectory("sensor-k8s-spool-");
        _spool = new AlertSpool(_dir.FullName);
        var pipeline = new SensorPipeline(channel.Reader, new Sensor.Pipeline.EventBuilder(table, containers, time), detector, containers,
            _spool, new SensorMetrics(Metrics.NewCustomRegistry()),
            // A loaded 2-vCPU machine can take seconds for podman inspect; the pod itself comes from the watch.
            new PipelineOptions { PodWait = TimeSpan.FromSeconds(15) }, NullLogger<SensorPipeline>.Instance);
        _running.Add(pipeline.RunAsync(_stop.Token));
    }

    private async Task<NativeAlert> WaitForAlert(Func<NativeAlert, bool> match, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var hit = _spool.Peek(10_000).Select(x => x.Alert).FirstOrDefault(match);
            if (hit is not null)
                return hit;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        var seen = string.Join("; ", _spool.Peek(10_000).Select(x => $"{x.Alert.Rule} {x.Alert.Container?.Id} {x.Alert.K8s?.Pod}"));
        Assert.Fail($"no alert within 30 s: {what}; spool has: {seen}");
        return null!;
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "not within 10 s: " + what);
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    private static async Task ExecIn(string container, params string[] command)
    {
        var (_, code, output) = await LiveSensor.ExecRetryingWhilePaused(["exec", container, .. command]);
        Assert.True(code == 0, $"podman exec {string.Join(' ', command)} exited {code}: {output}");
    }

    [Fact]
    public async Task ContainerPresentedAsPod_AlertNamesPodNamespaceAndWorkloadFromTheApi()
    {
        var obj = Requires.Ebpf();
        Requires.Podman();
        StartSensor(obj);
        // No io.kubernetes.* labels: whatever pod the alert names can only come from the Kubernetes API.
        var (id, name) = await podman.Start(["--network", "none"], "sleep", "120");
        var pod = _api.WithContainerId(
            _api.AddDeployment("shop", "checkout", [new Rollout(DateTimeOffset.UnixEpoch, "registry.local/shop/checkout:2.1")], node: Node),
            id, runtime: "cri-o");

        await ExecIn(name, "cat", "/etc/shadow");

        var alert = await WaitForAlert(a => a.Rule == "Shadow password file read" && a.Container?.Id == id[..12], "shadow read in the pod's container");
        Assert.Equal("shop", alert.K8s?.Namespace);
        Assert.Equal(pod.Pod, alert.K8s?.Pod);
        Assert.Equal("Deployment", alert.K8s?.WorkloadKind);
        Assert.Equal("checkout", alert.K8s?.WorkloadName);
        Assert.Equal("checkout", alert.K8s?.Labels?["app"]);
        Assert.Null(alert.K8s?.Pending);
    }

    [Fact]
    public async Task PodDeletedBeforeTheAlert_ResolvesFromTheTombstone()
    {
        var obj = Requires.Ebpf();
        Requires.Podman();
        StartSensor(obj);
        var (id, name) = await podman.Start(["--network", "none"], "sleep", "120");
        var pod = _api.WithContainerId(_api.AddBarePod("shop", "short-lived", "busybox:1.36", node: Node), id);
        await Until(() => _pods.Find(id) is not null, "the watch to report the pod");

        // The pod is gone (as after a 60-second job) before the container's syscall reaches the rules.
        _api.Store.Delete(KubernetesResources.Pods, "shop", pod.Pod);
        await Until(() => _pods.Index.TombstoneCount == 1 && _pods.Index.PodCount == 0, "the deletion to arrive");
        await ExecIn(name, "cat", "/etc/shadow");

        var alert = await WaitForAlert(a => a.Rule == "Shadow password file read" && a.Container?.Id == id[..12], "shadow read after the pod was deleted");
        Assert.Equal("shop", alert.K8s?.Namespace);
        Assert.Equal("short-lived", alert.K8s?.Pod);
        Assert.Equal("Pod", alert.K8s?.WorkloadKind);
        Assert.Null(alert.K8s?.Pending);
    }
}
