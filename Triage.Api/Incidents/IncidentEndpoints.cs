using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Api.Operations;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Incidents;

/// <summary>Incident queries and actions.</summary>
internal static class IncidentEndpoints
{
    public const int MaxAlertsInDetail = 100;
    private const int DefaultPageSize = 50;
    private const int MaxPageSize = 500;

    public static IEndpointRouteBuilder MapIncidentEndpoints(this IEndpointRouteBuilder app)
    {
        var incidents = app.MapGroup("/api/v1/incidents").WithTags("Incidents");
        incidents.MapGet("/", ListAsync).RequireScope(ApiScopes.Read)
            .WithSummary("List incidents, newest first; filter by status, team, minimum priority and last seen since");
        incidents.MapGet("/{id:long}", GetAsync).RequireScope(ApiScopes.Read)
            .WithSummary("One incident with its alerts and timeline");
        incidents.MapPost("/{id:long}/actions/{action}", ActAsync).RequireScope(ApiScopes.Act)
            .WithSummary("Take an action (ack, resolve, ...) as a configured person");
        return app;
    }

    private static async Task<IncidentPage> ListAsync(
        TriageDbContext db,
        string? status,
        string? team,
        string? priority,
        DateTimeOffset? since,
        int? limit,
        string? cursor,
        CancellationToken cancellationToken)
    {
        var errors = new List<FieldError>();
        var query = db.Incidents.AsNoTracking();
        if (status is not null)
        {
            if (Enum.TryParse<IncidentStatus>(status, ignoreCase: true, out var parsed))
            {
                query = query.Where(i => i.Status == parsed);
            }
            else
            {
                errors.Add(new FieldError("status", "expected triggered, acknowledged or resolved"));
            }
        }

        if (team is not null)
        {
            query = query.Where(i => i.OwnerTeam == team);
        }

        if (priority is not null)
        {
            if (AlertPriorities.TryParse(priority, out var minimum))
            {
                query = query.Where(i => i.Priority >= minimum);
            }
            else
            {
                errors.Add(new FieldError("priority", $"expected one of {string.Join(", ", AlertPriorities.Names)}"));
            }
        }

        if (since is not null)
        {
            var from = since.Value.ToUniversalTime();
            query = query.Where(i => i.LastSeen >= from);
        }

        if (cursor is not null)
        {
            if (long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var before))
            {
                query = query.Where(i => i.Id < before);
            }
            else
            {
                errors.Add(new FieldError("cursor", "is not a cursor returned by this endpoint"));
            }
        }

        if (limit is < 1 or > MaxPageSize)
        {
            errors.Add(new FieldError("limit", $"must be between 1 and {MaxPageSize}"));
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var size = limit ?? DefaultPageSize;
        var items = await query.OrderByDescending(i => i.Id).Take(size + 1).ToListAsync(cancellationToken);
        var next = items.Count > size ? items[size - 1].Id.ToString(CultureInfo.InvariantCulture) : null;
        return new IncidentPage([.. items.Take(size).Select(i => new IncidentSummary(i))], next);
    }

    private static async Task<IncidentDetail> GetAsync(
        long id, TriageDbContext db, Suppression.SuppressionQueries suppressions, CancellationToken cancellationToken)
    {
        var incident = await db.Incidents.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, cancellationToken)
            ?? throw new NotFoundException($"Incident {id} does not exist");
        var alerts = await db.Alerts.AsNoTracking().Where(a => a.IncidentId == id)
            .OrderByDescending(a => a.Time).Take(MaxAlertsInDetail).ToListAsync(cancellationToken);
        var timeline = await db.Timeline.AsNoTracking().Where(t => t.IncidentId == id)
            .OrderBy(t => t.Id).ToListAsync(cancellationToken);
        return new IncidentDetail(incident, alerts, timeline)
        {
            Enrichment = await Enrichment.EnrichmentStore.GetAsync(db, id, cancellationToken),
            Route = await Routing.IncidentRouteView.GetAsync(db, id, cancellationToken),
            Suppression = await suppressions.ForIncidentAsync(id, cancellationToken),
        };
    }

    private static async Task<ActionResponse> ActAsync(
        long id, string action, ActionRequest? request, IncidentActionService actions, TriageDbContext db,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request?.Actor))
        {
            throw new RequestValidationException([new FieldError("actor", "is required: the configured person taking the action")]);
        }

        var outcome = await actions.ExecuteAsync(id, action, new Actor(request.Actor, "api"), request.Arguments, cancellationToken);
        var status = await db.Incidents.AsNoTracking().Where(i => i.Id == id).Select(i => i.Status).FirstAsync(cancellationToken);
        return new ActionResponse(id, action, outcome.Changed, outcome.Message, status);
    }
}
