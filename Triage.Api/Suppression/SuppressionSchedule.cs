namespace Triage.Api.Suppression;

/// <summary>What the expiry sweep has to do for one active suppression.</summary>
internal enum ScheduleStep
{
    Nothing = 0,

    /// <summary>Expiry is within the renewal notice and the team has not been asked yet.</summary>
    AskRenewal = 1,

    /// <summary>The suppression's time is up.</summary>
    Expire = 2,
}

/// <summary>The time arithmetic of suppressions: how long one lives, when to ask about renewal, when it ends.</summary>
internal static class SuppressionSchedule
{
    /// <summary>
    /// The lifetime a proposal asks for: <paramref name="requested"/> or the configured default, refused (not
    /// silently cut) when it exceeds the maximum, so the voters see exactly what they agree to.
    /// </summary>
    public static (TimeSpan Duration, string? Error) Duration(TimeSpan? requested, SuppressionOptions options, TimeSpan max)
    {
        var duration = requested ?? (options.DefaultDuration < max ? options.DefaultDuration : max);
        if (duration <= TimeSpan.Zero)
        {
            return (duration, "duration must be more than 0");
        }

        return duration > max
            ? (duration, $"duration {Format(duration)} exceeds the maximum of {Format(max)}")
            : (duration, null);
    }

    /// <summary>
    /// The new expiry when a renewal vote passes: a fresh period counted from the old expiry (or from now when
    /// that has passed), but never further than <paramref name="max"/> from now.
    /// </summary>
    public static DateTimeOffset Renewed(DateTimeOffset expiresAt, TimeSpan duration, TimeSpan max, DateTimeOffset now)
    {
        var from = expiresAt > now ? expiresAt : now;
        var renewed = from + duration;
        return renewed - now > max ? now + max : renewed;
    }

    public static ScheduleStep Due(DateTimeOffset expiresAt, DateTimeOffset? renewalRequestedAt, TimeSpan notice, DateTimeOffset now)
    {
        if (expiresAt <= now)
        {
            return ScheduleStep.Expire;
        }

        return renewalRequestedAt is null && expiresAt - notice <= now ? ScheduleStep.AskRenewal : ScheduleStep.Nothing;
    }

    /// <summary>When the sweep next has something to do for this suppression.</summary>
    public static DateTimeOffset NextDue(DateTimeOffset expiresAt, DateTimeOffset? renewalRequestedAt, TimeSpan notice) =>
        renewalRequestedAt is null ? expiresAt - notice : expiresAt;

    public static string Format(TimeSpan span) =>
        span.TotalDays >= 1 && span.TotalDays == Math.Floor(span.TotalDays) ? $"{span.TotalDays:0}d"
        : span.TotalHours >= 1 && span.TotalHours == Math.Floor(span.TotalHours) ? $"{span.TotalHours:0}h"
        : span.TotalMinutes >= 1 && span.TotalMinutes == Math.Floor(span.TotalMinutes) ? $"{span.TotalMinutes:0}m"
        : span.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
}
