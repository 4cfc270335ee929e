using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Incidents;
using Triage.Api.Operations;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Suppression;

/// <summary>
/// Votes, activation, renewal and revocation. Runs inside <see cref="IncidentActionService"/>'s unit of work: it only
/// changes tracked entities and appends timeline entries; the service saves them in one transaction together with the
/// incident's version bump, so two votes at the same moment conflict and the later one is redone on fresh state.
/// The unique indexes on <see cref="SuppressionRecord.OpenIncidentId"/>, <see cref="SuppressionRecord.ActiveScopeKey"/>
/// and (suppression, round, voter) hold even where that optimistic check would not.
/// </summary>
internal sealed class SuppressionVoting(TriageConfig config, VoterDirectory directory)
{
    private SuppressionOptions Options => config.Suppression;

    public async Task<IncidentActionOutcome> VoteAsync(IncidentActionContext context, VoteKind kind, CancellationToken cancellationToken)
    {
        var arguments = VoteArguments.Parse(context.Arguments, reasonRequired: kind == VoteKind.Benign);
        var incident = context.Incident;
        var db = context.Db;
        var actor = context.Actor;
        var requirement = QuorumRequirement.Resolve(Options, incident.Priority, incident.Rule, incident.OwnerTeam);

        var standing = directory.Standing(actor.Name, incident.OwnerTeam);
        if (!standing.MayVote)
        {
            await RefuseAsync(context, Why(standing, incident.OwnerTeam), StatusCodes.Status403Forbidden, cancellationToken);
        }

        if (requirement.Refused)
        {
            await RefuseAsync(context, "the owning team is unknown and the suppression policy refuses to suppress without one",
                StatusCodes.Status409Conflict, cancellationToken);
        }

        var record = await FindOpenAsync(db, incident.Id, cancellationToken);
        var notes = new List<string>();
        int round;

        // The proposer's scope and lifetime are checked before anything is written, so a refused proposal leaves nothing.
        (SuppressionScope Scope, TimeSpan Duration)? proposal = null;
        if (kind == VoteKind.Benign && record is null or { Status: SuppressionStatus.Proposed, ProposedBy: null })
        {
            var (duration, durationError) = SuppressionSchedule.Duration(arguments.Duration, Options, requirement.MaxDuration);
            if (durationError is not null)
            {
                throw new RequestValidationException([new FieldError("arguments.duration", durationError)]);
            }

            proposal = (await DeriveAsync(context, arguments.AlertId, arguments.Scope, requirement, cancellationToken), duration);
        }

        record ??= await OpenAsync(context, proposal?.Scope
            ?? await DeriveAsync(context, arguments.AlertId, null, requirement, cancellationToken), requirement, cancellationToken);

        if (record.Status == SuppressionStatus.Proposed)
        {
            round = 0;
            if (proposal is { } proposed && record.ProposedBy is null)
            {
                // The first benign vote is the proposal: it fixes scope, lifetime and reason for everyone after.
                record.SetScope(proposed.Scope);
                record.Duration = proposed.Duration;
                record.ProposedBy = actor.Name;
                record.Reason = arguments.Reason;
                Timeline(context, "suppression_proposed",
                    $"{actor.Name} proposes suppression {record.Id} of {record.Scope.Describe()} for "
                    + $"{SuppressionSchedule.Format(proposed.Duration)} as a benign deployment artifact: {arguments.Reason}");
            }
            else if (arguments.Scope is not null || arguments.Duration is not null)
            {
                throw new RequestValidationException([new FieldError("arguments.scope",
                    $"scope and duration are set by the proposer ({record.ProposedBy ?? "the first benign vote"}); "
                    + "vote on the proposal as it is, or revoke it and propose again")]);
            }
        }
        else
        {
            // Active: votes now decide whether it is renewed, once the renewal window is open.
            var opensAt = record.ExpiresAt!.Value - Options.RenewalNotice;
            if (record.RenewalRequestedAt is null && context.Now < opensAt)
            {
                await RefuseAsync(context,
                    $"already suppressed by suppression {record.Id} until {Time(record.ExpiresAt.Value)}; renewal votes open at {Time(opensAt)}. "
                    + "To end it now, use revoke_suppression.", StatusCodes.Status409Conflict, cancellationToken);
            }

            if (arguments.Scope is not null || arguments.Duration is not null)
            {
                throw new RequestValidationException([new FieldError("arguments.scope",
                    "a renewal keeps the scope and duration; revoke and propose again to change them")]);
            }

            round = record.Round + 1;
        }

        var existing = record.Votes.FirstOrDefault(v => v.Round == round && v.Voter == actor.Name);
        if (existing is not null && existing.Kind == kind)
        {
            return new IncidentActionOutcome(false, $"{actor.Name} already voted {Label(kind)}");
        }

        if (existing is null)
        {
            record.Votes.Add(new SuppressionVote
            {
                Round = round,
                Voter = actor.Name,
                Kind = kind,
                Reason = arguments.Reason,
                Channel = actor.Channel,
                At = context.Now,
            });
        }
        else
        {
            notes.Add($"changed from {Label(existing.Kind)}");
            existing.Kind = kind;
            existing.Reason = arguments.Reason;
            existing.Channel = actor.Channel;
            existing.At = context.Now;
        }

        var tally = Count(record, round, requirement, incident.OwnerTeam);
        var what = round == 0 ? "" : $" on renewing suppression {record.Id}";
        Timeline(context, kind == VoteKind.Benign ? "vote_benign" : "vote_not_benign",
            $"{actor.Name} voted {Label(kind)}{what}{(notes.Count > 0 ? $" ({string.Join("; ", notes)})" : "")}"
            + $"{(arguments.Reason is null ? "" : $": {arguments.Reason}")} — {tally.Summary}");

        var message = $"{actor.Name} voted {Label(kind)}: {tally.Summary}";
        if (tally.Outcome == TallyOutcome.Reached)
        {
            message = round == 0
                ? await ActivateAsync(context, record, cancellationToken)
                : Renew(context, record, requirement);
        }

        record.UpdatedAt = context.Now;
        record.Version++;
        return new IncidentActionOutcome(true, message);
    }

