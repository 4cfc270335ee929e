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
    public static async Task<IReadOnlyList<TimeSpan>> RunAsync(int runs, TextWriter output, CancellationToken ct)
    {
        await using var stack = await ScenarioEnvironment.StartAsync(output, ct);
        var latencies = new List<TimeSpan>();
        for (var run = 1; run <= runs; run++)
        {
            var container = await stack.CreateWorkloadAsync($"bench{run}", AttackScenario.AttackScript(reverseShell: false), ct);
            await ScenarioEnvironment.StartAsync(container);
            var id = await WaitForIncidentAsync(stack, container.Pod, ct);
            var card = await WaitForCardAsync(stack, id, ct);
            var detail = await stack.GetJsonAsync($"api/v1/incidents/{id}", ct);
            var syscall = DateTimeOffset.Parse(detail.GetProperty("alerts")[0].GetProperty("time").GetString()!, CultureInfo.InvariantCulture);
            var latency = card.ReceivedAt - syscall;
            latencies.Add(latency);
            stack.Say($"run {run}/{runs}: incident #{id} ({container.Pod}): syscall -> card {latency.TotalMilliseconds:0} ms");
            await Shell.TryRunAsync("podman", "rm", "-f", "-t", "0", container.Name);
        }

        var sorted = latencies.Order().ToList();
        stack.Say($"syscall -> Slack card over {runs} runs: p50 {Percentile(sorted, 50).TotalMilliseconds:0} ms, "
            + $"p99 {Percentile(sorted, 99).TotalMilliseconds:0} ms, min {sorted[0].TotalMilliseconds:0} ms, max {sorted[^1].TotalMilliseconds:0} ms");
        return latencies;
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
