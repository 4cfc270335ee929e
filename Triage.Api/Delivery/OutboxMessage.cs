namespace Triage.Api.Delivery;

/// <summary>Where an outgoing delivery stands.</summary>
public enum OutboxStatus
{
    /// <summary>Not yet delivered; attempted at <see cref="OutboxMessage.NextAttemptAt"/>.</summary>
    Pending = 0,

    /// <summary>The remote side accepted it (<see cref="OutboxMessage.DeliveredAt"/>, <see cref="OutboxMessage.RemoteId"/>).</summary>
    Delivered = 1,

    /// <summary>Given up: the remote side refused it for good, or <see cref="DeliveryOptions.MaxAttempts"/> was reached.</summary>
    Failed = 2,
}

/// <summary>Values of <see cref="OutboxMessage.Priority"/>: lower goes first.</summary>
internal static class OutboxPriority
{
    public const int Urgent = 0;
    public const int Routine = 1;
}

/// <summary>
/// One durable outgoing delivery (a Slack card, a Teams card, a PagerDuty event, a webhook call) in the outbox table.
/// Written in the same transaction as the change that causes it, delivered by <see cref="OutboxDispatcher"/>.
/// </summary>
internal sealed class OutboxMessage
{
    public long Id { get; set; }

    /// <summary>The incident this is about; each attempt and result is appended to its timeline. Null for none.</summary>
    public long? IncidentId { get; set; }

    /// <summary>The <see cref="IDeliveryChannel.Name"/> that sends it: <c>slack</c>, <c>teams</c>, <c>pagerduty</c>, <c>webhook</c>, …</summary>
    public string Channel { get; set; } = "";

    /// <summary>What it is, for the channel and for people reading the timeline: <c>card</c>, <c>card_update</c>, <c>trigger</c>, <c>resolve</c>, …</summary>
    public string Kind { get; set; } = "";

    /// <summary>The channel-specific body as JSON; the channel decides its shape.</summary>
    public string Payload { get; set; } = "{}";

    /// <summary>Unique per channel: enqueueing the same key twice yields the first message (see <see cref="Outbox"/>).</summary>
    public string IdempotencyKey { get; set; } = "";

    /// <summary>
    /// Which due message of a channel goes first: <see cref="OutboxPriority.Urgent"/> (a new card, a page) before
    /// <see cref="OutboxPriority.Routine"/> (a card update, a thread reply), so a paced channel never holds a new
    /// incident behind the chatter of older ones. Messages of one incident keep their order regardless.
    /// </summary>
    public int Priority { get; set; }

    public OutboxStatus Status { get; set; }

    /// <summary>Attempts started so far (an attempt interrupted by a crash counts).</summary>
    public int Attempts { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>
    /// When the attempt under way started; null between attempts. Still set when the next attempt is claimed means the
    /// last one never recorded its outcome: the process died mid-call.
    /// </summary>
    public DateTimeOffset? AttemptStartedAt { get; set; }

    /// <summary>
    /// Since when an earlier attempt may have reached the remote side although it failed: its answer was lost (a
    /// timeout, a dropped connection, a stop or a crash mid-call) or was a 5xx. Null while every earlier attempt was
    /// refused outright (a 429, an error answer) or none was made, so a channel that looks up what it sent (Slack cards
    /// and pages read the channel's history) only looks when there can be something to find.
    /// </summary>
    public DateTimeOffset? MayHaveArrivedSince { get; set; }

    /// <summary>When the next attempt is due. While an attempt runs it is pushed out by the lease, so a crash mid-attempt is retried.</summary>
    public DateTimeOffset NextAttemptAt { get; set; }

    public string? LastError { get; set; }

    public DateTimeOffset? DeliveredAt { get; set; }

    /// <summary>What the remote side returned on success: a Slack <c>ts</c>, a Teams activity id, a PagerDuty dedup key.</summary>
    public string? RemoteId { get; set; }

    /// <summary>
    /// Messages of one series (per channel) each replace what the one before showed at the remote side, e.g. the
    /// updates of one chat card (the series is the card post's key). Once a later message of the series is delivered,
    /// an earlier one that is no longer pending is superseded and <see cref="OutboxRetention"/> deletes it. Null: never
    /// superseded.
    /// </summary>
    public string? Series { get; set; }
}
