using Microsoft.EntityFrameworkCore;
using Triage.Api.Incidents;
using Triage.Api.Persistence;

namespace Triage.Api.Response;

/// <summary>
/// The response actions as incident actions (API path and chat buttons). They need the <c>operator</c> role; the
/// chat adapters ask for confirmation before they call them. Each records a <see cref="ResponseAction"/> and its
/// timeline entries; a refused request (nothing to act on) answers 409 with the reason.
/// </summary>
internal abstract class ResponseIncidentAction(ResponseService response) : IIncidentAction
{
    public abstract string Name { get; }

    public string RequiredRole => "operator";

    public async Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken)
    {
        var by = new ResponseRequester(context.Actor.Name, context.Actor.Channel);
        var outcome = await RunAsync(response, context, by, cancellationToken);
        return outcome.Accepted
            ? new IncidentActionOutcome(true, outcome.Detail)
            : throw new ActionRefusedException(outcome.Detail);
    }

    protected abstract Task<ResponseOutcome> RunAsync(ResponseService response, IncidentActionContext context, ResponseRequester by, CancellationToken ct);
}

internal sealed class KillProcessAction(ResponseService response) : ResponseIncidentAction(response)
{
    public override string Name => "kill_process";

    protected override Task<ResponseOutcome> RunAsync(ResponseService response, IncidentActionContext context, ResponseRequester by, CancellationToken ct) =>
        response.KillProcessAsync(context.Incident, by, context.Arguments, ct);
}

internal sealed class IsolatePodAction(ResponseService response) : ResponseIncidentAction(response)
{
    public override string Name => "isolate_pod";

    protected override Task<ResponseOutcome> RunAsync(ResponseService response, IncidentActionContext context, ResponseRequester by, CancellationToken ct) =>
        response.IsolatePodAsync(context.Incident, by, context.Arguments, ct);
}

internal sealed class UnisolatePodAction(ResponseService response) : ResponseIncidentAction(response)
{
    public override string Name => "unisolate_pod";

    protected override Task<ResponseOutcome> RunAsync(ResponseService response, IncidentActionContext context, ResponseRequester by, CancellationToken ct) =>
        response.UnisolatePodAsync(context.Incident, by, ct);
}

internal sealed class CaptureEvidenceAction(ResponseService response) : ResponseIncidentAction(response)
{
    public override string Name => "capture_evidence";

    protected override Task<ResponseOutcome> RunAsync(ResponseService response, IncidentActionContext context, ResponseRequester by, CancellationToken ct) =>
        response.CaptureEvidenceAsync(context.Incident, by, context.Arguments, ct);
}

/// <summary>
/// Order 500: takes the <c>response.automatic</c> actions for an incident's rule once per incident. Idempotent: an
/// automatic action already recorded for the incident is not taken again, whatever its outcome.
/// </summary>
internal sealed class AutomaticResponseObserver(IServiceScopeFactory scopes, ResponseOptions options) : IIncidentObserver
{
    public int Order => 500;

    public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
    {
        if (options.Automatic.Count == 0)
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var incident = await db.Incidents.FirstOrDefaultAsync(i => i.Id == incidentId, cancellationToken);
        if (incident is null || incident.Status == IncidentStatus.Resolved)
        {
            return;
        }

        var wanted = options.Automatic.Where(a => a.Rule == incident.Rule).SelectMany(a => a.Actions).Distinct().ToList();
        if (wanted.Count == 0)
        {
            return;
        }

        var done = await db.Set<ResponseAction>().Where(a => a.IncidentId == incidentId && a.Automatic).Select(a => a.Action).ToListAsync(cancellationToken);
        var response = scope.ServiceProvider.GetRequiredService<ResponseService>();
        var by = new ResponseRequester("system", "rule", Automatic: true);
        foreach (var action in wanted.Except(done))
        {
            var outcome = action switch
            {
                "kill_process" => await response.KillProcessAsync(incident, by, null, cancellationToken),
                "isolate_pod" => await response.IsolatePodAsync(incident, by, null, cancellationToken),
                "capture_evidence" => await response.CaptureEvidenceAsync(incident, by, null, cancellationToken),
                _ => null,
            };
            if (outcome is { Accepted: false })
            {
                // Nothing to act on (no pod, no process): say so once rather than retrying forever.
                IncidentTimeline.Append(db, incidentId, scope.ServiceProvider.GetRequiredService<TimeProvider>().GetUtcNow(),
                    new Actor("system", "rule"), $"{action}_skipped", $"automatic {action} not possible: {outcome.Detail}");
                db.Add(new ResponseAction
                {
                    IncidentId = incidentId, Action = action, Actor = "system", Channel = "rule", Automatic = true,
                    Status = ResponseActionStatus.Refused, Detail = outcome.Detail,
                    RequestedAt = scope.ServiceProvider.GetRequiredService<TimeProvider>().GetUtcNow(),
                });
                await db.SaveChangesAsync(cancellationToken);
            }
        }
    }
}
