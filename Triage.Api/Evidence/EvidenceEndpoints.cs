using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Contracts;

namespace Triage.Api.Evidence;

/// <summary>Public view of an evidence artifact; <c>download</c> is the API path of its bytes.</summary>
internal sealed record EvidenceDto(
    long Id,
    string Kind,
    string Name,
    string ContentType,
    string Node,
    string? ContainerId,
    string? AlertId,
    long? ResponseActionId,
    string? Sha256,
    long Size,
    string? Unavailable,
    DateTimeOffset CapturedAt,
    DateTimeOffset ExpiresAt,
    string? Download)
{
    public static EvidenceDto From(EvidenceArtifact a) => new(a.Id, a.Kind, a.Name, a.ContentType, a.Node, a.ContainerId, a.AlertId,
        a.ResponseActionId, a.Sha256, a.Size, a.Unavailable, a.CapturedAt, a.ExpiresAt,
        a.Sha256 is null ? null : $"/api/v1/evidence/{a.Id}/content");
}

/// <summary>
/// Evidence upload (sensors, <c>sensor</c> scope): <c>POST /api/v1/sensors/{node}/evidence</c> with the raw bytes as
/// the body and the metadata as query parameters. Reading (<c>read</c> scope): the incident's list and each
/// artifact's bytes.
/// </summary>
internal static class EvidenceEndpoints
{
    public static IEndpointRouteBuilder MapSensorEvidence(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/sensors/{node}/evidence", UploadAsync).WithTags("Sensors").RequireScope(ApiScopes.Sensor)
            .WithMetadata(new RequestSizeLimitAttribute(1L << 31));
        return app;
    }

    public static IEndpointRouteBuilder MapEvidence(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/incidents/{id:long}/evidence", ListAsync).WithTags("Evidence").RequireScope(ApiScopes.Read);
        app.MapGet("/api/v1/evidence/{id:long}", GetAsync).WithTags("Evidence").RequireScope(ApiScopes.Read);
        app.MapGet("/api/v1/evidence/{id:long}/content", DownloadAsync).WithTags("Evidence").RequireScope(ApiScopes.Read);
        return app;
    }

    private static async Task<Results<Created<EvidenceUploaded>, ProblemHttpResult>> UploadAsync(
        string node,
        [FromQuery] string? kind,
        [FromQuery] string? name,
        [FromQuery(Name = "alert_id")] string? alertId,
        [FromQuery(Name = "incident_id")] long? incidentId,
        [FromQuery(Name = "command_id")] long? commandId,
        [FromQuery(Name = "container_id")] string? containerId,
        [FromQuery(Name = "captured_at")] DateTimeOffset? capturedAt,
        [FromQuery] string? unavailable,
        HttpRequest request,
        EvidenceService evidence,
        CancellationToken ct)
    {
        if (kind is null || !EvidenceKinds.All.Contains(kind))
        {
            return TypedResults.Problem(statusCode: 400, title: "kind must be one of " + string.Join(", ", EvidenceKinds.All));
        }

        if (name is { Length: > 255 } || alertId is { Length: > 200 } || containerId is { Length: > 64 } || unavailable is { Length: > 2000 })
        {
            return TypedResults.Problem(statusCode: 400, title: "name, alert_id, container_id or unavailable is too long");
        }

        var upload = new EvidenceUpload(node, kind, SafeName(name ?? kind), request.ContentType ?? "application/octet-stream",
            containerId, alertId, incidentId, commandId, capturedAt, unavailable);
        try
        {
            var artifact = await evidence.StoreAsync(upload, unavailable is null ? request.Body : null, ct);
            return TypedResults.Created($"/api/v1/evidence/{artifact.Id}", new EvidenceUploaded(artifact.Id, artifact.Sha256, artifact.Size));
        }
        catch (ArtifactTooLargeException ex)
        {
            return TypedResults.Problem(statusCode: 413, title: ex.Message);
        }
    }

    private static async Task<Ok<IReadOnlyList<EvidenceDto>>> ListAsync(long id, EvidenceService evidence, CancellationToken ct) =>
        TypedResults.Ok<IReadOnlyList<EvidenceDto>>((await evidence.ForIncidentAsync(id, ct)).Select(EvidenceDto.From).ToList());

    private static async Task<Results<Ok<EvidenceDto>, NotFound>> GetAsync(long id, EvidenceService evidence, CancellationToken ct) =>
        await evidence.FindAsync(id, ct) is { } artifact ? TypedResults.Ok(EvidenceDto.From(artifact)) : TypedResults.NotFound();

    private static async Task<IResult> DownloadAsync(long id, EvidenceService evidence, CancellationToken ct)
    {
        if (await evidence.FindAsync(id, ct) is not { } artifact)
        {
            return TypedResults.NotFound();
        }

        if (artifact.Unavailable is not null)
        {
            return TypedResults.Problem(statusCode: 404, title: $"{artifact.Kind} was not captured: {artifact.Unavailable}");
        }

        var content = evidence.OpenContent(artifact);
        if (content is null)
        {
            return TypedResults.Problem(statusCode: 410, title: "the content was deleted by retention");
        }

        // The sensor's name is for a person; the hash in the ETag lets a client verify what it got.
        return TypedResults.File(content, artifact.ContentType, artifact.Name, entityTag: new Microsoft.Net.Http.Headers.EntityTagHeaderValue($"\"{artifact.Sha256}\""));
    }

    /// <summary>Keeps a file name usable in a Content-Disposition header and on any file system.</summary>
    private static string SafeName(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray();
        var safe = new string(chars).TrimStart('.');
        return safe.Length == 0 ? "artifact" : safe;
    }
}
