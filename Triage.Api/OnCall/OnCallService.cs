using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Persistence;

namespace Triage.Api.OnCall;

/// <summary>Answers who is on call: configured schedules plus the overrides stored in the database.</summary>
internal sealed class OnCallService(TriageConfig config)
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
}
