using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Prometheus;
using Triage.Api.Persistence;

namespace Triage.Api.Operations;

/// <summary><c>/healthz</c> (the process answers), <c>/readyz</c> (the database answers), <c>/metrics</c>.</summary>
internal static class OperationsEndpoints
{
    /// <summary>
    /// Which .NET meters <c>/metrics</c> shows besides the service's own metrics: the runtime's (GC, JIT, thread pool),
    /// outgoing HTTP (chat, paging), and the request duration histogram of ASP.NET Core. The other ASP.NET Core meters
    /// (memory pool, Kestrel, routing, active requests) report on every buffer, connection and request; passing each
    /// of those through the Prometheus adapter took ~9% of the service's CPU samples at a few thousand requests a
    /// second. prometheus-net's event counter adapter is turned off: it enabled ASP.NET Core's and Kestrel's event
    /// sources, which then built and dispatched an event with five strings per request (1.8% of the bytes the service
    /// allocated under ingest load), and the runtime's figures it would add come from the meter already.
    /// Takes effect at the first scrape, so it is set while the app is built.
    /// </summary>
    public static void SelectMeters()
    {
        Metrics.ConfigureMeterAdapter(options => options.InstrumentFilterPredicate = IsShown);
        Metrics.ConfigureEventCounterAdapter(options => options.EventSourceFilterPredicate = _ => false);
    }

    /// <summary>Whether <c>/metrics</c> shows a .NET meter's instrument (see <see cref="SelectMeters"/>).</summary>
    public static bool IsShown(Instrument instrument) =>
        instrument.Meter.Name is "System.Runtime" or "System.Net.Http"
        || (instrument.Meter.Name == "Microsoft.AspNetCore.Hosting" && instrument.Name == "http.server.request.duration");

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
