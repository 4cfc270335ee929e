using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Persistence;

namespace Triage.Api.Suppression;

/// <summary>A suppression or proposal on the wire (API list, incident detail, chat card).</summary>
internal sealed record SuppressionDto(
    long Id,
    SuppressionStatus Status,
    long IncidentId,
    ScopeDto Scope,
    string Description,
    string? ProposedBy,
    string? Reason,
    DateTimeOffset CreatedAt,
    string Duration,
    DateTimeOffset? ActivatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RenewalRequestedAt,
    int Round,
    DateTimeOffset? EndedAt,
    string? EndedBy,
    string? EndReason,
    long HitCount,
    DateTimeOffset? LastHitAt,
    TallyDto Tally,
    IReadOnlyList<VoteDto> Votes);

/// <summary>The scope: null parts match anything, "" means the alert had none.</summary>
internal sealed record ScopeDto(
    string Rule,
    string? Namespace,
    string? WorkloadKind,
    string? WorkloadName,
    string? ImageRepository,
    string? ImageDigest,
    string? ProcessExe,
    string? CmdlinePattern,
    IReadOnlyList<string> Widened,
    IReadOnlyList<string> Narrowed)
{
    public static ScopeDto From(SuppressionScope s) => new(s.Rule, s.Namespace, s.WorkloadKind, s.WorkloadName,
        s.ImageRepository, s.ImageDigest, s.ProcessExe, s.CmdlinePattern, s.Widened(), s.Narrowed());
}

/// <summary>
/// The live tally of the round being voted on (0 = the proposal, 1+ = renewals). <see cref="Benign"/>,
/// <see cref="NotBenign"/> and <see cref="Needed"/> are what the chat card shows.
/// </summary>
internal sealed record TallyDto(
    int Round,
    TallyOutcome Outcome,
    string Policy,
    string? OwningTeam,
    int OwningTeamVotes,
    int OwningTeamNeeded,
    int SocVotes,
    int SocNeeded,
    int Benign,
    int NotBenign,
    int Needed,
    string Summary);

internal sealed record VoteDto(string Voter, VoteKind Kind, string? Reason, string Channel, DateTimeOffset At, int Round);

/// <summary>Read side: suppressions with votes, tallies and hit counts.</summary>
internal sealed class SuppressionQueries(TriageDbContext db, TriageConfig config, SuppressionVoting voting)
{
    public const int MaxLimit = 500;

    public async Task<IReadOnlyList<SuppressionDto>> ListAsync(SuppressionStatus? status, int limit, CancellationToken cancellationToken)
    {
        var query = db.Set<SuppressionRecord>().AsNoTracking().Include(s => s.Votes).AsQueryable();
        if (status is { } wanted)
        {
            query = query.Where(s => s.Status == wanted);
        }

        var records = await query.OrderByDescending(s => s.Id).Take(limit).ToListAsync(cancellationToken);
        return await ToDtosAsync(records, cancellationToken);
    }

    public async Task<SuppressionDto?> GetAsync(long id, CancellationToken cancellationToken)
    {
        var record = await db.Set<SuppressionRecord>().AsNoTracking().Include(s => s.Votes)
            .FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        return record is null ? null : (await ToDtosAsync([record], cancellationToken))[0];
    }

    /// <summary>
    /// What the incident detail and card show: the incident's open proposal or suppression, else the suppression that
    /// covers it, else its most recent ended one.
    /// </summary>
    public async Task<SuppressionDto?> ForIncidentAsync(long incidentId, CancellationToken cancellationToken)
    {
        var covering = await db.Incidents.AsNoTracking().Where(i => i.Id == incidentId).Select(i => i.SuppressionId).FirstOrDefaultAsync(cancellationToken);
        var records = db.Set<SuppressionRecord>().AsNoTracking().Include(s => s.Votes);
        var record = await records.FirstOrDefaultAsync(s => s.OpenIncidentId == incidentId, cancellationToken)
            ?? (covering is { } id ? await records.FirstOrDefaultAsync(s => s.Id == id, cancellationToken) : null)
            ?? await records.Where(s => s.IncidentId == incidentId).OrderByDescending(s => s.Id).FirstOrDefaultAsync(cancellationToken);
        return record is null ? null : (await ToDtosAsync([record], cancellationToken))[0];
    }

    /// <summary>Active suppressions for the Falco export.</summary>
    public async Task<IReadOnlyList<FalcoExportItem>> ActiveForExportAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var active = await db.Set<SuppressionRecord>().AsNoTracking()
            .Where(s => s.Status == SuppressionStatus.Active && s.ExpiresAt > now)
            .OrderBy(s => s.Id)
            .ToListAsync(cancellationToken);
        return [.. active.Select(s => new FalcoExportItem(s.Id, s.Scope, s.ExpiresAt!.Value))];
    }

    private async Task<List<SuppressionDto>> ToDtosAsync(List<SuppressionRecord> records, CancellationToken cancellationToken)
    {
        var ids = records.Select(r => r.Id).ToList();
        var hits = await db.Alerts.AsNoTracking()
            .Where(a => a.SuppressionId != null && ids.Contains(a.SuppressionId.Value))
            .GroupBy(a => a.SuppressionId!.Value)
            .Select(g => new { Id = g.Key, Count = g.LongCount(), Last = g.Max(a => a.ReceivedAt) })
            .ToDictionaryAsync(h => h.Id, cancellationToken);
        var incidentIds = records.Select(r => r.IncidentId).Distinct().ToList();
        var incidents = await db.Incidents.AsNoTracking().Where(i => incidentIds.Contains(i.Id))
            .Select(i => new { i.Id, i.Priority, i.Rule, i.OwnerTeam })
            .ToDictionaryAsync(i => i.Id, cancellationToken);

        return [.. records.Select(r =>
        {
            var incident = incidents[r.IncidentId];
            var requirement = QuorumRequirement.Resolve(config.Suppression, incident.Priority, incident.Rule, incident.OwnerTeam);
            var round = LiveRound(r);
            var tally = voting.Count(r, round, requirement, incident.OwnerTeam);
            var hit = hits.GetValueOrDefault(r.Id);
            return new SuppressionDto(
                r.Id, r.Status, r.IncidentId, ScopeDto.From(r.Scope), r.Scope.Describe(), r.ProposedBy, r.Reason,
                r.CreatedAt, SuppressionSchedule.Format(r.Duration), r.ActivatedAt, r.ExpiresAt, r.RenewalRequestedAt,
                r.Round, r.EndedAt, r.EndedBy, r.EndReason, hit?.Count ?? 0, hit?.Last,
                new TallyDto(round, tally.Outcome, tally.Policy, tally.OwningTeam, tally.OwningTeamVotes, tally.OwningTeamNeeded,
                    tally.SocVotes, tally.SocNeeded, tally.BenignVoters.Count, tally.NotBenignVoters.Count,
                    tally.OwningTeamNeeded + tally.SocNeeded, tally.Summary),
                [.. r.Votes.OrderBy(v => v.At).ThenBy(v => v.Id).Select(v => new VoteDto(v.Voter, v.Kind, v.Reason, v.Channel, v.At, v.Round))]);
        })];
    }

    /// <summary>The proposal's round, or the renewal round once renewal is asked for or voted on.</summary>
    private static int LiveRound(SuppressionRecord r) =>
        r.Status == SuppressionStatus.Active && (r.RenewalRequestedAt is not null || r.Votes.Any(v => v.Round > r.Round))
            ? r.Round + 1
            : r.Round;
}
