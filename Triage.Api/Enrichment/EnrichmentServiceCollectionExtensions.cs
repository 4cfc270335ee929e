using Triage.Api.Configuration;
using Triage.Api.Enrichment.Kubernetes;
using Triage.Api.Enrichment.Runbooks;
using Triage.Api.Incidents;

namespace Triage.Api.Enrichment;

internal static class EnrichmentServiceCollectionExtensions
{
    /// <summary>
    /// Enrichment as pipeline step 100: the runbook catalog (loaded now, so a broken runbook stops start-up), the
    /// ownership resolver, the Kubernetes client with its cache (or none), the enricher and the retry service.
    /// </summary>
    public static IServiceCollection AddEnrichment(this IServiceCollection services, TriageConfig config)
    {
        var options = config.Enrichment;
        services.AddSingleton(options);
        services.AddSingleton(LoadRunbooks(options.Runbooks, config.SourceFile));
        services.AddSingleton(new OwnershipResolver(options.Ownership, config.Teams));
        services.AddSingleton(sp => new KubernetesObjectCache(sp.GetRequiredService<TimeProvider>(),
            options.Kubernetes.CacheTtl, options.Kubernetes.CacheMaxEntries));
        services.AddSingleton(sp =>
        {
            var (client, description) = KubernetesConnection.Create(options.Kubernetes);
            var time = sp.GetRequiredService<TimeProvider>();
            var reader = client is null ? null : new WorkloadReader(client, sp.GetRequiredService<KubernetesObjectCache>(), time);
            return new IncidentEnricher(options, sp.GetRequiredService<OwnershipResolver>(),
                sp.GetRequiredService<RunbookCatalog>(), reader, description, time);
        });
        services.AddSingleton<IIncidentObserver, EnrichmentObserver>();
        services.AddSingleton<EnrichmentRetryService>();
        services.AddHostedService(sp => sp.GetRequiredService<EnrichmentRetryService>());
        return services;
    }

    /// <summary>
    /// The configured folder (relative to the configuration file), else the copy shipped beside the binary; with
    /// neither, no runbooks (incidents then carry none) rather than no service.
    /// </summary>
    private static RunbookCatalog LoadRunbooks(RunbookOptions options, string configFile)
    {
        var configured = Path.IsPathRooted(options.Directory) || string.IsNullOrEmpty(configFile)
            ? options.Directory
            : Path.Combine(Path.GetDirectoryName(configFile)!, options.Directory);
        foreach (var candidate in new[] { configured, Path.Combine(AppContext.BaseDirectory, "runbooks") })
        {
            if (Directory.Exists(candidate))
            {
                return RunbookCatalog.Load(candidate);
            }
        }

        return new RunbookCatalog([]);
    }
}
