using Triage.Api.Persistence;

namespace Triage.Api.Incidents;

/// <summary>Who did something and through which channel.</summary>
/// <param name="Name">A configured person's name, or <c>system</c>.</param>
/// <param name="Channel"><c>api</c>, <c>slack</c>, <c>teams</c>, <c>ingest</c>, <c>scheduler</c>, <c>sensor</c>.</param>
internal sealed record Actor(string Name, string Channel)
{
    public static Actor System(string channel) => new("system", channel);
}

/// <summary>Appends entries to an incident's timeline; the entries are never changed afterwards.</summary>
internal static class IncidentTimeline
{
    /// <summary>
    /// Adds an entry to a tracked incident; works before the incident has its id (it is saved with the incident).
    /// </summary>
    public static TimelineEntry Append(Incident incident, DateTimeOffset at, Actor actor, string kind, string detail)
    {
        var entry = new TimelineEntry { At = at, Actor = actor.Name, Channel = actor.Channel, Kind = kind, Detail = detail };
        incident.Timeline.Add(entry);
        return entry;
    }

    /// <summary>Adds an entry to <paramref name="db"/>; it is saved with the caller's next SaveChanges.</summary>
    public static TimelineEntry Append(TriageDbContext db, long incidentId, DateTimeOffset at, Actor actor, string kind, string detail)
    {
        var entry = new TimelineEntry
        {
            IncidentId = incidentId,
            At = at,
            Actor = actor.Name,
            Channel = actor.Channel,
            Kind = kind,
            Detail = detail,
        };
        db.Timeline.Add(entry);
        return entry;
    }
}
