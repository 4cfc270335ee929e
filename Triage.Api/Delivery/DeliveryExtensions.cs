using Triage.Api.Configuration;

namespace Triage.Api.Delivery;

internal static class DeliveryExtensions
{
    /// <summary>Registers the outbox, its dispatcher and its retention sweep. Channels register themselves as <see cref="IDeliveryChannel"/>.</summary>
    public static IServiceCollection AddDelivery(this IServiceCollection services, TriageConfig config)
    {
        services.AddSingleton(config.Delivery);
        services.AddSingleton<Outbox>();
        services.AddSingleton<OutboxDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxDispatcher>());
        services.AddSingleton<OutboxRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxRetention>());
        return services;
    }
}
