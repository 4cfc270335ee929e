using Triage.Api.Enrichment;
using Triage.Fakes.Kubernetes;

namespace Triage.Tests.Enrichment;

/// <summary>The enricher through KubernetesClient against the fake API over real HTTP.</summary>
public sealed class IncidentEnricherTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = EnrichmentHarness.Now;
    private EnrichmentHarness _h = null!;

    public async ValueTask InitializeAsync()
    {
        _h = await EnrichmentHarness.StartAsync();
        _h.Options.Ownership.Namespaces = [new NamespaceMapping { Namespace = "pay-*", Team = "payments" }];
        _h.Options.Ownership.Images = [new ImageMapping { Repository = "registry.local/search/*", Team = "search" }];
        _h.Options.Ownership.FallbackTeam = "platform";
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    private static Dictionary<string, string> Map(string key, string value) => new() { [key] = value };

    public static readonly TheoryData<string, string> Sources = new()
    {
        { "workload_label", "checkout" },
        { "workload_annotation", "checkout" },
        { "pod_label", "checkout" },
        { "namespace_label", "payments" },
        { "namespace_annotation", "payments" },
        { "namespace_mapping", "payments" },
        { "image_mapping", "search" },
        { "fallback", "platform" },
    };

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task EnrichAsync_EachOwnershipSource_DecidesAndIsNamed(string source, string team)
    {
        var ns = source == "namespace_mapping" ? "pay-eu" : "shop";
        _h.Api.AddNamespace(ns,
            labels: source == "namespace_label" ? Map("team", "payments") : null,
            annotations: source == "namespace_annotation" ? Map("owner", "payments") : null);
        var image = source == "image_mapping" ? "registry.local/search/indexer:3" : "registry.local/cart:1";
        var pod = _h.Api.AddDeployment(ns, "cart", [new Rollout(Now.AddDays(-3), image)],
            labels: source == "workload_label" ? Map("team", "checkout") : null,
            annotations: source == "workload_annotation" ? Map("team", "checkout") : null,
            podLabels: source == "pod_label" ? Map("owner", "checkout") : null);

        var result = await _h.Enricher().EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.Complete, result.Status);
        Assert.Equal((team, source), (result.Owner.Team, result.Owner.Source));
    }

    [Fact]
    public async Task EnrichAsync_FreshRolloutWithNewImage_FactsAndHistory()
    {
        _h.Api.AddNamespace("shop", Map("team", "payments"));
        var pod = _h.Api.AddDeployment("shop", "cart",
        [
            new Rollout(Now.AddDays(-10), "registry.local/cart:1.0", "initial"),
            new Rollout(Now.AddDays(-2), "registry.local/cart:1.1", "bump to 1.1"),
            new Rollout(Now.AddMinutes(-7), "registry.local/cart:1.2", "kubectl set image deployment/cart app=registry.local/cart:1.2"),
        ], annotations: Map("argocd.argoproj.io/tracking-id", "shop-cart:apps/Deployment:shop/cart"));

        var result = await _h.Enricher().EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        var deployments = Assert.IsType<DeploymentView>(result.Deployments);
        Assert.Equal("ReplicaSets of Deployment shop/cart", deployments.Source);
        Assert.Equal([3L, 2L, 1L], deployments.Rollouts.Select(r => r.Revision));
        Assert.Equal(["registry.local/cart:1.2"], deployments.Rollouts[0].Images);
        Assert.Equal("bump to 1.1", deployments.Rollouts[1].ChangeCause);
        Assert.Equal(7, deployments.MinutesBeforeAlert);
        Assert.Equal(
        [
            (FactKinds.FreshRollout, "rolled out 7 minutes before the alert (revision 3)"),
            (FactKinds.ImageChanged, "image changed in the last rollout: registry.local/cart:1.1 → registry.local/cart:1.2"),
            (FactKinds.GitOpsArgoCd, "managed by Argo CD application shop-cart"),
        ], deployments.Facts.Select(f => (f.Kind, f.Text)));
        Assert.Equal(("Deployment", "cart", "kubernetes"), (result.Workload!.Kind, result.Workload.Name, result.Workload.Source));
        Assert.Equal("metadata-credential-access", result.Runbook!.Name);
        Assert.Equal("/runbooks/metadata-credential-access", result.Runbook.Link);
        Assert.NotEmpty(result.Runbook.FirstSteps);
    }

    [Fact]
    public async Task EnrichAsync_OldRolloutSameImage_NoFreshOrImageFacts()
    {
        _h.Api.AddNamespace("shop");
        var pod = _h.Api.AddDeployment("shop", "cart",
        [
            new Rollout(Now.AddDays(-10), "registry.local/cart:1.0"),
            new Rollout(Now.AddDays(-2), "registry.local/cart:1.0", "env change only"),
        ]);

        var result = await _h.Enricher().EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        Assert.Empty(result.Deployments!.Facts);
        Assert.Equal(2 * 24 * 60, result.Deployments.MinutesBeforeAlert);
    }

    [Theory]
    [InlineData("StatefulSet")]
    [InlineData("DaemonSet")]
    public async Task EnrichAsync_ControllerRevisionWorkloads_HistoryFromRevisions(string kind)
    {
        _h.Api.AddNamespace("data");
        Rollout[] rollouts =
        [
            new(Now.AddDays(-30), "registry.local/db:15"),
            new(Now.AddMinutes(-42), "registry.local/db:16", "upgrade to 16"),
        ];
        var pod = kind == "StatefulSet"
            ? _h.Api.AddStatefulSet("data", "db", rollouts, labels: Map("kustomize.toolkit.fluxcd.io/name", "databases"))
            : _h.Api.AddDaemonSet("data", "db", rollouts, labels: Map("kustomize.toolkit.fluxcd.io/name", "databases"));

        var result = await _h.Enricher().EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        var deployments = result.Deployments!;
        Assert.Equal($"ControllerRevisions of {kind} data/db", deployments.Source);
        Assert.Equal([2L, 1L], deployments.Rollouts.Select(r => r.Revision));
        Assert.Equal(["registry.local/db:16"], deployments.Rollouts[0].Images);
        Assert.Equal("upgrade to 16", deployments.Rollouts[0].ChangeCause);
        Assert.Contains(deployments.Facts, f => f.Kind == FactKinds.FreshRollout && f.Text.StartsWith("rolled out 42 minutes", StringComparison.Ordinal));
        Assert.Contains(deployments.Facts, f => f.Kind == FactKinds.ImageChanged);
        Assert.Contains(deployments.Facts, f => f.Kind == FactKinds.GitOpsFlux && f.Text == "managed by Flux Kustomization ?/databases");
    }

    [Fact]
    public async Task EnrichAsync_NoKubernetesContext_OwnerFromImageMappingAndRunbookStill()
    {
        var subject = new EnrichmentSubject
        {
            Rule = "Contact EC2 Instance Metadata Service From Container",
            Tags = ["T1552.005"],
            AlertTime = Now,
            Node = "node-1",
            Image = "registry.local/search/indexer:3",
        };

        var withoutCluster = await _h.Enricher(withKubernetes: false).EnrichAsync(subject with { Namespace = "shop" },
            TestContext.Current.CancellationToken);
        var hostAlert = await _h.Enricher().EnrichAsync(subject, TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.NotApplicable, withoutCluster.Status);
        Assert.StartsWith("no Kubernetes context", withoutCluster.Reason, StringComparison.Ordinal);
        Assert.Equal(("search", "image_mapping"), (withoutCluster.Owner.Team, withoutCluster.Owner.Source));
        Assert.Equal("alert", withoutCluster.Workload!.Source);
        Assert.Equal(EnrichmentStatus.NotApplicable, hostAlert.Status);
        Assert.Null(hostAlert.Workload);
        Assert.Equal(("metadata-credential-access", "rule"), (hostAlert.Runbook!.Name, hostAlert.Runbook.MatchedBy));
        Assert.Empty(_h.Api.Requests);
    }

    [Theory]
    [InlineData(KubernetesOutage.Unavailable, "Kubernetes API answered 503 ServiceUnavailable")]
    [InlineData(KubernetesOutage.ConnectionReset, "Kubernetes API unreachable")]
    public async Task EnrichAsync_ApiDownThenBack_UnavailableWithReasonThenComplete(KubernetesOutage outage, string reason)
    {
        _h.Api.AddNamespace("pay-eu", Map("team", "checkout"));
        var pod = _h.Api.AddDeployment("pay-eu", "cart", [new Rollout(Now.AddMinutes(-3), "registry.local/cart:1")]);
        var enricher = _h.Enricher();
        _h.Api.Outage = outage;

        var down = await enricher.EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);
        _h.Api.Outage = KubernetesOutage.None;
        var back = await enricher.EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.Unavailable, down.Status);
        Assert.StartsWith(reason, down.Reason, StringComparison.Ordinal);
        Assert.Equal(("payments", "namespace_mapping"), (down.Owner.Team, down.Owner.Source));
        Assert.NotNull(down.Runbook);
        Assert.Null(down.Deployments);
        Assert.Equal(EnrichmentStatus.Complete, back.Status);
        Assert.Equal(("checkout", "namespace_label"), (back.Owner.Team, back.Owner.Source));
        Assert.Contains(back.Deployments!.Facts, f => f.Kind == FactKinds.FreshRollout);
    }

    [Fact]
    public async Task EnrichAsync_ApiSlowerThanTimeout_UnavailableInTime()
    {
        _h.Api.AddNamespace("shop");
        var pod = _h.Api.AddDeployment("shop", "cart", [new Rollout(Now.AddDays(-1), "registry.local/cart:1")]);
        _h.Options.Kubernetes.RequestTimeout = TimeSpan.FromMilliseconds(200);
        _h.Api.Latency = TimeSpan.FromSeconds(30);
        var started = System.Diagnostics.Stopwatch.StartNew();

        var result = await _h.Enricher().EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.Unavailable, result.Status);
        Assert.Equal("Kubernetes API did not answer in time", result.Reason);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task EnrichAsync_Forbidden_ReasonNamesMissingPermission()
    {
        _h.Api.AddNamespace("shop");
        var pod = _h.Api.AddDeployment("shop", "cart", [new Rollout(Now.AddDays(-1), "registry.local/cart:1")]);
        _h.Api.Forbid(KubernetesResources.ReplicaSets);

        var result = await _h.Enricher().EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.Unavailable, result.Status);
        Assert.Contains("403 Forbidden", result.Reason, StringComparison.Ordinal);
        Assert.Contains("cannot get resource \"replicasets\"", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnrichAsync_UnknownWorkload_PartialWithReasonAndFallbackOwner()
    {
        _h.Api.AddNamespace("shop");
        var subject = new EnrichmentSubject
        {
            Rule = "container-drift",
            AlertTime = Now,
            Namespace = "shop",
            WorkloadKind = "Deployment",
            WorkloadName = "ghost",
            Node = "node-1",
        };

        var result = await _h.Enricher().EnrichAsync(subject, TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.Partial, result.Status);
        Assert.Equal("Deployment shop/ghost was not found in the cluster", result.Reason);
        Assert.Equal(("platform", "fallback"), (result.Owner.Team, result.Owner.Source));
        Assert.Null(result.Deployments);
        Assert.Equal("container-drift", result.Runbook!.Name);
    }

    [Fact]
    public async Task EnrichAsync_PodGoneButWorkloadNamed_HistoryStillRead()
    {
        _h.Api.AddNamespace("shop");
        var pod = _h.Api.AddDeployment("shop", "cart", [new Rollout(Now.AddMinutes(-2), "registry.local/cart:1")]);
        _h.Api.Store.Delete(KubernetesResources.Pods, "shop", pod.Pod);

        var result = await _h.Enricher().EnrichAsync(EnrichmentHarness.Subject(pod), TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.Complete, result.Status);
        Assert.Contains($"pod shop/{pod.Pod} no longer exists", result.Notes);
        Assert.Single(result.Deployments!.Rollouts);
    }

    [Fact]
    public async Task EnrichAsync_KubernetesPending_PodFoundByContainerIdOnNode()
    {
        _h.Api.AddNamespace("shop", Map("team", "payments"));
        _h.Api.AddDeployment("shop", "web", [new Rollout(Now.AddDays(-1), "registry.local/web:1")], node: "node-7");
        var enricher = _h.Enricher();
        var first = await enricher.EnrichAsync(new EnrichmentSubject
        {
            Rule = "shell-in-container", AlertTime = Now, Node = "node-7", ContainerId = "ffffffffffffffff",
            KubernetesPending = true,
        }, TestContext.Current.CancellationToken);
        // The pod starts after the node's pod list was cached: a miss reads the list again.
        var pod = _h.Api.AddDeployment("shop", "cart", [new Rollout(Now.AddMinutes(-1), "registry.local/cart:1")], node: "node-7");

        var result = await enricher.EnrichAsync(new EnrichmentSubject
        {
            Rule = "shell-in-container", AlertTime = Now, Node = "node-7", ContainerId = pod.ContainerId[..12],
            KubernetesPending = true,
        }, TestContext.Current.CancellationToken);

        Assert.Equal(EnrichmentStatus.Partial, first.Status);
        Assert.Equal(EnrichmentStatus.Complete, result.Status);
        Assert.Equal(("shop", pod.Pod, "Deployment", "cart", true),
            (result.Workload!.Namespace, result.Workload.Pod, result.Workload.Kind, result.Workload.Name,
                result.Workload.ResolvedFromContainerId));
        Assert.Equal(("payments", "namespace_label"), (result.Owner.Team, result.Owner.Source));
    }

    [Fact]
    public async Task EnrichAsync_WithinStalenessBound_ServedFromCacheThenReadAgain()
    {
        _h.Api.AddNamespace("shop");
        var pod = _h.Api.AddDeployment("shop", "cart", [new Rollout(Now.AddDays(-1), "registry.local/cart:1")]);
        _h.Options.Kubernetes.CacheTtl = TimeSpan.FromSeconds(30);
        var enricher = _h.Enricher();
        var ct = TestContext.Current.CancellationToken;

        await enricher.EnrichAsync(EnrichmentHarness.Subject(pod), ct);
        var cold = _h.Api.Requests.Count;
        _h.Time.Advance(TimeSpan.FromSeconds(29));
        _h.Api.AddNamespace("shop", Map("team", "search"));
        var warm = await enricher.EnrichAsync(EnrichmentHarness.Subject(pod), ct);
        var afterWarm = _h.Api.Requests.Count;
        _h.Time.Advance(TimeSpan.FromSeconds(2));
        var stale = await enricher.EnrichAsync(EnrichmentHarness.Subject(pod), ct);

        Assert.Equal(5, cold); // pod, namespace, ReplicaSet, Deployment, ReplicaSet list
        Assert.Equal(cold, afterWarm);
        Assert.Equal("fallback", warm.Owner.Source);
        Assert.Equal(Now, warm.KubernetesReadAt);
        Assert.Equal(("search", "namespace_label"), (stale.Owner.Team, stale.Owner.Source));
        Assert.Equal(2 * cold, _h.Api.Requests.Count);
    }
}
