using System.Globalization;
using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Triage.Api.Enrichment.Kubernetes;

/// <summary>The Kubernetes API could not answer (down, slow, forbidden); the reason is shown on the incident.</summary>
internal sealed class KubernetesUnavailableException(string reason, Exception? inner = null) : Exception(reason, inner);

/// <summary>Where to look: whatever the alert carried. Any part may be missing.</summary>
internal sealed record WorkloadQuery(string? Namespace, string? Pod, string? WorkloadKind, string? WorkloadName,
    string? Node, string? ContainerId);

/// <summary>One rollout as the cluster records it (a ReplicaSet or a ControllerRevision).</summary>
internal sealed record RolloutRecord(long Revision, DateTimeOffset At, IReadOnlyList<string> Images,
    string? ChangeCause, string RecordedBy, bool Reused);

/// <summary>What the cluster says about the workload behind an alert.</summary>
internal sealed record WorkloadContext
{
    public string? Namespace { get; init; }
    public string? Pod { get; init; }
    public string? Node { get; init; }
    public string? WorkloadKind { get; init; }
    public string? WorkloadName { get; init; }
    public IReadOnlyList<string> PodImages { get; init; } = [];
    public ObjectMeta? WorkloadMeta { get; init; }
    public ObjectMeta? PodMeta { get; init; }
    public ObjectMeta? NamespaceMeta { get; init; }
    public IReadOnlyList<RolloutRecord> Rollouts { get; init; } = [];

    /// <summary>What the rollout list was read from, e.g. "ReplicaSets of Deployment shop/cart".</summary>
    public string? HistorySource { get; init; }

    /// <summary>Things a reader should know: pod gone, workload not found, revision reused by a rollback.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Read time of the oldest object used (the answer is at most this stale).</summary>
    public DateTimeOffset? OldestRead { get; init; }

    /// <summary>True when the pod was found through its container id (the alert arrived with k8s pending).</summary>
    public bool ResolvedFromContainerId { get; init; }
}

/// <summary>
/// Walks from what the alert names to the workload and its rollout history: pod → owner (ReplicaSet → Deployment,
/// Job → CronJob, StatefulSet, DaemonSet); Deployments through their ReplicaSets (<c>deployment.kubernetes.io/revision</c>),
/// StatefulSets and DaemonSets through ControllerRevisions. Every read goes through the staleness-bounded cache.
/// </summary>
internal sealed class WorkloadReader(IKubernetes client, KubernetesObjectCache cache, TimeProvider time)
{
    private const string RevisionAnnotation = "deployment.kubernetes.io/revision";
    private const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";
    private const string ChangeCauseAnnotation = "kubernetes.io/change-cause";

    public async Task<WorkloadContext> ReadAsync(WorkloadQuery query, int maxRollouts, CancellationToken ct)
    {
        var notes = new List<string>();
        var reads = new List<DateTimeOffset>();
        var ns = query.Namespace;
        V1Pod? pod = null;
        var resolvedFromContainer = false;

        if (ns is not null && query.Pod is not null)
        {
            pod = await Read($"pod/{ns}/{query.Pod}", c => client.CoreV1.ReadNamespacedPodAsync(query.Pod, ns, cancellationToken: c), reads, ct);
            if (pod is null)
            {
                notes.Add($"pod {ns}/{query.Pod} no longer exists");
            }
        }
        else if (query.ContainerId is { Length: > 0 } containerId && query.Node is { Length: > 0 } node)
        {
            pod = await FindPodByContainerAsync(node, containerId, reads, ct);
            if (pod is null)
            {
                notes.Add($"no pod on node {node} runs container {Short(containerId)}");
            }
            else
            {
                ns = pod.Metadata.NamespaceProperty;
                resolvedFromContainer = true;
            }
        }

        if (ns is null)
        {
            return new WorkloadContext { Notes = notes, OldestRead = reads.Count > 0 ? reads.Min() : null };
        }

        var nsObject = await Read($"namespace/{ns}", c => client.CoreV1.ReadNamespaceAsync(ns, cancellationToken: c), reads, ct);
        if (nsObject is null)
        {
            notes.Add($"namespace {ns} does not exist");
        }

        var (kind, name) = (query.WorkloadKind, query.WorkloadName);
        if (pod is not null)
        {
            (kind, name) = await OwnerOfPodAsync(pod, reads, ct);
        }
        else if (kind == "ReplicaSet" && name is not null)
        {
            var rs = await Read($"rs/{ns}/{name}", c => client.AppsV1.ReadNamespacedReplicaSetAsync(name, ns, cancellationToken: c), reads, ct);
            if (rs?.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true) is { Kind: "Deployment" } owner)
            {
                (kind, name) = ("Deployment", owner.Name);
            }
        }

