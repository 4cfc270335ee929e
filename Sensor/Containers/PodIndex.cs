using k8s.Models;
using Sensor.Events;

namespace Sensor.Containers;

/// <summary>
/// The pods of this node by container id, as the Kubernetes pod watch reports them. A deleted pod (and a container id
/// that left its pod's status, e.g. after a restart) stays resolvable as a tombstone for <c>tombstoneFor</c>, so an
/// alert from a container that lived 60 seconds still names its pod when it is processed after the pod is gone.
/// Thread-safe; reads are cheap (one lock, one dictionary lookup).
/// </summary>
/// <remarks>A pod's container ids accumulate while it lives (restarts add ids) and go with the pod's tombstone.</remarks>
internal sealed class PodIndex(TimeProvider time, TimeSpan tombstoneFor)
{
    private sealed class PodEntry(HashSet<string> containers)
    {
        public HashSet<string> Containers { get; set; } = containers;

        /// <summary>Null while the pod exists; when the tombstone ends after deletion.</summary>
        public DateTimeOffset? ExpiresAt { get; set; }
    }

    private sealed record ContainerEntry(string PodKey, PodMatch Match, DateTimeOffset? ExpiresAt);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, PodEntry> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ContainerEntry> _containers = new(StringComparer.Ordinal);
    // Job (by JobKey) -> the CronJob that controls it, or null for a Job of its own; filled by the pod watch's Job reads.
    private readonly Dictionary<string, string?> _cronJobOfJob = new(StringComparer.Ordinal);
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>How long deleted pods stay resolvable.</summary>
    public TimeSpan TombstoneFor { get; } = tombstoneFor;

    /// <summary>Raised (outside the lock) when a container id becomes resolvable, with its pod.</summary>
    public event Action<string, KubernetesContext>? ContainerLearned;

    /// <summary>Completes at the next change of the index, so that waiting alerts re-check at once.</summary>
    public Task Changed
    {
        get
        {
            lock (_gate)
            {
                return _changed.Task;
            }
        }
    }

    /// <summary>Live pods.</summary>
    public int PodCount
    {
        get
        {
            lock (_gate)
            {
                Sweep();
                return _pods.Values.Count(p => p.ExpiresAt is null);
            }
        }
    }

    /// <summary>Deleted pods still held as tombstones.</summary>
    public int TombstoneCount
    {
        get
        {
            lock (_gate)
            {
                Sweep();
                return _pods.Values.Count(p => p.ExpiresAt is not null);
            }
        }
    }

    /// <summary>Container ids resolvable now (of live pods and tombstones).</summary>
    public int ContainerCount
    {
        get
        {
            lock (_gate)
            {
                Sweep();
                return _containers.Count;
            }
        }
    }

    /// <summary>The pod of a container (64-hex id, with or without a runtime prefix); null when unknown or expired.</summary>
    public PodMatch? Find(string containerId)
    {
        var id = ContainerIdOf(containerId);
        if (id is null)
        {
            return null;
        }

        lock (_gate)
        {
            if (!_containers.TryGetValue(id, out var entry))
            {
                return null;
            }

            if (entry.ExpiresAt is { } expires && time.GetUtcNow() >= expires)
            {
                Sweep();
                return null;
            }

            return entry.Match;
        }
    }

    /// <summary>True when the owner of the Job <paramref name="jobKey"/> (<see cref="JobOf"/>) is known.</summary>
    public bool KnowsJob(string jobKey)
    {
        lock (_gate)
        {
            return _cronJobOfJob.ContainsKey(jobKey);
        }
    }

    /// <summary>
    /// Records that Job <paramref name="jobKey"/> is controlled by CronJob <paramref name="cronJob"/> (null: by none);
    /// pods upserted from then on name the CronJob as their workload.
    /// </summary>
    public void SetJobOwner(string jobKey, string? cronJob)
    {
        lock (_gate)
        {
            if (_cronJobOfJob.Count >= 10_000)
            {
                // A CronJob makes a Job per run; forgetting old ones costs one more read of a Job that still has pods.
                _cronJobOfJob.Clear();
            }

            _cronJobOfJob[jobKey] = cronJob;
        }
    }

    /// <summary>An ADDED or MODIFIED pod.</summary>
    public void Upsert(V1Pod pod)
    {
        List<(string, KubernetesContext)> learned;
        lock (_gate)
        {
            learned = UpsertLocked(pod);
            Sweep();
            Signal();
        }

        Announce(learned);
    }

    /// <summary>A DELETED pod: its containers stay resolvable until the tombstone expires.</summary>
    public void Delete(V1Pod pod)
    {
        List<(string, KubernetesContext)> learned;
        lock (_gate)
        {
            // The deletion carries the final status: a container that started at the last moment is learned too.
            learned = UpsertLocked(pod);
            Bury(KeyOf(pod));
            Sweep();
            Signal();
        }

        Announce(learned);
    }

