using Triage.Api.Persistence;

namespace Triage.Api.Response;

/// <summary>
/// Writes a response action's state changes together with their timeline entries (one commit each), so the
/// incident's history and the action table never disagree.
/// </summary>
internal sealed class ResponseRecorder(TriageDbContext db, TimeProvider time)
{
    public async Task<ResponseAction> StartAsync(ResponseAction action, string detail, CancellationToken ct)
    {
        action.RequestedAt = time.GetUtcNow();
        action.Detail = detail;
        db.Add(action);
        db.Add(Entry(action, "requested", detail));
        await db.SaveChangesAsync(ct);
        return action;
    }

    public async Task CompleteAsync(ResponseAction action, ResponseActionStatus status, string detail, CancellationToken ct)
    {
        action.Status = status;
        action.Detail = detail;
        action.CompletedAt = time.GetUtcNow();
        db.Add(Entry(action, status.ToString().ToLowerInvariant(), detail));
        await db.SaveChangesAsync(ct);
    }

    private TimelineEntry Entry(ResponseAction action, string what, string detail) => new()
    {
        IncidentId = action.IncidentId,
        At = time.GetUtcNow(),
        Actor = action.Status is ResponseActionStatus.Pending ? action.Actor : action.Node is null ? action.Actor : $"sensor:{action.Node}",
        Channel = action.Status is ResponseActionStatus.Pending ? action.Channel : action.Node is null ? action.Channel : "sensor",
        Kind = $"{action.Action}_{what}",
        Detail = detail,
    };
}
