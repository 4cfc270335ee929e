using Triage.Api.Configuration;
using Triage.Api.Incidents;

namespace Triage.Api.Suppression;

/// <summary>Registration of suppression voting: actions, pipeline step, ingest matcher, expiry sweep, queries.</summary>
internal static class SuppressionServiceExtensions
{
    public static IServiceCollection AddSuppression(this IServiceCollection services, TriageConfig config)
    {
        services.AddSingleton(new VoterDirectory(config));
        services.AddSingleton<SuppressionVoting>();
        services.AddSingleton<SuppressionMatcher>();
        services.AddScoped<SuppressionQueries>();
        services.AddSingleton<IIncidentAction, VoteBenignAction>();
        services.AddSingleton<IIncidentAction, VoteNotBenignAction>();
        services.AddSingleton<IIncidentAction, RevokeSuppressionAction>();
        services.AddSingleton<IIncidentObserver, SuppressionObserver>();
        services.AddSingleton<SuppressionSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<SuppressionSweeper>());
        return services;
    }
}
