using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Persistence;

namespace Triage.Api.Incidents;

/// <summary>What an action needs: the tracked incident, the database it came from, who acts, and the arguments.</summary>
internal sealed record IncidentActionContext(
    Incident Incident,
    TriageDbContext Db,
    Actor Actor,
    JsonElement? Arguments,
    DateTimeOffset Now);

/// <summary>What an action did; <see cref="Changed"/> false means it was already in that state (a repeated press).</summary>
internal sealed record IncidentActionOutcome(bool Changed, string Message);

/// <summary>
/// Something a person can do to an incident, from the API and from chat buttons alike. Implementations change the
/// tracked incident and append timeline entries; <see cref="IncidentActionService"/> saves, versions and announces.
/// </summary>
internal interface IIncidentAction
{
    /// <summary>The name used in <c>POST /api/v1/incidents/{id}/actions/{name}</c> and in chat button values.</summary>
    string Name { get; }

    /// <summary>The role a person needs (<c>responder</c> or <c>operator</c>); automatic actions by the system skip it.</summary>
    string RequiredRole { get; }

    Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken);
}

/// <summary>The request was understood but refused (unknown person, missing role, wrong state).</summary>
internal sealed class ActionRefusedException(string message, int statusCode = StatusCodes.Status409Conflict) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
}

/// <summary>Runs incident actions: authorization, one transaction, optimistic concurrency, pipeline announcement.</summary>
internal sealed partial class IncidentActionService(
    TriageDbContext db,
    IEnumerable<IIncidentAction> actions,
    TriageConfig config,
    IncidentPipeline pipeline,
    TimeProvider time,
    ILogger<IncidentActionService> logger)
{
    private const int MaxConcurrencyRetries = 5;
    private readonly Dictionary<string, IIncidentAction> _actions = actions.ToDictionary(a => a.Name, StringComparer.Ordinal);

    public IReadOnlyCollection<string> ActionNames => _actions.Keys;

    public async Task<IncidentActionOutcome> ExecuteAsync(
        long incidentId, string actionName, Actor actor, JsonElement? arguments, CancellationToken cancellationToken)
    {
        if (!_actions.TryGetValue(actionName, out var action))
        {
            throw new NotFoundException(
                $"Unknown action '{actionName}'. Available: {string.Join(", ", _actions.Keys.Order(StringComparer.Ordinal))}");
        }

        for (var attempt = 1; ; attempt++)
        {
            var incident = await db.Incidents.FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken)
                ?? throw new NotFoundException($"Incident {incidentId} does not exist");
            var now = time.GetUtcNow();
            var refusal = Authorize(actor, action);
            if (refusal is not null)
            {
                IncidentTimeline.Append(db, incidentId, now, actor, "action_refused", $"{actionName} refused: {refusal}");
                await db.SaveChangesAsync(cancellationToken);
                throw new ActionRefusedException(refusal, StatusCodes.Status403Forbidden);
            }

            var outcome = await action.ExecuteAsync(new IncidentActionContext(incident, db, actor, arguments, now), cancellationToken);
            if (!outcome.Changed)
            {
                await db.SaveChangesAsync(cancellationToken);
                return outcome;
            }

            incident.Version++;
            incident.UpdatedAt = now;
            incident.NeedsProcessing = true;
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException ex) when (attempt < MaxConcurrencyRetries
                && (ex is DbUpdateConcurrencyException || DatabaseErrors.IsUniqueViolation(ex)))
            {
                // Someone else changed the incident meanwhile (an alert, another button), or wrote the row this action
                // meant to create (two simultaneous votes); redo on fresh state.
                LogConcurrentChange(logger, incidentId, actionName, attempt);
                db.ChangeTracker.Clear();
                continue;
            }

            pipeline.Enqueue(incidentId);
            return outcome;
        }
    }

    /// <summary>Null when allowed, otherwise the reason. The system itself acts without a role.</summary>
    private string? Authorize(Actor actor, IIncidentAction action)
    {
        if (actor.Name == "system")
        {
            return null;
        }

        var person = config.People.FirstOrDefault(p => p.Name == actor.Name);
        if (person is null)
        {
            return $"'{actor.Name}' is not a configured person";
        }

        return person.Roles.Contains(action.RequiredRole)
            ? null
            : $"{person.Name} lacks the '{action.RequiredRole}' role needed for {action.Name}";
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Incident {IncidentId}: concurrent change during {Action} (attempt {Attempt}); retrying")]
    private static partial void LogConcurrentChange(ILogger logger, long incidentId, string action, int attempt);
}

/// <summary>triggered → acknowledged. Stops escalation (the escalation step observes the status).</summary>
internal sealed class AcknowledgeAction : IIncidentAction
{
    public string Name => "ack";

    public string RequiredRole => "responder";

    public Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken)
    {
        var incident = context.Incident;
        if (incident.Status != IncidentStatus.Triggered)
        {
            return Task.FromResult(new IncidentActionOutcome(false, $"Incident {incident.Id} is already {incident.Status.ToString().ToLowerInvariant()}"));
        }

        incident.Status = IncidentStatus.Acknowledged;
        incident.AcknowledgedAt = context.Now;
        incident.AcknowledgedBy = context.Actor.Name;
        IncidentTimeline.Append(context.Db, incident.Id, context.Now, context.Actor, "acknowledged", $"Acknowledged by {context.Actor.Name}");
        return Task.FromResult(new IncidentActionOutcome(true, $"Incident {incident.Id} acknowledged by {context.Actor.Name}"));
    }
}

/// <summary>→ resolved. A later alert with the same fingerprint opens a new incident.</summary>
internal sealed class ResolveAction : IIncidentAction
{
    public string Name => "resolve";

    public string RequiredRole => "responder";

    public Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken)
    {
        var incident = context.Incident;
        if (incident.Status == IncidentStatus.Resolved)
        {
            return Task.FromResult(new IncidentActionOutcome(false, $"Incident {incident.Id} is already resolved"));
        }

        incident.Status = IncidentStatus.Resolved;
        incident.ResolvedAt = context.Now;
        incident.ResolvedBy = context.Actor.Name;
        incident.OpenFingerprint = null;
        var reason = ReadReason(context.Arguments);
        IncidentTimeline.Append(context.Db, incident.Id, context.Now, context.Actor, "resolved",
            reason is null ? $"Resolved by {context.Actor.Name}" : $"Resolved by {context.Actor.Name}: {reason}");
        return Task.FromResult(new IncidentActionOutcome(true, $"Incident {incident.Id} resolved by {context.Actor.Name}"));
    }

    private static string? ReadReason(JsonElement? arguments) =>
        arguments is { ValueKind: JsonValueKind.Object } args && args.TryGetProperty("reason", out var reason)
            && reason.ValueKind == JsonValueKind.String
            ? reason.GetString()
            : null;
}

/// <summary>The resource asked for does not exist.</summary>
internal sealed class NotFoundException(string message) : Exception(message);
