using System.Globalization;
using Triage.Api.Configuration;

namespace Triage.Api.OnCall;

/// <summary>
/// A weekly time window in a time zone, as written in YAML: business hours, a schedule restriction, a routing row's
/// time of day. <c>start</c> after <c>end</c> spans midnight (22:00–06:00); the day names the day it starts on.
/// </summary>
internal sealed class TimeWindowOptions
{
    /// <summary>IANA time zone, e.g. <c>Europe/Berlin</c>. Default: the enclosing schedule's or team's zone, else UTC.</summary>
    public string? TimeZone { get; set; }

    /// <summary>Days it starts on: <c>mon</c> … <c>sun</c>. Default every day.</summary>
    public List<string> Days { get; set; } = [];

    /// <summary>Local start, <c>HH:mm</c>. Default 00:00.</summary>
    public string Start { get; set; } = "00:00";

    /// <summary>Local end, <c>HH:mm</c> (<c>24:00</c> for midnight). Default 24:00.</summary>
    public string End { get; set; } = "24:00";

    public void Validate(ConfigValidationContext context, string path)
    {
        if (TimeZone is not null && !TimeWindow.TryFindZone(TimeZone, out _))
        {
            context.Error($"{path}.time_zone", $"'{TimeZone}' is not a known time zone (use an IANA name such as Europe/Berlin)");
        }

        for (var i = 0; i < Days.Count; i++)
        {
            if (!TimeWindow.TryParseDay(Days[i], out _))
            {
                context.Error($"{path}.days[{i}]", $"'{Days[i]}' is not a day; expected mon, tue, wed, thu, fri, sat or sun");
            }
        }

        if (!TimeWindow.TryParseTime(Start, out var start))
        {
            context.Error($"{path}.start", $"'{Start}' is not a time of day; write HH:mm");
        }

        if (!TimeWindow.TryParseTime(End, out var end))
        {
            context.Error($"{path}.end", $"'{End}' is not a time of day; write HH:mm");
        }
        else if (start == end)
        {
            context.Error($"{path}.end", "equals start, so the window is empty");
        }
    }

    /// <summary>The compiled window; call only after <see cref="Validate"/> passed.</summary>
    public TimeWindow Compile(string defaultZone = "UTC") => new(
        TimeWindow.FindZone(TimeZone ?? defaultZone),
        Days.Count == 0 ? TimeWindow.AllDays : Days.Select(d => TimeWindow.TryParseDay(d, out var day) ? day : default).ToHashSet(),
        TimeWindow.TryParseTime(Start, out var start) ? start : TimeSpan.Zero,
        TimeWindow.TryParseTime(End, out var end) ? end : TimeSpan.FromDays(1));
}

/// <summary>A compiled <see cref="TimeWindowOptions"/>. All arithmetic is in the window's zone, so it follows DST.</summary>
internal sealed record TimeWindow(TimeZoneInfo Zone, IReadOnlySet<DayOfWeek> Days, TimeSpan Start, TimeSpan End)
{
    public static readonly IReadOnlySet<DayOfWeek> AllDays = new HashSet<DayOfWeek>(Enum.GetValues<DayOfWeek>());

    private bool Overnight => End <= Start;

    public bool Contains(DateTimeOffset instant)
    {
        var local = TimeZoneInfo.ConvertTime(instant, Zone);
        var time = local.TimeOfDay;
        if (!Overnight)
        {
            return Days.Contains(local.DayOfWeek) && time >= Start && time < End;
        }

        return (Days.Contains(local.DayOfWeek) && time >= Start)
            || (Days.Contains(local.AddDays(-1).DayOfWeek) && time < End);
    }

    /// <summary>The occurrence of the window that contains <paramref name="instant"/>, as UTC bounds; null when outside.</summary>
    public (DateTimeOffset Start, DateTimeOffset End)? Occurrence(DateTimeOffset instant)
    {
        if (!Contains(instant))
        {
            return null;
        }

        var local = TimeZoneInfo.ConvertTime(instant, Zone);
        var date = DateOnly.FromDateTime(local.DateTime);
        if (Overnight && local.TimeOfDay < End)
        {
            date = date.AddDays(-1); // the early-morning part of a window that began yesterday
        }

        var endDate = Overnight ? date.AddDays(1) : date;
        return (ToInstant(Zone, date, Start), ToInstant(Zone, endDate, End));
    }

    /// <summary>The first instant at or after <paramref name="from"/> that lies in the window (itself if it does).</summary>
    public DateTimeOffset NextOpening(DateTimeOffset from)
    {
        if (Contains(from))
        {
            return from;
        }

        var localDate = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(from, Zone).DateTime);
        for (var d = 0; d <= 8; d++)
        {
            var date = localDate.AddDays(d);
            if (!Days.Contains(date.DayOfWeek))
            {
                continue;
            }

            var opening = ToInstant(Zone, date, Start);
            if (opening >= from)
            {
                return opening;
            }
        }

        throw new InvalidOperationException("A time window with at least one day always opens within 8 days");
    }

    public override string ToString()
    {
        var days = Days.Count == 7 ? "every day" : string.Join(",", Days.OrderBy(d => ((int)d + 6) % 7).Select(d => DayNames[(int)d]));
        return $"{days} {Format(Start)}-{Format(End)} {Zone.Id}";
    }

    /// <summary>
    /// The UTC instant of a local wall-clock time. A time skipped by a DST jump (02:30 on the spring-forward night) moves
    /// forward by the gap, as a wall clock would; a repeated time (autumn) takes its first occurrence.
    /// </summary>
    public static DateTimeOffset ToInstant(TimeZoneInfo zone, DateOnly date, TimeSpan timeOfDay)
    {
        var local = date.ToDateTime(TimeOnly.MinValue).Add(timeOfDay);
        if (zone.IsInvalidTime(local))
        {
            var before = zone.GetUtcOffset(local.AddHours(-3));
            return new DateTimeOffset(local, before).ToUniversalTime();
        }

        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    private static readonly string[] DayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    public static bool TryParseDay(string text, out DayOfWeek day)
    {
        var name = text.Trim().ToLowerInvariant();
        var index = name.Length >= 3 ? Array.IndexOf(DayNames, name[..3]) : -1;
        day = index < 0 ? default : (DayOfWeek)index;
        return index >= 0;
    }

    public static bool TryParseTime(string text, out TimeSpan time)
    {
        if (text == "24:00")
        {
            time = TimeSpan.FromDays(1);
            return true;
        }

        var ok = TimeOnly.TryParseExact(text, ["HH:mm", "H:mm"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed);
        time = ok ? parsed.ToTimeSpan() : default;
        return ok;
    }

    public static bool TryFindZone(string id, out TimeZoneInfo zone)
    {
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
            return true;
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            zone = TimeZoneInfo.Utc;
            return false;
        }
    }

    public static TimeZoneInfo FindZone(string id) => TryFindZone(id, out var zone) ? zone : TimeZoneInfo.Utc;

    private static string Format(TimeSpan time) => time == TimeSpan.FromDays(1) ? "24:00" : time.ToString(@"hh\:mm", CultureInfo.InvariantCulture);
}
