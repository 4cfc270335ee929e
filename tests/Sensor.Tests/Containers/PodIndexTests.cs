using k8s.Models;
using Microsoft.Extensions.Time.Testing;
using Sensor.Containers;

namespace Sensor.Tests.Containers;

public sealed class PodIndexTests
{
    private const string IdA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string IdB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private const string IdInit = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
    private const string IdDebug = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 1, 0, 0, TimeSpan.Zero));

    internal static V1Pod Pod(string ns, string name, string uid, string? containerId, IDictionary<string, string>? labels = null,
        V1OwnerReference? owner = null, string node = "node-1") => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = ns,
            Uid = uid,
            Labels = labels,
            OwnerReferences = owner is null ? null : [owner],
        },
        Spec = new V1PodSpec { NodeName = node, ServiceAccountName = "web-sa", Containers = [new V1Container { Name = "app" }] },
        Status = new V1PodStatus
        {
            ContainerStatuses = containerId is null
                ? []
                : [new V1ContainerStatus { Name = "app", Image = "registry.local/shop/web:1.4", ImageID = "registry.local/shop/web@sha256:abc", ContainerID = containerId }],
        },
    };

    private static V1OwnerReference ReplicaSet(string name) =>
        new() { ApiVersion = "apps/v1", Kind = "ReplicaSet", Name = name, Uid = "rs-uid", Controller = true };

    [Fact]
    public void Upsert_PodWithContainerStatuses_ResolvesEveryContainerToNamespacePodWorkloadAndLabels()
    {
        var index = new PodIndex(_time, TimeSpan.FromMinutes(5));
        var pod = Pod("shop", "web-7f9c5d4b8-x2x9q", "uid-1", "containerd://" + IdA,
            new Dictionary<string, string> { ["app"] = "web", ["pod-template-hash"] = "7f9c5d4b8" }, ReplicaSet("web-7f9c5d4b8"));
        pod.Status.InitContainerStatuses = [new V1ContainerStatus { Name = "init", Image = "busybox", ContainerID = "cri-o://" + IdInit }];
        pod.Status.EphemeralContainerStatuses = [new V1ContainerStatus { Name = "debugger", Image = "busybox", ContainerID = "docker://" + IdDebug }];

        index.Upsert(pod);

        var match = index.Find(IdA)!;
        Assert.Equal("shop", match.Pod.Namespace);
        Assert.Equal("web-7f9c5d4b8-x2x9q", match.Pod.Pod);
        Assert.Equal("Deployment", match.Pod.WorkloadKind);
        Assert.Equal("web", match.Pod.WorkloadName);
        Assert.Equal("web", match.Pod.Labels["app"]);
        Assert.Equal("web-sa", match.Pod.ServiceAccount);
        Assert.Equal("node-1", match.Pod.Node);
        Assert.Equal("app", match.Container.Name);
        Assert.Equal("registry.local/shop/web:1.4", match.Container.Image);
        Assert.Equal("sha256:abc", match.Container.ImageDigest);
        Assert.Equal("web-7f9c5d4b8-x2x9q", index.Find(IdInit)!.Pod.Pod);
        Assert.Equal("debugger", index.Find(IdDebug)!.Container.Name);
        Assert.Null(index.Find(IdB));
        Assert.Equal(1, index.PodCount);
        Assert.Equal(3, index.ContainerCount);
    }

    [Theory]
    [InlineData("StatefulSet", "db", "StatefulSet", "db")]
    [InlineData("DaemonSet", "agent", "DaemonSet", "agent")]
    [InlineData("Job", "backup-29001234", "Job", "backup-29001234")]
    [InlineData("ReplicaSet", "standalone", "ReplicaSet", "standalone")]
    public void WorkloadOf_ControllerOwner_NamesTheOwner(string ownerKind, string ownerName, string kind, string name)
    {
        var pod = Pod("shop", "p", "u", null, owner: new V1OwnerReference { Kind = ownerKind, Name = ownerName, ApiVersion = "apps/v1", Uid = "o", Controller = true });

        Assert.Equal((kind, name), PodIndex.WorkloadOf(pod));
    }

    [Fact]
    public void WorkloadOf_NoOwner_IsThePodItself() =>
        Assert.Equal(("Pod", "debug"), PodIndex.WorkloadOf(Pod("shop", "debug", "u", null)));

    [Fact]
    public void Upsert_ModifiedPod_UpdatesLabelsAndKeepsReplacedContainerForTheTombstoneTime()
    {
        var index = new PodIndex(_time, TimeSpan.FromMinutes(5));
        index.Upsert(Pod("shop", "web", "uid-1", "containerd://" + IdA, new Dictionary<string, string> { ["v"] = "1" }));

        // The container was replaced and the old id left the status (kubelet keeps only the last terminated one).
        var restarted = Pod("shop", "web", "uid-1", "containerd://" + IdB, new Dictionary<string, string> { ["v"] = "2" });
        index.Upsert(restarted);

        Assert.Equal("2", index.Find(IdB)!.Pod.Labels["v"]);
        Assert.Equal("web", index.Find(IdA)!.Pod.Pod);
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Null(index.Find(IdA));
        Assert.Equal("web", index.Find(IdB)!.Pod.Pod);
    }

    [Fact]
    public void Delete_Pod_ResolvesAsTombstoneUntilItExpires()
    {
        var index = new PodIndex(_time, TimeSpan.FromMinutes(3));
        var pod = Pod("shop", "short-lived", "uid-1", "containerd://" + IdA);
        index.Upsert(pod);

        index.Delete(pod);

        Assert.Equal("short-lived", index.Find(IdA)!.Pod.Pod);
        Assert.Equal(0, index.PodCount);
        Assert.Equal(1, index.TombstoneCount);
        _time.Advance(TimeSpan.FromMinutes(3) - TimeSpan.FromSeconds(1));
        Assert.NotNull(index.Find(IdA));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(index.Find(IdA));
        Assert.Equal(0, index.TombstoneCount);
        Assert.Equal(0, index.ContainerCount);
    }

    [Fact]
    public void Delete_CarriesAContainerNeverSeenBefore_StillResolves()
    {
        var index = new PodIndex(_time, TimeSpan.FromMinutes(3));
        index.Upsert(Pod("shop", "job", "uid-1", null));

        // The container started and the pod was deleted between two watch events: only the DELETED object has its id.
        index.Delete(Pod("shop", "job", "uid-1", "containerd://" + IdA));

        Assert.Equal("job", index.Find(IdA)!.Pod.Pod);
    }

    [Fact]
    public void ReplaceAll_PodMissingFromTheList_BecomesTombstone()
    {
        var index = new PodIndex(_time, TimeSpan.FromMinutes(3));
        index.Upsert(Pod("shop", "gone", "uid-1", "containerd://" + IdA));
        index.Upsert(Pod("shop", "stays", "uid-2", "containerd://" + IdB));

        index.ReplaceAll([Pod("shop", "stays", "uid-2", "containerd://" + IdB)]);

        Assert.Equal(1, index.PodCount);
        Assert.Equal(1, index.TombstoneCount);
        Assert.Equal("gone", index.Find(IdA)!.Pod.Pod);
        _time.Advance(TimeSpan.FromMinutes(3));
        Assert.Null(index.Find(IdA));
        Assert.Equal("stays", index.Find(IdB)!.Pod.Pod);
    }

    [Fact]
    public void Upsert_SignalsChangeAndAnnouncesNewContainersOnce()
    {
        var index = new PodIndex(_time, TimeSpan.FromMinutes(3));
        var learned = new List<string>();
        index.ContainerLearned += (id, _) => learned.Add(id);
        var changed = index.Changed;

        index.Upsert(Pod("shop", "web", "uid-1", "containerd://" + IdA));
        index.Upsert(Pod("shop", "web", "uid-1", "containerd://" + IdA));

        Assert.True(changed.IsCompleted);
        Assert.False(index.Changed.IsCompleted);
        Assert.Equal([IdA], learned);
    }

    [Theory]
    [InlineData("containerd://" + IdA)]
    [InlineData("cri-o://" + IdA)]
    [InlineData("docker://" + IdA)]
    [InlineData(IdA)]
    public void ContainerIdOf_StripsRuntimePrefix(string raw) => Assert.Equal(IdA, PodIndex.ContainerIdOf(raw));
}