    public async Task<IncidentActionOutcome> RevokeAsync(IncidentActionContext context, CancellationToken cancellationToken)
    {
        var (reason, id) = RevokeArguments(context.Arguments);
        var incident = context.Incident;
        var db = context.Db;

        var records = db.Set<SuppressionRecord>();
        var record = id is { } wanted
            ? await records.FirstOrDefaultAsync(s => s.Id == wanted, cancellationToken)
                ?? throw new NotFoundException($"Suppression {wanted} does not exist")
            : await records.FirstOrDefaultAsync(s => s.OpenIncidentId == incident.Id, cancellationToken)
                ?? (incident.SuppressionId is { } covering
                    ? await records.FirstOrDefaultAsync(s => s.Id == covering, cancellationToken)
                    : null)
                ?? throw new ActionRefusedException($"Incident {incident.Id} has no suppression or proposal to revoke");

        // Whoever may vote on the suppression's own incident may end it: the safe direction needs no quorum.
        var owner = record.IncidentId == incident.Id
            ? incident.OwnerTeam
            : await db.Incidents.Where(i => i.Id == record.IncidentId).Select(i => i.OwnerTeam).FirstOrDefaultAsync(cancellationToken);
        var standing = directory.Standing(context.Actor.Name, owner);
        if (!standing.MayVote)
        {
            await RefuseAsync(context, Why(standing, owner), StatusCodes.Status403Forbidden, cancellationToken);
        }

        if (record.Status is SuppressionStatus.Expired or SuppressionStatus.Revoked)
        {
            return new IncidentActionOutcome(false, $"Suppression {record.Id} already {record.Status.ToString().ToLowerInvariant()}");
        }

        var was = record.Status;
        End(record, SuppressionStatus.Revoked, context.Now, context.Actor.Name, reason);
        var detail = $"{context.Actor.Name} revoked {(was == SuppressionStatus.Proposed ? "the proposal for" : "")} suppression {record.Id} "
            + $"({record.Scope.Describe()}): {reason}. Matching alerts page again.";
        Timeline(context, "suppression_revoked", detail);
        if (record.IncidentId != incident.Id)
        {
            IncidentTimeline.Append(db, record.IncidentId, context.Now, context.Actor, "suppression_revoked", detail);
        }

        return new IncidentActionOutcome(true, $"Suppression {record.Id} revoked by {context.Actor.Name}");
    }

