using Triage.Api.Configuration;
using Triage.Api.Incidents;

namespace Triage.Api.Chat;

/// <summary>
/// Who a chat user is: the configured person with that Slack member id, or Teams user id / AAD object id. An unknown
/// user becomes an actor named after the chat id, which the action service refuses (and records) as not configured.
/// </summary>
internal sealed class ChatPeople(TriageConfig config)
{
    public Actor FromSlack(string userId) =>
        config.People.FirstOrDefault(p => string.Equals(p.SlackUserId, userId, StringComparison.Ordinal)) is { } person
            ? new Actor(person.Name, "slack")
            : new Actor($"slack:{userId}", "slack");

    public Actor FromTeams(string? userId, string? aadObjectId)
    {
        var person = config.People.FirstOrDefault(p => p.TeamsUserId is { Length: > 0 } id
            && (string.Equals(id, userId, StringComparison.OrdinalIgnoreCase) || string.Equals(id, aadObjectId, StringComparison.OrdinalIgnoreCase)));
        return person is not null ? new Actor(person.Name, "teams") : new Actor($"teams:{userId ?? aadObjectId ?? "unknown"}", "teams");
    }
}
