using Triage.Api.Operations;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Incidents;
using Triage.Api.Persistence;

namespace Triage.Api.Suppression;

/// <summary>What one sweep did.</summary>
internal sealed record SweepResult(IReadOnlyList<long> Expired, IReadOnlyList<long> RenewalRequested);

/// <summary>
/// Ends suppressions whose time is up and, <c>renewal_notice</c> before that, asks the team in the incident's thread
/// whether to renew. Every step is idempotent and guarded by the suppression's version, so several replicas may sweep.
/// </summary>
internal sealed partial class SuppressionSweeper(
    IServiceScopeFactory scopes,
    SuppressionMatcher matcher,
    IncidentPipeline pipeline,
    TriageConfig config,
    TimeProvider time,
    ILogger<SuppressionSweeper> logger) : BackgroundService
{
    /// <summary>How often to sweep and to reload the active set (which also picks up other replicas' votes).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(15);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PeriodicWork.RunAsync(Interval, time, runAtStart: true, async ct =>
        {
            await SweepAsync(ct);
            await matcher.ReloadAsync(ct);
        }, ex => LogSweepFailed(logger, ex), stoppingToken);

    public async Task<SweepResult> SweepAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var notice = config.Suppression.RenewalNotice;
        var horizon = now + notice;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var candidates = await db.Set<SuppressionRecord>()
            .Where(s => s.Status == SuppressionStatus.Active && s.ExpiresAt <= horizon)
            .ToListAsync(cancellationToken);

        var expired = new List<long>();
        var asked = new List<long>();
        var touched = new HashSet<long>();
        var system = Actor.System("scheduler");
        foreach (var record in candidates)
        {
            switch (SuppressionSchedule.Due(record.ExpiresAt!.Value, record.RenewalRequestedAt, notice, now))
            {
                case ScheduleStep.Expire:
                    var hits = await db.Alerts.LongCountAsync(a => a.SuppressionId == record.Id, cancellationToken);
                    SuppressionVoting.End(record, SuppressionStatus.Expired, now, system.Name, "expired");
                    IncidentTimeline.Append(db, record.IncidentId, now, system, "suppression_expired",
                        $"Suppression {record.Id} expired ({record.Scope.Describe()}); it suppressed {hits} alert(s). Matching alerts page again.");
                    expired.Add(record.Id);
                    touched.Add(record.IncidentId);
                    break;
                case ScheduleStep.AskRenewal:
                    record.RenewalRequestedAt = now;
                    record.UpdatedAt = now;
                    record.Version++;
                    IncidentTimeline.Append(db, record.IncidentId, now, system, "suppression_renewal_requested",
                        $"Suppression {record.Id} ({record.Scope.Describe()}) expires at {SuppressionVoting.Time(record.ExpiresAt.Value)}. "
                        + $"Renew it for another {SuppressionSchedule.Format(record.Duration)}? Vote benign to renew (same quorum), not benign to let it end.");
                    asked.Add(record.Id);
                    touched.Add(record.IncidentId);
                    break;
            }
        }

        if (touched.Count == 0)
        {
            return new SweepResult([], []);
        }

        // Mark the incidents changed so that the pipeline (chat thread, card) announces it, as any change does.
        var incidents = await db.Incidents.Where(i => touched.Contains(i.Id)).ToListAsync(cancellationToken);
        foreach (var incident in incidents)
        {
            incident.Version++;
            incident.UpdatedAt = now;
            incident.NeedsProcessing = true;
        }

        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException ex)
        {
            // Another replica or a vote got there first; the next sweep sees the fresh state and does what is left.
            LogSweepConflict(logger, ex);
            return new SweepResult([], []);
        }

        foreach (var id in touched)
        {
            pipeline.Enqueue(id);
        }

        if (expired.Count > 0)
        {
            await matcher.ReloadAsync(cancellationToken);
        }

        LogSwept(logger, expired.Count, asked.Count);
        return new SweepResult(expired, asked);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Suppression sweep: {Expired} expired, {Asked} renewal question(s) asked")]
    private static partial void LogSwept(ILogger logger, int expired, int asked);

    [LoggerMessage(Level = LogLevel.Information, Message = "Suppression sweep lost a race; retrying at the next tick")]
    private static partial void LogSweepConflict(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Suppression sweep failed; retrying at the next tick")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
