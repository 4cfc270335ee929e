using System.Security.Cryptography;
using System.Text;
using Triage.Contracts;

namespace Triage.Api.Incidents;

/// <summary>
/// What makes two alerts "the same problem": the rule plus the Kubernetes namespace and workload; without Kubernetes
/// context, the rule plus the container image and node; for host processes, the rule plus the node.
/// </summary>
internal static class IncidentFingerprint
{
    public static string Of(NativeAlert alert)
    {
        var key = alert.K8s is { Namespace: { Length: > 0 } ns } k8s
            ? $"k8s\n{alert.Rule}\n{ns}\n{k8s.WorkloadKind}\n{k8s.WorkloadName ?? k8s.Pod}"
            : alert.Container is { Image: { Length: > 0 } image }
                ? $"image\n{alert.Rule}\n{image}\n{alert.Node}"
                : $"host\n{alert.Rule}\n{alert.Node}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..32];
    }
}
