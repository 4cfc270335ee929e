using System.Text.Json;
using Triage.Api.Enrichment.Kubernetes;
using Triage.Api.Enrichment.Runbooks;

namespace Triage.Api.Enrichment;

/// <summary>What enrichment starts from: the incident's own fields and its newest alert's.</summary>
internal sealed record EnrichmentSubject
{
    public required string Rule { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>The runbook the alert names, when it names one.</summary>
    public string? RunbookName { get; init; }

    /// <summary>When the first alert of the incident happened; rollout timing is measured from it.</summary>
    public DateTimeOffset AlertTime { get; init; }

    public string? Namespace { get; init; }
    public string? Pod { get; init; }
    public string? WorkloadKind { get; init; }
    public string? WorkloadName { get; init; }
    public string? Node { get; init; }
    public string? ContainerId { get; init; }
    public string? Image { get; init; }

    /// <summary>The alert arrived before the sensor knew its pod (<c>k8s.pending</c>); the pod is found here.</summary>
    public bool KubernetesPending { get; init; }

    /// <summary>Whether there is anything to look up in Kubernetes for this subject.</summary>
    public bool HasKubernetesContext =>
        Namespace is not null || KubernetesPending || (ContainerId is not null && Node is not null);
}

/// <summary>
/// Puts owner, workload, deployment history and runbook together for one incident. Kubernetes failures do not fail
/// enrichment: the result is marked unavailable with the reason, and owner and runbook still come from configuration.
/// </summary>
internal sealed class IncidentEnricher(
    EnrichmentOptions options,
    OwnershipResolver owners,
    RunbookCatalog runbooks,
    WorkloadReader? reader,
    string kubernetesSource,
    TimeProvider time)
{
    public async Task<EnrichmentDocument> EnrichAsync(EnrichmentSubject subject, CancellationToken cancellationToken)
    {
        var runbook = Runbook(subject);
        var notes = new List<string>();
        WorkloadContext? context = null;
        EnrichmentStatus status;
        string? reason = null;

        if (!subject.HasKubernetesContext)
        {
            status = EnrichmentStatus.NotApplicable;
            reason = "the alert has no Kubernetes context (host process or container outside Kubernetes)";
        }
        else if (reader is null)
        {
            status = EnrichmentStatus.NotApplicable;
            reason = kubernetesSource;
        }
        else
        {
            try
            {
                context = await reader.ReadAsync(new WorkloadQuery(subject.Namespace, subject.Pod, subject.WorkloadKind,
                    subject.WorkloadName, subject.Node, subject.ContainerId), options.MaxRollouts, cancellationToken);
                notes.AddRange(context.Notes);
                (status, reason) = Completeness(subject, context);
            }
            catch (KubernetesUnavailableException ex)
            {
                status = EnrichmentStatus.Unavailable;
                reason = ex.Message;
            }
        }

        var image = subject.Image ?? (context is { PodImages.Count: > 0 } ? context.PodImages[0] : null);
        var owner = owners.Resolve(new OwnershipInput(context?.Namespace ?? subject.Namespace, image,
            context?.WorkloadMeta, context?.PodMeta, context?.NamespaceMeta));

        return new EnrichmentDocument
        {
            Status = status,
            Reason = reason,
            EnrichedAt = time.GetUtcNow(),
            KubernetesReadAt = context?.OldestRead,
            KubernetesSource = kubernetesSource,
            Owner = new OwnerView(owner.Team, JsonNamingPolicy.SnakeCaseLower.ConvertName(owner.Source.ToString()),
                owner.Detail, owner.Skipped),
            Workload = Workload(subject, context),
            Deployments = context?.HistorySource is { } source
                ? RolloutFacts.Derive(source, context.Rollouts, subject.AlertTime, options.FreshRolloutWindow, context.WorkloadMeta)
                : null,
            Runbook = runbook,
            Notes = notes,
        };
    }

    private static (EnrichmentStatus, string?) Completeness(EnrichmentSubject subject, WorkloadContext context)
    {
        if (context.Namespace is null)
        {
            return (EnrichmentStatus.Partial, (context.Notes.Count > 0 ? context.Notes[0] : "the pod could not be found"));
        }

        if (context.WorkloadMeta is null && context.WorkloadKind is not (null or "Pod" or "Job" or "CronJob" or "ReplicaSet"))
        {
            return (EnrichmentStatus.Partial,
                $"{context.WorkloadKind} {context.Namespace}/{context.WorkloadName} was not found in the cluster");
        }

        if (context.WorkloadKind is null && subject.Pod is not null)
        {
            return (EnrichmentStatus.Partial, $"pod {context.Namespace}/{subject.Pod} is gone and the alert names no workload");
        }

        return (EnrichmentStatus.Complete, null);
    }

    private static WorkloadView? Workload(EnrichmentSubject subject, WorkloadContext? context)
    {
        if (context is { Namespace: not null })
        {
            return new WorkloadView(context.Namespace, context.WorkloadKind, context.WorkloadName, context.Pod,
                context.Node, context.PodImages, "kubernetes", context.ResolvedFromContainerId);
        }

        return subject.Namespace is null
            ? null
            : new WorkloadView(subject.Namespace, subject.WorkloadKind, subject.WorkloadName, subject.Pod, subject.Node,
                subject.Image is null ? [] : [subject.Image], "alert", false);
    }

    private RunbookView? Runbook(EnrichmentSubject subject)
    {
        if (runbooks.Match(subject.RunbookName, subject.Rule, subject.Tags) is not { } match)
        {
            return null;
        }

        var link = options.Runbooks.BaseUrl is { } baseUrl
            ? new Uri(new Uri(baseUrl.EndsWith('/') ? baseUrl : baseUrl + "/"), match.Runbook.Name + ".md").ToString()
            : $"/runbooks/{match.Runbook.Name}";
        return new RunbookView(match.Runbook.Name, match.Runbook.Title, link, match.Runbook.FirstSteps,
            JsonNamingPolicy.SnakeCaseLower.ConvertName(match.How.ToString()), match.Runbook.OwnerHints);
    }
}
