using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Enrichment;
using Triage.Api.Incidents;
using Triage.Api.OnCall;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Routing;

/// <summary>
/// Pipeline step 200: decides an incident's route with the row that matched and why, from the alert and the stored
/// enrichment (step 100 runs first), and writes it to the incident and its timeline. The route is decided once; an
/// incident routed while enrichment was unavailable (or before its owner was known) is routed again, while still
/// unacknowledged, once enrichment knows more. If that changes the primary team or policy, the running escalation is
/// replaced so that step 400 starts the new one.
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
        var enrichment = await EnrichmentStore.GetAsync(db, incidentId, cancellationToken);
        var facts = RouteFacts.From(enrichment, incident.FirstSeen, incident.OwnerTeam);
        if (existing is not null && !ShouldRouteAgain(existing, incident, facts))
        {
            return;
        }

        var latest = await db.Alerts.AsNoTracking().Where(a => a.IncidentId == incidentId)
            .OrderByDescending(a => a.Time).Select(a => a.Payload).FirstOrDefaultAsync(cancellationToken);
        var decision = matrix.Decide(InputFor(incident, latest is null ? null : Parse(latest), facts));
        var now = time.GetUtcNow();
        var changed = existing is null || existing.Row != decision.Row || existing.PrimaryTeam != decision.PrimaryTeam
            || existing.InformedTeam != decision.InformedTeam || existing.Urgency != decision.Urgency
            || existing.EscalationPolicy != decision.EscalationPolicy;
        var handOver = existing is not null && (existing.PrimaryTeam != decision.PrimaryTeam || existing.EscalationPolicy != decision.EscalationPolicy);
        var route = existing ?? new IncidentRoute { IncidentId = incidentId };
        route.Row = decision.Row;
        route.RowIndex = decision.RowIndex;
        route.Route = decision.Route;
        route.PrimaryTeam = decision.PrimaryTeam;
        route.InformedTeam = decision.InformedTeam;
        route.Urgency = decision.Urgency;
        route.EscalationPolicy = decision.EscalationPolicy;
        route.Why = string.Join('\n', decision.Why);
        route.Enrichment = decision.Enrichment;
        route.DecidedAt = now;
        if (existing is null)
        {
            db.Add(route);
        }

        if (handOver)
        {
            // Step 400 starts the new team's (or policy's) escalation when it finds none; removed in the same commit
            // as the new route, so no escalation runs for a route that was not saved. An exhausted one goes too: the
            // new team has not been paged yet.
            if (await db.Set<Escalation>().FirstOrDefaultAsync(e => e.IncidentId == incidentId, cancellationToken) is { State: not EscalationState.Stopped } running)
            {
                db.Remove(running);
            }
        }

        // Routing again to the same place only records what is now known; it is no news for the timeline.
        if (changed)
        {
            IncidentTimeline.Append(db, incidentId, now, Actor.System("scheduler"), existing is null ? "routed" : "rerouted",
                $"{decision.Route} → primary {decision.PrimaryTeam}"
                + (decision.InformedTeam is null ? "" : $", informed {decision.InformedTeam}")
                + $" (row '{decision.Row}'): {string.Join("; ", decision.Why)}");
        }

        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// Only an unacknowledged incident is routed again, and only when enrichment now knows what it did not at the
    /// first decision (rows written before the enrichment column fall back to the owner test).
    /// </summary>
    private static bool ShouldRouteAgain(IncidentRoute existing, Incident incident, RouteFacts facts)
    {
        if (incident.Status != IncidentStatus.Triggered)
        {
            return false;
        }

        var ownerNowKnown = facts.OwningTeam is not null && existing.Why.Contains("no owning team is known", StringComparison.Ordinal);
        var factsNowKnown = existing.Enrichment is "unavailable" or "not_enriched"
            && facts.Status is not ("unavailable" or "not_enriched");
        return ownerNowKnown || factsNowKnown;
    }

    /// <summary>The matrix input from an incident, its latest alert and its enrichment facts.</summary>
    internal static RouteInput InputFor(Incident incident, NativeAlert? alert, RouteFacts facts) => new(
        incident.Rule,
        incident.Tags,
        incident.Priority,
        incident.Namespace,
        alert?.K8s?.Labels ?? new Dictionary<string, string>(),
        facts,
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
