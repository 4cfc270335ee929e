using Triage.Api.Configuration;
using Triage.Api.OnCall;
using Triage.Contracts;

namespace Triage.Api.Routing;

/// <summary>
/// The <c>routing</c> section: the platform-vs-SOC matrix. Rows are tried in order; the first whose every condition
/// holds decides the route. No row matching falls back to <see cref="Default"/>.
/// </summary>
internal sealed class RoutingOptions
{
    /// <summary>
    /// The platform team used when a row routes to the owner but no owning team is known (no enrichment, unowned
    /// namespace). Null: such incidents go to the SOC alone.
    /// </summary>
    public string? FallbackPlatformTeam { get; set; }

    /// <summary>The SOC team. Default: the one team of kind <c>soc</c>.</summary>
    public string? SocTeam { get; set; }

    public List<RoutingRowOptions> Rules { get; set; } = [];

    /// <summary>The route when no row matches. Default: the SOC, high urgency.</summary>
    public RouteOptions Default { get; set; } = new() { Route = "soc" };

    public void Validate(ConfigValidationContext context, string path, TriageConfig config)
    {
        var teams = config.Teams.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var policies = config.EscalationPolicies.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        if (FallbackPlatformTeam is not null && !IsTeamOfKind(teams, FallbackPlatformTeam, "platform"))
        {
            context.Error($"{path}.fallback_platform_team", $"'{FallbackPlatformTeam}' is not a team of kind platform");
        }

        if (SocTeam is not null && !IsTeamOfKind(teams, SocTeam, "soc"))
        {
            context.Error($"{path}.soc_team", $"'{SocTeam}' is not a team of kind soc");
        }
        else if (SocTeam is null && config.Teams.Count(t => t.Kind == "soc") != 1 && (Rules.Count > 0 || config.Teams.Count > 0))
        {
            context.Error($"{path}.soc_team", "set it: there is not exactly one team of kind soc");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Rules.Count; i++)
        {
            var row = Rules[i];
            var at = $"{path}.rules[{i}]";
            if (string.IsNullOrWhiteSpace(row.Name))
            {
                context.Error($"{at}.name", "is required (it is what incidents record as the matched row)");
            }
            else if (!names.Add(row.Name))
            {
                context.Error($"{at}.name", $"'{row.Name}' is used by another row");
            }

            row.Match.Validate(context, $"{at}.match", teams, config.Enrichment);
            row.Validate(context, at, teams, policies);

            // A row can never match when an earlier row already takes every incident it would.
            for (var j = 0; j < i; j++)
            {
                if (Rules[j].Match.Covers(row.Match))
                {
                    context.Error($"{at}.match", Rules[j].Match.IsEmpty
                        ? $"can never match: row {j} ('{Rules[j].Name}') has no conditions and takes every incident first"
                        : $"can never match: row {j} ('{Rules[j].Name}') matches everything this row does and comes first");
                    break;
                }
            }
        }

        Default.Validate(context, $"{path}.default", teams, policies);
    }

    private static bool IsTeamOfKind(Dictionary<string, TeamOptions> teams, string name, string kind) =>
        teams.TryGetValue(name, out var team) && team.Kind == kind;
}

/// <summary>Where a row (or the default) sends an incident.</summary>
internal class RouteOptions
{
    /// <summary><c>platform</c> (the owning team), <c>soc</c>, or <c>both</c> (one primary, the other informed).</summary>
    public string Route { get; set; } = "soc";

    /// <summary>With <c>both</c>: who is paged, <c>soc</c> (default) or <c>platform</c>; the other is informed.</summary>
    public string? Primary { get; set; }

    /// <summary>The platform team: <c>owner</c> (default, the incident's owning team) or a team name.</summary>
    public string PlatformTeam { get; set; } = "owner";

    /// <summary><c>high</c> (default: pages at once) or <c>low</c> (waits for the primary team's working hours).</summary>
    public string Urgency { get; set; } = "high";

    /// <summary>Escalation policy name. Default: the primary team's <c>escalation_policy</c>.</summary>
    public string? EscalationPolicy { get; set; }

