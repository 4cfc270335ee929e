using System.Globalization;
using System.Text.Json;
using Triage.Api.Configuration;
using Triage.Contracts;

namespace Triage.Api.Routing;

/// <summary>
/// <c>Triage.Api route explain --alert alert.json [--config file] [--owning-team t] [--rolled-out-before 12m|-5m|none]
/// [--image-changed true|false] [--json]</c>: the dry run of <c>POST /api/v1/routing/explain</c> without a running
/// service. <c>--json</c> prints the endpoint's exact body; otherwise the same decision as text.
/// </summary>
internal static class RouteExplainCommand
{
    public const string Usage = "usage: route explain --alert <alert.json> [--config <file>] [--owning-team <team>] "
        + "[--rolled-out-before <12m|-5m|none>] [--image-changed true|false] [--json]";

    /// <summary>The service's JSON as minimal APIs write it (they do not escape quotes and non-ASCII), so the bytes match.</summary>
    private static readonly JsonSerializerOptions WireOptions =
        new(TriageJson.Options) { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Exit codes: 0 explained, 2 bad arguments or configuration, 1 an alert file that cannot be read.</summary>
    public static async Task<int> RunAsync(TriageConfig config, string[] options, TextWriter output, TextWriter error, TimeProvider time)
    {
        if (Option(options, "--alert") is not { } path)
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        NativeAlert? alert;
        try
        {
            alert = JsonSerializer.Deserialize<NativeAlert>(await File.ReadAllTextAsync(path), TriageJson.Options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            await error.WriteLineAsync($"{path}: {e.Message}");
            return 1;
        }

        if (alert is null)
        {
            await error.WriteLineAsync($"{path}: not an alert (JSON null)");
            return 1;
        }

        bool? imageChanged = null;
        if (Option(options, "--image-changed") is { } changedText)
        {
            if (!bool.TryParse(changedText, out var changed))
            {
                await error.WriteLineAsync($"--image-changed '{changedText}' is not true or false");
                return 2;
            }

            imageChanged = changed;
        }

        var facts = RoutingExtensions.DryRunFacts(Option(options, "--owning-team"), Option(options, "--rolled-out-before"), imageChanged, out var problem);
        if (facts is null)
        {
            await error.WriteLineAsync(problem!.Replace("rolled_out_before", "--rolled-out-before", StringComparison.Ordinal));
            return 2;
        }

        var decision = RoutingExtensions.Decide(alert, new RoutingMatrix(config), time, facts);
        if (options.Contains("--json"))
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(decision, WireOptions));
        }
        else
        {
            await output.WriteAsync(Format(decision));
        }

        return 0;
    }

    /// <summary>The decision as text: the route, the reasons, then every row evaluated with each condition.</summary>
    public static string Format(RouteDecision decision)
    {
        var text = new System.Text.StringBuilder();
        var row = decision.RowIndex is { } index ? string.Create(CultureInfo.InvariantCulture, $"row {index} '{decision.Row}'") : "default route";
        var informed = decision.InformedTeam is null ? "" : $", informed {decision.InformedTeam}";
        text.AppendLine(CultureInfo.InvariantCulture, $"route: {decision.Route} → primary {decision.PrimaryTeam}{informed} ({row})");
        text.AppendLine(CultureInfo.InvariantCulture, $"urgency: {decision.Urgency}; escalation policy: {decision.EscalationPolicy ?? "none (nobody is paged)"}");
        text.AppendLine(CultureInfo.InvariantCulture, $"enrichment facts: {decision.Enrichment}");
        text.AppendLine("why:");
        foreach (var line in decision.Why)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  - {line}");
        }

        text.AppendLine("rows:");
        foreach (var evaluated in decision.Rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {evaluated.Index} {evaluated.Name}: {(evaluated.Matched ? "matched" : "no match")}");
            foreach (var check in evaluated.Checks)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"      [{(check.Held ? "x" : " ")}] {check.Condition}: {check.Reason}");
            }
        }

        return text.ToString();
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
