using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Incidents;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Routing;

/// <summary>
/// Pipeline step 200: decides an incident's route once, with the row that matched and why, and writes it to the
/// incident and its timeline. An incident routed before its owner was known is routed again once enrichment knows it.
/// </summary>
internal sealed class RoutingObserver(IServiceScopeFactory scopes, RoutingMatrix matrix, TimeProvider time) : IIncidentObserver
{
    public int Order => 200;

    public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var incident = await db.Incidents.FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken);
        if (incident is null)
        {
            return;
        }

        var existing = await db.Set<IncidentRoute>().FirstOrDefaultAsync(r => r.IncidentId == incidentId, cancellationToken);
        var ownerNowKnown = existing is not null && incident.OwnerTeam is not null
            && existing.Why.Contains("no owning team is known", StringComparison.Ordinal) && incident.Status == IncidentStatus.Triggered;
        if (existing is not null && !ownerNowKnown)
        {
            return;
        }

        var latest = await db.Alerts.AsNoTracking().Where(a => a.IncidentId == incidentId)
            .OrderByDescending(a => a.Time).Select(a => a.Payload).FirstOrDefaultAsync(cancellationToken);
        var decision = matrix.Decide(InputFor(incident, latest is null ? null : Parse(latest)));
        var now = time.GetUtcNow();
        var route = existing ?? new IncidentRoute { IncidentId = incidentId };
        route.Row = decision.Row;
        route.RowIndex = decision.RowIndex;
        route.Route = decision.Route;
        route.PrimaryTeam = decision.PrimaryTeam;
        route.InformedTeam = decision.InformedTeam;
        route.Urgency = decision.Urgency;
        route.EscalationPolicy = decision.EscalationPolicy;
        route.Why = string.Join('\n', decision.Why);
        route.DecidedAt = now;
        if (existing is null)
        {
            db.Add(route);
        }

        IncidentTimeline.Append(db, incidentId, now, Actor.System("scheduler"), existing is null ? "routed" : "rerouted",
            $"{decision.Route} → primary {decision.PrimaryTeam}"
            + (decision.InformedTeam is null ? "" : $", informed {decision.InformedTeam}")
            + $" (row '{decision.Row}'): {string.Join("; ", decision.Why)}");
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>The matrix input from an incident and its latest alert; enrichment facts stay unknown unless recorded.</summary>
    internal static RouteInput InputFor(Incident incident, NativeAlert? alert) => new(
        incident.Rule,
        incident.Tags,
        incident.Priority,
        incident.Namespace,
        incident.OwnerTeam,
        alert?.K8s?.Labels ?? new Dictionary<string, string>(),
        RecentRollout: null,
        ImageChanged: null,
        incident.CreatedAt);

    internal static NativeAlert? Parse(string payload)
    {
        try
        {
            return JsonSerializer.Deserialize<NativeAlert>(payload, TriageJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
