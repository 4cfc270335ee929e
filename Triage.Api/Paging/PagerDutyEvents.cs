using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Paging;

/// <summary>
/// Builds PagerDuty Events API v2 bodies (without <c>routing_key</c>, which the channel adds at send time so that the
/// secret never lands in the database). One stable <c>dedup_key</c> per incident, so trigger, acknowledge and resolve
/// all apply to the same PagerDuty alert.
/// </summary>
internal static class PagerDutyEvents
{
    public const string Channel = "pagerduty";

    public static string DedupKey(long incidentId) => $"triage-incident-{incidentId.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Falco priority → PagerDuty severity: Emergency/Alert/Critical → critical, Error → error, Warning → warning, the rest info.</summary>
    public static string Severity(AlertPriority priority) => priority switch
    {
        >= AlertPriority.Critical => "critical",
        AlertPriority.Error => "error",
        AlertPriority.Warning => "warning",
        _ => "info",
    };

    /// <summary>The outbox payload for a trigger: <c>{"team": …, "event": {…}}</c>.</summary>
    public static JsonObject Trigger(Incident incident, NativeAlert? alert, string team, string? primaryTeam, Uri? publicUrl, string? runbookUrl)
    {
        var incidentUrl = publicUrl is null ? null : new Uri(publicUrl, $"incidents/{incident.Id}").ToString();
        var details = new JsonObject
        {
            ["incident_id"] = incident.Id,
            ["rule"] = incident.Rule,
            ["priority"] = incident.Priority.ToFalcoName(),
            ["tags"] = new JsonArray([.. incident.Tags.Select(t => (JsonNode)t)]),
            ["alert_count"] = incident.AlertCount,
            ["first_seen"] = incident.FirstSeen.ToString("O", CultureInfo.InvariantCulture),
            ["routed_to"] = team,
        };
        if (primaryTeam is not null && primaryTeam != team)
        {
            details["primary_team"] = primaryTeam;
        }

        if (alert?.Output is { } output)
        {
            details["output"] = output;
        }

        if (alert?.Process is { } process)
        {
            var tree = new JsonArray { Describe(process.Pid, process.Exe ?? process.Name, process.Cmdline) };
            foreach (var ancestor in alert.Ancestors ?? [])
            {
                tree.Add(Describe(ancestor.Pid, ancestor.Exe, ancestor.Cmdline));
            }

            details["process"] = JsonSerializer.SerializeToNode(process, Json);
            details["process_tree"] = tree;
        }

        if (alert?.Syscall is { } syscall)
        {
            details["syscall"] = JsonSerializer.SerializeToNode(syscall, Json);
        }

        var kubernetes = new JsonObject
        {
            ["namespace"] = incident.Namespace,
            ["pod"] = incident.Pod,
            ["workload"] = incident.WorkloadKind is null ? null : $"{incident.WorkloadKind}/{incident.WorkloadName}",
            ["image"] = incident.Image,
            ["node"] = incident.Node,
        };
        if (alert?.K8s?.Labels is { Count: > 0 } labels)
        {
            kubernetes["labels"] = JsonSerializer.SerializeToNode(labels, Json);
        }

        details["kubernetes"] = kubernetes;
        if (incidentUrl is not null)
        {
            details["incident_url"] = incidentUrl;
        }

        var links = new JsonArray();
        if (runbookUrl is not null)
        {
            links.Add(new JsonObject { ["href"] = runbookUrl, ["text"] = "Runbook" });
        }

        if (incidentUrl is not null)
        {
            links.Add(new JsonObject { ["href"] = incidentUrl, ["text"] = $"Incident {incident.Id}" });
        }

        var source = incident.Pod is not null ? $"{incident.Namespace}/{incident.Pod}" : incident.Node;
        var body = new JsonObject
        {
            ["event_action"] = "trigger",
            ["dedup_key"] = DedupKey(incident.Id),
            ["payload"] = new JsonObject
            {
                ["summary"] = Truncate($"[{incident.Priority.ToFalcoName()}] {incident.Title}", 1024),
                ["source"] = string.IsNullOrEmpty(source) ? "triage" : source,
                ["severity"] = Severity(incident.Priority),
                ["timestamp"] = incident.FirstSeen.ToString("O", CultureInfo.InvariantCulture),
                ["component"] = incident.WorkloadName ?? incident.Image,
                ["group"] = incident.Namespace,
                ["class"] = incident.Rule,
                ["custom_details"] = details,
            },
            ["links"] = links,
            ["client"] = "Triage",
        };
        if (incidentUrl is not null)
        {
            body["client_url"] = incidentUrl;
        }

        return new JsonObject { ["team"] = team, ["event"] = body };
    }

    /// <summary>The outbox payload for an acknowledge or resolve of the incident's alert.</summary>
    public static JsonObject StatusChange(long incidentId, string team, string action) => new()
    {
        ["team"] = team,
        ["event"] = new JsonObject { ["event_action"] = action, ["dedup_key"] = DedupKey(incidentId) },
    };

    private static string Describe(int? pid, string? exe, string? cmdline) =>
        $"{pid?.ToString(CultureInfo.InvariantCulture) ?? "?"} {exe ?? "?"}{(cmdline is null ? "" : $" ({cmdline})")}";

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..(max - 1)] + "…";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };
}
