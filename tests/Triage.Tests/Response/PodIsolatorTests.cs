using System.Text.Json.Nodes;
using k8s;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Triage.Api.Response;
using Triage.Fakes.Kubernetes;

namespace Triage.Tests.Response;

public sealed class PodIsolatorTests : IAsyncLifetime
{
    private FakeKubernetesApi _api = null!;
    private Kubernetes _client = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _api = await FakeKubernetesApi.StartAsync(bearerToken: "response-test-token-0123456789", cancellationToken: Ct);
        _client = new Kubernetes(_api.ClientConfiguration());
        _api.AddNamespace("payments");
        _api.AddDeployment("payments", "checkout", [new Rollout(DateTimeOffset.Parse("2026-11-20T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture), "localhost/checkout:1")]);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
    }

    private string PodName() => _api.Store.List(KubernetesResources.Pods, "payments").Items.Single()["metadata"]!["name"]!.GetValue<string>();

    private PodIsolator Isolator() => new(_client, new ResponseOptions(), NullLogger<PodIsolator>.Instance);

    [Fact]
    public async Task IsolateAsync_Pod_CreatesDenyAllPolicyWithExactSpecThenLabelsPod()
    {
        var pod = PodName();

        var result = await Isolator().IsolateAsync("payments", pod, 42, Ct);

        Assert.True(result.Succeeded, result.Detail);
        var policy = _api.Store.Get(KubernetesResources.NetworkPolicies, "payments", "triage-quarantine-42");
        Assert.NotNull(policy);
        var expectedSpec = JsonNode.Parse("""
            {
              "podSelector": { "matchLabels": { "triage.security/quarantine": "incident-42" } },
              "policyTypes": ["Ingress", "Egress"]
            }
            """);
        Assert.True(JsonNode.DeepEquals(expectedSpec, policy["spec"]), policy["spec"]!.ToJsonString());
        Assert.Equal("triage", policy["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]!.GetValue<string>());
        var labels = _api.Store.Get(KubernetesResources.Pods, "payments", pod)!["metadata"]!["labels"]!.AsObject();
        Assert.Equal("incident-42", labels["triage.security/quarantine"]!.GetValue<string>());
        Assert.Equal("checkout", labels["app"]!.GetValue<string>());

        // The policy must exist before the label, so the pod is never labelled yet reachable.
        var writes = _api.Requests.Where(r => r.Method is "POST" or "PATCH").Select(r => r.Method).ToList();
        Assert.Equal(["POST", "PATCH"], writes);
    }

    [Fact]
    public async Task IsolateAsync_Twice_IdempotentAndPolicyRestored()
    {
        var pod = PodName();
        await Isolator().IsolateAsync("payments", pod, 7, Ct);
        _api.Store.Update(KubernetesResources.NetworkPolicies, "payments", "triage-quarantine-7", p =>
        {
            p["spec"]!["policyTypes"] = new JsonArray("Ingress");
            return p;
        });

        var again = await Isolator().IsolateAsync("payments", pod, 7, Ct);

        Assert.True(again.Succeeded, again.Detail);
        var types = _api.Store.Get(KubernetesResources.NetworkPolicies, "payments", "triage-quarantine-7")!["spec"]!["policyTypes"]!.AsArray();
        Assert.Equal(["Ingress", "Egress"], types.Select(t => t!.GetValue<string>()));
    }

    [Fact]
    public async Task UndoAsync_IsolatedPod_RemovesLabelAndPolicyKeepsOtherLabels()
    {
        var pod = PodName();
        await Isolator().IsolateAsync("payments", pod, 42, Ct);

        var result = await Isolator().UndoAsync("payments", pod, 42, Ct);

        Assert.True(result.Succeeded, result.Detail);
        Assert.Null(_api.Store.Get(KubernetesResources.NetworkPolicies, "payments", "triage-quarantine-42"));
        var labels = _api.Store.Get(KubernetesResources.Pods, "payments", pod)!["metadata"]!["labels"]!.AsObject();
        Assert.False(labels.ContainsKey("triage.security/quarantine"));
        Assert.Equal("checkout", labels["app"]!.GetValue<string>());
    }

    [Fact]
    public async Task IsolateAsync_UnknownPod_FailsWithoutCreatingPolicy()
    {
        var result = await Isolator().IsolateAsync("payments", "nope-123", 42, Ct);

        Assert.False(result.Succeeded);
        Assert.Contains("not found", result.Detail, StringComparison.Ordinal);
        Assert.Empty(_api.Store.List(KubernetesResources.NetworkPolicies, "payments").Items);
    }

    [Fact]
    public async Task IsolatePodAsync_ThroughResponseService_RecordsSucceededActionAndUndoReleases()
    {
        await using var f = new ResponseFixture();
        var pod = PodName();
        var alert = ResponseFixture.Alert("a1") with { K8s = new Triage.Contracts.KubernetesInfo { Namespace = "payments", Pod = pod } };
        var incident = await f.AddIncidentAsync(alert);
        var services = new ServiceCollection()
            .AddSingleton<IKubernetes>(_client)
            .AddSingleton(f.ResponseOptions)
            .AddLogging()
            .AddScoped<PodIsolator>()
            .BuildServiceProvider();
        var carol = new ResponseRequester("carol", "slack");

        var isolated = await f.Response(services).IsolatePodAsync(incident, carol, null, Ct);
        var released = await f.Response(services).UnisolatePodAsync(incident, carol, Ct);

        Assert.Equal(ResponseActionStatus.Succeeded, isolated.Status);
        Assert.Equal(ResponseActionStatus.Succeeded, released.Status);
        Assert.Null(_api.Store.Get(KubernetesResources.NetworkPolicies, "payments", $"triage-quarantine-{incident.Id}"));
        var kinds = await f.NewContext().Timeline.Where(t => t.IncidentId == incident.Id).OrderBy(t => t.Id).Select(t => t.Kind).ToListAsync(Ct);
        Assert.Equal(["isolate_pod_requested", "isolate_pod_succeeded", "unisolate_pod_requested", "unisolate_pod_succeeded"], kinds);
    }

    [Fact]
    public async Task IsolatePodAsync_ApiDown_RecordedAsFailed()
    {
        await using var f = new ResponseFixture();
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("a1"));
        _api.Outage = KubernetesOutage.Unavailable;
        var services = new ServiceCollection()
            .AddSingleton<IKubernetes>(new Kubernetes(_api.ClientConfiguration(TimeSpan.FromSeconds(5))))
            .AddSingleton(f.ResponseOptions)
            .AddLogging()
            .AddScoped<PodIsolator>()
            .BuildServiceProvider();

        var outcome = await f.Response(services).IsolatePodAsync(incident, new ResponseRequester("carol", "api"), null, Ct);

        Assert.Equal(ResponseActionStatus.Failed, outcome.Status);
        Assert.Contains("503", outcome.Detail, StringComparison.Ordinal);
    }
}
