using k8s;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Triage.Api.Configuration;
using Triage.Api.Incidents;

namespace Triage.Api.Response;

internal static class ResponseServiceCollectionExtensions
{
    /// <summary>Response actions, the sensor command channel and the pod quarantine.</summary>
    public static IServiceCollection AddResponse(this IServiceCollection services, TriageConfig config)
    {
        services.AddSingleton(config.Response);
        services.AddSingleton<SensorCommandSignal>();
        services.AddScoped<SensorCommandQueue>();
        services.AddScoped<ResponseRecorder>();
        services.AddScoped<ResponseService>();
        services.AddScoped<PodIsolator>();
        services.AddScoped<IIncidentAction, KillProcessAction>();
        services.AddScoped<IIncidentAction, IsolatePodAction>();
        services.AddScoped<IIncidentAction, UnisolatePodAction>();
        services.AddScoped<IIncidentAction, CaptureEvidenceAction>();
        services.AddSingleton<IIncidentObserver, AutomaticResponseObserver>();

        // Another feature (enrichment) may already have registered the client; one client serves both.
        services.TryAddSingleton<IKubernetes>(_ => new Kubernetes(BuildKubernetesConfig(config.Response.Kubernetes)));
        return services;
    }

    internal static KubernetesClientConfiguration BuildKubernetesConfig(ResponseKubernetesOptions options)
    {
        if (options.ApiServer is { } server)
        {
            return new KubernetesClientConfiguration
            {
                Host = server,
                AccessToken = options.Token ?? (options.TokenEnv is { } env ? Environment.GetEnvironmentVariable(env) : null),
            };
        }

        return KubernetesClientConfiguration.IsInCluster()
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig);
    }
}
