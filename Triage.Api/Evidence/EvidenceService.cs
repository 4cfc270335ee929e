using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;

namespace Triage.Api.Evidence;

/// <summary>What the sensor says about an artifact it uploads.</summary>
internal sealed record EvidenceUpload(
    string Node,
    string Kind,
    string Name,
    string ContentType,
    string? ContainerId,
    string? AlertId,
    long? IncidentId,
    long? ResponseActionId,
    DateTimeOffset? CapturedAt,
    string? Unavailable);

/// <summary>Stores evidence (bytes in the <see cref="ContentStore"/>, metadata in the database) and finds it again.</summary>
internal sealed partial class EvidenceService(
    TriageDbContext db,
    ContentStore store,
    EvidenceOptions options,
    TimeProvider time,
    ILogger<EvidenceService> logger)
{
    public async Task<EvidenceArtifact> StoreAsync(EvidenceUpload upload, Stream? content, CancellationToken ct)
    {
        string? sha = null;
        long size = 0;
        if (upload.Unavailable is null && content is not null)
        {
            (sha, size) = await store.PutAsync(content, options.MaxArtifactBytes, ct);
        }

        var now = time.GetUtcNow();
        var incidentId = upload.IncidentId;
        if (incidentId is null && upload.AlertId is not null)
        {
            incidentId = await db.Set<StoredAlert>().Where(a => a.Id == upload.AlertId)
                .Select(a => (long?)a.IncidentId).FirstOrDefaultAsync(ct);
        }

        var artifact = new EvidenceArtifact
        {
            IncidentId = incidentId,
            AlertId = upload.AlertId,
            ResponseActionId = upload.ResponseActionId,
            Kind = upload.Kind,
            Name = upload.Name,
            ContentType = upload.ContentType,
            Node = upload.Node,
            ContainerId = upload.ContainerId,
            Sha256 = sha,
            Size = size,
            Unavailable = upload.Unavailable,
            CapturedAt = (upload.CapturedAt ?? now).ToUniversalTime(),
            StoredAt = now,
            ExpiresAt = (upload.CapturedAt ?? now).ToUniversalTime() + options.Retention,
        };
        db.Add(artifact);
        await db.SaveChangesAsync(ct);
        LogStored(logger, artifact.Id, artifact.Kind, artifact.Node, artifact.Size, artifact.Sha256 ?? "-");
        return artifact;
    }

    /// <summary>
    /// Evidence of an incident: linked to it directly, or to one of its alerts (the sensor uploads at detection
    /// time, often before the alert has been grouped into an incident). Oldest first.
    /// </summary>
    public async Task<IReadOnlyList<EvidenceArtifact>> ForIncidentAsync(long incidentId, CancellationToken ct)
    {
        var alertIds = db.Set<StoredAlert>().Where(a => a.IncidentId == incidentId).Select(a => a.Id);
        var artifacts = await db.Set<EvidenceArtifact>()
            .Where(e => e.IncidentId == incidentId || (e.IncidentId == null && e.AlertId != null && alertIds.Contains(e.AlertId)))
            .OrderBy(e => e.Id)
            .ToListAsync(ct);

        // Remember the link found through the alert, so later lookups and retention need no join.
        var unlinked = artifacts.Where(a => a.IncidentId is null).ToList();
        if (unlinked.Count > 0)
        {
            unlinked.ForEach(a => a.IncidentId = incidentId);
            await db.SaveChangesAsync(ct);
        }

        return artifacts;
    }

    public Task<EvidenceArtifact?> FindAsync(long id, CancellationToken ct) =>
        db.Set<EvidenceArtifact>().FirstOrDefaultAsync(e => e.Id == id, ct);

    public FileStream? OpenContent(EvidenceArtifact artifact) =>
        artifact.Sha256 is null ? null : store.OpenRead(artifact.Sha256);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stored evidence {Id} ({Kind}) from {Node}: {Size} bytes, sha256 {Sha256}")]
    private static partial void LogStored(ILogger logger, long id, string kind, string node, long size, string sha256);
}
