using Microsoft.Extensions.DependencyInjection.Extensions;
using Triage.Api.Configuration;
using Triage.Api.Delivery;
using Triage.Api.Incidents;
using Triage.Bot.Sink;
using Triage.Bot.Slack;
using Triage.Bot.Teams;

namespace Triage.Api.Chat;

internal static class ChatExtensions
{
    /// <summary>
    /// Slack and Teams ChatOps: the notifier (pipeline step 300), one outbox channel per configured destination, the
    /// Web API / Connector clients and the request verifiers. Without Slack or Teams, the local card sink.
    /// </summary>
    public static IServiceCollection AddChat(this IServiceCollection services, TriageConfig config)
    {
        var options = config.Chat;
        services.AddSingleton(options);
        if (!services.Any(d => d.ServiceType == typeof(Outbox)))
        {
            services.AddDelivery(config);
        }

        services.AddSingleton<ChatPeople>();
        services.AddSingleton<ChatActionRunner>();
        services.AddSingleton<ChatCommands>();
        services.AddScoped<IncidentCardMapper>();
        services.AddSingleton<IIncidentObserver, ChatNotifier>();
        services.AddSingleton<CardUpdateSeriesBackfill>();
        services.AddHostedService(sp => sp.GetRequiredService<CardUpdateSeriesBackfill>());
        services.AddSingleton<SlackPressQueue>();
        services.AddHostedService<SlackInteractionWorker>();

        if (options.Slack is { } slack)
        {
            services.AddHttpClient(nameof(SlackWebApiClient), c => c.Timeout = TimeSpan.FromSeconds(10));
            services.TryAddSingleton(sp => new SlackWebApiClient(
                sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(SlackWebApiClient)), slack.ClientOptions(),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SlackWebApiClient>>()));
            services.AddSingleton<IDeliveryChannel, SlackDeliveryChannel>();
        }

        if (options.Teams is { } teams)
        {
            services.AddHttpClient(nameof(BotConnectorClient), c => c.Timeout = TimeSpan.FromSeconds(15));
            services.TryAddSingleton(sp => new BotConnectorClient(
                sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(BotConnectorClient)), teams.ClientOptions(),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BotConnectorClient>>()));
            services.TryAddSingleton(sp => new BotFrameworkTokenValidator(
                sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(BotConnectorClient)), teams.ClientOptions(),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<BotFrameworkTokenValidator>>()));
            services.AddSingleton<IDeliveryChannel, TeamsDeliveryChannel>();
            if (teams.WorkflowsWebhookUrlEnv is not null)
            {
                services.TryAddSingleton(sp => new WorkflowsWebhookClient(
                    sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(WorkflowsWebhookClient))));
                services.AddSingleton<IDeliveryChannel, WorkflowsDeliveryChannel>();
            }
        }

        if (options.UseSink)
        {
            services.TryAddSingleton(sp => new LocalCardSink(Path.GetFullPath(options.SinkPath!), sp.GetRequiredService<TimeProvider>()));
            services.AddSingleton<IDeliveryChannel, CardSinkDeliveryChannel>();
        }

        return services;
    }
}
