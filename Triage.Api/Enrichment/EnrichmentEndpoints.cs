using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Api.Enrichment.Runbooks;
using Triage.Api.Incidents;

namespace Triage.Api.Enrichment;

/// <summary>Runbooks: the list (API, read scope) and each runbook's Markdown (public, it is the link on incidents).</summary>
internal static class EnrichmentEndpoints
{
    public static IEndpointRouteBuilder MapEnrichment(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/runbooks", (RunbookCatalog catalog) => catalog.All.Select(r =>
                new RunbookSummary(r.Name, r.Title, r.Rules, r.Techniques, $"/runbooks/{r.Name}")))
            .RequireScope(ApiScopes.Read)
            .WithTags("Runbooks")
            .WithSummary("Runbooks with the rules and MITRE techniques they answer");

        // Runbooks are documentation that ships with the service; people open this link from chat without a token.
        app.MapGet("/runbooks/{name}", (string name, RunbookCatalog catalog) =>
                catalog.Find(name) is { } runbook
                    ? Results.Text(runbook.Markdown, "text/markdown; charset=utf-8")
                    : throw new NotFoundException($"Runbook {name} does not exist"))
            .WithTags("Runbooks")
            .WithSummary("One runbook as Markdown");
        return app;
    }
}

internal sealed record RunbookSummary(string Name, string Title, IReadOnlyList<string> Rules,
    IReadOnlyList<string> Mitre, string Link);
