using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Prometheus;
using Sensor.Containers;
using Triage.Fakes.Kubernetes;

namespace Sensor.Tests.Containers;

/// <summary>
/// The pod directory against the fake Kubernetes API over real HTTP: list, watch, 410 Gone, outages. Backoff and
/// tombstones run on a <see cref="FakeTimeProvider"/>; the waits below only wait for HTTP round trips.
/// </summary>
public sealed class KubernetesPodDirectoryTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 1, 0, 0, TimeSpan.Zero));
    private readonly CancellationTokenSource _stop = new();
    private FakeKubernetesApi _api = null!;
    private k8s.Kubernetes _client = null!;
    private Task _running = Task.CompletedTask;

    public async ValueTask InitializeAsync()
    {
        _api = await FakeKubernetesApi.StartAsync(bearerToken: "sensor-token-0123456789");
        _api.AddNamespace("shop");
        _api.AddNamespace("ops");
        _client = new k8s.Kubernetes(_api.ClientConfiguration());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running;
        _client.Dispose();
        await _api.DisposeAsync();
        _stop.Dispose();
    }

    private KubernetesPodDirectory Start(TimeSpan? tombstone = null)
    {
        var directory = new KubernetesPodDirectory(_client, new PodIndex(_time, tombstone ?? TimeSpan.FromMinutes(5)),
            new PodWatchOptions { NodeName = "node-1" }, _time, NullLogger<KubernetesPodDirectory>.Instance);
        _running = directory.RunAsync(_stop.Token);
        return directory;
    }

    /// <summary>Waits (real time, bounded) for the directory to react to an HTTP exchange with the fake.</summary>
    private async Task Until(Func<bool> condition, string what, Func<string>? state = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"not within 10 s: {what}; {state?.Invoke()}; the fake saw: {string.Join(", ", _api.Requests.Select(r => $"{r.Method} {r.Path}{Uri.UnescapeDataString(r.Query)}"))}");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    private static Rollout Web => new(DateTimeOffset.UnixEpoch, "registry.local/shop/web:1.4");

    [Fact]
    public async Task Run_ListsThenWatches_PodsOfThisNodeOnly()
    {
        var mine = _api.AddDeployment("shop", "web", [Web], node: "node-1");
        var other = _api.AddDeployment("shop", "api", [Web], node: "node-2");
        var directory = Start();

        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        var pod = directory.Find(mine.ContainerId)!.Pod;
        Assert.Equal(("shop", mine.Pod, "Deployment", "web", "node-1", "default"),
            (pod.Namespace, pod.Pod, pod.WorkloadKind, pod.WorkloadName, pod.Node, pod.ServiceAccount));
        Assert.Equal("web", pod.Labels["app"]);
        Assert.Null(directory.Find(other.ContainerId));
        var requests = _api.Requests;
        Assert.Contains(requests, r => !r.Watch && r.Path == "/api/v1/pods"
            && Uri.UnescapeDataString(r.Query).Contains("fieldSelector=spec.nodeName=node-1", StringComparison.Ordinal));
        await Until(() => _api.Requests.Any(r => r.Watch && r.Query.Contains("resourceVersion=", StringComparison.Ordinal)), "the watch from the list's resourceVersion");
    }

    [Fact]
    public async Task Watch_AddModifyDelete_AreAppliedAndDeletedPodStaysAsTombstoneUntilExpiry()
    {
        var directory = Start(tombstone: TimeSpan.FromMinutes(2));
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Until(() => _api.Store.OpenWatchCount > 0, "the watch to open");

        var added = _api.AddStatefulSet("ops", "db", [Web], node: "node-1");
        await Until(() => directory.Find(added.ContainerId) is not null, "ADDED pod");
        Assert.Equal(("StatefulSet", "db"), (directory.Find(added.ContainerId)!.Pod.WorkloadKind, directory.Find(added.ContainerId)!.Pod.WorkloadName));

        _api.Store.Update(KubernetesResources.Pods, "ops", added.Pod, pod =>
        {
            pod["metadata"]!["labels"]!["tier"] = "data";
            return pod;
        });
        await Until(() => directory.Find(added.ContainerId)?.Pod.Labels.GetValueOrDefault("tier") == "data", "MODIFIED labels");

        _api.Store.Delete(KubernetesResources.Pods, "ops", added.Pod);
        await Until(() => directory.Index.TombstoneCount == 1, "DELETED pod as tombstone");
        Assert.Equal(added.Pod, directory.Find(added.ContainerId)!.Pod.Pod);
        Assert.Equal(0, directory.Index.PodCount);

        _time.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(directory.Find(added.ContainerId));
        Assert.Equal(0, directory.Index.TombstoneCount);
    }

    private static readonly DateTimeOffset NightlyRun = new(2026, 11, 26, 0, 30, 0, TimeSpan.Zero);

    private static string JobPath(string ns, string job) => $"/apis/batch/v1/namespaces/{ns}/jobs/{job}";

    [Fact]
    public async Task JobPods_OfACronJob_AreNamedAfterTheCronJob_EachJobReadOnce()
    {
        var listed = _api.AddCronJob("ops", "nightly-backup", "registry.local/ops/backup:2", at: NightlyRun);
        var directory = Start();
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Until(() => _api.Store.OpenWatchCount > 0, "the watch to open");

        var watched = _api.AddCronJob("ops", "nightly-backup", "registry.local/ops/backup:2", at: NightlyRun.AddDays(1));
        var plain = _api.AddJob("ops", "migrate-db", "registry.local/ops/migrate:7");
        await Until(() => directory.Find(watched.ContainerId) is not null && directory.Find(plain.ContainerId) is not null, "the watched Job pods");
        _api.Store.Update(KubernetesResources.Pods, "ops", watched.Pod, pod =>
        {
            pod["metadata"]!["labels"]!["tier"] = "batch";
            return pod;
        });
        await Until(() => directory.Find(watched.ContainerId)?.Pod.Labels.GetValueOrDefault("tier") == "batch", "MODIFIED labels");

        Assert.Equal(("CronJob", "nightly-backup"), Workload(directory, listed));
        Assert.Equal(("CronJob", "nightly-backup"), Workload(directory, watched));
        Assert.Equal(("Job", "migrate-db"), Workload(directory, plain));
        // One read per Job, not per pod event: the listed run's, the watched run's (ADDED and MODIFIED), the plain Job's.
        var reads = _api.Requests.Where(r => r.Method == "GET" && r.Path.StartsWith("/apis/batch/v1/", StringComparison.Ordinal)).Select(r => r.Path).ToList();
        Assert.Equal(
            [JobPath("ops", $"nightly-backup-{NightlyRun.ToUnixTimeSeconds() / 60}"), JobPath("ops", $"nightly-backup-{NightlyRun.AddDays(1).ToUnixTimeSeconds() / 60}"), JobPath("ops", "migrate-db")],
            reads);
        Assert.Equal((3, 0), directory.JobReads);
    }

    [Fact]
    public async Task JobRead_Forbidden_PodIsNamedAfterTheJob_WatchGoesOn_CronJobAfterTheRetry()
    {
        _api.Forbid(KubernetesResources.Jobs);
        var directory = Start();
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Until(() => _api.Store.OpenWatchCount > 0, "the watch to open");
        var job = $"nightly-backup-{NightlyRun.ToUnixTimeSeconds() / 60}";

        var run = _api.AddCronJob("ops", "nightly-backup", "registry.local/ops/backup:2", at: NightlyRun);
        await Until(() => directory.Find(run.ContainerId) is not null, "the pod despite the 403 on its Job");
        Assert.Equal(("Job", job), Workload(directory, run));
        Assert.Equal((0, 1), directory.JobReads);
        Assert.Equal(0, directory.Failures);

        // Within JobReadRetry another event of the pod does not read the Job again.
        _api.Allow(KubernetesResources.Jobs);
        Relabel(run, "1");
        await Until(() => directory.Find(run.ContainerId)?.Pod.Labels.GetValueOrDefault("attempt") == "1", "MODIFIED before the retry");
        Assert.Equal(("Job", job), Workload(directory, run));
        Assert.Single(_api.Requests, r => r.Path == JobPath("ops", job));

        _time.Advance(TimeSpan.FromMinutes(1));
        Relabel(run, "2");
        await Until(() => directory.Find(run.ContainerId)?.Pod.Labels.GetValueOrDefault("attempt") == "2", "MODIFIED after the retry");
        Assert.Equal(("CronJob", "nightly-backup"), Workload(directory, run));
        Assert.Equal((1, 1), directory.JobReads);
        Assert.Equal(0, directory.Failures);
    }

    private void Relabel(WorkloadPod pod, string attempt) =>
        _api.Store.Update(KubernetesResources.Pods, pod.Namespace, pod.Pod, json =>
        {
            json["metadata"]!["labels"]!["attempt"] = attempt;
            return json;
        });

    private static (string?, string?) Workload(KubernetesPodDirectory directory, WorkloadPod pod)
    {
        var found = directory.Find(pod.ContainerId)!.Pod;
        return (found.WorkloadKind, found.WorkloadName);
    }

    [Fact]
    public async Task Watch_ContainerIdReportedLater_ResolvesTheRealContainer()
    {
        var directory = Start();
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var pod = _api.AddBarePod("shop", "debug", "busybox:1.36", node: "node-1");
        var real = new string('e', 64);

        _api.WithContainerId(pod, real, runtime: "cri-o");

        await Until(() => directory.Find(real) is not null, "the containerID set after start");
        Assert.Equal(("Pod", "debug"), (directory.Find(real)!.Pod.WorkloadKind, directory.Find(real)!.Pod.WorkloadName));
    }

    [Fact]
    public async Task Watch_ResumeAfterHistoryCompacted_Gets410AndRelists()
    {
        var doomed = _api.AddDeployment("shop", "web", [Web], node: "node-1");
        var directory = Start();
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Until(() => _api.Store.OpenWatchCount > 0, "the watch to open");

        // While the watch is away (held in the fake's latency), the pod goes and the history is compacted, so the
        // resume from the old resourceVersion is answered with an ERROR event carrying 410 Expired.
        _api.Latency = TimeSpan.FromMilliseconds(300);
        _api.Store.CloseWatches();
        _api.Store.Delete(KubernetesResources.Pods, "shop", doomed.Pod);
        var fresh = _api.AddBarePod("shop", "fresh", "busybox:1.36", node: "node-1");
        _api.Store.CompactHistory();
        _api.Latency = TimeSpan.Zero;

        await Until(() => directory.Lists == 2, "a re-list after 410", () => $"failures {directory.Failures} ({directory.LastError}), restarts {directory.Restarts}");
        Assert.Equal(1, directory.Restarts.Expired);
        Assert.Equal(0, directory.Failures);
        Assert.Equal("fresh", directory.Find(fresh.ContainerId)!.Pod.Pod);
        // The list no longer has the deleted pod: it is a tombstone, still resolvable.
        Assert.Equal(doomed.Pod, directory.Find(doomed.ContainerId)!.Pod.Pod);
        Assert.Equal(1, directory.Index.TombstoneCount);
    }

    [Theory]
    [InlineData(KubernetesOutage.Unavailable)]
    [InlineData(KubernetesOutage.ConnectionReset)]
    public async Task Outage_BacksOffDoublingAndRecoversWithAList(KubernetesOutage outage)
    {
        var known = _api.AddDeployment("shop", "web", [Web], node: "node-1");
        var directory = Start();
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Until(() => _api.Store.OpenWatchCount > 0, "the watch to open");

        _api.Outage = outage;
        await Until(() => directory.Failures == 1, "the first failure");
        Assert.Equal(TimeSpan.FromMilliseconds(500), directory.CurrentBackoff);

        _time.Advance(TimeSpan.FromMilliseconds(500));
        await Until(() => directory.Failures == 2, "the second failure");
        Assert.Equal(TimeSpan.FromSeconds(1), directory.CurrentBackoff);
        // Pods known before the outage stay resolvable through it.
        Assert.Equal(known.Pod, directory.Find(known.ContainerId)!.Pod.Pod);

        var added = _api.AddBarePod("shop", "during-outage", "busybox:1.36", node: "node-1");
        _api.Outage = KubernetesOutage.None;
        _time.Advance(TimeSpan.FromSeconds(1));

        await Until(() => directory.Lists == 2, "the re-list after the outage");
        Assert.Equal("during-outage", directory.Find(added.ContainerId)!.Pod.Pod);
        // One list attempt per backoff step (first, failed during the outage, recovered): the API server is not hammered.
        Assert.Equal(3, _api.Requests.Count(r => !r.Watch && r.Path == "/api/v1/pods"));
        await Until(() => directory.CurrentBackoff == TimeSpan.Zero || _api.Store.OpenWatchCount > 0, "the watch to reopen");
        Assert.True(directory.Restarts.Error >= 2);
    }

    [Fact]
    public async Task WaitForPod_AlertWaiting_ResolvesAsSoonAsTheWatchHasThePod()
    {
        var directory = Start();
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Until(() => _api.Store.OpenWatchCount > 0, "the watch to open");
        var id = new string('f', 64);
        var containers = new ContainerDirectory(new NoRuntime(), directory, _time);

        // The fake clock never moves: only the watch's change signal can end this wait before its 30 s.
        var waiting = containers.WaitForPodAsync(id, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.False(waiting.IsCompleted);
        var pod = _api.WithContainerId(_api.AddDeployment("shop", "web", [Web], node: "node-1"), id);

        var (container, k8s, pending) = await waiting.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.False(pending);
        Assert.Equal(pod.Pod, k8s!.Pod);
        Assert.Equal(("Deployment", "web"), (k8s.WorkloadKind, k8s.WorkloadName));
        Assert.Equal("registry.local/shop/web:1.4", container.Image);
    }

    [Fact]
    public async Task Metrics_ReportPodsTombstonesAndRestarts()
    {
        var pod = _api.AddDeployment("shop", "web", [Web], node: "node-1");
        var directory = Start();
        var registry = Metrics.NewCustomRegistry();
        directory.RegisterMetrics(registry);
        await directory.Synced.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await Until(() => _api.Store.OpenWatchCount > 0, "the watch to open");
        _api.Store.Delete(KubernetesResources.Pods, "shop", pod.Pod);
        await Until(() => directory.Index.TombstoneCount == 1, "the tombstone");

        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream, TestContext.Current.CancellationToken);
        var text = System.Text.Encoding.UTF8.GetString(stream.ToArray());

        Assert.Contains("sensor_k8s_pods{state=\"live\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("sensor_k8s_pods{state=\"tombstone\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("sensor_k8s_watch_restarts{reason=\"expired\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("sensor_k8s_pod_lists 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WrongToken_FailsAndRetriesWithoutCrashing()
    {
        using var client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = _api.BaseAddress.ToString().TrimEnd('/'), AccessToken = "wrong-token" });
        var directory = new KubernetesPodDirectory(client, new PodIndex(_time, TimeSpan.FromMinutes(5)),
            new PodWatchOptions { NodeName = "node-1" }, _time, NullLogger<KubernetesPodDirectory>.Instance);
        _running = directory.RunAsync(_stop.Token);

        await Until(() => directory.Failures == 1, "the 401");
        Assert.False(directory.Synced.IsCompleted);
        Assert.Equal(TimeSpan.FromMilliseconds(500), directory.CurrentBackoff);
    }

    private sealed class NoRuntime : IContainerRuntime
    {
        public Task<ContainerMetadata?> InspectAsync(string containerId, CancellationToken ct) => Task.FromResult<ContainerMetadata?>(null);
    }
}