    private static Task<SuppressionRecord?> FindOpenAsync(TriageDbContext db, long incidentId, CancellationToken cancellationToken) =>
        db.Set<SuppressionRecord>().Include(s => s.Votes).FirstOrDefaultAsync(s => s.OpenIncidentId == incidentId, cancellationToken);

    /// <summary>
    /// Creates the incident's open proposal in a commit of its own, so that it has an id at once and the unique index
    /// on <see cref="SuppressionRecord.OpenIncidentId"/> decides right here which of two simultaneous first votes
    /// created it; the other one joins that proposal. Nothing else is pending in the unit of work at this point.
    /// </summary>
    private async Task<SuppressionRecord> OpenAsync(
        IncidentActionContext context, SuppressionScope scope, QuorumRequirement requirement, CancellationToken cancellationToken)
    {
        var record = new SuppressionRecord
        {
            IncidentId = context.Incident.Id,
            OpenIncidentId = context.Incident.Id,
            Status = SuppressionStatus.Proposed,
            CreatedAt = context.Now,
            UpdatedAt = context.Now,
            Duration = SuppressionSchedule.Duration(null, Options, requirement.MaxDuration).Duration,
        };
        record.SetScope(scope);
        context.Db.Add(record);
        try
        {
            await context.Db.SaveChangesAsync(cancellationToken);
            return record;
        }
        catch (DbUpdateException ex) when (DatabaseErrors.IsUniqueViolation(ex))
        {
            context.Db.Entry(record).State = EntityState.Detached;
            return await FindOpenAsync(context.Db, context.Incident.Id, cancellationToken)
                ?? throw new DbUpdateConcurrencyException("The competing proposal ended before it could be joined", ex);
        }
    }

    /// <summary>Marks a suppression ended and frees its incident and scope for a new proposal.</summary>
    internal static void End(SuppressionRecord record, SuppressionStatus status, DateTimeOffset now, string by, string reason)
    {
        record.Status = status;
        record.EndedAt = now;
        record.EndedBy = by;
        record.EndReason = reason;
        record.OpenIncidentId = null;
        record.ActiveScopeKey = null;
        record.UpdatedAt = now;
        record.Version++;
    }

    /// <summary>The tally of one round, with everyone's current standing.</summary>
    internal Tally Count(SuppressionRecord record, int round, QuorumRequirement requirement, string? owningTeam) =>
        requirement.Count(
            record.Votes.Where(v => v.Round == round).OrderBy(v => v.At)
                .Select(v => new Ballot(v.Voter, v.Kind, round == 0 && v.Voter == record.ProposedBy)),
            person => directory.Standing(person, owningTeam));

    private static async Task<string> ActivateAsync(IncidentActionContext context, SuppressionRecord record, CancellationToken cancellationToken)
    {
        var key = record.Scope.Key();
        var twin = await context.Db.Set<SuppressionRecord>()
            .Where(s => s.ActiveScopeKey == key && s.Id != record.Id)
            .Select(s => new { s.Id, s.ExpiresAt })
            .FirstOrDefaultAsync(cancellationToken);
        if (twin is not null)
        {
            var note = $"Quorum reached, but suppression {twin.Id} with the same scope is already active until {Time(twin.ExpiresAt!.Value)}";
            Timeline(context, "suppression_duplicate", note);
            return note;
        }

        record.Status = SuppressionStatus.Active;
        record.ActivatedAt = context.Now;
        record.ExpiresAt = context.Now + record.Duration;
        record.ActiveScopeKey = key;
        record.RenewalRequestedAt = null;
        context.Incident.SuppressionId = record.Id;
        var detail = $"Suppression {record.Id} active until {Time(record.ExpiresAt.Value)}: "
            + $"{record.Scope.Describe()}. Matching alerts are still stored and counted, and do not page.";
        Timeline(context, "suppression_activated", detail);
        return detail;
    }

    private static string Renew(IncidentActionContext context, SuppressionRecord record, QuorumRequirement requirement)
    {
        record.ExpiresAt = SuppressionSchedule.Renewed(record.ExpiresAt!.Value, record.Duration, requirement.MaxDuration, context.Now);
        record.Round++;
        record.RenewalRequestedAt = null;
        var detail = $"Suppression {record.Id} renewed until {Time(record.ExpiresAt.Value)}: {record.Scope.Describe()}";
        Timeline(context, "suppression_renewed", detail);
        return detail;
    }

