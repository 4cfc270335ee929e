using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Response;

/// <summary>What became of a request for a response action.</summary>
/// <param name="Accepted">False when the action cannot apply to this incident (no process, no pod, bad arguments).</param>
/// <param name="Detail">One human line.</param>
/// <param name="ResponseActionId">The recorded action, when one was recorded.</param>
/// <param name="Status">Its state right after the request: pending for sensor commands, final for the others.</param>
internal sealed record ResponseOutcome(bool Accepted, string Detail, long? ResponseActionId = null, ResponseActionStatus? Status = null);

/// <summary>Who asks for an action and through what.</summary>
internal sealed record ResponseRequester(string Actor, string Channel, bool Automatic = false);

/// <summary>
/// The four response actions. Node-local ones (kill_process, capture_evidence) are queued for the sensor of the
/// alert's node and complete when it reports back; isolate_pod and unisolate_pod talk to the Kubernetes API now.
/// Targets always come from the incident's own alerts: an argument can choose among them, never name a process or
/// pod the incident does not contain.
/// </summary>
internal sealed class ResponseService(
    TriageDbContext db,
    ResponseRecorder recorder,
    SensorCommandQueue queue,
    IServiceProvider services)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public async Task<ResponseOutcome> KillProcessAsync(Incident incident, ResponseRequester by, JsonElement? arguments, CancellationToken ct)
    {
        var (alert, error) = await ChooseAlertAsync(incident, arguments, a => a.Process?.Pid is not null, "a process", ct);
        if (alert is null)
        {
            return new(false, error!);
        }

        var process = alert.Process!;
        if (process.StartTimeNs is null)
        {
            // Without the start time the sensor cannot tell the process from a later one with the same pid.
            return new(false, $"the alert {alert.Id} carries no process start time, so pid {process.Pid} cannot be killed safely");
        }

        var action = NewAction("kill_process", incident, by, alert);
        action.Pid = process.Pid;
        action.StartTimeNs = (long)process.StartTimeNs.Value;
        return await QueueAsync(action, $"kill pid {process.Pid} ({process.Cmdline ?? process.Name}) on {alert.Node} requested by {by.Actor}", ct);
    }

    public async Task<ResponseOutcome> CaptureEvidenceAsync(Incident incident, ResponseRequester by, JsonElement? arguments, CancellationToken ct)
    {
        var (alert, error) = await ChooseAlertAsync(incident, arguments, a => a.Container?.Id is not null || a.Process?.Pid is not null, "a container or process", ct);
        if (alert is null)
        {
            return new(false, error!);
        }

        var action = NewAction("capture_evidence", incident, by, alert);
        action.Pid = alert.Process?.Pid;
        action.StartTimeNs = alert.Process?.StartTimeNs is { } ns ? (long)ns : null;
        var where = alert.Container?.Id is { } id ? $"container {id[..Math.Min(12, id.Length)]}" : $"pid {alert.Process!.Pid}";
        return await QueueAsync(action, $"capture evidence of {where} on {alert.Node} requested by {by.Actor}", ct);
    }

    public async Task<ResponseOutcome> IsolatePodAsync(Incident incident, ResponseRequester by, JsonElement? arguments, CancellationToken ct)
    {
        var (alert, error) = await ChooseAlertAsync(incident, arguments, a => a.K8s?.Pod is not null && a.K8s.Namespace is not null, "a Kubernetes pod", ct);
        if (alert is null)
        {
            return new(false, error!);
        }

        var action = NewAction("isolate_pod", incident, by, alert);
        action.Namespace = alert.K8s!.Namespace;
        action.Pod = alert.K8s.Pod;
        await recorder.StartAsync(action, $"isolate pod {action.Namespace}/{action.Pod} requested by {by.Actor}", ct);
        return await RunIsolationAsync(action, isolator => isolator.IsolateAsync(action.Namespace!, action.Pod!, incident.Id, ct), ct);
    }

    public async Task<ResponseOutcome> UnisolatePodAsync(Incident incident, ResponseRequester by, CancellationToken ct)
    {
        var isolated = await db.Set<ResponseAction>()
            .Where(a => a.IncidentId == incident.Id && a.Action == "isolate_pod" && a.Status == ResponseActionStatus.Succeeded)
            .OrderByDescending(a => a.Id)
            .FirstOrDefaultAsync(ct);
        if (isolated is null)
        {
            return new(false, "no pod of this incident is isolated");
        }

        var action = NewAction("unisolate_pod", incident, by, null);
        action.AlertId = isolated.AlertId;
        action.Namespace = isolated.Namespace;
        action.Pod = isolated.Pod;
        await recorder.StartAsync(action, $"release pod {action.Namespace}/{action.Pod} from quarantine requested by {by.Actor}", ct);
        return await RunIsolationAsync(action, isolator => isolator.UndoAsync(action.Namespace!, action.Pod!, incident.Id, ct), ct);
    }

    private async Task<ResponseOutcome> RunIsolationAsync(ResponseAction action, Func<PodIsolator, Task<IsolationResult>> run, CancellationToken ct)
    {
        IsolationResult result;
        try
        {
            // Resolved here, not in the constructor: without Kubernetes configured the node-local actions still work.
            result = await run(services.GetRequiredService<PodIsolator>());
        }
        catch (Exception ex) when (ex is HttpRequestException or k8s.Autorest.HttpOperationException or k8s.Exceptions.KubeConfigException or InvalidOperationException)
        {
            result = new(false, $"Kubernetes API: {Describe(ex)}");
        }

        var status = result.Succeeded ? ResponseActionStatus.Succeeded : ResponseActionStatus.Failed;
        await recorder.CompleteAsync(action, status, result.Detail, ct);
        return new(true, result.Detail, action.Id, status);
    }

    private async Task<ResponseOutcome> QueueAsync(ResponseAction action, string detail, CancellationToken ct)
    {
        await recorder.StartAsync(action, detail, ct);
        queue.Notify(action.Node!);
        return new(true, detail, action.Id, ResponseActionStatus.Pending);
    }

    private static ResponseAction NewAction(string name, Incident incident, ResponseRequester by, NativeAlert? alert) => new()
    {
        IncidentId = incident.Id,
        Action = name,
        Actor = by.Actor,
        Channel = by.Channel,
        Automatic = by.Automatic,
        Status = ResponseActionStatus.Pending,
        Node = name is "kill_process" or "capture_evidence" ? alert?.Node : null,
        AlertId = alert?.Id,
        ContainerId = alert?.Container?.Id,
        ExeUpperLayer = alert?.Process?.ExeUpperLayer,
    };

    /// <summary>
    /// The alert to act on: the one named by <c>alert_id</c>, else the newest whose process has <c>pid</c>, else the
    /// newest alert that has what the action needs.
    /// </summary>
    private async Task<(NativeAlert? Alert, string? Error)> ChooseAlertAsync(
        Incident incident, JsonElement? arguments, Func<NativeAlert, bool> usable, string needs, CancellationToken ct)
    {
        string? alertId = null;
        int? pid = null;
        if (arguments is { ValueKind: JsonValueKind.Object } args)
        {
            if (args.TryGetProperty("alert_id", out var a) && a.ValueKind == JsonValueKind.String)
            {
                alertId = a.GetString();
            }

            if (args.TryGetProperty("pid", out var p) && p.TryGetInt32(out var value))
            {
                pid = value;
            }
        }

        var payloads = await db.Set<StoredAlert>()
            .Where(a => a.IncidentId == incident.Id && (alertId == null || a.Id == alertId))
            .OrderByDescending(a => a.Time).ThenByDescending(a => a.ReceivedAt)
            .Select(a => a.Payload)
            .Take(200)
            .ToListAsync(ct);

        foreach (var payload in payloads)
        {
            var alert = JsonSerializer.Deserialize<NativeAlert>(payload, Json);
            if (alert is not null && usable(alert) && (pid is null || alert.Process?.Pid == pid))
            {
                return (alert, null);
            }
        }

        var which = alertId is not null ? $"alert {alertId}" : pid is not null ? string.Create(CultureInfo.InvariantCulture, $"an alert with pid {pid}") : "no alert";
        return (null, $"incident {incident.Id}: {which} names {needs}");
    }

    private static string Describe(Exception ex) => ex switch
    {
        k8s.Autorest.HttpOperationException http => $"{(int)http.Response.StatusCode} {http.Response.ReasonPhrase}: {Truncate(http.Response.Content)}",
        _ => ex.Message,
    };

    private static string Truncate(string? text) => text is null ? "" : text.Length <= 300 ? text : text[..300];
}
