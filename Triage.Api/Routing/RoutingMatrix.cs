using System.Globalization;
using Triage.Api.Configuration;
using Triage.Api.Enrichment;
using Triage.Api.OnCall;
using Triage.Contracts;

namespace Triage.Api.Routing;

/// <summary>What the matrix looks at: the alert's fields, enrichment's facts, and when the incident opened.</summary>
internal sealed record RouteInput(
    string Rule,
    IReadOnlyList<string> Tags,
    AlertPriority Priority,
    string? Namespace,
    IReadOnlyDictionary<string, string> Labels,
    RouteFacts Facts,
    DateTimeOffset At)
{
    public string? OwningTeam => Facts.OwningTeam;
}

/// <summary>One condition of one row, checked: what it asked, whether it held, and why in words.</summary>
internal sealed record ConditionCheck(string Condition, bool Held, string Reason)
{
    /// <summary>True when it failed only because the enrichment fact it asks about is unknown.</summary>
    public bool Unknown { get; init; }
}

/// <summary>One row as evaluated; rows after the matching one are not evaluated.</summary>
internal sealed record RowEvaluation(int Index, string Name, bool Matched, IReadOnlyList<ConditionCheck> Checks);

/// <summary>The route of an incident and the reasons, as recorded on the incident and returned by the dry run.</summary>
/// <param name="Row">The matching row's name, or <c>default</c>.</param>
/// <param name="RowIndex">Its index in <c>routing.rules</c>; null for the default.</param>
/// <param name="Route"><c>platform</c>, <c>soc</c> or <c>both</c> as configured.</param>
/// <param name="PrimaryTeam">The team that is paged.</param>
/// <param name="InformedTeam">The team that is told but not paged (route <c>both</c>), or null.</param>
/// <param name="Urgency"><c>high</c> or <c>low</c>.</param>
/// <param name="EscalationPolicy">The policy that pages, or null when nobody is paged.</param>
/// <param name="Why">Human lines: why this row, and how teams and policy were chosen.</param>
/// <param name="Rows">Every row evaluated, with each condition's result.</param>
/// <param name="Enrichment">The status of the enrichment facts the decision saw (complete, partial, unavailable,
/// not_applicable, not_enriched, given).</param>
internal sealed record RouteDecision(
    string Row,
    int? RowIndex,
    string Route,
    string PrimaryTeam,
    string? InformedTeam,
    string Urgency,
    string? EscalationPolicy,
    IReadOnlyList<string> Why,
    IReadOnlyList<RowEvaluation> Rows,
    string Enrichment);

/// <summary>
/// The platform-vs-SOC routing matrix compiled from the configuration: first matching row wins, and every decision
/// carries its explanation.
/// </summary>
internal sealed class RoutingMatrix(TriageConfig config)
{
    private readonly RoutingOptions _options = config.Routing;
    private readonly Dictionary<string, TeamOptions> _teams = config.Teams.ToDictionary(t => t.Name, StringComparer.Ordinal);
    private readonly TimeSpan _freshWindow = config.Enrichment.FreshRolloutWindow;

    public RouteDecision Decide(RouteInput input)
    {
        var rows = new List<RowEvaluation>();
        for (var i = 0; i < _options.Rules.Count; i++)
        {
            var row = _options.Rules[i];
            var checks = Check(row.Match, input, _freshWindow);
            var matched = checks.All(c => c.Held);
            rows.Add(new RowEvaluation(i, row.Name, matched, checks));
            if (matched)
            {
                var why = new List<string>
                {
                    checks.Count == 0
                        ? $"row {i} '{row.Name}' matched: it has no conditions"
                        : $"row {i} '{row.Name}' matched: {string.Join("; ", checks.Select(c => c.Reason))}",
                };
                AddFacts(why, input, rows);
                return Resolve(row.Name, i, row, input, why, rows);
            }
        }

        var fallbackWhy = new List<string>
        {
            _options.Rules.Count == 0 ? "no routing rows configured: default route" : "no row matched: default route",
        };
        AddFacts(fallbackWhy, input, rows);
        return Resolve("default", null, _options.Default, input, fallbackWhy, rows);
    }

    /// <summary>
    /// What enrichment knew, and which rows could not match only because an enrichment fact was unknown, so that a
    /// reader sees that the route may change once enrichment is available.
    /// </summary>
    private static void AddFacts(List<string> why, RouteInput input, List<RowEvaluation> rows)
    {
        why.Add($"facts: {input.Facts.Describe()}");
        var blocked = rows.Where(r => !r.Matched && r.Checks.Any(c => !c.Held && c.Unknown)).Select(r => $"'{r.Name}'").ToList();
        if (blocked.Count > 0)
        {
            why.Add($"enrichment facts unknown ({input.Facts.Unknown ?? "owning team unknown"}): row{(blocked.Count == 1 ? "" : "s")} "
                + $"{string.Join(", ", blocked)} could not be matched on them");
        }
    }

