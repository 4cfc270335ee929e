using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Triage.Api;
using Triage.Api.Enrichment;
using Triage.Contracts;
using Triage.Fakes.Kubernetes;
using Triage.Tests.Support;

namespace Triage.Tests.Enrichment;

/// <summary>The whole service: alerts in over HTTP, the pipeline runs enrichment against the fake Kubernetes API, the
/// incident API shows it.</summary>
public sealed class EnrichmentPipelineTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 10, 0, TimeSpan.Zero);
    private FakeKubernetesApi _api = null!;
    private readonly FakeTimeProvider _clock = new(Now);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _api = await FakeKubernetesApi.StartAsync();

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    private Task<TriageTestHost> StartHostAsync() => TriageTestHost.StartAsync(clock: _clock, extraYaml: $"""
        enrichment:
          ownership:
            fallback_team: soc
          kubernetes:
            mode: api_server
            api_server: {_api.BaseAddress}
            request_timeout: 2s
            cache_ttl: 30s
            retry_interval: 30s
        """);

    private static NativeAlert AlertFor(WorkloadPod pod, DateTimeOffset? time = null) => Some.Alert(ns: pod.Namespace, workload: pod.Workload, time: time ?? Now) with
    {
        K8s = new KubernetesInfo { Namespace = pod.Namespace, Pod = pod.Pod, WorkloadKind = pod.Kind, WorkloadName = pod.Workload },
        Container = new ContainerInfo { Id = pod.ContainerId[..12], Image = "registry.local/payments/checkout:1.5" },
        Runbook = "metadata-credential-access",
    };

    private static async Task<long> PostAsync(TriageTestHost host, NativeAlert alert)
    {
        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        await host.WaitForPipelineAsync();
        return await host.QueryAsync(db => db.Incidents.OrderByDescending(i => i.Id).Select(i => i.Id).FirstAsync(Ct));
    }

    private static async Task<JsonElement> DetailAsync(TriageTestHost host, long id) =>
        await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync($"/api/v1/incidents/{id}", Ct));

    [Fact]
    public async Task GetIncident_AfterAlert_ShowsOwnerRolloutsAndRunbookWithSources()
    {
        _api.AddNamespace("payments", new Dictionary<string, string> { ["team"] = "payments" });
        var pod = _api.AddDeployment("payments", "checkout",
        [
            new Rollout(Now.AddDays(-5), "registry.local/payments/checkout:1.4"),
            new Rollout(Now.AddMinutes(-7), "registry.local/payments/checkout:1.5", "release 1.5"),
        ]);
        await using var host = await StartHostAsync();

        var id = await PostAsync(host, AlertFor(pod));
        var detail = await DetailAsync(host, id);

        Assert.Equal("payments", detail.GetProperty("owner_team").GetString());
        var enrichment = detail.GetProperty("enrichment");
        Assert.Equal("complete", enrichment.GetProperty("status").GetString());
        Assert.Equal("namespace_label", enrichment.GetProperty("owner").GetProperty("source").GetString());
        Assert.Equal("label team=payments on Namespace payments", enrichment.GetProperty("owner").GetProperty("detail").GetString());
        var deployments = enrichment.GetProperty("deployments");
        Assert.Equal("ReplicaSets of Deployment payments/checkout", deployments.GetProperty("source").GetString());
        Assert.Equal(2, deployments.GetProperty("rollouts").GetArrayLength());
        Assert.Equal("release 1.5", deployments.GetProperty("rollouts")[0].GetProperty("change_cause").GetString());
        var facts = deployments.GetProperty("facts").EnumerateArray().Select(f => f.GetProperty("kind").GetString()).ToList();
        Assert.Equal([FactKinds.FreshRollout, FactKinds.ImageChanged], facts);
        var runbook = enrichment.GetProperty("runbook");
        Assert.Equal(("metadata-credential-access", "name"), (runbook.GetProperty("name").GetString(), runbook.GetProperty("matched_by").GetString()));
        Assert.Equal("/runbooks/metadata-credential-access", runbook.GetProperty("link").GetString());
        Assert.True(runbook.GetProperty("first_steps").GetArrayLength() >= 3);
        Assert.Contains(detail.GetProperty("timeline").EnumerateArray(), t => t.GetProperty("kind").GetString() == "enriched");

        var markdown = await host.Anonymous.GetAsync("/runbooks/metadata-credential-access", Ct);
        Assert.Equal(HttpStatusCode.OK, markdown.StatusCode);
        Assert.StartsWith("---", await markdown.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiDownThenBack_IncidentCreatedUnavailableThenCompletedOnRetry()
    {
        _api.AddNamespace("payments", annotations: new Dictionary<string, string> { ["owner"] = "payments" });
        var pod = _api.AddDeployment("payments", "checkout", [new Rollout(Now.AddMinutes(-3), "registry.local/payments/checkout:1.5")]);
        _api.Outage = KubernetesOutage.Unavailable;
        await using var host = await StartHostAsync();

        var id = await PostAsync(host, AlertFor(pod));
        var down = await DetailAsync(host, id);
        _api.Outage = KubernetesOutage.None;
        var retry = host.App.Services.GetRequiredService<EnrichmentRetryService>();
        var notYetDue = await retry.EnqueueDueAsync(Ct);
        _clock.Advance(TimeSpan.FromSeconds(31));
        var due = await retry.EnqueueDueAsync(Ct);
        await host.WaitForPipelineAsync();
        var back = await DetailAsync(host, id);

        Assert.Equal("unavailable", down.GetProperty("enrichment").GetProperty("status").GetString());
        Assert.StartsWith("Kubernetes API answered 503 ServiceUnavailable",
            down.GetProperty("enrichment").GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("soc", down.GetProperty("owner_team").GetString());
        Assert.Equal("fallback", down.GetProperty("enrichment").GetProperty("owner").GetProperty("source").GetString());
        Assert.Equal((0, 1), (notYetDue, due));
        Assert.Equal("complete", back.GetProperty("enrichment").GetProperty("status").GetString());
        Assert.Equal("payments", back.GetProperty("owner_team").GetString());
        Assert.Equal("namespace_annotation", back.GetProperty("enrichment").GetProperty("owner").GetProperty("source").GetString());
        var kinds = back.GetProperty("timeline").EnumerateArray().Select(t => t.GetProperty("kind").GetString()).ToList();
        Assert.Contains("enrichment_unavailable", kinds);
        Assert.Contains("enrichment_completed", kinds);
    }

    [Fact]
    public async Task PendingKubernetesAlert_PodResolvedFromContainerIdAndIncidentCompleted()
    {
        _api.AddNamespace("payments", new Dictionary<string, string> { ["team"] = "payments" });
        var pod = _api.AddDeployment("payments", "checkout", [new Rollout(Now.AddDays(-1), "registry.local/payments/checkout:1.5")], node: "node-1");
        await using var host = await StartHostAsync();

        var id = await PostAsync(host, AlertFor(pod) with { K8s = new KubernetesInfo { Pending = true } });
        var incident = await host.QueryAsync(db => db.Incidents.AsNoTracking().FirstAsync(i => i.Id == id, Ct));
        var detail = await DetailAsync(host, id);

        Assert.Equal(("payments", pod.Pod, "Deployment", "checkout"),
            (incident.Namespace, incident.Pod, incident.WorkloadKind, incident.WorkloadName));
        Assert.Equal("payments", incident.OwnerTeam);
        Assert.True(detail.GetProperty("enrichment").GetProperty("workload").GetProperty("resolved_from_container_id").GetBoolean());
    }

    [Fact]
    public async Task SecondAlertWithinStalenessBound_NoFurtherApiReads()
    {
        _api.AddNamespace("payments");
        var pod = _api.AddDeployment("payments", "checkout", [new Rollout(Now.AddDays(-1), "registry.local/payments/checkout:1.5")]);
        await using var host = await StartHostAsync();

        var id = await PostAsync(host, AlertFor(pod));
        var reads = _api.Requests.Count;
        _clock.Advance(TimeSpan.FromSeconds(10));
        var again = await PostAsync(host, AlertFor(pod, Now.AddSeconds(10)));

        Assert.Equal(id, again);
        Assert.Equal(reads, _api.Requests.Count);
    }
}
