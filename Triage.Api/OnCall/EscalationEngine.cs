using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Delivery;
using Triage.Api.Incidents;
using Triage.Api.Paging;
using Triage.Api.Persistence;
using Triage.Api.Routing;
using Triage.Contracts;

namespace Triage.Api.OnCall;

/// <summary>
/// Runs escalation policies. <see cref="ReconcileAsync"/> (pipeline step 400) starts an escalation for a routed
/// incident, stops it on acknowledge or resolve, and makes sure an active one has its timer; <see cref="FireAsync"/>
/// (the Quartz job) pages the current level's targets and sets the timer for the next level. Pages go out through the
/// outbox in the same transaction as the step, so a crash after the step still delivers them.
/// </summary>
internal sealed partial class EscalationEngine(
    IServiceScopeFactory scopes,
    TriageConfig config,
    OnCallService onCall,
    EscalationTimers timers,
    Outbox outbox,
    TimeProvider time,
    EscalationSchedulerTuning tuning,
    ILogger<EscalationEngine> logger)
{
    private readonly Dictionary<string, EscalationPolicyOptions> _policies = config.EscalationPolicies.ToDictionary(p => p.Name, StringComparer.Ordinal);
    private readonly FiringBatches _batches = new(tuning.MaxFiringBatch);

    /// <summary>Observed each time a firing paged someone; the benchmark reads how late it was.</summary>
    public event Action<long, DateTimeOffset, DateTimeOffset>? Paged;

    public async Task ReconcileAsync(long incidentId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var incident = await db.Incidents.AsNoTracking().FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken);
        if (incident is null)
        {
            return;
        }

        var escalation = await db.Set<Escalation>().FirstOrDefaultAsync(e => e.IncidentId == incidentId, cancellationToken);
        var now = time.GetUtcNow();
        if (incident.Status != IncidentStatus.Triggered)
        {
            await StopAsync(db, incident, escalation, now, cancellationToken);
            return;
        }

        if (escalation is null)
        {
            // A suppressed incident is stored and shown but pages nobody; the first alert outside the suppression
            // clears SuppressionId and re-runs the pipeline, which starts the escalation then.
            if (incident.SuppressionId is not null)
            {
                return;
            }

            var route = await db.Set<IncidentRoute>().AsNoTracking().FirstOrDefaultAsync(r => r.IncidentId == incidentId, cancellationToken);
            if (route?.EscalationPolicy is not { } policy || !_policies.ContainsKey(policy))
            {
                return;
            }

            var start = now;
            var team = config.Teams.FirstOrDefault(t => t.Name == route.PrimaryTeam);
            if (route.Urgency == "low" && team?.WorkingHours is { } hours)
            {
                start = hours.Compile().NextOpening(now);
            }

            escalation = new Escalation
            {
                IncidentId = incidentId,
                Policy = policy,
                Team = route.PrimaryTeam,
                Urgency = route.Urgency,
                State = EscalationState.Active,
                StartedAt = now,
                NextFireAt = start,
            };
            db.Add(escalation);
            IncidentTimeline.Append(db, incidentId, now, Actor.System("scheduler"), "escalation_started",
                start == now
                    ? $"Escalation policy '{policy}' started for team {route.PrimaryTeam} ({route.Urgency} urgency): paging now"
                    : $"Escalation policy '{policy}' for team {route.PrimaryTeam} waits for working hours (low urgency): first page at {start:u}");
            await db.SaveChangesAsync(cancellationToken);
            await timers.SetAsync([new EscalationTimer(incidentId, escalation.Step, escalation.NextFireAt)], cancellationToken);
            return;
        }

        // An active escalation whose timer got lost (crash between commit and scheduling) gets it back.
        if (escalation.State == EscalationState.Active && !await timers.ExistsAsync(incidentId, escalation.NextFireAt, cancellationToken))
        {
            await timers.SetAsync([new EscalationTimer(incidentId, escalation.Step, escalation.NextFireAt)], cancellationToken);
        }
    }

    /// <summary>
    /// Pages step <paramref name="step"/> of the incident's escalation and sets the next timer. A firing for another
    /// step than the stored one (stale or repeated) does nothing. Firings that arrive while another batch is being
    /// written wait and are written together in the next one (see <see cref="FiringBatches"/>).
    /// </summary>
    public Task FireAsync(long incidentId, int step, DateTimeOffset scheduledFor, CancellationToken cancellationToken) =>
        _batches.RunAsync([new Firing(incidentId, step, scheduledFor)], FireBatchAsync, cancellationToken);

    /// <summary>
    /// Fires every active escalation due in (<paramref name="from"/>, <paramref name="to"/>]: a slot timer of
    /// <see cref="EscalationTimers"/> fell due. Each firing's lateness counts from its own due time.
    /// </summary>
    public async Task FireDueAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        // One microsecond wider than the slot: PostgreSQL keeps whole microseconds, so a due time a fraction of one above
        // the slot's start (in this slot by its ticks) may be stored as the start itself. An escalation read by two
        // neighbouring slots fires once: the second finds its step moved on.
        from -= TimeSpan.FromMicroseconds(1);
        List<Firing> due;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
            due = (await db.Set<Escalation>().AsNoTracking()
                    .Where(e => e.State == EscalationState.Active && e.NextFireAt > from && e.NextFireAt <= to)
                    .Select(e => new { e.IncidentId, e.Step, e.NextFireAt })
                    .ToListAsync(cancellationToken))
                .Select(e => new Firing(e.IncidentId, e.Step, e.NextFireAt)).ToList();
        }

        await _batches.RunAsync(due, FireBatchAsync, cancellationToken);
    }

    /// <summary>
    /// One batch of firings: one read of their escalations and incidents, one commit of every step with its timeline
    /// entries and outbox pages, then one scheduler call for all the next timers. Stops (acknowledged or resolved
    /// meanwhile) are written after that one by one, as in <see cref="ReconcileAsync"/>.
    /// </summary>
    private async Task FireBatchAsync(IReadOnlyList<Firing> firings, CancellationToken cancellationToken)
    {
        try
        {
            await WriteFiringsAsync(firings, cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Another process committed a step of one of these escalations (the step is a concurrency token) or the same
            // page (the outbox key is unique) between our read and our commit: firings of one incident may overlap, on
            // two nodes or when a timer is replaced while it fires. Nothing of ours was committed; read again, and the
            // firings taken care of meanwhile find their step moved on. A second failure goes back to FiringBatches,
            // which writes each firing alone.
            await WriteFiringsAsync(firings, cancellationToken);
        }
    }

    private async Task WriteFiringsAsync(IReadOnlyList<Firing> firings, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var ids = firings.Select(f => f.IncidentId).Distinct().ToList();
        var escalations = await db.Set<Escalation>().Where(e => ids.Contains(e.IncidentId)).ToDictionaryAsync(e => e.IncidentId, cancellationToken);
        var incidents = await db.Incidents.AsNoTracking().Where(i => ids.Contains(i.Id)).ToDictionaryAsync(i => i.Id, cancellationToken);
        var now = time.GetUtcNow();
        var paged = new List<(Firing Firing, string What)>();
        // Every page of the batch, added to the context with one look for those already stored (Outbox.AddRangeAsync),
        // and who is on call in each schedule: the whole batch pages at one "now", so each schedule is asked once.
        var pages = new List<OutboxRequest>();
        var onCallNow = new Dictionary<string, OnCallShift?>(StringComparer.Ordinal);
        var stops = new List<(Incident Incident, Escalation Escalation)>();
        var next = new List<EscalationTimer>();
        foreach (var firing in firings)
        {
            // The stored step is the truth: a stale, repeated or (within this batch) duplicate firing pages nobody.
            if (!escalations.TryGetValue(firing.IncidentId, out var escalation) || escalation.State != EscalationState.Active
                || !incidents.TryGetValue(firing.IncidentId, out var incident))
            {
                continue;
            }

            if (escalation.Step != firing.Step)
            {
                // An older step firing again means the current step's timer may be missing: Quartz recovering the job
                // after a crash between our commit and the next timer, or an escalate-now that replaced the timer with a
                // step a concurrent firing had just moved past. Setting it again is idempotent.
                if (escalation.Step > firing.Step)
                {
                    next.Add(new EscalationTimer(escalation.IncidentId, escalation.Step, escalation.NextFireAt));
                }

                continue;
            }

            if (incident.Status != IncidentStatus.Triggered)
            {
                stops.Add((incident, escalation));
                continue;
            }

            var policy = _policies[escalation.Policy];
            var level = policy.Levels[escalation.Level];
            if (incident.SuppressionId is { } suppressionId)
            {
                // Suppressed after the escalation started (a vote reached quorum): hold this level instead of paging and
                // look again after its timeout, so that a revoked or lifted suppression resumes where it stopped.
                escalation.NextFireAt = now + level.Timeout;
                IncidentTimeline.Append(db, incident.Id, now, Actor.System("scheduler"), "page_held",
                    $"Not paging level {escalation.Level + 1}/{policy.Levels.Count}: covered by suppression {suppressionId}; checking again at {escalation.NextFireAt:u}");
                next.Add(new EscalationTimer(incident.Id, escalation.Step, escalation.NextFireAt));
                continue;
            }

            var what = await PageLevelAsync(db, incident, escalation, policy, level, now, pages, onCallNow, cancellationToken);
            paged.Add((firing, what));
            if (escalation.State == EscalationState.Active)
            {
                next.Add(new EscalationTimer(incident.Id, escalation.Step, escalation.NextFireAt));
            }
        }

        await outbox.AddRangeAsync(db, pages, cancellationToken);
        // Slot timers before the commit, incident timers after it (EscalationTimers says why).
        await timers.EnsureSlotsAsync(next.Where(t => timers.IsSlotTimer(t.At)).Select(t => t.At), cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        if (paged.Count > 0)
        {
            outbox.Wake();
        }

        foreach (var (firing, what) in paged)
        {
            Paged?.Invoke(firing.IncidentId, firing.ScheduledFor, now);
            LogPaged(logger, firing.IncidentId, what, now - firing.ScheduledFor);
        }

        // Incident timers after the commit, as the other order could lose a page. A crash in between leaves the step
        // without its next timer, but the job requests recovery: Quartz fires it again after the restart, it finds its
        // step moved on and sets the current timer (above). The slot timers are set already; this finds them stored.
        await timers.SetAsync(next, cancellationToken);
        foreach (var (incident, escalation) in stops)
        {
            await StopAsync(db, incident, escalation, now, cancellationToken);
        }
    }

    /// <summary>
    /// Pages the current level of <paramref name="escalation"/> (not saved; its outbox messages go to
    /// <paramref name="pages"/>) and moves it on; returns what was paged.
    /// </summary>
    private async Task<string> PageLevelAsync(TriageDbContext db, Incident incident, Escalation escalation,
        EscalationPolicyOptions policy, EscalationLevelOptions level, DateTimeOffset now, List<OutboxRequest> pages,
        Dictionary<string, OnCallShift?> onCallNow, CancellationToken cancellationToken)
    {
        var paged = new List<string>();
        var people = new List<string>();
        foreach (var target in level.Targets)
        {
            var (description, person) = await ResolveTargetAsync(db, target, now, onCallNow, cancellationToken);
            paged.Add(description);
            if (person is not null && !people.Contains(person, StringComparer.Ordinal))
            {
                people.Add(person);
            }
        }

        await EnqueuePagesAsync(db, incident, escalation, paged, pages, cancellationToken);
        var what = $"level {escalation.Level + 1}/{policy.Levels.Count}"
            + (escalation.Loop > 0 ? $" (repeat {escalation.Loop})" : "") + $": {string.Join(", ", paged)}";
        var direct = EnqueueDirectPages(incident, escalation, people, what, pages);
        escalation.LastPaged = what;
        escalation.Step++;
        if (escalation.Level + 1 < policy.Levels.Count)
        {
            escalation.Level++;
        }
        else if (escalation.Loop < policy.Repeat)
        {
            escalation.Level = 0;
            escalation.Loop++;
        }
        else
        {
            escalation.State = EscalationState.Exhausted;
        }

        escalation.NextFireAt = now + level.Timeout;
        IncidentTimeline.Append(db, incident.Id, now, Actor.System("scheduler"), "paged", $"Paged {what}{direct}"
            + (escalation.State == EscalationState.Exhausted ? "; last level, escalation ends unless acknowledged"
                : $"; next level at {escalation.NextFireAt:u} unless acknowledged"));
        return what;
    }

    /// <summary>Moves an active escalation on now (the <c>escalate</c> action): the current level is paged at once.</summary>
    public async Task<bool> EscalateNowAsync(TriageDbContext db, long incidentId, CancellationToken cancellationToken)
    {
        var escalation = await db.Set<Escalation>().AsNoTracking().FirstOrDefaultAsync(e => e.IncidentId == incidentId, cancellationToken);
        if (escalation is not { State: EscalationState.Active })
        {
            return false;
        }

        await timers.ScheduleAsync(incidentId, escalation.Step, time.GetUtcNow(), cancellationToken);
        return true;
    }

    /// <summary>The target in words, and the person it reaches (none for a team channel or an empty schedule).</summary>
    private async Task<(string Description, string? Person)> ResolveTargetAsync(TriageDbContext db, EscalationTargetOptions target,
        DateTimeOffset now, Dictionary<string, OnCallShift?> onCallNow, CancellationToken cancellationToken)
    {
        if (target.Schedule is { } schedule)
        {
            if (!onCallNow.TryGetValue(schedule, out var shift))
            {
                shift = await onCall.WhoIsOnCallAsync(db, schedule, now, cancellationToken);
                onCallNow[schedule] = shift;
            }

            return shift is null ? ($"nobody on call in {schedule}", null) : ($"{shift.Person} (on call in {schedule})", shift.Person);
        }

        return target.Person is { } person ? (person, person) : ($"team channel {target.TeamChannel}", null);
    }

    /// <summary>
    /// A direct message to every person the level reaches, in Slack and Teams as configured; one outbox message per
    /// person, channel and step. Returns what to add to the timeline line (who gets a message where, who cannot).
    /// </summary>
    private string EnqueueDirectPages(Incident incident, Escalation escalation, List<string> people, string what, List<OutboxRequest> pages)
    {
        var slack = config.Paging.DirectMessages && config.Chat.Slack is not null;
        var teams = config.Paging.DirectMessages && config.Chat.Teams is not null;
        if (people.Count == 0 || (!slack && !teams))
        {
            return "";
        }

        var text = PageText(incident, escalation, what);
        var sent = new List<string>();
        var unreachable = new List<string>();
        foreach (var name in people)
        {
            var person = config.People.FirstOrDefault(p => p.Name == name);
            var via = new List<string>();
            foreach (var (enabled, channel, userId) in new[]
                     {
                         (slack, SlackDirectPageChannel.ChannelName, person?.SlackUserId),
                         (teams, TeamsDirectPageChannel.ChannelName, person?.TeamsUserId),
                     })
            {
                if (!enabled || string.IsNullOrWhiteSpace(userId))
                {
                    continue;
                }

                pages.Add(new OutboxRequest(incident.Id, channel, "page",
                    new DirectPage(incident.Id, name, userId, text).ToJson(),
                    $"incident-{incident.Id}/page/{name}/{escalation.Step.ToString(CultureInfo.InvariantCulture)}"));
                via.Add(channel == SlackDirectPageChannel.ChannelName ? "Slack" : "Teams");
            }

            if (via.Count == 0)
            {
                unreachable.Add(name);
            }
            else
            {
                sent.Add($"{name} by {string.Join(" and ", via)} direct message");
            }
        }

        return (sent.Count == 0 ? "" : $"; {string.Join(", ", sent)}")
            + (unreachable.Count == 0 ? "" : $"; no direct message to {string.Join(", ", unreachable)} (no chat user id for a configured chat)");
    }

    /// <summary>The page as a person reads it on a phone: what, how bad, whose, which level, how to acknowledge.</summary>
    private string PageText(Incident incident, Escalation escalation, string what)
    {
        var link = config.Paging.PublicUrl is { } url ? $" {new Uri(url, $"api/v1/incidents/{incident.Id.ToString(CultureInfo.InvariantCulture)}")}" : "";
        return $"Page: incident #{incident.Id.ToString(CultureInfo.InvariantCulture)} [{incident.Priority.ToFalcoName()}] {incident.Title}"
            + $" for team {escalation.Team} (policy {escalation.Policy}, {what.Split(':')[0]})."
            + $" Acknowledge with the card's Acknowledge button or /triage ack {incident.Id.ToString(CultureInfo.InvariantCulture)}.{link}";
    }

    /// <summary>Pages through PagerDuty (one trigger per incident and team) and every webhook that wants pages.</summary>
    private async Task EnqueuePagesAsync(TriageDbContext db, Incident incident, Escalation escalation, List<string> paged,
        List<OutboxRequest> pages, CancellationToken cancellationToken)
    {
        if (config.Paging.Pagerduty?.RoutingKeyFor(escalation.Team) is not null)
        {
            var latest = await db.Alerts.AsNoTracking().Where(a => a.IncidentId == incident.Id)
                .OrderByDescending(a => a.Time).Select(a => a.Payload).FirstOrDefaultAsync(cancellationToken);
            var alert = latest is null ? null : RoutingObserver.Parse(latest);
            var payload = PagerDutyEvents.Trigger(incident, alert, escalation.Team, escalation.Team, config.Paging.PublicUrl,
                alert?.Runbook is { } runbook && Uri.IsWellFormedUriString(runbook, UriKind.Absolute) ? runbook : null);
            pages.Add(new OutboxRequest(incident.Id, PagerDutyEvents.Channel, "trigger", payload.ToJsonString(),
                $"incident-{incident.Id}/pagerduty/{escalation.Team}/trigger"));
        }

        foreach (var webhook in config.Paging.Webhooks.Where(w => w.Wants("page")))
        {
            var body = new JsonObject
            {
                ["event"] = "page",
                ["incident_id"] = incident.Id,
                ["title"] = incident.Title,
                ["priority"] = incident.Priority.ToString(),
                ["team"] = escalation.Team,
                ["policy"] = escalation.Policy,
                ["level"] = escalation.Level + 1,
                ["repeat"] = escalation.Loop,
                ["urgency"] = escalation.Urgency,
                ["targets"] = new JsonArray([.. paged.Select(p => (JsonNode)p)]),
            };
            pages.Add(new OutboxRequest(incident.Id, WebhookChannel.ChannelName, "page",
                new JsonObject { ["webhook"] = webhook.Name, ["body"] = body }.ToJsonString(),
                $"incident-{incident.Id}/webhook/{webhook.Name}/page/{escalation.Step.ToString(CultureInfo.InvariantCulture)}"));
        }
    }

    private async Task StopAsync(TriageDbContext db, Incident incident, Escalation? escalation, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var action = incident.Status == IncidentStatus.Resolved ? "resolve" : "acknowledge";
        if (escalation is { State: EscalationState.Active })
        {
            escalation.State = EscalationState.Stopped;
            escalation.StoppedAt = now;
            escalation.StopReason = incident.Status == IncidentStatus.Resolved
                ? $"resolved by {incident.ResolvedBy}" : $"acknowledged by {incident.AcknowledgedBy}";
            IncidentTimeline.Append(db, incident.Id, now, Actor.System("scheduler"), "escalation_stopped",
                $"Escalation '{escalation.Policy}' stopped: {escalation.StopReason}");
        }

        // Tell PagerDuty and webhooks once per state, for every team that was triggered there. Not once the incident is
        // closed for delivery: retention deletes the rows whose keys make this once, so it would tell them again.
        var closed = config.Delivery.Retention.IsClosed(incident, now);
        List<string> triggered = closed ? [] : await db.Set<OutboxMessage>().AsNoTracking()
            .Where(m => m.IncidentId == incident.Id && m.Channel == PagerDutyEvents.Channel && m.Kind == "trigger")
            .Select(m => m.IdempotencyKey).ToListAsync(cancellationToken);
        var actions = incident.Status == IncidentStatus.Resolved ? new[] { "acknowledge", "resolve" } : ["acknowledge"];
        foreach (var key in triggered)
        {
            var team = key.Split('/')[2];
            foreach (var a in actions.Where(a => a == action))
            {
                await outbox.AddAsync(db, new OutboxRequest(incident.Id, PagerDutyEvents.Channel, a,
                    PagerDutyEvents.StatusChange(incident.Id, team, a).ToJsonString(), $"incident-{incident.Id}/pagerduty/{team}/{a}"), cancellationToken);
            }
        }

        if (escalation is not null && !closed)
        {
            foreach (var webhook in config.Paging.Webhooks.Where(w => w.Wants(action)))
            {
                var body = new JsonObject { ["event"] = action, ["incident_id"] = incident.Id, ["by"] = incident.Status == IncidentStatus.Resolved ? incident.ResolvedBy : incident.AcknowledgedBy };
                await outbox.AddAsync(db, new OutboxRequest(incident.Id, WebhookChannel.ChannelName, action,
                    new JsonObject { ["webhook"] = webhook.Name, ["body"] = body }.ToJsonString(), $"incident-{incident.Id}/webhook/{webhook.Name}/{action}"), cancellationToken);
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        outbox.Wake();
        if (escalation is not null)
        {
            await timers.CancelAsync(incident.Id, cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Incident {IncidentId}: paged {What} ({Late} after due)")]
    private static partial void LogPaged(ILogger logger, long incidentId, string what, TimeSpan late);
}

/// <summary>Pipeline step 400: escalation and paging.</summary>
internal sealed class EscalationObserver(EscalationEngine engine) : IIncidentObserver
{
    public int Order => 400;

    public Task ProcessAsync(long incidentId, CancellationToken cancellationToken) => engine.ReconcileAsync(incidentId, cancellationToken);
}
