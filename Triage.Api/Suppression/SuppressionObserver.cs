using Microsoft.EntityFrameworkCore;
using Triage.Api.Incidents;
using Triage.Api.Persistence;

namespace Triage.Api.Suppression;

/// <summary>
/// Incident pipeline step 250, between routing and notification: makes a vote's outcome take effect in the ingest
/// path at once (reloads the active set when a suppression of this incident changed), and says in the timeline of an
/// incident opened by suppressed alerts which suppression covers it, so the thread shows why nobody was paged.
/// </summary>
internal sealed class SuppressionObserver(IServiceScopeFactory scopes, SuppressionMatcher matcher, TimeProvider time) : IIncidentObserver
{
    public const string SuppressedKind = "suppressed";

    public int Order => 250;

    public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var records = await db.Set<SuppressionRecord>().AsNoTracking().Where(s => s.IncidentId == incidentId).ToListAsync(cancellationToken);
        if (!records.TrueForAll(matcher.Reflects))
        {
            await matcher.ReloadAsync(cancellationToken);
        }

        var suppressionId = await db.Incidents.Where(i => i.Id == incidentId).Select(i => i.SuppressionId).FirstOrDefaultAsync(cancellationToken);
        if (suppressionId is not { } id
            || await db.Timeline.AnyAsync(t => t.IncidentId == incidentId && (t.Kind == SuppressedKind || t.Kind == "suppression_activated"), cancellationToken))
        {
            return;
        }

        var record = await db.Set<SuppressionRecord>().AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (record is null)
        {
            return;
        }

        IncidentTimeline.Append(db, incidentId, time.GetUtcNow(), Actor.System("ingest"), SuppressedKind,
            $"Covered by suppression {record.Id} ({record.Scope.Describe()}, until "
            + $"{(record.ExpiresAt is { } at ? SuppressionVoting.Time(at) : "?")}): alerts are stored and counted, nobody is paged.");
        await db.SaveChangesAsync(cancellationToken);
    }
}
