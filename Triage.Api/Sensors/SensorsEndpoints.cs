using Microsoft.AspNetCore.Http.HttpResults;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Contracts;

namespace Triage.Api.Sensors;

/// <summary>The sensors and their heartbeats, as <c>GET /api/v1/sensors</c> lists them.</summary>
internal sealed record SensorList(IReadOnlyList<SensorView> Sensors, double SilentAfterSeconds);

/// <summary>
/// <c>POST /api/v1/sensors/{node}/heartbeat</c> (the sensor's token, <c>ingest</c> scope: the same client and token as
/// its alert delivery) and <c>GET /api/v1/sensors</c> (<c>read</c> scope): every node with its last heartbeat, status
/// ok or silent, and the figures it reported.
/// </summary>
internal static class SensorsEndpoints
{
    /// <summary>Longest node name (a DNS name, as Kubernetes node names are).</summary>
    private const int MaxNodeLength = 253;

    public static IEndpointRouteBuilder MapSensors(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/sensors/{node}/heartbeat", HeartbeatAsync).WithTags("Sensors").RequireScope(ApiScopes.Ingest)
            .WithSummary("A sensor's periodic heartbeat; the service flags a node silent when they stop.");
        app.MapGet("/api/v1/sensors", ListAsync).WithTags("Sensors").RequireScope(ApiScopes.Read)
            .WithSummary("Every sensor that sent a heartbeat: last seen, status ok or silent, and its reported figures.");
        return app;
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> HeartbeatAsync(
        string node, SensorHeartbeat heartbeat, SensorHealth health, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(node) || node.Length > MaxNodeLength)
        {
            return TypedResults.Problem(statusCode: 400, title: $"node must be 1 to {MaxNodeLength} characters");
        }

        if (heartbeat.Node is { } named && named != node)
        {
            return TypedResults.Problem(statusCode: 400, title: "node in the body differs from the URL",
                detail: $"URL names '{node}', body names '{named}'.");
        }

        await health.RecordAsync(node, heartbeat, cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<SensorList>> ListAsync(SensorHealth health, SensorsOptions options, CancellationToken cancellationToken) =>
        TypedResults.Ok(new SensorList(await health.ListAsync(cancellationToken), options.EffectiveSilentAfter.TotalSeconds));
}
