using k8s;

namespace Triage.Api.Enrichment.Kubernetes;

/// <summary>
/// Builds the KubernetesClient from the <c>enrichment.kubernetes</c> section. Null means "no Kubernetes context":
/// enrichment then uses mappings and the fallback only, and says so.
/// </summary>
internal static class KubernetesConnection
{
    public static (IKubernetes? Client, string Description) Create(KubernetesOptions options)
    {
        var configuration = Configure(options, out var description);
        if (configuration is null)
        {
            return (null, description);
        }

        configuration.HttpClientTimeout = options.RequestTimeout;
        return (new k8s.Kubernetes(configuration), description);
    }

    private static KubernetesClientConfiguration? Configure(KubernetesOptions options, out string description)
    {
        switch (options.Mode)
        {
            case "none":
                description = "Kubernetes lookups are switched off (enrichment.kubernetes.mode: none)";
                return null;
            case "in_cluster":
                description = "in-cluster service account";
                return KubernetesClientConfiguration.InClusterConfig();
            case "kubeconfig":
                description = $"kubeconfig {options.Kubeconfig ?? "(default location)"}";
                return KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig, options.Context);
            case "api_server":
                description = $"API server {options.ApiServer}";
                return new KubernetesClientConfiguration
                {
                    Host = options.ApiServer,
                    AccessToken = options.TokenEnv is { Length: > 0 } env ? Environment.GetEnvironmentVariable(env) : null,
                };
            default:
                if (KubernetesClientConfiguration.IsInCluster())
                {
                    description = "in-cluster service account (auto)";
                    return KubernetesClientConfiguration.InClusterConfig();
                }

                var kubeconfig = options.Kubeconfig
                    ?? Environment.GetEnvironmentVariable("KUBECONFIG")?.Split(Path.PathSeparator)[0]
                    ?? KubernetesClientConfiguration.KubeConfigDefaultLocation;
                if (File.Exists(kubeconfig))
                {
                    description = $"kubeconfig {kubeconfig} (auto)";
                    return KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig, options.Context);
                }

                description = "no Kubernetes context: not in a cluster and no kubeconfig found";
                return null;
        }
    }
}
