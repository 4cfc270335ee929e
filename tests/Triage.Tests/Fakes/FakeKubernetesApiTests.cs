using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Triage.Fakes.Kubernetes;

namespace Triage.Tests.Fakes;

/// <summary>The fake speaks the protocol KubernetesClient expects, over real HTTP.</summary>
public sealed class FakeKubernetesApiTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 18, 0, 0, TimeSpan.Zero);
    private FakeKubernetesApi _api = null!;
    private Kubernetes _client = null!;

    public async ValueTask InitializeAsync()
    {
        _api = await FakeKubernetesApi.StartAsync(bearerToken: "fake-token-0123456789");
        _client = new Kubernetes(_api.ClientConfiguration(TimeSpan.FromSeconds(10)));
        _api.AddNamespace("shop", new Dictionary<string, string> { ["team"] = "payments" });
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
    }

    [Fact]
    public async Task ListPods_FieldSelectorOnNode_ReturnsOnlyThatNodesPods()
    {
        _api.AddDeployment("shop", "cart", [new Rollout(T0, "registry.local/cart:1.0")], node: "node-a");
        _api.AddDeployment("shop", "web", [new Rollout(T0, "registry.local/web:1.0")], node: "node-b");

        var pods = await _client.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: "spec.nodeName=node-a",
            cancellationToken: TestContext.Current.CancellationToken);

        var pod = Assert.Single(pods.Items);
        Assert.StartsWith("cart-", pod.Metadata.Name, StringComparison.Ordinal);
        Assert.StartsWith("containerd://", pod.Status.ContainerStatuses[0].ContainerID, StringComparison.Ordinal);
        Assert.Equal("ReplicaSet", pod.Metadata.OwnerReferences[0].Kind);
        Assert.False(string.IsNullOrEmpty(pods.Metadata.ResourceVersion));
    }

    [Fact]
    public async Task ListPods_UnsupportedFieldSelector_Is400BadRequest()
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ListNamespacedPodAsync("shop",
            fieldSelector: "spec.containers=x", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(HttpStatusCode.BadRequest, error.Response.StatusCode);
        Assert.Contains("not a known field selector", error.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadPod_Missing_Is404WithStatusBody()
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.CoreV1.ReadNamespacedPodAsync("nope", "shop", cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(HttpStatusCode.NotFound, error.Response.StatusCode);
        var status = KubernetesJson.Deserialize<V1Status>(error.Response.Content);
        Assert.Equal("NotFound", status.Reason);
        Assert.Equal(404, status.Code);
        Assert.Equal("pods \"nope\" not found", status.Message);
    }

    [Fact]
    public async Task Deployment_ReplicaSetsCarryRevisionChangeCauseAndOwner()
    {
        _api.AddDeployment("shop", "cart",
        [
            new Rollout(T0, "registry.local/cart:1.0", "initial"),
            new Rollout(T0.AddHours(1), "registry.local/cart:1.1", "bump to 1.1"),
        ]);

        var deployment = await _client.AppsV1.ReadNamespacedDeploymentAsync("cart", "shop",
            cancellationToken: TestContext.Current.CancellationToken);
        var sets = await _client.AppsV1.ListNamespacedReplicaSetAsync("shop", labelSelector: "app=cart",
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("2", deployment.Metadata.Annotations["deployment.kubernetes.io/revision"]);
        Assert.Equal(2, sets.Items.Count);
        var newest = sets.Items.Single(r => r.Metadata.Annotations["deployment.kubernetes.io/revision"] == "2");
        Assert.Equal("bump to 1.1", newest.Metadata.Annotations["kubernetes.io/change-cause"]);
        Assert.Equal(deployment.Metadata.Uid, newest.Metadata.OwnerReferences.Single().Uid);
        Assert.Equal("registry.local/cart:1.1", newest.Spec.Template.Spec.Containers[0].Image);
        Assert.Equal(T0.AddHours(1).UtcDateTime, newest.Metadata.CreationTimestamp);
    }

    [Fact]
    public async Task StatefulSet_ControllerRevisionsCarryRevisionAndTemplate()
    {
        _api.AddStatefulSet("shop", "db",
            [new Rollout(T0, "registry.local/db:15"), new Rollout(T0.AddDays(1), "registry.local/db:16")]);

        var revisions = await _client.AppsV1.ListNamespacedControllerRevisionAsync("shop", labelSelector: "app=db",
            cancellationToken: TestContext.Current.CancellationToken);
        var pod = await _client.CoreV1.ReadNamespacedPodAsync("db-0", "shop",
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal([1L, 2L], revisions.Items.Select(r => r.Revision).Order());
        var newest = revisions.Items.Single(r => r.Revision == 2);
        Assert.Equal(pod.Metadata.Labels["controller-revision-hash"], newest.Metadata.Name);
        var data = JsonNode.Parse(KubernetesJson.Serialize(newest.Data))!;
        Assert.Equal("registry.local/db:16", (string?)data["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]);
    }

    [Fact]
    public async Task WatchPods_SeesInitialStateThenChangesAndLabelPatch()
    {
        var ct = TestContext.Current.CancellationToken;
        _api.AddBarePod("shop", "first", "busybox:1");
        var seen = new List<(WatchEventType Type, string Name, string? Isolated)>();

        using var watchCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watching = Task.Run(async () =>
        {
            await foreach (var (type, pod) in _client.CoreV1.WatchListNamespacedPodAsync("shop",
                               cancellationToken: watchCancel.Token))
            {
                lock (seen)
                {
                    seen.Add((type, pod.Metadata.Name, pod.Metadata.Labels?.TryGetValue("isolated", out var v) == true ? v : null));
                }

                if (seen.Count == 3)
                {
                    return;
                }
            }
        }, ct);

        await WaitUntil(() => _api.Store.OpenWatchCount == 1, ct);
        _api.AddBarePod("shop", "second", "busybox:1");
        await _client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"metadata":{"labels":{"isolated":"true"}}}""", V1Patch.PatchType.MergePatch),
            "first", "shop", cancellationToken: ct);
        await watching.WaitAsync(TimeSpan.FromSeconds(10), ct);

        Assert.Equal(
        [
            (WatchEventType.Added, "first", null),
            (WatchEventType.Added, "second", null),
            (WatchEventType.Modified, "first", "true"),
        ], seen);
    }

    [Fact]
    public async Task WatchPods_FromCompactedResourceVersion_StreamsExpiredError()
    {
        var ct = TestContext.Current.CancellationToken;
        var list = await _client.CoreV1.ListNamespacedPodAsync("shop", cancellationToken: ct);
        _api.AddBarePod("shop", "later", "busybox:1");
        _api.Store.CompactHistory();
        Exception? error = null;

        await foreach (var _ in _client.CoreV1.WatchListNamespacedPodAsync("shop",
                           resourceVersion: list.Metadata.ResourceVersion, onError: e => error = e, cancellationToken: ct))
        {
            Assert.Fail("no event expected");
        }

        var kubernetes = Assert.IsType<KubernetesException>(error);
        Assert.Equal(410, kubernetes.Status.Code);
        Assert.Equal("Expired", kubernetes.Status.Reason);
    }

    [Fact]
    public async Task NetworkPolicy_CreateTwiceThenDelete_409ThenGone()
    {
        var ct = TestContext.Current.CancellationToken;
        var policy = new V1NetworkPolicy
        {
            Metadata = new V1ObjectMeta { Name = "isolate-cart" },
            Spec = new V1NetworkPolicySpec
            {
                PodSelector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["isolated"] = "true" } },
                PolicyTypes = ["Ingress", "Egress"],
            },
        };

        var created = await _client.NetworkingV1.CreateNamespacedNetworkPolicyAsync(policy, "shop", cancellationToken: ct);
        var again = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.NetworkingV1.CreateNamespacedNetworkPolicyAsync(policy, "shop", cancellationToken: ct));
        await _client.NetworkingV1.DeleteNamespacedNetworkPolicyAsync("isolate-cart", "shop", cancellationToken: ct);
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.NetworkingV1.ReadNamespacedNetworkPolicyAsync("isolate-cart", "shop", cancellationToken: ct));

        Assert.Equal("shop", created.Metadata.NamespaceProperty);
        Assert.Equal(HttpStatusCode.Conflict, again.Response.StatusCode);
        Assert.Contains("AlreadyExists", again.Response.Content, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    [Fact]
    public async Task Outage_UnavailableThenReset_ClientSeesBothFailures()
    {
        var ct = TestContext.Current.CancellationToken;

        _api.Outage = KubernetesOutage.Unavailable;
        var unavailable = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.CoreV1.ReadNamespaceAsync("shop", cancellationToken: ct));
        _api.Outage = KubernetesOutage.ConnectionReset;
        await Assert.ThrowsAsync<HttpRequestException>(() => _client.CoreV1.ReadNamespaceAsync("shop", cancellationToken: ct));
        _api.Outage = KubernetesOutage.None;
        var back = await _client.CoreV1.ReadNamespaceAsync("shop", cancellationToken: ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.Response.StatusCode);
        Assert.Equal("payments", back.Metadata.Labels["team"]);
    }

    [Fact]
    public async Task Request_WithoutToken_Is401()
    {
        using var anonymous = new Kubernetes(new KubernetesClientConfiguration { Host = _api.BaseAddress.ToString() });

        var error = await Assert.ThrowsAsync<HttpOperationException>(() =>
            anonymous.CoreV1.ListNamespaceAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(HttpStatusCode.Unauthorized, error.Response.StatusCode);
    }

    [Fact]
    public async Task Kubeconfig_WrittenByFake_ConnectsThroughClientLoader()
    {
        var path = _api.WriteKubeconfig(Path.Combine(Path.GetTempPath(), $"kubeconfig-{Guid.NewGuid():N}"));
        try
        {
            using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(path));

            var namespaces = await client.CoreV1.ListNamespaceAsync(cancellationToken: TestContext.Current.CancellationToken);

            Assert.Contains(namespaces.Items, n => n.Metadata.Name == "shop");
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task WaitUntil(Func<bool> condition, CancellationToken ct)
    {
        // Waits for the server side to register the watch; bounded, and polled rather than slept on a guess.
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10, ct);
        }

        Assert.True(condition());
    }
}