        var context = new WorkloadContext
        {
            Namespace = ns,
            Pod = pod?.Metadata.Name ?? query.Pod,
            Node = pod?.Spec.NodeName ?? query.Node,
            WorkloadKind = kind,
            WorkloadName = name,
            PodImages = pod?.Spec.Containers.Select(c => c.Image).ToList() ?? [],
            PodMeta = pod is null ? null : Meta($"Pod {ns}/{pod.Metadata.Name}", pod.Metadata),
            NamespaceMeta = nsObject is null ? null : Meta($"Namespace {ns}", nsObject.Metadata),
            ResolvedFromContainerId = resolvedFromContainer,
        };

        context = kind switch
        {
            "Deployment" when name is not null => await DeploymentAsync(context, ns, name, maxRollouts, notes, reads, ct),
            "StatefulSet" or "DaemonSet" when name is not null =>
                await RevisionedAsync(context, ns, kind, name, maxRollouts, notes, reads, ct),
            "Job" or "CronJob" or "Pod" or null => context with
            {
                WorkloadMeta = context.WorkloadMeta,
            },
            _ => context,
        };

        if (kind is "Job" or "CronJob" && name is not null)
        {
            notes.Add($"{kind}s keep no rollout history");
        }

        return context with { Notes = notes, OldestRead = reads.Count > 0 ? reads.Min() : null };
    }

    private async Task<(string? Kind, string? Name)> OwnerOfPodAsync(V1Pod pod, List<DateTimeOffset> reads, CancellationToken ct)
    {
        var ns = pod.Metadata.NamespaceProperty;
        var owner = pod.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true);
        switch (owner?.Kind)
        {
            case null:
                return ("Pod", pod.Metadata.Name);
            case "ReplicaSet":
                var rs = await Read($"rs/{ns}/{owner.Name}", c => client.AppsV1.ReadNamespacedReplicaSetAsync(owner.Name, ns, cancellationToken: c), reads, ct);
                var deployment = rs?.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == "Deployment");
                return deployment is null ? ("ReplicaSet", owner.Name) : ("Deployment", deployment.Name);
            case "Job":
                var job = await Read($"job/{ns}/{owner.Name}", c => client.BatchV1.ReadNamespacedJobAsync(owner.Name, ns, cancellationToken: c), reads, ct);
                var cron = job?.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == "CronJob");
                return cron is null ? ("Job", owner.Name) : ("CronJob", cron.Name);
            default:
                return (owner.Kind, owner.Name);
        }
    }

    private async Task<WorkloadContext> DeploymentAsync(WorkloadContext context, string ns, string name, int maxRollouts,
        List<string> notes, List<DateTimeOffset> reads, CancellationToken ct)
    {
        var deployment = await Read($"deployment/{ns}/{name}",
            c => client.AppsV1.ReadNamespacedDeploymentAsync(name, ns, cancellationToken: c), reads, ct);
        if (deployment is null)
        {
            notes.Add($"Deployment {ns}/{name} not found");
            return context;
        }

        var selector = Selector(deployment.Spec.Selector);
        var sets = await Read($"rs-list/{ns}/{selector}",
            c => client.AppsV1.ListNamespacedReplicaSetAsync(ns, labelSelector: selector, cancellationToken: c), reads, ct);
        var rollouts = (sets?.Items ?? [])
            .Where(rs => rs.Metadata.OwnerReferences?.Any(o => o.Controller == true && o.Uid == deployment.Metadata.Uid) == true)
            .Select(rs => new RolloutRecord(
                Revision(Annotation(rs.Metadata, RevisionAnnotation)),
                Time(rs.Metadata.CreationTimestamp),
                rs.Spec.Template?.Spec?.Containers?.Select(c => c.Image).ToList() ?? [],
                Annotation(rs.Metadata, ChangeCauseAnnotation),
                $"ReplicaSet {rs.Metadata.Name}",
                rs.Metadata.Annotations?.ContainsKey(RevisionHistoryAnnotation) == true))
            .OrderByDescending(r => r.Revision)
            .Take(maxRollouts)
            .ToList();
        AddReuseNote(rollouts, notes);
        return context with
        {
            WorkloadMeta = Meta($"Deployment {ns}/{name}", deployment.Metadata),
            Rollouts = rollouts,
            HistorySource = $"ReplicaSets of Deployment {ns}/{name}",
        };
    }

    private async Task<WorkloadContext> RevisionedAsync(WorkloadContext context, string ns, string kind, string name,
        int maxRollouts, List<string> notes, List<DateTimeOffset> reads, CancellationToken ct)
    {
        V1ObjectMeta? metadata;
        V1LabelSelector? labelSelector;
        if (kind == "StatefulSet")
        {
            var set = await Read($"statefulset/{ns}/{name}",
                c => client.AppsV1.ReadNamespacedStatefulSetAsync(name, ns, cancellationToken: c), reads, ct);
            (metadata, labelSelector) = (set?.Metadata, set?.Spec.Selector);
        }
        else
        {
            var set = await Read($"daemonset/{ns}/{name}",
                c => client.AppsV1.ReadNamespacedDaemonSetAsync(name, ns, cancellationToken: c), reads, ct);
            (metadata, labelSelector) = (set?.Metadata, set?.Spec.Selector);
        }

        if (metadata is null)
        {
            notes.Add($"{kind} {ns}/{name} not found");
            return context;
        }

        var selector = Selector(labelSelector);
        var revisions = await Read($"cr-list/{ns}/{selector}",
            c => client.AppsV1.ListNamespacedControllerRevisionAsync(ns, labelSelector: selector, cancellationToken: c), reads, ct);
        var rollouts = (revisions?.Items ?? [])
            .Where(r => r.Metadata.OwnerReferences?.Any(o => o.Controller == true && o.Uid == metadata.Uid) == true)
            .Select(r => new RolloutRecord(
                r.Revision ?? 0,
                Time(r.Metadata.CreationTimestamp),
                ImagesOf(r.Data),
                Annotation(r.Metadata, ChangeCauseAnnotation),
                $"ControllerRevision {r.Metadata.Name}",
                false))
            .OrderByDescending(r => r.Revision)
            .Take(maxRollouts)
            .ToList();
        return context with
        {
            WorkloadMeta = Meta($"{kind} {ns}/{name}", metadata),
            Rollouts = rollouts,
            HistorySource = $"ControllerRevisions of {kind} {ns}/{name}",
        };
    }

    /// <summary>
    /// Pods on the node, to find the one running <paramref name="containerId"/> (alerts that arrived before the sensor
    /// resolved the pod). A miss in a cached list is read once more: the pod may have started after the list was taken.
    /// </summary>
    private async Task<V1Pod?> FindPodByContainerAsync(string node, string containerId, List<DateTimeOffset> reads,
        CancellationToken ct)
    {
        var key = $"pods-on-node/{node}";
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var missesBefore = cache.Misses;
            var pods = await Read(key, c => client.CoreV1.ListPodForAllNamespacesAsync(
                fieldSelector: $"spec.nodeName={node}", cancellationToken: c), reads, ct);
            var match = pods?.Items.FirstOrDefault(p =>
                (p.Status?.ContainerStatuses ?? []).Concat(p.Status?.InitContainerStatuses ?? [])
                .Concat(p.Status?.EphemeralContainerStatuses ?? [])
                .Any(s => s.ContainerID is { } id && SameContainer(id, containerId)));
            if (match is not null || cache.Misses > missesBefore)
            {
                return match;
            }

            cache.Invalidate(key);
        }

        return null;
    }

    /// <summary><c>containerd://abc…</c> versus a bare or shortened id from the sensor's cgroup path.</summary>
    private static bool SameContainer(string statusId, string alertId)
    {
        var bare = statusId[(statusId.IndexOf("://", StringComparison.Ordinal) is var i && i >= 0 ? i + 3 : 0)..];
        return alertId.Length >= 12 && bare.StartsWith(alertId, StringComparison.OrdinalIgnoreCase);
    }

    private async Task<T?> Read<T>(string key, Func<CancellationToken, Task<T>> call, List<DateTimeOffset> reads,
        CancellationToken ct)
        where T : class
    {
        var (value, fetchedAt) = await cache.GetAsync<T>(key, async c =>
        {
            try
            {
                return await call(c);
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }
            catch (HttpOperationException ex)
            {
                throw new KubernetesUnavailableException(
                    $"Kubernetes API answered {(int)ex.Response.StatusCode} {StatusMessage(ex.Response.Content)}", ex);
            }
            catch (HttpRequestException ex)
            {
                throw new KubernetesUnavailableException($"Kubernetes API unreachable: {ex.Message}", ex);
            }
            catch (OperationCanceledException ex) when (!c.IsCancellationRequested)
            {
                throw new KubernetesUnavailableException("Kubernetes API did not answer in time", ex);
            }
            catch (KubernetesException ex)
            {
                throw new KubernetesUnavailableException($"Kubernetes API error: {ex.Message}", ex);
            }
        }, ct);
        reads.Add(fetchedAt);
        return value;
    }

    /// <summary>The <c>reason: message</c> of a Status body, or the raw body when it is not one.</summary>
    private static string StatusMessage(string? content)
    {
        if (string.IsNullOrEmpty(content))
        {
            return "(no body)";
        }

        try
        {
            var status = KubernetesJson.Deserialize<V1Status>(content);
            if (status?.Kind == "Status")
            {
                return $"{status.Reason}: {status.Message}";
            }
        }
        catch (JsonException)
        {
            // Not a Status body (a proxy's HTML page, say): show its start instead.
        }

        return content.Length > 200 ? content[..200] : content;
    }

    private static string Selector(V1LabelSelector? selector)
    {
        var parts = new List<string>();
        foreach (var (key, value) in (selector?.MatchLabels ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            parts.Add($"{key}={value}");
        }

        foreach (var expression in selector?.MatchExpressions ?? [])
        {
            var values = string.Join(",", expression.Values ?? []);
            parts.Add(expression.OperatorProperty switch
            {
                "In" => $"{expression.Key} in ({values})",
                "NotIn" => $"{expression.Key} notin ({values})",
                "Exists" => expression.Key,
                _ => $"!{expression.Key}",
            });
        }

        return string.Join(",", parts);
    }

    private static List<string> ImagesOf(object? data)
    {
        if (data is null)
        {
            return [];
        }

        var element = data is JsonElement json ? json : JsonSerializer.SerializeToElement(data);
        if (element.ValueKind == JsonValueKind.Object
            && element.TryGetProperty("spec", out var spec)
            && spec.TryGetProperty("template", out var template)
            && template.TryGetProperty("spec", out var podSpec)
            && podSpec.TryGetProperty("containers", out var containers)
            && containers.ValueKind == JsonValueKind.Array)
        {
            return containers.EnumerateArray()
                .Select(c => c.TryGetProperty("image", out var image) ? image.GetString() : null)
                .OfType<string>()
                .ToList();
        }

        return [];
    }

    private static void AddReuseNote(List<RolloutRecord> rollouts, List<string> notes)
    {
        if (rollouts.Count > 0 && rollouts[0].Reused)
        {
            notes.Add($"revision {rollouts[0].Revision} reuses an older ReplicaSet (a rollback); its time is when that "
                + "ReplicaSet was first created, not when it was rolled back to");
        }
    }

    private static ObjectMeta Meta(string description, V1ObjectMeta metadata) => new(description,
        (IReadOnlyDictionary<string, string>?)metadata.Labels ?? new Dictionary<string, string>(),
        (IReadOnlyDictionary<string, string>?)metadata.Annotations ?? new Dictionary<string, string>());

    private static string? Annotation(V1ObjectMeta metadata, string key) =>
        metadata.Annotations is { } annotations && annotations.TryGetValue(key, out var value) ? value : null;

    private static long Revision(string? text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var revision) ? revision : 0;

    private DateTimeOffset Time(DateTime? at) =>
        at is { } value ? new DateTimeOffset(DateTime.SpecifyKind(value, DateTimeKind.Utc)) : time.GetUtcNow();

    private static string Short(string id) => id.Length > 12 ? id[..12] : id;
}