    public void Validate(ConfigValidationContext context, string path, Dictionary<string, TeamOptions> teams, HashSet<string> policies)
    {
        if (Route is not ("platform" or "soc" or "both"))
        {
            context.Error($"{path}.route", $"'{Route}' is not a route; expected platform, soc or both");
        }

        if (Primary is not null && Primary is not ("platform" or "soc"))
        {
            context.Error($"{path}.primary", $"'{Primary}' is not a side; expected platform or soc");
        }
        else if (Primary is not null && Route != "both")
        {
            context.Error($"{path}.primary", "only applies to route: both");
        }

        if (PlatformTeam != "owner" && !(teams.TryGetValue(PlatformTeam, out var team) && team.Kind == "platform"))
        {
            context.Error($"{path}.platform_team", $"'{PlatformTeam}' is neither 'owner' nor a team of kind platform");
        }

        if (Urgency is not ("high" or "low"))
        {
            context.Error($"{path}.urgency", $"'{Urgency}' is not an urgency; expected high or low");
        }

        if (EscalationPolicy is not null && !policies.Contains(EscalationPolicy))
        {
            context.Error($"{path}.escalation_policy", $"unknown escalation policy '{EscalationPolicy}'");
        }
    }
}

/// <summary>One row of the matrix: conditions and a route.</summary>
internal sealed class RoutingRowOptions : RouteOptions
{
    /// <summary>Unique name, recorded on every incident it routes.</summary>
    public string Name { get; set; } = "";

    public RoutingMatchOptions Match { get; set; } = new();
}

/// <summary>
/// Conditions of a row. Every condition given must hold; a list holds when any of its entries does. Names may end in
/// <c>*</c> for a prefix. An enrichment fact that is unknown (no enrichment yet) never satisfies a condition on it.
/// </summary>
internal sealed class RoutingMatchOptions
{
    /// <summary>Rule names.</summary>
    public List<string>? Rules { get; set; }

    /// <summary>Alert tags: MITRE technique ids (T1552.005), tactics (TA0006), or any tag.</summary>
    public List<string>? Tags { get; set; }

    /// <summary>Lowest Falco priority that matches, e.g. <c>Critical</c>.</summary>
    public string? MinPriority { get; set; }

    /// <summary>Highest Falco priority that matches.</summary>
    public string? MaxPriority { get; set; }

    public List<string>? Namespaces { get; set; }

    /// <summary>Owning teams (from enrichment).</summary>
    public List<string>? OwningTeams { get; set; }

    /// <summary>Kubernetes labels of the workload that must all be present with these values (e.g. <c>env: prod</c>).</summary>
    public Dictionary<string, string>? Labels { get; set; }

    /// <summary>
    /// The workload's newest rollout came at most <c>enrichment.fresh_rollout_window</c> (default 1h) before the alert
    /// (true), or not (false). From enrichment.
    /// </summary>
    public bool? RecentRollout { get; set; }

    /// <summary>
    /// The workload's newest rollout came at most this long before the alert, e.g. <c>15m</c> ("rolled out within 15
    /// minutes before the alert"). From enrichment; 1m to 7d.
    /// </summary>
    public TimeSpan? RolledOutWithin { get; set; }

    /// <summary>The newest rollout changed an image compared with the one before it (true), or not (false). From enrichment.</summary>
    public bool? ImageChanged { get; set; }

    /// <summary>When the incident opened, in this window.</summary>
    public TimeWindowOptions? TimeOfDay { get; set; }

    /// <summary>With <see cref="TimeOfDay"/>: match outside the window instead (nights and weekends).</summary>
    public bool OutsideTimeOfDay { get; set; }

    internal bool IsEmpty => Rules is null && Tags is null && MinPriority is null && MaxPriority is null && Namespaces is null
        && OwningTeams is null && Labels is null && RecentRollout is null && RolledOutWithin is null && ImageChanged is null && TimeOfDay is null;

    private bool UsesRolloutFacts => RecentRollout is not null || RolledOutWithin is not null || ImageChanged is not null;

