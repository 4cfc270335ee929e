using Triage.Api.Configuration;

namespace Triage.Api.Delivery;

/// <summary>The <c>delivery</c> section: how the outbox retries and paces outgoing messages.</summary>
internal sealed class DeliveryOptions
{
    /// <summary>How often the dispatcher looks for due messages when nothing woke it. Default 1 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long an attempt may run before another dispatcher (or this one after a restart) may try the message again.
    /// Also the timeout of one attempt. Default 2 minutes.
    /// </summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Backoff before the second attempt; doubles per attempt up to <see cref="MaxRetryDelay"/>, with jitter. Default 2 s.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest backoff between attempts. Default 10 minutes.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Attempts before a message is marked failed. Default 20 (about 2.5 hours with the default delays).</summary>
    public int MaxAttempts { get; set; } = 20;

    /// <summary>Messages claimed per dispatch round. Default 100.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>Least time between attempts per channel name (e.g. <c>slack: 1s</c>); overrides the channel's own default.</summary>
    public Dictionary<string, TimeSpan> MinInterval { get; set; } = [];

    /// <summary>When sent messages leave the outbox table (<c>retention</c>).</summary>
    public OutboxRetentionOptions Retention { get; set; } = new();

    public void Validate(ConfigValidationContext context, string path)
    {
        if (PollInterval <= TimeSpan.Zero || PollInterval > TimeSpan.FromMinutes(1))
        {
            context.Error($"{path}.poll_interval", "must be more than 0 and at most 1m");
        }

        if (Lease < TimeSpan.FromSeconds(5))
        {
            context.Error($"{path}.lease", "must be at least 5s");
        }

        if (FirstRetryDelay <= TimeSpan.Zero)
        {
            context.Error($"{path}.first_retry_delay", "must be more than 0");
        }

        if (MaxRetryDelay < FirstRetryDelay)
        {
            context.Error($"{path}.max_retry_delay", "must be at least first_retry_delay");
        }

        if (MaxAttempts < 1)
        {
            context.Error($"{path}.max_attempts", "must be at least 1");
        }

        if (BatchSize is < 1 or > 10_000)
        {
            context.Error($"{path}.batch_size", "must be between 1 and 10000");
        }

        foreach (var (channel, interval) in MinInterval)
        {
            if (interval < TimeSpan.Zero)
            {
                context.Error($"{path}.min_interval.{channel}", "must not be negative");
            }
        }

        Retention.Validate(context, $"{path}.retention");
    }
}

/// <summary>
/// The <c>delivery.retention</c> section: how <see cref="OutboxRetention"/> keeps the outbox table from growing
/// without bound. Pending messages (including one in flight) are never deleted.
/// </summary>
internal sealed class OutboxRetentionOptions
{
    /// <summary>Time between sweeps. Default 10 minutes.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Most rows one DELETE statement removes; a sweep repeats the statement until less than this is left. Small
    /// statements keep each write lock short (SQLite has one writer). Default 1000.
    /// </summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>
    /// How long after its resolution an incident's outbox messages are kept. After that the incident is closed for
    /// delivery (<see cref="IsClosed"/>: nothing is enqueued for it any more, so a late change cannot post its card a
    /// second time), and its messages that are not pending are deleted <see cref="ClosedGrace"/> later. Default 7 days.
    /// </summary>
    public TimeSpan ResolvedIncidents { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Between an incident's close and the deletion of its messages: a reconcile that read the incident just before
    /// the close finished long before (it would otherwise find no card and post one again).
    /// </summary>
    public static readonly TimeSpan ClosedGrace = TimeSpan.FromHours(1);

    /// <summary>
    /// True once <paramref name="incident"/> was resolved <see cref="ResolvedIncidents"/> ago or longer: producers
    /// enqueue nothing more for it, because retention deletes the messages whose keys would have deduplicated it.
    /// </summary>
    public bool IsClosed(Persistence.Incident incident, DateTimeOffset now) =>
        incident.Status == Persistence.IncidentStatus.Resolved && incident.ResolvedAt is { } resolved && now - resolved >= ResolvedIncidents;

    public void Validate(ConfigValidationContext context, string path)
    {
        if (Interval < TimeSpan.FromSeconds(10) || Interval > TimeSpan.FromDays(1))
        {
            context.Error($"{path}.interval", "must be between 10s and 1d");
        }

        if (BatchSize is < 1 or > 100_000)
        {
            context.Error($"{path}.batch_size", "must be between 1 and 100000");
        }

        if (ResolvedIncidents < TimeSpan.FromHours(1) || ResolvedIncidents > TimeSpan.FromDays(3650))
        {
            context.Error($"{path}.resolved_incidents", "must be between 1h and 3650d");
        }
    }
}
