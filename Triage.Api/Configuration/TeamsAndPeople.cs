namespace Triage.Api.Configuration;

/// <summary>A team that can own workloads, be routed to and be paged.</summary>
internal sealed class TeamOptions
{
    public string Name { get; set; } = "";

    /// <summary><c>platform</c> (owns workloads) or <c>soc</c> (security operations).</summary>
    public string Kind { get; set; } = "platform";

    public string? Description { get; set; }

    /// <summary>The schedule that says who of this team is on call (<c>GET /api/v1/oncall?team=</c>).</summary>
    public string? Schedule { get; set; }

    /// <summary>The escalation policy used when this team is the primary of a route whose row names none.</summary>
    public string? EscalationPolicy { get; set; }

    /// <summary>When low-urgency incidents may page this team. Default: any time.</summary>
    public OnCall.TimeWindowOptions? WorkingHours { get; set; }
}

/// <summary>A person who can be paged and can act on incidents from chat or the API.</summary>
internal sealed class PersonOptions
{
    /// <summary>Unique short name, used as the actor in timelines and as the target in schedules.</summary>
    public string Name { get; set; } = "";

    public string? Email { get; set; }

    /// <summary>Slack member id (U…), to recognise the person on signed Slack requests.</summary>
    public string? SlackUserId { get; set; }

    /// <summary>Teams user id (the Bot Framework <c>from.id</c>, 29:…) or AAD object id.</summary>
    public string? TeamsUserId { get; set; }

    /// <summary>Names of the teams the person belongs to.</summary>
    public List<string> Teams { get; set; } = [];

    /// <summary>What the person may do: <c>responder</c> (ack, resolve, escalate, vote), <c>operator</c> (response actions).</summary>
    public List<string> Roles { get; set; } = [];
}

/// <summary>Checks of the teams and people sections that other sections rely on.</summary>
internal static class TeamsAndPeopleValidation
{
    public static readonly IReadOnlySet<string> TeamKinds = new HashSet<string>(["platform", "soc"], StringComparer.Ordinal);

    public static void Validate(IReadOnlyList<TeamOptions> teams, IReadOnlyList<PersonOptions> people, ConfigValidationContext context)
    {
        var teamNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < teams.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(teams[i].Name))
            {
                context.Error($"teams[{i}].name", "is required");
            }
            else if (!teamNames.Add(teams[i].Name))
            {
                context.Error($"teams[{i}].name", $"'{teams[i].Name}' is defined twice");
            }

            if (!TeamKinds.Contains(teams[i].Kind))
            {
                context.Error($"teams[{i}].kind", $"'{teams[i].Kind}' is not a team kind; expected platform or soc");
            }
        }

        var personNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < people.Count; i++)
        {
            var person = people[i];
            if (string.IsNullOrWhiteSpace(person.Name))
            {
                context.Error($"people[{i}].name", "is required");
            }
            else if (!personNames.Add(person.Name))
            {
                context.Error($"people[{i}].name", $"'{person.Name}' is defined twice");
            }

            for (var t = 0; t < person.Teams.Count; t++)
            {
                if (!teamNames.Contains(person.Teams[t]))
                {
                    context.Error($"people[{i}].teams[{t}]", $"unknown team '{person.Teams[t]}'");
                }
            }
        }
    }
}