    public void Validate(ConfigValidationContext context, string path, Dictionary<string, TeamOptions> teams,
        Enrichment.EnrichmentOptions enrichment)
    {
        foreach (var (name, list) in new[] { ("rules", Rules), ("tags", Tags), ("namespaces", Namespaces), ("owning_teams", OwningTeams) })
        {
            if (list is { Count: 0 })
            {
                context.Error($"{path}.{name}", "is an empty list, so the row can never match; remove it to match any");
            }
        }

        for (var i = 0; i < (OwningTeams?.Count ?? 0); i++)
        {
            if (!teams.ContainsKey(OwningTeams![i]))
            {
                context.Error($"{path}.owning_teams[{i}]", $"unknown team '{OwningTeams[i]}'");
            }
        }

        var min = ParsePriority(context, $"{path}.min_priority", MinPriority);
        var max = ParsePriority(context, $"{path}.max_priority", MaxPriority);
        if (min is not null && max is not null && min > max)
        {
            context.Error($"{path}.max_priority", $"is below min_priority ({MinPriority}), so the row can never match");
        }

        if (RolledOutWithin is { } within && (within < TimeSpan.FromMinutes(1) || within > TimeSpan.FromDays(7)))
        {
            context.Error($"{path}.rolled_out_within", "must be between 1m and 7d");
        }

        // recent_rollout: false means "no rollout within the fresh window"; a shorter rolled_out_within asks for one.
        if (RecentRollout == false && RolledOutWithin is { } shorter && shorter <= enrichment.FreshRolloutWindow)
        {
            context.Error($"{path}.rolled_out_within", $"can never match together with recent_rollout: false "
                + $"(no rollout within enrichment.fresh_rollout_window, {RolloutFactsText(enrichment.FreshRolloutWindow)})");
        }

        // Without Kubernetes there is no rollout history, and an unknown fact never satisfies a condition.
        if (UsesRolloutFacts && enrichment.Kubernetes.Mode == "none")
        {
            context.Error(path, "can never match: it asks about rollouts (recent_rollout, rolled_out_within, image_changed) "
                + "but enrichment.kubernetes.mode is none, so they are never known");
        }

        TimeOfDay?.Validate(context, $"{path}.time_of_day");
        if (OutsideTimeOfDay && TimeOfDay is null)
        {
            context.Error($"{path}.outside_time_of_day", "needs time_of_day");
        }
    }

    private static AlertPriority? ParsePriority(ConfigValidationContext context, string path, string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (AlertPriorities.TryParse(text, out var priority))
        {
            return priority;
        }

        context.Error(path, $"'{text}' is not a priority; expected one of {string.Join(", ", AlertPriorities.Names)}");
        return null;
    }

    /// <summary>
    /// True when every incident <paramref name="later"/> matches is also matched by this row (conservative: only
    /// conditions that are the same or absent here count as covering).
    /// </summary>
    internal bool Covers(RoutingMatchOptions later) =>
        CoversList(Rules, later.Rules) && CoversList(Tags, later.Tags) && CoversList(Namespaces, later.Namespaces)
        && CoversList(OwningTeams, later.OwningTeams)
        && (MinPriority is null || string.Equals(MinPriority, later.MinPriority, StringComparison.OrdinalIgnoreCase))
        && (MaxPriority is null || string.Equals(MaxPriority, later.MaxPriority, StringComparison.OrdinalIgnoreCase))
        && (Labels is null || (later.Labels is not null && Labels.All(l => later.Labels.TryGetValue(l.Key, out var v) && v == l.Value)))
        && (RecentRollout is null || RecentRollout == later.RecentRollout)
        && (RolledOutWithin is null || (later.RolledOutWithin is not null && later.RolledOutWithin <= RolledOutWithin))
        && (ImageChanged is null || ImageChanged == later.ImageChanged)
        && (TimeOfDay is null || (later.TimeOfDay is not null && OutsideTimeOfDay == later.OutsideTimeOfDay
            && SameWindow(TimeOfDay, later.TimeOfDay)));

    private static string RolloutFactsText(TimeSpan span) => Enrichment.RolloutFacts.Ago(span);

    private static bool CoversList(List<string>? earlier, List<string>? later) =>
        earlier is null || (later is not null && later.All(l => earlier.Contains(l, StringComparer.Ordinal)));

    private static bool SameWindow(TimeWindowOptions a, TimeWindowOptions b) =>
        a.TimeZone == b.TimeZone && a.Start == b.Start && a.End == b.End && a.Days.Order().SequenceEqual(b.Days.Order());
}
