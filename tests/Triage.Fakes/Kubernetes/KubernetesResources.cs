namespace Triage.Fakes.Kubernetes;

/// <summary>One REST resource the fake serves: where it lives in the URL space and what its objects are called.</summary>
public sealed record KubernetesResource(string Group, string Version, string Plural, string Kind, bool Namespaced)
{
    /// <summary><c>v1</c> for the core group, <c>apps/v1</c> otherwise, as in an object's <c>apiVersion</c>.</summary>
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    public string ListKind => Kind + "List";
}

/// <summary>The resources the fake serves. Anything else answers 404 as a real server does for an unknown path.</summary>
public static class KubernetesResources
{
    public static readonly KubernetesResource Namespaces = new("", "v1", "namespaces", "Namespace", Namespaced: false);
    public static readonly KubernetesResource Pods = new("", "v1", "pods", "Pod", Namespaced: true);
    public static readonly KubernetesResource Deployments = new("apps", "v1", "deployments", "Deployment", Namespaced: true);
    public static readonly KubernetesResource ReplicaSets = new("apps", "v1", "replicasets", "ReplicaSet", Namespaced: true);
    public static readonly KubernetesResource StatefulSets = new("apps", "v1", "statefulsets", "StatefulSet", Namespaced: true);
    public static readonly KubernetesResource DaemonSets = new("apps", "v1", "daemonsets", "DaemonSet", Namespaced: true);

    public static readonly KubernetesResource ControllerRevisions =
        new("apps", "v1", "controllerrevisions", "ControllerRevision", Namespaced: true);

    public static readonly KubernetesResource Jobs = new("batch", "v1", "jobs", "Job", Namespaced: true);
    public static readonly KubernetesResource CronJobs = new("batch", "v1", "cronjobs", "CronJob", Namespaced: true);

    public static readonly KubernetesResource NetworkPolicies =
        new("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", Namespaced: true);

    public static readonly IReadOnlyList<KubernetesResource> All =
    [
        Namespaces, Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions, Jobs, CronJobs,
        NetworkPolicies,
    ];

    public static KubernetesResource? Find(string group, string version, string plural) =>
        All.FirstOrDefault(r => r.Group == group && r.Version == version && r.Plural == plural);

    public static KubernetesResource ForKind(string apiVersion, string kind) =>
        All.FirstOrDefault(r => r.ApiVersion == apiVersion && r.Kind == kind)
        ?? throw new ArgumentException($"The fake Kubernetes API does not serve {apiVersion} {kind}.", nameof(kind));

    /// <summary>Field selectors each resource accepts besides metadata.name and metadata.namespace (as the real API).</summary>
    public static IReadOnlySet<string> ExtraSelectableFields(KubernetesResource resource) =>
        resource == Pods
            ? new HashSet<string>(StringComparer.Ordinal)
            {
                "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
            }
            : resource == Namespaces
                ? new HashSet<string>(StringComparer.Ordinal) { "status.phase" }
                : resource == ReplicaSets
                    ? new HashSet<string>(StringComparer.Ordinal) { "status.replicas" }
                    : new HashSet<string>(StringComparer.Ordinal);
}