    private RouteDecision Resolve(string name, int? index, RouteOptions route, RouteInput input, List<string> why, List<RowEvaluation> rows)
    {
        var soc = _options.SocTeam ?? config.Teams.FirstOrDefault(t => t.Kind == "soc")?.Name ?? "soc";
        string? platform;
        if (route.PlatformTeam != "owner")
        {
            platform = route.PlatformTeam;
        }
        else if (input.OwningTeam is { } owner && _teams.TryGetValue(owner, out var team) && team.Kind == "platform")
        {
            platform = owner;
            if (route.Route != "soc")
            {
                why.Add($"platform team '{owner}' is the owning team");
            }
        }
        else
        {
            platform = _options.FallbackPlatformTeam;
            if (route.Route != "soc")
            {
                var unknown = input.OwningTeam is null ? "no owning team is known" : $"owning team '{input.OwningTeam}' is not a configured platform team";
                why.Add(platform is null
                    ? $"{unknown} and no fallback_platform_team is set"
                    : $"{unknown}: fallback platform team '{platform}'");
            }
        }

        string primary;
        string? informed = null;
        switch (route.Route)
        {
            case "platform" when platform is not null:
                primary = platform;
                break;
            case "platform":
                primary = soc;
                why.Add($"routed to the SOC '{soc}' instead of a platform team");
                break;
            case "both" when platform is null:
                primary = soc;
                why.Add($"route both without a platform team: the SOC '{soc}' alone");
                break;
            case "both":
                var socPrimary = (route.Primary ?? "soc") == "soc";
                primary = socPrimary ? soc : platform;
                informed = socPrimary ? platform : soc;
                why.Add($"both: '{primary}' is primary (paged), '{informed}' is informed");
                break;
            default:
                primary = soc;
                break;
        }

        var policy = route.EscalationPolicy;
        if (policy is not null)
        {
            why.Add($"escalation policy '{policy}' from the row");
        }
        else if (_teams.TryGetValue(primary, out var primaryTeam) && primaryTeam.EscalationPolicy is { } teamPolicy)
        {
            policy = teamPolicy;
            why.Add($"escalation policy '{policy}' of team '{primary}'");
        }
        else
        {
            why.Add($"no escalation policy on the row or on team '{primary}': nobody is paged");
        }

        why.Add($"urgency {route.Urgency}" + (route.Urgency == "low" ? ": pages wait for the team's working hours" : ": pages at once"));
        return new RouteDecision(name, index, route.Route, primary, informed, route.Urgency, policy, why, rows, input.Facts.Status);
    }

