using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Triage.Api.Response;

/// <summary>Outcome of an isolation step, one line for the timeline.</summary>
internal sealed record IsolationResult(bool Succeeded, string Detail);

/// <summary>
/// Quarantines a pod: a deny-all NetworkPolicy (ingress and egress) that selects pods by the quarantine label, then
/// that label on the pod. The policy comes first so the pod is cut off the moment it is labelled. Undo removes both.
/// Both steps are idempotent, so a retried action finishes what a failed one started.
/// </summary>
/// <remarks>
/// NetworkPolicies are additive allow-lists: another policy that already allows traffic to the pod keeps allowing
/// it, and the policy needs a network plugin that enforces NetworkPolicy. The label does not change Service or
/// ReplicaSet selectors, so the pod stays in place for investigation.
/// </remarks>
internal sealed partial class PodIsolator(IKubernetes kubernetes, ResponseOptions options, ILogger<PodIsolator> logger)
{
    /// <summary>Name of the quarantine policy of one incident (one policy serves every pod the incident isolates).</summary>
    public static string PolicyName(long incidentId) => $"triage-quarantine-{incidentId}";

    /// <summary>Value of the quarantine label for pods isolated for one incident.</summary>
    public static string LabelValue(long incidentId) => $"incident-{incidentId}";

    public V1NetworkPolicy BuildPolicy(string @namespace, long incidentId) => new()
    {
        ApiVersion = "networking.k8s.io/v1",
        Kind = "NetworkPolicy",
        Metadata = new V1ObjectMeta
        {
            Name = PolicyName(incidentId),
            NamespaceProperty = @namespace,
            Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "triage" },
            Annotations = new Dictionary<string, string> { ["triage.security/incident"] = incidentId.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        },
        Spec = new V1NetworkPolicySpec
        {
            PodSelector = new V1LabelSelector
            {
                MatchLabels = new Dictionary<string, string> { [options.QuarantineLabel] = LabelValue(incidentId) },
            },

            // Both types listed and no rules given: nothing in, nothing out.
            PolicyTypes = ["Ingress", "Egress"],
        },
    };

    public async Task<IsolationResult> IsolateAsync(string @namespace, string pod, long incidentId, CancellationToken ct)
    {
        try
        {
            await kubernetes.CoreV1.ReadNamespacedPodAsync(pod, @namespace, cancellationToken: ct);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return new(false, $"pod {@namespace}/{pod} not found");
        }

        var policy = BuildPolicy(@namespace, incidentId);
        try
        {
            await kubernetes.NetworkingV1.CreateNamespacedNetworkPolicyAsync(policy, @namespace, cancellationToken: ct);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Already there from an earlier attempt: make sure it still says deny-all.
            await kubernetes.NetworkingV1.ReplaceNamespacedNetworkPolicyAsync(policy, policy.Metadata.Name, @namespace, cancellationToken: ct);
        }

        await PatchLabelAsync(@namespace, pod, LabelValue(incidentId), ct);
        LogIsolated(logger, @namespace, pod, incidentId);
        return new(true, $"pod {@namespace}/{pod} isolated: NetworkPolicy {policy.Metadata.Name} denies all ingress and egress, label {options.QuarantineLabel}={LabelValue(incidentId)}");
    }

    public async Task<IsolationResult> UndoAsync(string @namespace, string pod, long incidentId, CancellationToken ct)
    {
        var notes = new List<string>();
        try
        {
            await PatchLabelAsync(@namespace, pod, null, ct);
            notes.Add($"label {options.QuarantineLabel} removed from {@namespace}/{pod}");
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            notes.Add($"pod {@namespace}/{pod} is gone");
        }

        try
        {
            await kubernetes.NetworkingV1.DeleteNamespacedNetworkPolicyAsync(PolicyName(incidentId), @namespace, cancellationToken: ct);
            notes.Add($"NetworkPolicy {PolicyName(incidentId)} deleted");
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            notes.Add($"NetworkPolicy {PolicyName(incidentId)} was already gone");
        }

        LogReleased(logger, @namespace, pod, incidentId);
        return new(true, string.Join("; ", notes));
    }

    private Task<V1Pod> PatchLabelAsync(string @namespace, string pod, string? value, CancellationToken ct)
    {
        // JSON merge patch: a null value deletes the label, and other labels are left alone.
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, object> { ["labels"] = new Dictionary<string, string?> { [options.QuarantineLabel] = value } },
        });
        return kubernetes.CoreV1.PatchNamespacedPodAsync(new V1Patch(body, V1Patch.PatchType.MergePatch), pod, @namespace, cancellationToken: ct);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Isolated pod {Namespace}/{Pod} for incident {IncidentId}")]
    private static partial void LogIsolated(ILogger logger, string @namespace, string pod, long incidentId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Released pod {Namespace}/{Pod} from the quarantine of incident {IncidentId}")]
    private static partial void LogReleased(ILogger logger, string @namespace, string pod, long incidentId);
}
