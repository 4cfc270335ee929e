using System.Globalization;

namespace Sensor.Processes;

/// <summary>
/// /proc/&lt;pid&gt;/stat, parsed in one place: the process name, parent, controlling terminal and start time, and the
/// rule for matching a start time the kernel reported in nanoseconds against the one /proc shows in clock ticks.
/// </summary>
internal static class ProcStat
{
    /// <summary>/proc counts start times in USER_HZ ticks; USER_HZ is 100 on every Linux ABI.</summary>
    public const ulong NsPerTick = 10_000_000;

    /// <summary>The fields of one stat line the sensor uses.</summary>
    public readonly record struct Fields(string Comm, int Ppid, int Tty, ulong StartTicks);

    /// <summary>Parses a stat line; null when it is not one (truncated, or the process vanished mid-read).</summary>
    public static Fields? Parse(string stat)
    {
        // comm may contain spaces and parentheses: the fields resume after the last ')'.
        var open = stat.IndexOf('(', StringComparison.Ordinal);
        var close = stat.LastIndexOf(')');
        if (open < 0 || close < open || close + 2 > stat.Length)
        {
            return null;
        }

        // rest[0] is field 3 (state): ppid is field 4, tty_nr field 7, starttime field 22.
        var rest = stat[(close + 2)..].Split(' ');
        return rest.Length > 19
            && int.TryParse(rest[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ppid)
            && int.TryParse(rest[4], NumberStyles.Integer, CultureInfo.InvariantCulture, out var tty)
            && ulong.TryParse(rest[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            ? new Fields(stat[(open + 1)..close], ppid, tty, start)
            : null;
    }

    /// <summary>Reads /proc/&lt;pid&gt;/stat under <paramref name="procRoot"/>; null when the process is gone.</summary>
    public static Fields? Read(int pid, string procRoot = "/proc")
    {
        try
        {
            return Parse(File.ReadAllText($"{procRoot}/{pid}/stat"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Start time of <paramref name="pid"/> in ticks since boot; null when the process is gone.</summary>
    public static ulong? StartTicks(int pid) => Read(pid)?.StartTicks;

    /// <summary>
    /// Whether a process that /proc says started at <paramref name="ticks"/> is the one the kernel reported as started
    /// at <paramref name="startNs"/>: /proc rounds to ticks, so one tick of difference either way is the same start.
    /// </summary>
    public static bool SameStart(ulong ticks, ulong startNs)
    {
        var expected = startNs / NsPerTick;
        return ticks + 1 >= expected && ticks <= expected + 1;
    }
}
