using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Persistence;

namespace Triage.Api.OnCall;

/// <summary>Why an override was not created; <see cref="Status"/> is the HTTP status the API answers with.</summary>
internal sealed class OverrideRejectedException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>Answers who is on call: configured schedules plus the overrides stored in the database.</summary>
internal sealed class OnCallService(TriageConfig config, TimeProvider time)
{
    private readonly Dictionary<string, OnCallSchedule> _schedules =
        config.Schedules.ToDictionary(s => s.Name, s => new OnCallSchedule(s), StringComparer.Ordinal);

    public bool HasSchedule(string name) => _schedules.ContainsKey(name);

    public async Task<OnCallShift?> WhoIsOnCallAsync(TriageDbContext db, string schedule, DateTimeOffset at, CancellationToken cancellationToken)
    {
        if (!_schedules.TryGetValue(schedule, out var compiled))
        {
            return null;
        }

        var overrides = await db.Set<OnCallOverride>().AsNoTracking()
            .Where(o => o.Schedule == schedule && o.Start <= at && o.End > at)
            .Select(o => new ScheduleOverride(o.Id, o.Person, o.Start, o.End))
            .ToListAsync(cancellationToken);
        return compiled.At(at, overrides);
    }

    /// <summary>
    /// Stores an override: <paramref name="person"/> is on call in <paramref name="schedule"/> for [start, end).
    /// The one way overrides are made, for the API and the chat commands alike.
    /// </summary>
    /// <exception cref="OverrideRejectedException">Unknown schedule (404) or person, or an empty range (400).</exception>
    public async Task<OnCallOverride> CreateOverrideAsync(TriageDbContext db, string schedule, string person,
        DateTimeOffset start, DateTimeOffset end, string createdBy, string? reason, CancellationToken cancellationToken)
    {
        if (!HasSchedule(schedule))
        {
            throw new OverrideRejectedException(404, $"unknown schedule '{schedule}'");
        }

        if (!config.People.Any(p => p.Name == person))
        {
            throw new OverrideRejectedException(400, $"unknown person '{person}'");
        }

        if (end <= start)
        {
            throw new OverrideRejectedException(400, "end must be after start");
        }

        var entry = new OnCallOverride
        {
            Schedule = schedule,
            Person = person,
            Start = start.ToUniversalTime(),
            End = end.ToUniversalTime(),
            CreatedBy = createdBy,
            CreatedAt = time.GetUtcNow(),
            Reason = reason,
        };
        db.Add(entry);
        await db.SaveChangesAsync(cancellationToken);
        return entry;
    }
}
