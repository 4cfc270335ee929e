using Triage.Api.Operations;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;

namespace Triage.Api.Evidence;

/// <summary>What one retention sweep removed.</summary>
internal sealed record RetentionSweep(int ArtifactsDeleted, int BlobsDeleted, long BytesFreed);

/// <summary>
/// Deletes evidence past its retention, then blobs no artifact refers to any more, then — when the store is still
/// over <see cref="EvidenceOptions.MaxTotalBytes"/> — the oldest expendable artifacts. Evidence of an incident that is
/// not resolved is held while <see cref="EvidenceOptions.KeepWhileOpen"/> is set, even past its expiry.
/// </summary>
internal sealed partial class EvidenceRetention(
    TriageDbContext db,
    ContentStore store,
    EvidenceOptions options,
    TimeProvider time,
    ILogger<EvidenceRetention> logger)
{
    /// <summary>A blob without metadata younger than this may belong to an upload still in progress.</summary>
    private static readonly TimeSpan OrphanGrace = TimeSpan.FromHours(1);

    public async Task<RetentionSweep> SweepAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var artifacts = db.Set<EvidenceArtifact>();
        var openIncidents = db.Set<Incident>().Where(i => i.Status != IncidentStatus.Resolved).Select(i => i.Id);

        var expendable = artifacts.AsQueryable();
        if (options.KeepWhileOpen)
        {
            expendable = expendable.Where(e => e.IncidentId == null || !openIncidents.Contains(e.IncidentId.Value));
        }

        var doomed = await expendable.Where(e => e.ExpiresAt <= now).ToListAsync(ct);

        // Over the size cap: take the oldest expendable artifacts that have not expired yet, too.
        var stored = await artifacts.Where(e => e.Sha256 != null).Select(e => new { e.Sha256, e.Size }).ToListAsync(ct);
        var total = stored.DistinctBy(e => e.Sha256).Sum(e => e.Size);
        var freedByExpiry = doomed.Where(e => e.Sha256 != null).DistinctBy(e => e.Sha256).Sum(e => e.Size);
        if (total - freedByExpiry > options.MaxTotalBytes)
        {
            var doomedIds = doomed.Select(e => e.Id).ToHashSet();
            var over = total - freedByExpiry - options.MaxTotalBytes;
            var oldest = await expendable.Where(e => e.ExpiresAt > now).OrderBy(e => e.CapturedAt).ThenBy(e => e.Id).ToListAsync(ct);
            foreach (var artifact in oldest.Where(a => !doomedIds.Contains(a.Id)))
            {
                if (over <= 0)
                {
                    break;
                }

                doomed.Add(artifact);
                over -= artifact.Size;
            }

            if (over > 0)
            {
                LogOverCapHeld(logger, options.MaxTotalBytes);
            }
        }

        artifacts.RemoveRange(doomed);
        await db.SaveChangesAsync(ct);

        var referenced = (await artifacts.Where(e => e.Sha256 != null).Select(e => e.Sha256!).Distinct().ToListAsync(ct))
            .ToHashSet(StringComparer.Ordinal);
        var candidates = doomed.Where(e => e.Sha256 != null).Select(e => e.Sha256!).ToHashSet(StringComparer.Ordinal);
        int blobs = 0;
        long bytes = 0;
        foreach (var sha in store.List())
        {
            var path = store.PathOf(sha);
            var orphanedLongAgo = !candidates.Contains(sha) && now - File.GetLastWriteTimeUtc(path) > OrphanGrace;
            if (referenced.Contains(sha) || !(candidates.Contains(sha) || orphanedLongAgo))
            {
                continue;
            }

            bytes += new FileInfo(path).Length;
            store.Delete(sha);
            blobs++;
        }

        if (doomed.Count > 0 || blobs > 0)
        {
            LogSwept(logger, doomed.Count, blobs, bytes);
        }

        return new RetentionSweep(doomed.Count, blobs, bytes);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Evidence retention removed {Artifacts} artifact(s) and {Blobs} blob(s), {Bytes} bytes")]
    private static partial void LogSwept(ILogger logger, int artifacts, int blobs, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The evidence store stays over {MaxBytes} bytes: the rest belongs to open incidents (evidence.keep_while_open)")]
    private static partial void LogOverCapHeld(ILogger logger, long maxBytes);
}

/// <summary>Runs <see cref="EvidenceRetention"/> every <see cref="EvidenceOptions.SweepInterval"/>.</summary>
internal sealed partial class EvidenceRetentionService(
    IServiceScopeFactory scopes,
    EvidenceOptions options,
    TimeProvider time,
    ILogger<EvidenceRetentionService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PeriodicWork.RunAsync(options.SweepInterval, time, runAtStart: true, async ct =>
        {
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<EvidenceRetention>().SweepAsync(ct);
        }, ex => LogSweepFailed(logger, ex), stoppingToken);

    [LoggerMessage(Level = LogLevel.Error, Message = "Evidence retention sweep failed; retrying at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
