using Triage.Api.Configuration;

namespace Triage.Api.Evidence;

internal static class EvidenceServiceCollectionExtensions
{
    /// <summary>The content-addressed evidence store, its metadata and the retention job.</summary>
    public static IServiceCollection AddEvidence(this IServiceCollection services, TriageConfig config)
    {
        services.AddSingleton(config.Evidence);
        services.AddSingleton(_ => new ContentStore(config.Evidence.Directory));
        services.AddScoped<EvidenceService>();
        services.AddScoped<EvidenceRetention>();
        services.AddHostedService<EvidenceRetentionService>();
        return services;
    }
}
