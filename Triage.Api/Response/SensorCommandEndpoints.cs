using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Contracts;

namespace Triage.Api.Response;

/// <summary>
/// The command channel the sensors poll: <c>GET /api/v1/sensors/{node}/commands</c> is a long poll that answers as
/// soon as a command for the node is queued (or with an empty list after <c>wait</c> seconds), and
/// <c>POST /api/v1/sensors/{node}/commands/{id}/result</c> reports the outcome. Both need a token with the
/// <c>sensor</c> scope.
/// </summary>
internal static class SensorCommandEndpoints
{
    public static IEndpointRouteBuilder MapSensorCommands(this IEndpointRouteBuilder app)
    {
        var sensors = app.MapGroup("/api/v1/sensors/{node}").WithTags("Sensors").RequireScope(ApiScopes.Sensor);
        sensors.MapGet("/commands", TakeAsync);
        sensors.MapPost("/commands/{id:long}/result", CompleteAsync);
        return app;
    }

    private static async Task<Results<Ok<IReadOnlyList<SensorCommand>>, ProblemHttpResult>> TakeAsync(
        string node, int? wait, SensorCommandQueue queue, ResponseOptions options, CancellationToken ct)
    {
        if (wait is < 0)
        {
            return TypedResults.Problem(statusCode: 400, title: "wait must be 0 or more seconds");
        }

        var holdFor = TimeSpan.FromSeconds(Math.Min(wait ?? 0, options.LongPoll.TotalSeconds));
        try
        {
            return TypedResults.Ok(await queue.TakeAsync(node, holdFor, ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The sensor hung up; nothing was handed out since the read found nothing.
            return TypedResults.Ok<IReadOnlyList<SensorCommand>>([]);
        }
    }

    private static async Task<Results<NoContent, NotFound<ProblemDetails>, ProblemHttpResult>> CompleteAsync(
        string node, long id, SensorCommandResult result, SensorCommandQueue queue, CancellationToken ct)
    {
        if (result.Outcome is null || !SensorCommandOutcomes.All.Contains(result.Outcome))
        {
            return TypedResults.Problem(statusCode: 400, title: "outcome must be one of " + string.Join(", ", SensorCommandOutcomes.All));
        }

        return await queue.CompleteAsync(node, id, result, ct)
            ? TypedResults.NoContent()
            : TypedResults.NotFound(new ProblemDetails { Title = $"no command {id} for node {node}", Status = 404 });
    }
}
