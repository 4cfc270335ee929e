using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Api.Incidents;
using Triage.Api.Operations;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Suppression;

/// <summary>Body of <c>POST /api/v1/suppressions/{id}/revoke</c>.</summary>
internal sealed record RevokeRequest(string? Actor, string? Reason);

/// <summary>Listing, revoking and exporting suppressions.</summary>
internal static class SuppressionEndpoints
{
    private const int DefaultLimit = 100;

    public static IEndpointRouteBuilder MapSuppressionEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/suppressions").WithTags("Suppressions");
        group.MapGet("/", ListAsync).RequireScope(ApiScopes.Read)
            .WithSummary("Suppressions and proposals, newest first, with votes, live tally and hit counts; filter by status");
        group.MapGet("/{id:long}", GetAsync).RequireScope(ApiScopes.Read)
            .WithSummary("One suppression with its votes, tally and hit count");
        group.MapPost("/{id:long}/revoke", RevokeAsync).RequireScope(ApiScopes.Act)
            .WithSummary("End a suppression (or withdraw a proposal) now, as a configured person, with a reason");
        group.MapGet("/export/falco", ExportFalcoAsync).RequireScope(ApiScopes.Read)
            .WithSummary("Active suppressions as a Falco rules file appending exceptions to the suppressed rules");
        return app;
    }

    private static async Task<IReadOnlyList<SuppressionDto>> ListAsync(
        SuppressionQueries queries, string? status, int? limit, CancellationToken cancellationToken)
    {
        var errors = new List<FieldError>();
        SuppressionStatus? wanted = null;
        if (status is not null && status != "all")
        {
            if (Enum.TryParse<SuppressionStatus>(status, ignoreCase: true, out var parsed) && !int.TryParse(status, out _))
            {
                wanted = parsed;
            }
            else
            {
                errors.Add(new FieldError("status", "expected proposed, active, expired, revoked or all"));
            }
        }

        if (limit is < 1 or > SuppressionQueries.MaxLimit)
        {
            errors.Add(new FieldError("limit", $"must be between 1 and {SuppressionQueries.MaxLimit}"));
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        return await queries.ListAsync(wanted, limit ?? DefaultLimit, cancellationToken);
    }

    private static async Task<SuppressionDto> GetAsync(long id, SuppressionQueries queries, CancellationToken cancellationToken) =>
        await queries.GetAsync(id, cancellationToken) ?? throw new NotFoundException($"Suppression {id} does not exist");

    /// <summary>Goes through the incident action, so the API, Slack and Teams share authorization, audit and announcement.</summary>
    private static async Task<SuppressionDto> RevokeAsync(
        long id, RevokeRequest? request, TriageDbContext db, IncidentActionService actions, SuppressionQueries queries,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request?.Actor))
        {
            throw new RequestValidationException([new FieldError("actor", "is required: the configured person revoking")]);
        }

        var incidentId = await db.Set<SuppressionRecord>().Where(s => s.Id == id).Select(s => (long?)s.IncidentId)
            .FirstOrDefaultAsync(cancellationToken) ?? throw new NotFoundException($"Suppression {id} does not exist");
        var arguments = JsonSerializer.SerializeToElement(new { suppression_id = id, reason = request.Reason });
        await actions.ExecuteAsync(incidentId, RevokeSuppressionAction.ActionName, new Actor(request.Actor, "api"), arguments, cancellationToken);
        return (await queries.GetAsync(id, cancellationToken))!;
    }

    private static async Task<IResult> ExportFalcoAsync(SuppressionQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var items = await queries.ActiveForExportAsync(now, cancellationToken);
        return Results.Text(FalcoExceptionsExport.Render(items, now), FalcoExceptionsExport.ContentType);
    }
}
