using System.Globalization;
using Triage.Api.Configuration;

namespace Triage.Api.OnCall;

/// <summary>An on-call schedule: layers of rotations; later layers win where they have someone on call; overrides win over all.</summary>
internal sealed class ScheduleOptions
{
    public string Name { get; set; } = "";

    /// <summary>IANA time zone of hand-offs and restrictions. Default UTC.</summary>
    public string TimeZone { get; set; } = "UTC";

    public List<ScheduleLayerOptions> Layers { get; set; } = [];
}

/// <summary>One rotation: people take turns of <see cref="Length"/>, handing off at <see cref="Handoff"/> local time.</summary>
internal sealed class ScheduleLayerOptions
{
    public string Name { get; set; } = "";

    /// <summary>People in rotation order.</summary>
    public List<string> Users { get; set; } = [];

    /// <summary>Turn length. Whole days hand off at the same wall-clock time across DST; shorter turns are exact durations. Default 7d.</summary>
    public TimeSpan Length { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Local hand-off time, <c>HH:mm</c>. Default 09:00.</summary>
    public string Handoff { get; set; } = "09:00";

    /// <summary>Local date (<c>yyyy-MM-dd</c>) of the first user's first turn, which begins at the hand-off time.</summary>
    public string Start { get; set; } = "";

    /// <summary>Optional local date from whose hand-off the layer no longer applies.</summary>
    public string? End { get; set; }

    /// <summary>When set, the layer has someone on call only inside one of these windows (e.g. business hours).</summary>
    public List<TimeWindowOptions> Restrictions { get; set; } = [];
}

/// <summary>Who is paged, in what order, how long each level waits for an acknowledgement.</summary>
internal sealed class EscalationPolicyOptions
{
    public string Name { get; set; } = "";

    /// <summary>Times the whole policy runs again after its last level times out (0–9, like PagerDuty). Default 0.</summary>
    public int Repeat { get; set; }

    public List<EscalationLevelOptions> Levels { get; set; } = [];
}

internal sealed class EscalationLevelOptions
{
    /// <summary>How long this level waits for an acknowledgement before the next one is paged. Default 15m.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(15);

    public List<EscalationTargetOptions> Targets { get; set; } = [];
}

/// <summary>Exactly one of: a schedule (whoever is on call), a person, or a team's chat channel.</summary>
internal sealed class EscalationTargetOptions
{
    public string? Schedule { get; set; }
    public string? Person { get; set; }
    public string? TeamChannel { get; set; }

    public override string ToString() =>
        Schedule is not null ? $"schedule {Schedule}" : Person is not null ? $"person {Person}" : $"team channel {TeamChannel}";
}

/// <summary>Checks of <c>schedules</c>, <c>escalation_policies</c> and the on-call fields of <c>teams</c>.</summary>
internal static class OnCallValidation
{
    public static void Validate(TriageConfig config, ConfigValidationContext context)
    {
        var people = config.People.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var teams = config.Teams.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var schedules = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < config.Schedules.Count; i++)
        {
            var schedule = config.Schedules[i];
            var at = $"schedules[{i}]";
            Name(context, $"{at}.name", schedule.Name, schedules);
            if (!TimeWindow.TryFindZone(schedule.TimeZone, out _))
            {
                context.Error($"{at}.time_zone", $"'{schedule.TimeZone}' is not a known time zone (use an IANA name such as Europe/Berlin)");
            }

            if (schedule.Layers.Count == 0)
            {
                context.Error($"{at}.layers", "needs at least one layer");
            }

            for (var l = 0; l < schedule.Layers.Count; l++)
            {
                ValidateLayer(schedule.Layers[l], $"{at}.layers[{l}]", people, context);
            }
        }