    /// <summary>Checks every condition a row sets (not just up to the first failure), so the explanation is complete.</summary>
    internal static List<ConditionCheck> Check(RoutingMatchOptions match, RouteInput input, TimeSpan freshWindow)
    {
        var checks = new List<ConditionCheck>();
        if (match.Rules is { } rules)
        {
            var hit = rules.FirstOrDefault(r => Glob(r, input.Rule));
            checks.Add(new("rules", hit is not null, hit is not null
                ? $"rule '{input.Rule}' matches '{hit}'"
                : $"rule '{input.Rule}' is not in [{string.Join(", ", rules)}]"));
        }

        if (match.Tags is { } tags)
        {
            var hit = tags.FirstOrDefault(t => input.Tags.Any(it => Glob(t, it)));
            checks.Add(new("tags", hit is not null, hit is not null
                ? $"tag '{hit}' is present"
                : $"none of the tags [{string.Join(", ", tags)}] is present (alert has [{string.Join(", ", input.Tags)}])"));
        }

        if (match.MinPriority is { } minText && AlertPriorities.TryParse(minText, out var min))
        {
            var held = input.Priority >= min;
            checks.Add(new("min_priority", held, $"priority {input.Priority} {(held ? ">=" : "<")} {min}"));
        }

        if (match.MaxPriority is { } maxText && AlertPriorities.TryParse(maxText, out var max))
        {
            var held = input.Priority <= max;
            checks.Add(new("max_priority", held, $"priority {input.Priority} {(held ? "<=" : ">")} {max}"));
        }

        if (match.Namespaces is { } namespaces)
        {
            var hit = input.Namespace is null ? null : namespaces.FirstOrDefault(n => Glob(n, input.Namespace));
            checks.Add(new("namespaces", hit is not null, input.Namespace is null
                ? "the alert has no Kubernetes namespace"
                : hit is not null
                    ? $"namespace '{input.Namespace}' matches '{hit}'"
                    : $"namespace '{input.Namespace}' is not in [{string.Join(", ", namespaces)}]"));
        }

        if (match.OwningTeams is { } owners)
        {
            var held = input.OwningTeam is not null && owners.Contains(input.OwningTeam, StringComparer.Ordinal);
            checks.Add(new("owning_teams", held, input.OwningTeam is null
                ? $"owning team unknown ({(input.Facts.Status == "unavailable" ? "Kubernetes enrichment unavailable" : "enrichment found none")})"
                : held ? $"owning team '{input.OwningTeam}' is listed" : $"owning team '{input.OwningTeam}' is not in [{string.Join(", ", owners)}]")
            { Unknown = input.OwningTeam is null });
        }

        if (match.Labels is { } labels)
        {
            var missing = labels.Where(l => !input.Labels.TryGetValue(l.Key, out var v) || v != l.Value).ToList();
            checks.Add(new("labels", missing.Count == 0, missing.Count == 0
                ? $"labels {Format(labels)} present"
                : $"label {string.Join(", ", missing.Select(l => $"{l.Key}={l.Value}"))} not present"
                    + (input.Labels.Count == 0 ? " (workload has no labels)" : "")));
        }

        if (match.RecentRollout is { } recent)
        {
            checks.Add(Rollout("recent_rollout", input.Facts, freshWindow, recent));
        }

        if (match.RolledOutWithin is { } within)
        {
            checks.Add(Rollout("rolled_out_within", input.Facts, within, wanted: true));
        }

        if (match.ImageChanged is { } imageChanged)
        {
            var facts = input.Facts;
            checks.Add(facts.ImageChanged is not { } changed
                ? new("image_changed", false, $"image_changed unknown ({facts.Unknown ?? "no rollout history"}), wanted {Bool(imageChanged)}") { Unknown = true }
                : new("image_changed", changed == imageChanged, changed
                    ? facts.ImageChange ?? "image changed in the last rollout"
                    : facts.RolloutBeforeAlert is null ? "no rollout recorded, so no image change" : "image unchanged in the last rollout"));
        }

        if (match.TimeOfDay is { } windowOptions)
        {
            var window = windowOptions.Compile();
            var inside = window.Contains(input.At);
            var held = inside != match.OutsideTimeOfDay;
            var local = TimeZoneInfo.ConvertTime(input.At, window.Zone).ToString("ddd HH:mm", CultureInfo.InvariantCulture);
            checks.Add(new("time_of_day", held,
                $"{local} {window.Zone.Id} is {(inside ? "inside" : "outside")} {window}"));
        }

        return checks;
    }

    /// <summary>
    /// "Rolled out within <paramref name="window"/> before the alert": the newest rollout came at most that long before
    /// the alert (not after it). With <paramref name="wanted"/> false the condition asks for the opposite.
    /// </summary>
    private static ConditionCheck Rollout(string name, RouteFacts facts, TimeSpan window, bool wanted)
    {
        var limit = RolloutFacts.Ago(window);
        if (!facts.RolloutHistoryKnown)
        {
            return new(name, false, $"{name} unknown ({facts.Unknown ?? "no rollout history"}), wanted {Bool(wanted)}") { Unknown = true };
        }

        if (facts.RolloutBeforeAlert is not { } gap)
        {
            return new(name, !wanted, $"no rollout recorded, so none within {limit} before the alert");
        }

        var inside = gap >= TimeSpan.Zero && gap <= window;
        var when = gap >= TimeSpan.Zero ? $"{RolloutFacts.Ago(gap)} before" : $"{RolloutFacts.Ago(-gap)} after";
        return new(name, inside == wanted, $"newest rollout {when} the alert is {(inside ? "within" : "not within")} {limit} before it");
    }

    private static string Bool(bool value) => value ? "true" : "false";

    /// <summary>Exact, or a prefix when the pattern ends in <c>*</c>; case-sensitive like Kubernetes names.</summary>
    internal static bool Glob(string pattern, string value) => pattern.EndsWith('*')
        ? value.StartsWith(pattern[..^1], StringComparison.Ordinal)
        : string.Equals(pattern, value, StringComparison.Ordinal);

    private static string Format(Dictionary<string, string> labels) => string.Join(", ", labels.Select(l => $"{l.Key}={l.Value}"));
}
