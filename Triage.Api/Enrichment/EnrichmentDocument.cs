namespace Triage.Api.Enrichment;

/// <summary>How complete an incident's enrichment is.</summary>
internal enum EnrichmentStatus
{
    /// <summary>Everything the cluster knows was read.</summary>
    Complete,

    /// <summary>The API answered but something was missing (pod gone, workload not found); not retried.</summary>
    Partial,

    /// <summary>The API could not be asked (down, slow, forbidden); owner and runbook come from configuration, and
    /// the Kubernetes part is retried until it succeeds.</summary>
    Unavailable,

    /// <summary>No Kubernetes context: a host alert, or no cluster configured. Owner and runbook only.</summary>
    NotApplicable,
}

/// <summary>What enrichment found for one incident, with where each part came from. Stored as JSON and returned by
/// <c>GET /api/v1/incidents/{id}</c> as its <c>enrichment</c> section.</summary>
internal sealed record EnrichmentDocument
{
    public EnrichmentStatus Status { get; init; }

    /// <summary>Why the status is not complete, in one human line.</summary>
    public string? Reason { get; init; }

    public DateTimeOffset EnrichedAt { get; init; }

    /// <summary>When the oldest Kubernetes object used was read (the answer is at most this stale).</summary>
    public DateTimeOffset? KubernetesReadAt { get; init; }

    /// <summary>How the service reaches Kubernetes (in-cluster, kubeconfig path, none).</summary>
    public string? KubernetesSource { get; init; }

    public required OwnerView Owner { get; init; }
    public WorkloadView? Workload { get; init; }
    public DeploymentView? Deployments { get; init; }
    public RunbookView? Runbook { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <param name="Source">snake_case <see cref="OwnerSource"/>: workload_label, namespace_mapping, fallback, …</param>
/// <param name="Detail">The evidence, e.g. <c>label team=payments on Namespace shop</c>.</param>
/// <param name="Skipped">Candidates passed over because they name no configured team.</param>
internal sealed record OwnerView(string? Team, string Source, string Detail, IReadOnlyList<string> Skipped);

/// <param name="Source"><c>kubernetes</c> when read from the API, <c>alert</c> when only the alert said so.</param>
internal sealed record WorkloadView(string? Namespace, string? Kind, string? Name, string? Pod, string? Node,
    IReadOnlyList<string> Images, string Source, bool ResolvedFromContainerId);

/// <param name="Source">What the history was read from, e.g. <c>ReplicaSets of Deployment shop/cart</c>.</param>
/// <param name="MinutesBeforeAlert">Whole minutes from the newest rollout to the first alert (negative: after).</param>
internal sealed record DeploymentView(string Source, IReadOnlyList<RolloutView> Rollouts, IReadOnlyList<FactView> Facts,
    double? MinutesBeforeAlert, GitOpsView? GitOps);

internal sealed record RolloutView(long Revision, DateTimeOffset At, IReadOnlyList<string> Images, string? ChangeCause,
    string RecordedBy);

/// <param name="Kind">Machine name the routing matrix matches: fresh_rollout, image_changed, first_rollout,
/// rollout_after_alert, gitops_argocd, gitops_flux.</param>
internal sealed record FactView(string Kind, string Text);

/// <param name="Tool"><c>argocd</c> or <c>flux</c>.</param>
/// <param name="Application">Argo CD application, or Flux <c>Kustomization ns/name</c> / <c>HelmRelease ns/name</c>.</param>
internal sealed record GitOpsView(string Tool, string? Application, IReadOnlyDictionary<string, string> Metadata);

/// <param name="MatchedBy"><c>name</c>, <c>rule</c>, <c>technique</c> or <c>parent_technique</c>.</param>
internal sealed record RunbookView(string Name, string Title, string Link, IReadOnlyList<string> FirstSteps,
    string MatchedBy, IReadOnlyDictionary<string, string> OwnerHints);

/// <summary>Fact kinds, as constants for the routing matrix and suppression to refer to.</summary>
internal static class FactKinds
{
    public const string FreshRollout = "fresh_rollout";
    public const string RolloutAfterAlert = "rollout_after_alert";
    public const string ImageChanged = "image_changed";
    public const string FirstRollout = "first_rollout";
    public const string GitOpsArgoCd = "gitops_argocd";
    public const string GitOpsFlux = "gitops_flux";
}