    /// <summary>
    /// The result of a (re-)list: every pod in it is upserted; a pod the index knows as live but the list lacks was
    /// deleted while the watch was down, and becomes a tombstone.
    /// </summary>
    public void ReplaceAll(IEnumerable<V1Pod> pods)
    {
        var learned = new List<(string, KubernetesContext)>();
        lock (_gate)
        {
            var listed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var pod in pods)
            {
                listed.Add(KeyOf(pod));
                learned.AddRange(UpsertLocked(pod));
            }

            foreach (var (key, entry) in _pods.ToList())
            {
                if (entry.ExpiresAt is null && !listed.Contains(key))
                {
                    Bury(key);
                }
            }

            Sweep();
            Signal();
        }

        Announce(learned);
    }

    /// <summary>The 64-hex id from a status's <c>containerID</c> (<c>containerd://</c>, <c>cri-o://</c>, <c>docker://</c> ...) or a bare id.</summary>
    internal static string? ContainerIdOf(string? containerId)
    {
        if (string.IsNullOrEmpty(containerId))
        {
            return null;
        }

        if (containerId.Length == 64 && !containerId.Contains(':', StringComparison.Ordinal))
        {
            // The sensor's own lookups (lowercase hex from the cgroup) take this path: no allocation per event.
            return containerId;
        }

        var scheme = containerId.IndexOf("://", StringComparison.Ordinal);
        var id = (scheme >= 0 ? containerId[(scheme + 3)..] : containerId).Trim().ToLowerInvariant();
        return id.Length > 0 ? id : null;
    }

    /// <summary>
    /// Namespace, pod, owning workload, labels, service account and node of a pod; <paramref name="cronJobOfJob"/>
    /// names the CronJob of a Job (by <see cref="JobOf"/>'s key) when known.
    /// </summary>
    internal static KubernetesContext ContextOf(V1Pod pod, Func<string, string?>? cronJobOfJob = null)
    {
        var metadata = pod.Metadata;
        var labels = metadata.Labels is { Count: > 0 } l
            ? new Dictionary<string, string>(l, StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
        var (kind, name) = WorkloadOf(pod, cronJobOfJob);
        return new KubernetesContext
        {
            Namespace = metadata.NamespaceProperty ?? "",
            Pod = metadata.Name ?? "",
            WorkloadKind = kind,
            WorkloadName = name,
            Labels = labels,
            ServiceAccount = pod.Spec?.ServiceAccountName,
            Node = pod.Spec?.NodeName,
            PodUid = metadata.Uid,
        };
    }

    /// <summary>
    /// The workload that owns the pod, from its controller owner reference. A ReplicaSet made by a Deployment is named
    /// after it plus the pod-template-hash, which the pod carries as a label: that gives the Deployment without reading
    /// the ReplicaSet. A Job's CronJob is only in the Job's own owner references: <paramref name="cronJobOfJob"/> answers
    /// from the Jobs the pod watch has read (the Job itself when unknown). A pod without owner is its own workload ("Pod").
    /// </summary>
    internal static (string Kind, string Name) WorkloadOf(V1Pod pod, Func<string, string?>? cronJobOfJob = null)
    {
        var owner = OwnerOf(pod);
        if (owner is null)
        {
            return ("Pod", pod.Metadata.Name ?? "");
        }

        if (owner.Kind == "ReplicaSet"
            && pod.Metadata.Labels?.TryGetValue("pod-template-hash", out var hash) == true
            && hash.Length > 0
            && owner.Name.EndsWith("-" + hash, StringComparison.Ordinal))
        {
            return ("Deployment", owner.Name[..^(hash.Length + 1)]);
        }

        if (owner.Kind == "Job" && cronJobOfJob?.Invoke(JobKey(pod, owner)) is { Length: > 0 } cronJob)
        {
            return ("CronJob", cronJob);
        }

        return (owner.Kind, owner.Name);
    }

    /// <summary>The Job that controls the pod (namespace, name, and the key <see cref="SetJobOwner"/> takes), or null.</summary>
    internal static (string Key, string Namespace, string Name)? JobOf(V1Pod pod) =>
        OwnerOf(pod) is { Kind: "Job" } owner && pod.Metadata.NamespaceProperty is { Length: > 0 } ns
            ? (JobKey(pod, owner), ns, owner.Name)
            : null;

    private static V1OwnerReference? OwnerOf(V1Pod pod)
    {
        var owners = pod.Metadata.OwnerReferences ?? [];
        return owners.FirstOrDefault(o => o.Controller == true) ?? owners.FirstOrDefault();
    }

    // By uid: a Job deleted and made again under the same name may have another owner.
    private static string JobKey(V1Pod pod, V1OwnerReference owner) =>
        owner.Uid is { Length: > 0 } uid ? uid : $"{pod.Metadata.NamespaceProperty}/{owner.Name}";

    /// <summary>
    /// Every container in the pod's status by id: regular, init and ephemeral containers, and the previous instance of a
    /// restarted container (<c>lastState.terminated</c>), which short-lived crash loops need.
    /// </summary>
    internal static Dictionary<string, ContainerContext> ContainersOf(V1Pod pod)
    {
        var containers = new Dictionary<string, ContainerContext>(StringComparer.Ordinal);
        var status = pod.Status;
        if (status is null)
        {
            return containers;
        }

        foreach (var list in new[] { status.ContainerStatuses, status.InitContainerStatuses, status.EphemeralContainerStatuses })
        {
            foreach (var s in list ?? [])
            {
                if (ContainerIdOf(s.ContainerID) is { } id)
                {
                    containers[id] = ContainerOf(id, s);
                }

                if (ContainerIdOf(s.LastState?.Terminated?.ContainerID) is { } previous)
                {
                    containers.TryAdd(previous, ContainerOf(previous, s));
                }
            }
        }

        return containers;
    }

    /// <summary>The container as the pod status shows it (kubelet's view: name, image, image digest).</summary>
    private static ContainerContext ContainerOf(string id, V1ContainerStatus status)
    {
        var (repository, tag) = PodmanRuntime.SplitImage(status.Image ?? "");
        var at = status.ImageID?.IndexOf('@', StringComparison.Ordinal) ?? -1;
        return new ContainerContext
        {
            Id = ContainerIds.Short(id),
            FullId = id,
            Name = status.Name ?? "",
            ImageRepository = repository,
            ImageTag = tag,
            ImageDigest = at >= 0 ? status.ImageID![(at + 1)..] : null,
        };
    }

    private static string KeyOf(V1Pod pod) =>
        pod.Metadata.Uid is { Length: > 0 } uid ? uid : $"{pod.Metadata.NamespaceProperty}/{pod.Metadata.Name}";

    private List<(string, KubernetesContext)> UpsertLocked(V1Pod pod)
    {
        var key = KeyOf(pod);
        var context = ContextOf(pod, job => _cronJobOfJob.GetValueOrDefault(job));
        var containers = ContainersOf(pod);
        var ids = containers.Keys.ToHashSet(StringComparer.Ordinal);
        var learned = new List<(string, KubernetesContext)>();
        if (_pods.TryGetValue(key, out var entry))
        {
            // A container id that left the status (replaced after a restart) resolves for the tombstone time.
            var expires = time.GetUtcNow() + TombstoneFor;
            foreach (var gone in entry.Containers.Where(c => !ids.Contains(c)))
            {
                if (_containers.TryGetValue(gone, out var c) && c.PodKey == key)
                {
                    _containers[gone] = c with { ExpiresAt = c.ExpiresAt ?? expires };
                }
            }

            entry.Containers.UnionWith(ids);
            entry.Containers.RemoveWhere(c => !_containers.ContainsKey(c) && !ids.Contains(c));
            entry.ExpiresAt = null;
        }
        else
        {
            _pods[key] = new PodEntry(ids);
        }

        foreach (var (id, container) in containers)
        {
            var known = _containers.TryGetValue(id, out var previous) && previous.ExpiresAt is null && previous.PodKey == key;
            _containers[id] = new ContainerEntry(key, new PodMatch(context, container), null);
            if (!known)
            {
                learned.Add((id, context));
            }
        }

        return learned;
    }

    private void Bury(string key)
    {
        if (!_pods.TryGetValue(key, out var entry))
        {
            return;
        }

        var expires = time.GetUtcNow() + TombstoneFor;
        entry.ExpiresAt = expires;
        foreach (var id in entry.Containers)
        {
            if (_containers.TryGetValue(id, out var c) && c.PodKey == key)
            {
                _containers[id] = c with { ExpiresAt = c.ExpiresAt is { } earlier && earlier < expires ? earlier : expires };
            }
        }
    }

    private void Sweep()
    {
        var now = time.GetUtcNow();
        foreach (var (id, _) in _containers.Where(kv => kv.Value.ExpiresAt <= now).ToList())
        {
            _containers.Remove(id);
        }

        foreach (var (key, _) in _pods.Where(kv => kv.Value.ExpiresAt <= now).ToList())
        {
            _pods.Remove(key);
        }
    }

    private void Signal()
    {
        var done = _changed;
        _changed = NewSignal();
        done.TrySetResult();
    }

    private void Announce(List<(string Id, KubernetesContext Pod)> learned)
    {
        foreach (var (id, pod) in learned)
        {
            ContainerLearned?.Invoke(id, pod);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
