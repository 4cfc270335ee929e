using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Triage.Bot.Cards;

/// <summary>
/// The actions a card offers. Names are the action names of <c>POST /api/v1/incidents/{id}/actions/{action}</c>, so a
/// button press and an API call run the same code.
/// </summary>
public static class CardActions
{
    public const string Ack = "ack";
    public const string Resolve = "resolve";
    public const string Escalate = "escalate";
    public const string VoteBenign = "vote_benign";
    public const string VoteNotBenign = "vote_not_benign";
    public const string KillProcess = "kill_process";
    public const string IsolatePod = "isolate_pod";
    public const string CaptureEvidence = "capture_evidence";

    /// <summary>Escalation targets, passed to <see cref="Escalate"/> as <c>{"target": …}</c>.</summary>
    public static readonly IReadOnlyList<(string Target, string Label)> EscalationTargets =
        [("next", "Next level"), ("soc", "To SOC"), ("platform", "To platform")];

    /// <summary>Every action in button order.</summary>
    public static readonly IReadOnlyList<string> All =
        [Ack, Escalate, Resolve, VoteBenign, VoteNotBenign, KillProcess, IsolatePod, CaptureEvidence];

    /// <summary>Response actions change the workload, so their buttons ask for confirmation first.</summary>
    public static readonly IReadOnlyList<string> Response = [KillProcess, IsolatePod, CaptureEvidence];

    /// <summary>Actions offered for a card when it does not narrow the list itself.</summary>
    public static IReadOnlyList<string> Offered(IncidentCard card)
    {
        if (card.OfferedActions is { } offered)
        {
            return offered;
        }

        if (card.IsResolved)
        {
            // A resolved incident never reopens; evidence and votes still matter afterwards.
            return [VoteBenign, VoteNotBenign, CaptureEvidence];
        }

        return string.Equals(card.Status, "acknowledged", StringComparison.OrdinalIgnoreCase)
            ? [Escalate, Resolve, VoteBenign, VoteNotBenign, KillProcess, IsolatePod, CaptureEvidence]
            : All;
    }

    public static string Label(string action) => action switch
    {
        Ack => "Acknowledge",
        Resolve => "Resolve",
        Escalate => "Escalate",
        VoteBenign => "Benign artifact",
        VoteNotBenign => "Not benign",
        KillProcess => "Kill process",
        IsolatePod => "Isolate pod",
        CaptureEvidence => "Capture evidence",
        _ => action,
    };

    /// <summary>The confirmation question for a response action, or null when the action needs none.</summary>
    public static (string Title, string Text, string Confirm)? Confirmation(string action, IncidentCard card) => action switch
    {
        KillProcess => ("Kill the process?",
            $"Sends SIGKILL to {ProcessLabel(card)} on {card.Workload.Node ?? "its node"}. The container keeps running.",
            "Kill process"),
        IsolatePod => ("Isolate the pod?",
            $"Applies a deny-all network policy to {card.Workload.Namespace ?? "?"}/{card.Workload.Pod ?? "?"}. "
            + "Its traffic stops until the policy is removed.", "Isolate pod"),
        CaptureEvidence => ("Capture evidence?",
            "Pauses the container briefly to record its file-system changes and process list.", "Capture"),
        _ => null,
    };

    private static string ProcessLabel(IncidentCard card) =>
        card.ProcessTree is [var p, ..] ? $"{Path.GetFileName(p.Exe ?? "?")} (pid {p.Pid?.ToString(CultureInfo.InvariantCulture) ?? "?"})" : "the process";
}

/// <summary>
/// What a button carries back: the incident, the action and, for escalation, the target. Encoded compactly so that
/// it fits Slack's 2000-character button value and 150-character option value.
/// </summary>
public sealed record CardActionPayload(
    [property: JsonPropertyName("incident_id")] long IncidentId,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("target")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Target = null)
{
    /// <summary><c>42|escalate|soc</c>.</summary>
    public string Encode() => Target is null
        ? string.Create(CultureInfo.InvariantCulture, $"{IncidentId}|{Action}")
        : string.Create(CultureInfo.InvariantCulture, $"{IncidentId}|{Action}|{Target}");

    public static bool TryDecode(string? value, out CardActionPayload payload)
    {
        payload = null!;
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        var parts = value.Split('|');
        if (parts.Length is < 2 or > 3
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || parts[1].Length == 0)
        {
            return false;
        }

        payload = new CardActionPayload(id, parts[1], parts.Length == 3 ? parts[2] : null);
        return true;
    }

    /// <summary>The arguments handed to the action: <c>{"target":"soc"}</c> for escalation, otherwise none.</summary>
    public JsonElement? Arguments() => Target is null
        ? null
        : JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["target"] = Target });
}
