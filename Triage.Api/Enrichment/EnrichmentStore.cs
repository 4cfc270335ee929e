using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;

namespace Triage.Api.Enrichment;

/// <summary>Reads an incident's enrichment for the API, chat cards, routing and paging.</summary>
internal static class EnrichmentStore
{
    public static async Task<EnrichmentDocument?> GetAsync(TriageDbContext db, long incidentId,
        CancellationToken cancellationToken)
    {
        var document = await db.Set<IncidentEnrichment>().AsNoTracking()
            .Where(e => e.IncidentId == incidentId)
            .Select(e => e.Document)
            .FirstOrDefaultAsync(cancellationToken);
        return document is null ? null : JsonSerializer.Deserialize<EnrichmentDocument>(document, TriageJson.Options);
    }
}