    /// <summary>The scope of the chosen alert (default: the incident's latest), adjusted as asked.</summary>
    private static async Task<SuppressionScope> DeriveAsync(
        IncidentActionContext context, string? alertId, ScopeRequest? request, QuorumRequirement requirement, CancellationToken cancellationToken)
    {
        var alerts = context.Db.Alerts.AsNoTracking().Where(a => a.IncidentId == context.Incident.Id);
        var payload = alertId is null
            ? await alerts.OrderByDescending(a => a.Time).Select(a => a.Payload).FirstOrDefaultAsync(cancellationToken)
            : await alerts.Where(a => a.Id == alertId).Select(a => a.Payload).FirstOrDefaultAsync(cancellationToken)
                ?? throw new RequestValidationException([new FieldError("arguments.alert_id", $"incident {context.Incident.Id} has no alert '{alertId}'")]);
        var alert = payload is null ? null : JsonSerializer.Deserialize<NativeAlert>(payload, TriageJson.Options);
        var facts = alert is null
            ? new AlertFacts(context.Incident.Rule, context.Incident.Namespace, context.Incident.WorkloadKind,
                context.Incident.WorkloadName, ImageReference.Parse(context.Incident.Image).Repository, null, null, null)
            : AlertFacts.From(alert);

        var policy = new QuorumPolicyOptions { Name = requirement.Policy, MayWiden = [.. requirement.MayWiden] };
        var result = SuppressionScope.Derive(facts, request, policy);
        return result.Scope ?? throw new RequestValidationException(
            [.. result.Errors.Select(e => new FieldError($"arguments.scope.{e[..e.IndexOf(':', StringComparison.Ordinal)]}", e[(e.IndexOf(':', StringComparison.Ordinal) + 2)..]))]);
    }

    /// <summary>Records the refusal in the incident's timeline (the audit trail includes who was turned away), then refuses.</summary>
    private static async Task RefuseAsync(IncidentActionContext context, string why, int status, CancellationToken cancellationToken)
    {
        context.Db.ChangeTracker.Clear();
        IncidentTimeline.Append(context.Db, context.Incident.Id, context.Now, context.Actor, "vote_refused", $"{context.Actor.Name} refused: {why}");
        await context.Db.SaveChangesAsync(cancellationToken);
        throw new ActionRefusedException(why, status);
    }

    private static string Why(VoterStanding standing, string? owningTeam) =>
        !standing.Known ? $"'{standing.Person}' is not a configured person"
        : !standing.Responder ? $"{standing.Person} lacks the '{VoterDirectory.ResponderRole}' role"
        : owningTeam is null ? $"{standing.Person} is not in a SOC team, and the owning team is unknown"
        : $"{standing.Person} is neither in the owning team ({owningTeam}) nor in a SOC team";

    private static (string Reason, long? Id) RevokeArguments(JsonElement? arguments)
    {
        var errors = new List<FieldError>();
        string? reason = null;
        long? id = null;
        if (arguments is { ValueKind: JsonValueKind.Object } args)
        {
            if (args.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String)
            {
                reason = r.GetString()?.Trim();
            }

            if (args.TryGetProperty("suppression_id", out var s) && s.ValueKind != JsonValueKind.Null)
            {
                if (s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var parsed))
                {
                    id = parsed;
                }
                else
                {
                    errors.Add(new FieldError("arguments.suppression_id", "must be a number"));
                }
            }
        }

        if (string.IsNullOrWhiteSpace(reason))
        {
            errors.Add(new FieldError("arguments.reason", "is required: say why the suppression ends"));
        }

        return errors.Count > 0 ? throw new RequestValidationException(errors) : (reason!, id);
    }

    private static void Timeline(IncidentActionContext context, string kind, string detail) =>
        IncidentTimeline.Append(context.Db, context.Incident.Id, context.Now, context.Actor, kind, detail);

    internal static string Label(VoteKind kind) => kind == VoteKind.Benign ? "benign" : "not benign";

    internal static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
}
