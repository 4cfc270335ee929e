using System.Globalization;
using System.Text;
using System.Text.Json;
using Triage.Api.Configuration;
using Triage.Api.Incidents;
using Triage.Api.OnCall;
using Triage.Api.Persistence;
using Triage.Bot.Cards;

namespace Triage.Api.Chat;

/// <summary>
/// The <c>/triage</c> commands, the same in Slack (slash command) and Teams (a message to the bot):
/// <c>oncall [team]</c>, <c>ack|resolve|status &lt;incident&gt;</c> and
/// <c>override &lt;team&gt; &lt;person&gt; &lt;duration&gt; [reason]</c>. Incident actions go through
/// <see cref="ChatActionRunner"/>, on-call answers and overrides through <see cref="OnCallService"/>, the same code as
/// <c>GET /api/v1/oncall</c> and <c>POST /api/v1/oncall/overrides</c>.
/// </summary>
internal sealed partial class ChatCommands(
    ChatActionRunner runner,
    IServiceScopeFactory scopes,
    TriageConfig config,
    OnCallService onCall,
    TimeProvider time,
    ILogger<ChatCommands> logger)
{
    /// <summary>Role that may put anyone of any team on call; members of a team may always override their own team.</summary>
    public const string OverrideAnyTeamRole = "operator";

    /// <summary>Longest override chat may create; longer ones are a schedule change, made in the configuration.</summary>
    public static readonly TimeSpan MaxOverride = TimeSpan.FromDays(14);

    public const string Usage =
        "Usage: `oncall [team]`, `ack <incident>`, `resolve <incident>`, `status <incident>`, "
        + "`override <team> <person> <duration> [reason]` (e.g. `override payments carol 4h covering for alice`), "
        + "`benign <incident> <reason>` (vote it a benign deployment artifact), `notbenign <incident> [reason]`.";

    /// <param name="text">The command text without <c>/triage</c> or the bot mention.</param>
    /// <param name="actor">The mapped person (or an unknown chat user, who is refused where it matters).</param>
    /// <param name="mention">How a configured person is named in this chat (a Slack mention, or the plain name).</param>
    public async Task<string> RunAsync(string text, Actor actor, Func<PersonOptions, string> mention, CancellationToken ct)
    {
        var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (words.FirstOrDefault()?.ToLowerInvariant(), words.ElementAtOrDefault(1)) switch
        {
            ("oncall", var team) => await OnCallAsync(team, mention, ct),
            ("ack", var id) when TryId(id, out var incident) => await RunActionAsync(incident, CardActions.Ack, actor, ct),
            ("resolve", var id) when TryId(id, out var incident) => await RunActionAsync(incident, CardActions.Resolve, actor, ct),
            ("status", var id) when TryId(id, out var incident) => await StatusAsync(incident, ct),
            ("benign", var id) when TryId(id, out var incident) => await VoteAsync(incident, CardActions.VoteBenign, words, actor, ct),
            ("notbenign", var id) when TryId(id, out var incident) => await VoteAsync(incident, CardActions.VoteNotBenign, words, actor, ct),
            ("override", _) when words.Length >= 4 => await OverrideAsync(words[1], words[2], words[3], string.Join(' ', words.Skip(4)), actor, mention, ct),
            _ => Usage,
        };
    }

    private async Task<string> RunActionAsync(long incidentId, string action, Actor actor, CancellationToken ct) =>
        (await runner.RunAsync(incidentId, action, actor, null, ct)).Message;

    /// <summary>A suppression vote; the words after the incident id are the reason.</summary>
    private async Task<string> VoteAsync(long incidentId, string action, string[] words, Actor actor, CancellationToken ct)
    {
        var reason = string.Join(' ', words.Skip(2));
        var arguments = JsonSerializer.SerializeToElement(new Dictionary<string, string?> { ["reason"] = reason.Length == 0 ? null : reason });
        return (await runner.RunAsync(incidentId, action, actor, arguments, ct)).Message;
    }

    private async Task<string> StatusAsync(long incidentId, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var card = await scope.ServiceProvider.GetRequiredService<IncidentCardMapper>().MapAsync(incidentId, ct);
        if (card is null)
        {
            return $"Incident {incidentId} does not exist.";
        }

        var lines = new List<string> { CardText.Fallback(card) };
        lines.AddRange(CardSections.Context(card).Prepend(CardSections.Summary(card)[0]).Select(f => $"{f.Title}: {f.Value}"));
        lines.AddRange(card.Activity.TakeLast(5).Select(CardText.Activity));
        return string.Join("\n", lines);
    }

    /// <summary>Who is on call now in each team's schedule (or one team's), overrides included.</summary>
    private async Task<string> OnCallAsync(string? team, Func<PersonOptions, string> mention, CancellationToken ct)
    {
        var teams = config.Teams.Where(t => team is null || string.Equals(t.Name, team, StringComparison.OrdinalIgnoreCase)).ToList();
        if (teams.Count == 0)
        {
            return $"No team named '{team}'. Teams: {string.Join(", ", config.Teams.Select(t => t.Name))}.";
        }

        var now = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var text = new StringBuilder($"On call at {CardText.Time(now)}:");
        foreach (var t in teams)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n{t.Name} ({t.Kind}): ");
            if (t.Schedule is not { } schedule || !onCall.HasSchedule(schedule))
            {
                text.Append("no schedule configured");
                continue;
            }

            var shift = await onCall.WhoIsOnCallAsync(db, schedule, now, ct);
            text.Append(shift is null
                ? $"nobody (schedule {schedule} has a gap now)"
                : $"{Name(shift.Person, mention)} until {CardText.Time(shift.End)} ({shift.Source}, schedule {schedule})");
        }

        return text.ToString();
    }

    private async Task<string> OverrideAsync(string teamName, string personName, string durationText, string reason, Actor actor,
        Func<PersonOptions, string> mention, CancellationToken ct)
    {
        var team = config.Teams.FirstOrDefault(t => string.Equals(t.Name, teamName, StringComparison.OrdinalIgnoreCase));
        if (team?.Schedule is not { } schedule || !onCall.HasSchedule(schedule))
        {
            return team is null ? $"No team named '{teamName}'." : $"Team {team.Name} has no on-call schedule to override.";
        }

        var person = config.People.FirstOrDefault(p => string.Equals(p.Name, personName.TrimStart('@'), StringComparison.OrdinalIgnoreCase));
        if (person is null || !person.Teams.Contains(team.Name))
        {
            return $"'{personName}' is not a configured member of team {team.Name}.";
        }

        if (!DurationConverter.TryParse(durationText, out var duration) || duration <= TimeSpan.Zero || duration > MaxOverride)
        {
            return $"'{durationText}' is not a duration between 1m and {MaxOverride.TotalDays:0}d (write e.g. 30m, 4h, 2d).";
        }

        if (Refusal(actor, team) is { } refusal)
        {
            LogOverrideRefused(logger, actor.Name, actor.Channel, team.Name, person.Name, refusal);
            return $"Refused: {refusal}.";
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var start = time.GetUtcNow();
        try
        {
            var entry = await onCall.CreateOverrideAsync(db, schedule, person.Name, start, start + duration,
                $"{actor.Name} ({actor.Channel})", reason.Length == 0 ? null : reason, ct);
            LogOverrideCreated(logger, actor.Name, actor.Channel, entry.Id, team.Name, person.Name, entry.End);
            return $"{Name(person.Name, mention)} is on call for {team.Name} (schedule {schedule}) until {CardText.Time(entry.End)}, "
                + $"override #{entry.Id.ToString(CultureInfo.InvariantCulture)} by {actor.Name}.";
        }
        catch (OverrideRejectedException e)
        {
            return $"Refused: {e.Message}.";
        }
    }

    /// <summary>Null when <paramref name="actor"/> may override <paramref name="team"/>'s schedule, else why not.</summary>
    private string? Refusal(Actor actor, TeamOptions team)
    {
        var person = config.People.FirstOrDefault(p => p.Name == actor.Name);
        if (person is null)
        {
            return $"'{actor.Name}' is not a configured person";
        }

        return person.Teams.Contains(team.Name) || person.Roles.Contains(OverrideAnyTeamRole)
            ? null
            : $"{person.Name} is not in team {team.Name} and lacks the '{OverrideAnyTeamRole}' role";
    }

    private string Name(string person, Func<PersonOptions, string> mention) =>
        config.People.FirstOrDefault(p => p.Name == person) is { } configured ? mention(configured) : person;

    private static bool TryId(string? text, out long id) =>
        long.TryParse(text?.TrimStart('#'), NumberStyles.None, CultureInfo.InvariantCulture, out id);

    [LoggerMessage(Level = LogLevel.Information, Message = "On-call override #{Id} by {Actor} ({Channel}): {Person} on call for {Team} until {End}")]
    private static partial void LogOverrideCreated(ILogger logger, string actor, string channel, long id, string team, string person, DateTimeOffset end);

    [LoggerMessage(Level = LogLevel.Warning, Message = "On-call override refused for {Actor} ({Channel}): {Person} for {Team}: {Reason}")]
    private static partial void LogOverrideRefused(ILogger logger, string actor, string channel, string team, string person, string reason);
}
