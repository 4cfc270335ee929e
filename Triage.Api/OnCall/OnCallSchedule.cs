namespace Triage.Api.OnCall;

/// <summary>Who is on call from when to when, and from which layer (or <c>override</c>).</summary>
internal sealed record OnCallShift(string Person, DateTimeOffset Start, DateTimeOffset End, string Source);

/// <summary>A temporary replacement: <see cref="Person"/> is on call for the schedule in [Start, End).</summary>
internal sealed record ScheduleOverride(long Id, string Person, DateTimeOffset Start, DateTimeOffset End);

/// <summary>
/// A compiled schedule. Rotation arithmetic is done in the schedule's zone: a turn of whole days hands off at the same
/// local wall-clock time on both sides of a DST change (so a turn across the change is an hour shorter or longer);
/// a turn shorter than a day, or not a whole number of days, is an exact duration from the first hand-off.
/// </summary>
internal sealed class OnCallSchedule
{
    private readonly IReadOnlyList<Layer> _layers;

    public OnCallSchedule(ScheduleOptions options)
    {
        Name = options.Name;
        Zone = TimeWindow.FindZone(options.TimeZone);
        _layers = [.. options.Layers.Select((l, i) => new Layer(l, i, Zone))];
    }

    public string Name { get; }

    public TimeZoneInfo Zone { get; }

    /// <summary>
    /// Who is on call at <paramref name="at"/>: the latest-created override covering it, else the last layer that has
    /// someone on call then, else nobody.
    /// </summary>
    public OnCallShift? At(DateTimeOffset at, IEnumerable<ScheduleOverride> overrides)
    {
        var active = overrides.Where(o => o.Start <= at && at < o.End).MaxBy(o => o.Id);
        if (active is not null)
        {
            return new OnCallShift(active.Person, active.Start, active.End, "override");
        }

        for (var i = _layers.Count - 1; i >= 0; i--)
        {
            if (_layers[i].At(at) is { } shift)
            {
                return shift;
            }
        }

        return null;
    }

    private sealed class Layer(ScheduleLayerOptions options, int index, TimeZoneInfo zone)
    {
        private readonly string _name = string.IsNullOrEmpty(options.Name) ? $"layer {index}" : options.Name;
        private readonly TimeSpan _handoff = TimeWindow.TryParseTime(options.Handoff, out var h) ? h : TimeSpan.FromHours(9);
        private readonly DateOnly _start = OnCallValidation.TryParseDate(options.Start, out var s) ? s : DateOnly.MinValue;
        private readonly DateOnly? _end = OnCallValidation.TryParseDate(options.End, out var e) ? e : null;
        private readonly IReadOnlyList<TimeWindow> _restrictions = [.. options.Restrictions.Select(r => r.Compile(zone.Id))];
        private readonly bool _wholeDays = options.Length.Ticks % TimeSpan.TicksPerDay == 0;

        public OnCallShift? At(DateTimeOffset at)
        {
            var first = TimeWindow.ToInstant(zone, _start, _handoff);
            if (at < first || (_end is { } end && at >= TimeWindow.ToInstant(zone, end, _handoff)))
            {
                return null;
            }

            long turn;
            DateTimeOffset turnStart, turnEnd;
            if (_wholeDays)
            {
                // Count local days, not elapsed hours, so a DST change does not shift the hand-off.
                var days = (int)options.Length.TotalDays;
                // Compared as instants: on a spring-forward night the hand-off may itself have moved past the gap.
                var date = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, zone).DateTime);
                if (at < TimeWindow.ToInstant(zone, date, _handoff))
                {
                    date = date.AddDays(-1);
                }

                turn = (date.DayNumber - _start.DayNumber) / days;
                turnStart = TimeWindow.ToInstant(zone, _start.AddDays((int)(turn * days)), _handoff);
                turnEnd = TimeWindow.ToInstant(zone, _start.AddDays((int)((turn + 1) * days)), _handoff);
            }
            else
            {
                turn = (at - first).Ticks / options.Length.Ticks;
                turnStart = first + (options.Length * turn);
                turnEnd = turnStart + options.Length;
            }

            var person = options.Users[(int)(turn % options.Users.Count)];
            if (_restrictions.Count == 0)
            {
                return new OnCallShift(person, turnStart, turnEnd, _name);
            }

            foreach (var restriction in _restrictions)
            {
                if (restriction.Occurrence(at) is { } window)
                {
                    return new OnCallShift(person, Max(turnStart, window.Start), Min(turnEnd, window.End), _name);
                }
            }

            return null;
        }

        private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

        private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
    }
}
