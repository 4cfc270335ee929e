using System.Diagnostics;
using System.Globalization;
using System.Text;
using k8s;
using Triage.Api.Configuration;
using Triage.Api.Enrichment;
using Triage.Api.Enrichment.Kubernetes;
using Triage.Api.Enrichment.Runbooks;
using Triage.Fakes.Kubernetes;

namespace Triage.Bench;

/// <summary>
/// Enrichment latency per incident against the local fake Kubernetes API over real HTTP, cold cache (every object
/// read from the API: pod, namespace, ReplicaSet, Deployment, ReplicaSet list) and warm cache (everything within the
/// staleness bound). The peer measured in the same run is one bare pod GET through the same client, the floor for a
/// single API round trip. Targets (issue 5): warm p99 ≤ 5 ms, cold p99 ≤ 200 ms.
/// </summary>
internal static class EnrichmentBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var workloads = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
        var results = args.Length > 2 ? args[2] : Path.Combine("bench", "RESULTS.md");

        await using var api = await FakeKubernetesApi.StartAsync();
        var now = DateTimeOffset.UtcNow;
        var pods = new List<WorkloadPod>();
        for (var i = 0; i < workloads; i++)
        {
            var ns = $"ns-{i % 20}";
            if (i < 20)
            {
                api.AddNamespace(ns, new Dictionary<string, string> { ["team"] = "payments" });
            }

            pods.Add(i % 4 == 3
                ? api.AddStatefulSet(ns, $"db-{i}",
                    [new Rollout(now.AddDays(-9), "registry.local/db:15"), new Rollout(now.AddMinutes(-i), "registry.local/db:16")])
                : api.AddDeployment(ns, $"app-{i}",
                [
                    new Rollout(now.AddDays(-9), $"registry.local/app-{i}:1.0", "initial"),
                    new Rollout(now.AddDays(-2), $"registry.local/app-{i}:1.1", "bump"),
                    new Rollout(now.AddMinutes(-i), $"registry.local/app-{i}:1.2", "bump"),
                ]));
        }

        var options = new EnrichmentOptions();
        options.Ownership.FallbackTeam = "platform";
        var teams = new[] { new TeamOptions { Name = "payments" }, new TeamOptions { Name = "platform" } };
        var runbooks = RunbookCatalog.Load(FindRunbooks());
        using var client = new k8s.Kubernetes(api.ClientConfiguration(TimeSpan.FromSeconds(5)));
        var cache = new KubernetesObjectCache(TimeProvider.System, TimeSpan.FromMinutes(10), 100_000);
        var enricher = new IncidentEnricher(options, new OwnershipResolver(options.Ownership, teams), runbooks,
            new WorkloadReader(client, cache, TimeProvider.System), "fake API server", TimeProvider.System);

        var cold = new Percentiles("enrichment, cold cache");
        var warm = new Percentiles("enrichment, warm cache");
        var podGet = new Percentiles("peer: one pod GET (same client)");
        var requestsPerCold = 0.0;

        // Warm-up round (JIT, connection pool), not recorded.
        foreach (var pod in pods.Take(20))
        {
            cache.Clear();
            await enricher.EnrichAsync(Subject(pod, now), CancellationToken.None);
        }

        for (var round = 0; round < rounds; round++)
        {
            foreach (var pod in pods)
            {
                var subject = Subject(pod, now);

                var before = api.Requests.Count;
                cache.Clear();
                var watch = Stopwatch.StartNew();
                var result = await enricher.EnrichAsync(subject, CancellationToken.None);
                cold.Add(watch.Elapsed);
                requestsPerCold += api.Requests.Count - before;
                if (result.Status != EnrichmentStatus.Complete)
                {
                    Console.Error.WriteLine($"unexpected {result.Status}: {result.Reason}");
                    return 1;
                }

                watch.Restart();
                await enricher.EnrichAsync(subject, CancellationToken.None);
                warm.Add(watch.Elapsed);

                watch.Restart();
                await client.CoreV1.ReadNamespacedPodAsync(pod.Pod, pod.Namespace);
                podGet.Add(watch.Elapsed);
            }
        }

        requestsPerCold /= cold.Count;
        var report = new StringBuilder()
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"## Enrichment latency per incident ({DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC)")
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Command: `dotnet run -c Release --project bench/Triage.Bench -- enrichment {workloads} {rounds}`")
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"{workloads} workloads (3/4 Deployments with 3 ReplicaSets, 1/4 StatefulSets with 2 ControllerRevisions) in 20 namespaces, {rounds} rounds; fake Kubernetes API on 127.0.0.1 (Kestrel) through KubernetesClient 21.0.8; {requestsPerCold:F1} API requests per cold enrichment. Times in ms.")
            .AppendLine()
            .AppendLine("| measurement | n | p50 | p99 | max | mean |")
            .AppendLine("|---|---|---|---|---|---|")
            .AppendLine(cold.Row())
            .AppendLine(warm.Row())
            .AppendLine(podGet.Row())
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Ratios: cold p50 / pod-GET p50 = {cold.P(50) / podGet.P(50):F2} (a cold enrichment makes {requestsPerCold:F1} requests one after another); warm p50 / pod-GET p50 = {warm.P(50) / podGet.P(50):F3}. Targets: warm p99 ≤ 5 ms ({(warm.P(99) <= 5 ? "met" : "NOT met")}), cold p99 ≤ 200 ms ({(cold.P(99) <= 200 ? "met" : "NOT met")}).")
            .AppendLine()
            .AppendLine("Caveat: 2-vCPU VM shared with other agents' builds and tests; the fake answers from memory, so cold figures are the client-side cost plus loopback HTTP; a real API server adds its own per-request latency on top of the cold figures (the warm figures do not touch the API).");
        Console.Write(report);
        await File.AppendAllTextAsync(results, report.ToString());
        return 0;
    }

    private static EnrichmentSubject Subject(WorkloadPod pod, DateTimeOffset now) => new()
    {
        Rule = "metadata-credential-access",
        Tags = ["T1552.005"],
        AlertTime = now,
        Namespace = pod.Namespace,
        Pod = pod.Pod,
        WorkloadKind = pod.Kind,
        WorkloadName = pod.Workload,
        Node = pod.Node,
        ContainerId = pod.ContainerId,
    };

    private static string FindRunbooks()
    {
        var copied = Path.Combine(AppContext.BaseDirectory, "runbooks");
        return Directory.Exists(copied) ? copied : Path.Combine(Directory.GetCurrentDirectory(), "runbooks");
    }
}
