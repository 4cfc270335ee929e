using Microsoft.Extensions.Time.Testing;
using Triage.Api.Configuration;
using Triage.Api.Enrichment;
using Triage.Api.Enrichment.Kubernetes;
using Triage.Api.Enrichment.Runbooks;
using Triage.Fakes.Kubernetes;

namespace Triage.Tests.Enrichment;

/// <summary>
/// The fake Kubernetes API on 127.0.0.1, a real KubernetesClient pointed at it, and the enricher with the repository's
/// runbooks. Time is a FakeTimeProvider so that staleness and rollout age are exact.
/// </summary>
internal sealed class EnrichmentHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 20, 0, 0, TimeSpan.Zero);

    public static readonly TeamOptions[] Teams =
    [
        new() { Name = "payments" }, new() { Name = "checkout" }, new() { Name = "search" },
        new() { Name = "platform" }, new() { Name = "soc", Kind = "soc" },
    ];

    private k8s.Kubernetes? _client;

    private EnrichmentHarness(FakeKubernetesApi api) => Api = api;

    public FakeKubernetesApi Api { get; }
    public FakeTimeProvider Time { get; } = new(Now);
    public EnrichmentOptions Options { get; } = new();
    public KubernetesObjectCache Cache { get; private set; } = null!;

    public static async Task<EnrichmentHarness> StartAsync()
    {
        var harness = new EnrichmentHarness(await FakeKubernetesApi.StartAsync());
        harness.Time.AutoAdvanceAmount = TimeSpan.Zero;
        return harness;
    }

    /// <summary>An enricher over a fresh client and cache; <paramref name="withKubernetes"/> false means no context.</summary>
    public IncidentEnricher Enricher(bool withKubernetes = true)
    {
        Cache = new KubernetesObjectCache(Time, Options.Kubernetes.CacheTtl, Options.Kubernetes.CacheMaxEntries);
        WorkloadReader? reader = null;
        if (withKubernetes)
        {
            _client?.Dispose();
            _client = new k8s.Kubernetes(Api.ClientConfiguration(Options.Kubernetes.RequestTimeout));
            reader = new WorkloadReader(_client, Cache, Time);
        }

        return new IncidentEnricher(Options, new OwnershipResolver(Options.Ownership, Teams), Catalog.Value, reader,
            withKubernetes ? "API server (fake)" : "no Kubernetes context: not in a cluster and no kubeconfig found", Time);
    }

    public static readonly Lazy<RunbookCatalog> Catalog =
        new(() => RunbookCatalog.Load(Path.Combine(AppContext.BaseDirectory, "runbooks")));

    public static EnrichmentSubject Subject(WorkloadPod pod, string rule = "metadata-credential-access",
        DateTimeOffset? alertTime = null) => new()
    {
        Rule = rule,
        Tags = ["T1552.005"],
        AlertTime = alertTime ?? Now,
        Namespace = pod.Namespace,
        Pod = pod.Pod,
        WorkloadKind = pod.Kind,
        WorkloadName = pod.Workload,
        Node = pod.Node,
        ContainerId = pod.ContainerId,
    };

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        await Api.DisposeAsync();
    }
}
