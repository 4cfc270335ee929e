using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Api.Enrichment;
using Triage.Api.Incidents;
using Triage.Api.Ingest;
using Triage.Api.Operations;
using Triage.Api.Persistence;
using Triage.Api.Routing;

namespace Triage.Api;

/// <summary>Registration of the service's core: configuration, database, ingest, incidents and operations.</summary>
internal static class TriageServiceExtensions
{
    public static IServiceCollection AddTriageCore(this IServiceCollection services, TriageConfig config)
    {
        services.AddSingleton(config);
        services.TryAddSingletonTimeProvider();
        services.AddTriageDatabase(config.Database);
        services.AddSingleton<ApiTokens>();
        services.AddSingleton<IngestMetrics>();

        services.AddSingleton(new IncidentPipelineOptions());
        services.AddSingleton<IncidentPipeline>();
        services.AddHostedService(sp => sp.GetRequiredService<IncidentPipeline>());
        services.AddEnrichment(config);
        services.AddSingleton<AlertWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<AlertWriter>());

        services.AddScoped<IncidentActionService>();
        services.AddSingleton<IIncidentAction, AcknowledgeAction>();
        services.AddSingleton<IIncidentAction, ResolveAction>();

        services.AddRoutingAndOnCall(config);

        services.AddProblemDetails();
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.ConfigureHttpJsonOptions(o => TriageJson.Configure(o.SerializerOptions));
        services.AddOpenApi();
        return services;
    }

    private static void TryAddSingletonTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }

    public static WebApplication MapTriageCore(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapOperationsEndpoints();
        app.MapIngestEndpoints();
        app.MapIncidentEndpoints();
        app.MapRoutingAndOnCall();
        app.MapEnrichment();
        OperationsEndpoints.RegisterIncidentGauge(app.Services);
        return app;
    }
}