        var policies = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < config.EscalationPolicies.Count; i++)
        {
            var policy = config.EscalationPolicies[i];
            var at = $"escalation_policies[{i}]";
            Name(context, $"{at}.name", policy.Name, policies);
            if (policy.Repeat is < 0 or > 9)
            {
                context.Error($"{at}.repeat", "must be between 0 and 9");
            }

            if (policy.Levels.Count == 0)
            {
                context.Error($"{at}.levels", "needs at least one level");
            }

            for (var l = 0; l < policy.Levels.Count; l++)
            {
                var level = policy.Levels[l];
                if (level.Timeout < TimeSpan.FromMinutes(1) || level.Timeout > TimeSpan.FromDays(1))
                {
                    context.Error($"{at}.levels[{l}].timeout", "must be between 1m and 1d");
                }

                if (level.Targets.Count == 0)
                {
                    context.Error($"{at}.levels[{l}].targets", "needs at least one target");
                }

                for (var t = 0; t < level.Targets.Count; t++)
                {
                    var target = level.Targets[t];
                    var tat = $"{at}.levels[{l}].targets[{t}]";
                    var set = new[] { target.Schedule, target.Person, target.TeamChannel }.Count(v => v is not null);
                    if (set != 1)
                    {
                        context.Error(tat, "set exactly one of schedule, person, team_channel");
                    }
                    else if (target.Schedule is { } s && !config.Schedules.Any(x => x.Name == s))
                    {
                        context.Error($"{tat}.schedule", $"unknown schedule '{s}'");
                    }
                    else if (target.Person is { } p && !people.Contains(p))
                    {
                        context.Error($"{tat}.person", $"unknown person '{p}'");
                    }
                    else if (target.TeamChannel is { } c && !teams.Contains(c))
                    {
                        context.Error($"{tat}.team_channel", $"unknown team '{c}'");
                    }
                }
            }
        }

        for (var i = 0; i < config.Teams.Count; i++)
        {
            var team = config.Teams[i];
            if (team.Schedule is { } s && !schedules.Contains(s))
            {
                context.Error($"teams[{i}].schedule", $"unknown schedule '{s}'");
            }

            if (team.EscalationPolicy is { } p && !policies.Contains(p))
            {
                context.Error($"teams[{i}].escalation_policy", $"unknown escalation policy '{p}'");
            }

            team.WorkingHours?.Validate(context, $"teams[{i}].working_hours");
        }
    }

    private static void ValidateLayer(ScheduleLayerOptions layer, string at, HashSet<string> people, ConfigValidationContext context)
    {
        if (layer.Users.Count == 0)
        {
            context.Error($"{at}.users", "needs at least one person");
        }

        for (var u = 0; u < layer.Users.Count; u++)
        {
            if (!people.Contains(layer.Users[u]))
            {
                context.Error($"{at}.users[{u}]", $"unknown person '{layer.Users[u]}'");
            }
        }

        if (layer.Length < TimeSpan.FromHours(1))
        {
            context.Error($"{at}.length", "must be at least 1h");
        }

        if (!TimeWindow.TryParseTime(layer.Handoff, out var handoff) || handoff >= TimeSpan.FromDays(1))
        {
            context.Error($"{at}.handoff", $"'{layer.Handoff}' is not a time of day; write HH:mm");
        }

        if (!TryParseDate(layer.Start, out _))
        {
            context.Error($"{at}.start", $"'{layer.Start}' is not a date; write yyyy-MM-dd");
        }

        if (layer.End is not null && !TryParseDate(layer.End, out _))
        {
            context.Error($"{at}.end", $"'{layer.End}' is not a date; write yyyy-MM-dd");
        }

        for (var r = 0; r < layer.Restrictions.Count; r++)
        {
            layer.Restrictions[r].Validate(context, $"{at}.restrictions[{r}]");
        }
    }

    internal static bool TryParseDate(string? text, out DateOnly date) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out date);

    private static void Name(ConfigValidationContext context, string path, string name, HashSet<string> seen)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            context.Error(path, "is required");
        }
        else if (!seen.Add(name))
        {
            context.Error(path, $"'{name}' is defined twice");
        }
    }
}
