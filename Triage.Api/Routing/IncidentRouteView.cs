using Microsoft.EntityFrameworkCore;
using Triage.Api.OnCall;
using Triage.Api.Persistence;

namespace Triage.Api.Routing;

/// <summary>
/// The <c>route</c> section of <c>GET /api/v1/incidents/{id}</c> (and the body of <c>GET /api/v1/incidents/{id}/route</c>):
/// the matrix row that matched and why, who is primary and who is informed, urgency, policy and where the escalation
/// stands.
/// </summary>
/// <param name="Row">The matching row's name, or <c>default</c>.</param>
/// <param name="RowIndex">Its index in <c>routing.rules</c>; null for the default.</param>
/// <param name="Route"><c>platform</c>, <c>soc</c> or <c>both</c>.</param>
/// <param name="PrimaryTeam">The team that is paged.</param>
/// <param name="InformedTeam">The team that is told but not paged, or null.</param>
/// <param name="Urgency"><c>high</c> or <c>low</c>.</param>
/// <param name="EscalationPolicy">The policy that pages, or null when nobody is paged.</param>
/// <param name="Why">The explanation, one reason per line.</param>
/// <param name="Enrichment">The status of the enrichment facts the decision saw (complete, partial, unavailable,
/// not_applicable, not_enriched).</param>
/// <param name="DecidedAt">When the route was (last) decided.</param>
/// <param name="Escalation">The escalation, or null before one started (or when the route pages nobody).</param>
internal sealed record IncidentRouteView(
    string Row,
    int? RowIndex,
    string Route,
    string PrimaryTeam,
    string? InformedTeam,
    string Urgency,
    string? EscalationPolicy,
    IReadOnlyList<string> Why,
    string Enrichment,
    DateTimeOffset DecidedAt,
    EscalationView? Escalation)
{
    public static async Task<IncidentRouteView?> GetAsync(TriageDbContext db, long incidentId, CancellationToken cancellationToken)
    {
        var route = await db.Set<IncidentRoute>().AsNoTracking().FirstOrDefaultAsync(r => r.IncidentId == incidentId, cancellationToken);
        if (route is null)
        {
            return null;
        }

        var escalation = await db.Set<Escalation>().AsNoTracking().FirstOrDefaultAsync(e => e.IncidentId == incidentId, cancellationToken);
        return new IncidentRouteView(route.Row, route.RowIndex, route.Route, route.PrimaryTeam, route.InformedTeam, route.Urgency,
            route.EscalationPolicy, route.Why.Split('\n'), route.Enrichment.Length == 0 ? "unknown" : route.Enrichment, route.DecidedAt,
            escalation is null ? null : EscalationView.From(escalation));
    }
}

/// <summary>Where an incident's escalation stands.</summary>
/// <param name="State"><c>active</c>, <c>stopped</c> or <c>exhausted</c>.</param>
/// <param name="NextLevel">The level (1-based) paged at <paramref name="NextPageAt"/> while active.</param>
/// <param name="Repeat">How many times the policy has started over.</param>
/// <param name="NextPageAt">When the next level is paged unless acknowledged; null unless active.</param>
/// <param name="LastPaged">Who was paged last, e.g. <c>level 1/2: bob (on call in payments-primary)</c>.</param>
internal sealed record EscalationView(
    EscalationState State,
    string Policy,
    string Team,
    string Urgency,
    int NextLevel,
    int Repeat,
    DateTimeOffset? NextPageAt,
    string? LastPaged,
    DateTimeOffset StartedAt,
    DateTimeOffset? StoppedAt,
    string? StopReason)
{
    public static EscalationView From(Escalation e) => new(e.State, e.Policy, e.Team, e.Urgency, e.Level + 1, e.Loop,
        e.State == EscalationState.Active ? e.NextFireAt : null, e.LastPaged, e.StartedAt, e.StoppedAt, e.StopReason);
}
