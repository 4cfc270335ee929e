using System.Globalization;

namespace Triage.Scenario;

/// <summary>
/// Syscall in the container → card at the fake Slack, over repeated runs of the scenario's first step (the metadata
/// credential request) against one running stack. Each run is a new pod of a new Deployment, so each opens its own
/// incident (alerts group by workload). Latency is measured from timestamps (the alert's syscall time as the sensor
/// stamped it, the fake Slack's receive time), so polling here adds nothing to it.
/// </summary>
public static class LatencyBenchmark
{
    public static async Task<IReadOnlyList<TimeSpan>> RunAsync(int runs, int warmup, TextWriter output, CancellationToken ct, bool keepFiles = false)
    {
        await using var stack = await ScenarioEnvironment.StartAsync(output, ct);
        stack.KeepFiles = keepFiles;
        var latencies = new List<TimeSpan>();
        var serviceOnly = new List<TimeSpan>();
        for (var run = 1 - warmup; run <= runs; run++)
        {
            var container = await stack.CreateWorkloadAsync($"bench{run}", AttackScenario.AttackScript(reverseShell: false), ct);
            await ScenarioEnvironment.StartAsync(container);
            var id = await WaitForIncidentAsync(stack, container.Pod, ct);
            var card = await WaitForCardAsync(stack, id, ct);
            var detail = await stack.GetJsonAsync($"api/v1/incidents/{id}", ct);
            var syscall = AttackScenario.FirstSyscall(detail);
            var latency = card.PostedAt - syscall;
            if (run > 0)
            {
                // Warm-up runs (the service's and the sensor's first incident pay for JIT and first queries) are shown, not counted.
                latencies.Add(latency);
            }


            // Where the time went: the first timeline entry of each pipeline step, relative to the syscall.
            var stages = string.Join(", ", detail.GetProperty("timeline").EnumerateArray()
                .GroupBy(t => t.GetProperty("kind").GetString())
                .Select(g => $"{g.Key} +{(g.First().GetProperty("at").GetDateTimeOffset() - syscall).TotalMilliseconds:0}"));
            stack.Say($"{(run > 0 ? $"run {run}/{runs}" : "warm-up")}: incident #{id} ({container.Pod}): syscall -> card {latency.TotalMilliseconds:0} ms ({stages})");
            await Shell.TryRunAsync("podman", "rm", "-f", "-t", "0", container.Name);

            // Peer, same moment: the service alone, from POST /api/v1/alerts of an equivalent alert to its card.
            var direct = await PostDirectAsync(stack, run, ct);
            if (run > 0)
            {
                serviceOnly.Add(direct);
            }

            stack.Detail($"peer: POST of an equivalent alert -> card {direct.TotalMilliseconds:0} ms (service alone)");
        }

        var calls = stack.Slack.Calls;
        stack.Say($"fake Slack answered {calls.Count} calls: {string.Join(", ", calls.GroupBy(c => $"{c.Method} {c.Status}{(c.Error is null ? "" : " " + c.Error)}").Select(g => $"{g.Count()} x {g.Key}"))}");
        Summarise(stack, $"syscall in the container -> Slack card, {runs} runs", latencies);
        Summarise(stack, $"peer: POST /api/v1/alerts -> Slack card (service alone), {runs} runs", serviceOnly);
        return latencies;
    }

    private static void Summarise(ScenarioEnvironment stack, string what, List<TimeSpan> latencies)
    {
        var sorted = latencies.Order().ToList();
        stack.Say($"{what}: p50 {Percentile(sorted, 50).TotalMilliseconds:0} ms, p99 {Percentile(sorted, 99).TotalMilliseconds:0} ms, "
            + $"min {sorted[0].TotalMilliseconds:0} ms, max {sorted[^1].TotalMilliseconds:0} ms");
    }

    private static async Task<TimeSpan> PostDirectAsync(ScenarioEnvironment stack, int run, CancellationToken ct)
    {
        var pod = $"direct{run + 100}-pod";
        var sent = DateTimeOffset.UtcNow;
        var alert = new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = $"bench-direct-{stack.Id}-{run + 100}",
            ["time"] = sent.ToString("O", CultureInfo.InvariantCulture),
            ["node"] = stack.Node,
            ["rule"] = AttackScenario.MetadataRule,
            ["priority"] = "Critical",
            ["tags"] = new System.Text.Json.Nodes.JsonArray("container", "network", "mitre_credential_access", "T1552.005"),
            ["output"] = "Cloud metadata service contacted from container (server=169.254.169.254 port=80)",
            ["syscall"] = new System.Text.Json.Nodes.JsonObject { ["name"] = "connect", ["args"] = new System.Text.Json.Nodes.JsonObject { ["addr"] = "169.254.169.254:80" }, ["return"] = 0 },
            ["process"] = new System.Text.Json.Nodes.JsonObject { ["pid"] = 4242, ["name"] = "wget", ["exe"] = "/bin/wget", ["cmdline"] = "wget http://169.254.169.254/" },
            ["k8s"] = new System.Text.Json.Nodes.JsonObject { ["namespace"] = ScenarioEnvironment.Namespace, ["pod"] = pod },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/alerts") { Content = System.Net.Http.Json.JsonContent.Create(alert) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ScenarioConfig.SensorToken);
        using (var response = await stack.Api.SendAsync(request, ct))
        {
            response.EnsureSuccessStatusCode();
        }

        var id = await WaitForIncidentAsync(stack, pod, ct);
        return (await WaitForCardAsync(stack, id, ct)).PostedAt - sent;
    }

    /// <summary>Nearest-rank percentile of an ascending list.</summary>
    public static TimeSpan Percentile(IReadOnlyList<TimeSpan> sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static async Task<long> WaitForIncidentAsync(ScenarioEnvironment stack, string pod, CancellationToken ct)
    {
        for (var deadline = stack.Elapsed + TimeSpan.FromSeconds(60); stack.Elapsed < deadline; await Task.Delay(50, ct))
        {
            var page = await stack.GetJsonAsync("api/v1/incidents?limit=500", ct);
            foreach (var item in page.GetProperty("items").EnumerateArray())
            {
                if (item.GetProperty("rule").GetString() == AttackScenario.MetadataRule && item.TryGetProperty("pod", out var p) && p.ValueKind == System.Text.Json.JsonValueKind.String && p.GetString() == pod)
                {
                    return item.GetProperty("id").GetInt64();
                }
            }
        }

        throw new TimeoutException($"no metadata incident for pod {pod} within 60 s");
    }

    private static async Task<Triage.Fakes.Slack.FakeSlackMessage> WaitForCardAsync(ScenarioEnvironment stack, long id, CancellationToken ct)
    {
        for (var deadline = stack.Elapsed + TimeSpan.FromSeconds(60); stack.Elapsed < deadline; await Task.Delay(50, ct))
        {
            if (AttackScenario.Card(stack.Slack, id, 0) is { } card)
            {
                return card;
            }
        }

        throw new TimeoutException($"no Slack card for incident #{id} within 60 s");
    }
}
