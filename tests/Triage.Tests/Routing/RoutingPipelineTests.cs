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

namespace Triage.Tests.Routing;

/// <summary>
/// The whole service: alerts over HTTP, enrichment (step 100) against the fake Kubernetes API, then routing (step 200)
/// on the stored enrichment facts; the incident API shows the route section.
/// </summary>
public sealed class RoutingPipelineTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 10, 0, TimeSpan.Zero);
    private FakeKubernetesApi _api = null!;
    private readonly FakeTimeProvider _clock = new(Now);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _api = await FakeKubernetesApi.StartAsync();

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    private Task<TriageTestHost> StartHostAsync() => TriageTestHost.StartAsync(clock: _clock, extraYaml: $$"""
        enrichment:
          kubernetes:
            mode: api_server
            api_server: {{_api.BaseAddress}}
            request_timeout: 2s
            retry_interval: 30s
        escalation_policies:
          - name: payments-pager
            levels: [{ timeout: 5m, targets: [{ person: alice }] }]
          - name: soc-pager
            levels: [{ timeout: 5m, targets: [{ person: carol }] }]
        routing:
          rules:
            - name: fresh-image-change
              match: { rolled_out_within: 15m, image_changed: true, owning_teams: [payments] }
              route: both
              primary: platform
              urgency: high
              escalation_policy: payments-pager
          default:
            route: soc
            escalation_policy: soc-pager
        """);

    private static NativeAlert AlertFor(WorkloadPod pod) => Some.Alert(ns: pod.Namespace, workload: pod.Workload, time: Now) with
    {
        K8s = new KubernetesInfo { Namespace = pod.Namespace, Pod = pod.Pod, WorkloadKind = pod.Kind, WorkloadName = pod.Workload },
        Container = new ContainerInfo { Id = pod.ContainerId[..12], Image = "registry.local/payments/checkout:1.5" },
    };

    private static async Task<long> PostAsync(TriageTestHost host, NativeAlert alert)
    {
        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        await host.WaitForPipelineAsync();
        return await host.QueryAsync(db => db.Incidents.OrderByDescending(i => i.Id).Select(i => i.Id).FirstAsync(Ct));
    }

    private static async Task<JsonElement> RouteOfAsync(TriageTestHost host, long id) =>
        (await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync($"/api/v1/incidents/{id}", Ct))).GetProperty("route");

    private static List<string> Why(JsonElement route) => [.. route.GetProperty("why").EnumerateArray().Select(w => w.GetString()!)];

    [Fact]
    public async Task FreshRolloutWithImageChange_MatchesTheRolloutRow_AndTheIncidentShowsRouteAndEscalation()
    {
        _api.AddNamespace("payments", new Dictionary<string, string> { ["team"] = "payments" });
        var pod = _api.AddDeployment("payments", "checkout",
        [
            new Rollout(Now.AddDays(-5), "registry.local/payments/checkout:1.4"),
            new Rollout(Now.AddMinutes(-7), "registry.local/payments/checkout:1.5"),
        ]);
        await using var host = await StartHostAsync();

        var id = await PostAsync(host, AlertFor(pod));
        var route = await RouteOfAsync(host, id);

        Assert.Equal("fresh-image-change", route.GetProperty("row").GetString());
        Assert.Equal(0, route.GetProperty("row_index").GetInt32());
        Assert.Equal(("both", "payments", "soc"), (route.GetProperty("route").GetString(),
            route.GetProperty("primary_team").GetString(), route.GetProperty("informed_team").GetString()));
        Assert.Equal(("high", "payments-pager", "complete"), (route.GetProperty("urgency").GetString(),
            route.GetProperty("escalation_policy").GetString(), route.GetProperty("enrichment").GetString()));
        var why = Why(route);
        Assert.Equal("row 0 'fresh-image-change' matched: owning team 'payments' is listed; newest rollout 7 minutes before the alert "
            + "is within 15 minutes before it; image changed in the last rollout: registry.local/payments/checkout:1.4 → registry.local/payments/checkout:1.5", why[0]);
        Assert.StartsWith("facts: enrichment complete; owning team 'payments' (label team=payments on Namespace payments); newest rollout (revision 2) 7 minutes before the alert",
            why[1], StringComparison.Ordinal);
        var escalation = route.GetProperty("escalation");
        Assert.Equal(("payments-pager", "payments"), (escalation.GetProperty("policy").GetString(), escalation.GetProperty("team").GetString()));
        Assert.Contains(escalation.GetProperty("state").GetString(), new[] { "active", "exhausted" });
    }

    [Fact]
    public async Task KubernetesDown_RoutedOnWhatIsKnownAndSaysSo_ThenRoutedAgainWhenEnrichmentCompletes()
    {
        _api.AddNamespace("payments", new Dictionary<string, string> { ["team"] = "payments" });
        var pod = _api.AddDeployment("payments", "checkout",
        [
            new Rollout(Now.AddDays(-5), "registry.local/payments/checkout:1.4"),
            new Rollout(Now.AddMinutes(-3), "registry.local/payments/checkout:1.5"),
        ]);
        _api.Outage = KubernetesOutage.Unavailable;
        await using var host = await StartHostAsync();

        var id = await PostAsync(host, AlertFor(pod));
        var down = await RouteOfAsync(host, id);
        _api.Outage = KubernetesOutage.None;
        _clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await host.App.Services.GetRequiredService<EnrichmentRetryService>().EnqueueDueAsync(Ct));
        await host.WaitForPipelineAsync();
        var back = await RouteOfAsync(host, id);
        var kinds = await host.QueryAsync(db => db.Timeline.Where(t => t.IncidentId == id).OrderBy(t => t.Id).Select(t => t.Kind).ToListAsync(Ct));

        Assert.Equal(("default", "soc", "unavailable"), (down.GetProperty("row").GetString(),
            down.GetProperty("primary_team").GetString(), down.GetProperty("enrichment").GetString()));
        Assert.Contains(Why(down), w => w.StartsWith("enrichment facts unknown (Kubernetes enrichment unavailable: Kubernetes API answered 503", StringComparison.Ordinal)
            && w.EndsWith("row 'fresh-image-change' could not be matched on them", StringComparison.Ordinal));
        Assert.Equal(("fresh-image-change", "payments", "complete"), (back.GetProperty("row").GetString(),
            back.GetProperty("primary_team").GetString(), back.GetProperty("enrichment").GetString()));
        Assert.Equal(["routed", "rerouted"], kinds.Where(k => k is "routed" or "rerouted"));
        // The SOC's escalation was replaced by the payments team's.
        Assert.Equal("payments-pager", back.GetProperty("escalation").GetProperty("policy").GetString());
    }

    [Fact]
    public async Task ExplainEndpoint_WithGivenFacts_MatchesRolloutRow_AndRefusesABadDuration()
    {
        await using var host = await StartHostAsync();
        var alert = Some.Alert(time: Now);

        var matched = await host.Operator.PostAsJsonAsync("/api/v1/routing/explain?owning_team=payments&rolled_out_before=12m&image_changed=true",
            alert, TriageJson.Options, Ct);
        var unknown = await host.Operator.PostAsJsonAsync("/api/v1/routing/explain", alert, TriageJson.Options, Ct);
        var bad = await host.Operator.PostAsJsonAsync("/api/v1/routing/explain?rolled_out_before=soon", alert, TriageJson.Options, Ct);

        var decision = await TriageTestHost.ReadJsonAsync(matched);
        Assert.Equal("fresh-image-change", decision.GetProperty("row").GetString());
        Assert.Equal("given", decision.GetProperty("enrichment").GetString());
        var fallback = await TriageTestHost.ReadJsonAsync(unknown);
        Assert.Equal("default", fallback.GetProperty("row").GetString());
        Assert.Contains(fallback.GetProperty("why").EnumerateArray(), w => w.GetString()!.StartsWith("enrichment facts unknown", StringComparison.Ordinal));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
    }
    [Fact]
    public async Task RouteExplainCommand_JsonIsTheEndpointsBody_AndTextSaysTheSame()
    {
        await using var host = await StartHostAsync();
        var alert = Some.Alert(time: Now);
        var file = Path.Combine(Path.GetTempPath(), $"alert-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(alert, TriageJson.Options), Ct);
        string[] facts = ["--owning-team", "payments", "--rolled-out-before", "12m", "--image-changed", "true"];
        try
        {
            var endpoint = await (await host.Operator.PostAsJsonAsync(
                "/api/v1/routing/explain?owning_team=payments&rolled_out_before=12m&image_changed=true", alert, TriageJson.Options, Ct))
                .Content.ReadAsStringAsync(Ct);
            var json = new StringWriter();
            var text = new StringWriter();
            var errors = new StringWriter();

            var jsonExit = await Triage.Api.Routing.RouteExplainCommand.RunAsync(host.Config, ["--alert", file, .. facts, "--json"], json, errors, TimeProvider.System);
            var textExit = await Triage.Api.Routing.RouteExplainCommand.RunAsync(host.Config, ["--alert", file, .. facts], text, errors, TimeProvider.System);
            var badExit = await Triage.Api.Routing.RouteExplainCommand.RunAsync(host.Config, ["--alert", file, "--rolled-out-before", "soon"], text, errors, TimeProvider.System);

            Assert.Equal((0, 0, 2), (jsonExit, textExit, badExit));
            Assert.Equal(endpoint, json.ToString().TrimEnd());
            Assert.StartsWith("route: both → primary payments, informed soc (row 0 'fresh-image-change')", text.ToString(), StringComparison.Ordinal);
            Assert.Contains("      [x] rolled_out_within: newest rollout 12 minutes before the alert is within 15 minutes before it", text.ToString(), StringComparison.Ordinal);
            Assert.Contains("--rolled-out-before 'soon' is not a duration", errors.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task TriageApiRouteExplain_AsAProcess_PrintsTheExplanationForTheExampleConfig()
    {
        var file = Path.Combine(Path.GetTempPath(), $"alert-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(Some.Alert(time: Now), TriageJson.Options), Ct);
        try
        {
            var start = new System.Diagnostics.ProcessStartInfo("dotnet")
            {
                ArgumentList = { Path.Combine(AppContext.BaseDirectory, "Triage.Api.dll"), "route", "explain", "--alert", file,
                    "--config", Path.Combine(AppContext.BaseDirectory, "config", "triage.example.yaml") },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = System.Diagnostics.Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync(Ct);
            var error = await process.StandardError.ReadToEndAsync(Ct);
            await process.WaitForExitAsync(Ct);

            Assert.True(process.ExitCode == 0, error);
            // The example's first row: credential access (T1552.005) at Critical goes to both, the SOC paged.
            Assert.StartsWith("route: both → primary soc, informed platform (row 0 'credential-access')", output, StringComparison.Ordinal);
            Assert.Contains("  - row 0 'credential-access' matched: tag 'T1552.005' is present; priority Critical >= Critical", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
