using System.Security.Cryptography.X509Certificates;
using k8s;
using k8s.Authentication;

namespace Sensor.Containers;

/// <summary>
/// The <c>Sensor:Kubernetes</c> settings: where the pods of this node are read from. Off unless configured: without
/// them the container runtime's pod labels are the only pod context.
/// </summary>
internal sealed class KubernetesPodSettings
{
    /// <summary>
    /// <c>off</c>, <c>api_server</c> (<see cref="ApiServer"/> with <see cref="TokenFile"/>/<see cref="CaFile"/>),
    /// <c>in_cluster</c> (the pod's service account), <c>kubeconfig</c> (<see cref="Kubeconfig"/>, or the default
    /// location). Empty (the default) means: <c>api_server</c> when <see cref="ApiServer"/> is set, <c>kubeconfig</c>
    /// when <see cref="Kubeconfig"/> is set, <c>in_cluster</c> when running in a pod, otherwise off.
    /// </summary>
    public string Mode { get; set; } = "";

    /// <summary>API server URL, e.g. https://10.0.0.1:6443.</summary>
    public string? ApiServer { get; set; }

    /// <summary>File holding the bearer token; re-read when it changes (projected service account tokens rotate).</summary>
    public string? TokenFile { get; set; }

    /// <summary>PEM file of the CA that signed the API server's certificate.</summary>
    public string? CaFile { get; set; }

    public string? Kubeconfig { get; set; }

    /// <summary>Kubeconfig context; default its current-context.</summary>
    public string? Context { get; set; }

    /// <summary>The node whose pods are watched (<c>spec.nodeName</c>). Default: the sensor's node name (the host name).</summary>
    public string? NodeName { get; set; }

    /// <summary>How long a deleted pod's containers stay resolvable, in seconds. Default 300.</summary>
    public double TombstoneSeconds { get; set; } = 300;

    /// <summary>Server-side timeout of one watch request, in seconds; the watch then resumes where it was. Default 300.</summary>
    public double WatchTimeoutSeconds { get; set; } = 300;

    /// <summary>Longest wait between attempts while the API server fails, in seconds (starts at 0.5 s, doubles). Default 30.</summary>
    public double MaxBackoffSeconds { get; set; } = 30;

    /// <summary>The effective mode after the defaults above.</summary>
    public string EffectiveMode => Mode is { Length: > 0 } mode
        ? mode
        : ApiServer is { Length: > 0 } ? "api_server"
        : Kubeconfig is { Length: > 0 } ? "kubeconfig"
        : KubernetesClientConfiguration.IsInCluster() ? "in_cluster"
        : "off";

    /// <summary>Problems with the settings, in words; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        switch (EffectiveMode)
        {
            case "off" or "in_cluster":
                break;
            case "api_server":
                if (!Uri.TryCreate(ApiServer, UriKind.Absolute, out _))
                {
                    problems.Add($"Sensor:Kubernetes:ApiServer '{ApiServer}' is not an absolute URL");
                }

                if (TokenFile is { Length: > 0 } token && !File.Exists(token))
                {
                    problems.Add($"Sensor:Kubernetes:TokenFile {token} does not exist");
                }

                if (CaFile is { Length: > 0 } ca && !File.Exists(ca))
                {
                    problems.Add($"Sensor:Kubernetes:CaFile {ca} does not exist");
                }

                break;
            case "kubeconfig":
                var path = Kubeconfig ?? KubernetesClientConfiguration.KubeConfigDefaultLocation;
                if (!File.Exists(path))
                {
                    problems.Add($"Sensor:Kubernetes:Kubeconfig {path} does not exist");
                }

                break;
            default:
                problems.Add($"Sensor:Kubernetes:Mode '{Mode}' is not one of off, api_server, in_cluster, kubeconfig");
                break;
        }

        if (TombstoneSeconds <= 0)
        {
            problems.Add("Sensor:Kubernetes:TombstoneSeconds must be more than 0");
        }

        if (WatchTimeoutSeconds < 1 || MaxBackoffSeconds <= 0)
        {
            problems.Add("Sensor:Kubernetes:WatchTimeoutSeconds must be at least 1 and MaxBackoffSeconds more than 0");
        }

        return problems;
    }

    /// <summary>The client configuration, or null when off. Call <see cref="Problems"/> first.</summary>
    public KubernetesClientConfiguration? ClientConfiguration() => EffectiveMode switch
    {
        "in_cluster" => KubernetesClientConfiguration.InClusterConfig(),
        "kubeconfig" => KubernetesClientConfiguration.BuildConfigFromConfigFile(Kubeconfig, Context),
        "api_server" => new KubernetesClientConfiguration
        {
            Host = ApiServer,
            TokenProvider = TokenFile is { Length: > 0 } token ? new TokenFileAuth(token) : null,
            SslCaCerts = CaFile is { Length: > 0 } ca ? LoadCa(ca) : null,
        },
        _ => null,
    };

    /// <summary>What the settings point at, for the start-up log line.</summary>
    public string Describe() => EffectiveMode switch
    {
        "api_server" => $"API server {ApiServer}",
        "kubeconfig" => $"kubeconfig {Kubeconfig ?? KubernetesClientConfiguration.KubeConfigDefaultLocation}",
        "in_cluster" => "in-cluster service account",
        _ => "off",
    };

    private static X509Certificate2Collection LoadCa(string path)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(path);
        return certificates;
    }
}
