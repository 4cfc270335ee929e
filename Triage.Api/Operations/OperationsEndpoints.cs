using Microsoft.EntityFrameworkCore;
using Prometheus;
using Triage.Api.Persistence;

namespace Triage.Api.Operations;

/// <summary><c>/healthz</c> (the process answers), <c>/readyz</c> (the database answers), <c>/metrics</c>.</summary>
internal static class OperationsEndpoints
{
    public static IEndpointRouteBuilder MapOperationsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Text("ok")).WithTags("Operations").ExcludeFromDescription();
        app.MapGet("/readyz", ReadyAsync).WithTags("Operations").ExcludeFromDescription();
        app.MapMetrics("/metrics");
        return app;
    }

    private static async Task<IResult> ReadyAsync(TriageDbContext db, CancellationToken cancellationToken)
    {
        try
        {
            return await db.Database.CanConnectAsync(cancellationToken)
                ? TypedResults.Text("ready")
                : TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Database unreachable");
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Database unreachable", detail: ex.Message);
        }
    }

    /// <summary>Incidents by status, read from the database at scrape time so every replica reports the truth.</summary>
    public static void RegisterIncidentGauge(IServiceProvider services)
    {
        var gauge = Metrics.CreateGauge("triage_incidents", "Incidents by status.", new GaugeConfiguration { LabelNames = ["status"] });
        Metrics.DefaultRegistry.AddBeforeCollectCallback(async cancellationToken =>
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
            var counts = await db.Incidents.GroupBy(i => i.Status)
                .Select(g => new { Status = g.Key, Count = g.Count() })
                .ToListAsync(cancellationToken);
            foreach (var status in Enum.GetValues<IncidentStatus>())
            {
                gauge.WithLabels(status.ToString().ToLowerInvariant()).Set(counts.FirstOrDefault(c => c.Status == status)?.Count ?? 0);
            }
        });
    }
}
