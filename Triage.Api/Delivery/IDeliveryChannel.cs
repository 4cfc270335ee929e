using Triage.Bot.Delivery;

namespace Triage.Api.Delivery;

/// <summary>
/// Sends outbox messages of one channel name to the outside world (Slack, Teams, PagerDuty, a webhook).
/// </summary>
/// <remarks>
/// <para>How to add a channel: implement this interface and register it with
/// <c>services.AddSingleton&lt;IDeliveryChannel, MyChannel&gt;()</c>. Enqueue messages through <see cref="Outbox"/> with the
/// same <see cref="OutboxMessage.Channel"/> as <see cref="Name"/>; <see cref="OutboxDispatcher"/> calls
/// <see cref="DeliverAsync"/> when a message is due and records the result.</para>
/// <para>Contract: return <see cref="DeliveryResult.Delivered"/> with the remote id (Slack <c>ts</c>, Teams activity id),
/// <see cref="DeliveryResult.Retry"/> for transient failures (5xx, timeouts, HTTP 429 with its <c>Retry-After</c>),
/// <see cref="DeliveryResult.Failed"/> for a request that will never succeed (4xx other than 429, a bad payload).
/// An exception counts as a transient failure that may have reached the remote side. Delivery is at-least-once: a crash
/// after the remote side accepted the message but before the result was saved repeats it, so send an idempotency key
/// where the protocol has one, or look up what an earlier attempt posted when <see cref="OutboxMessage.MayHaveArrivedSince"/>
/// is set (Slack cards and pages do); say <c>mayHaveArrived: false</c> when the remote side answered that it did not
/// take the message, so the next attempt need not look.</para>
/// <para>Ordering: messages with the same incident and channel are attempted one at a time in enqueue order (a card
/// update never overtakes the card post); a message that failed for good no longer holds later ones back.</para>
/// </remarks>
internal interface IDeliveryChannel
{
    /// <summary>The channel name messages are enqueued under, e.g. <c>slack</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Pacing: the least time between two attempts on this channel (all messages of it, across incidents).
    /// Default none. <see cref="DeliveryOptions.MinInterval"/> can override it per channel name.
    /// </summary>
    TimeSpan MinInterval => TimeSpan.Zero;

    Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken);
}

/// <summary>The ways an attempt can end.</summary>
public enum DeliveryOutcome
{
    Delivered,
    Retry,
    FailedPermanently,

    /// <summary>The channel chose not to send it yet (its own pacing); nothing was sent, so it is not an attempt.</summary>
    Deferred,
}

/// <summary>What one attempt came to. Build it with the static methods.</summary>
/// <param name="MayHaveArrived">
/// For a failed attempt: the remote side may have taken the message although the attempt failed (no answer, a timeout,
/// a 5xx). Recorded in <see cref="OutboxMessage.MayHaveArrivedSince"/>.
/// </param>
internal sealed record DeliveryResult(DeliveryOutcome Outcome, string? RemoteId, TimeSpan? RetryAfter, string? Error, bool MayHaveArrived = false)
{
    /// <summary>Accepted by the remote side; <paramref name="remoteId"/> is kept in <see cref="OutboxMessage.RemoteId"/>.</summary>
    public static DeliveryResult Delivered(string? remoteId = null) => new(DeliveryOutcome.Delivered, remoteId, null, null);

    /// <summary>
    /// Try again later: after <paramref name="retryAfter"/> when the remote side said so (HTTP 429 <c>Retry-After</c>;
    /// the whole channel also pauses that long), else after exponential backoff with jitter. Unless
    /// <paramref name="mayHaveArrived"/> is false (the remote side answered that it did not take the message), the
    /// message may have arrived.
    /// </summary>
    public static DeliveryResult Retry(string error, TimeSpan? retryAfter = null, bool mayHaveArrived = true) =>
        new(DeliveryOutcome.Retry, null, retryAfter, error, mayHaveArrived);

    /// <summary>What a failed chat call comes to: a retry when trying again can help, else a permanent failure.</summary>
    public static DeliveryResult Of(ChatDeliveryException e) =>
        e.Retryable ? Retry(e.Message, e.RetryAfter, e.MayHaveArrived) : Failed(e.Message);

    /// <summary>
    /// Not sent now, by the channel's choice: a background message stepping aside so the remote side's pace stays free
    /// for urgent ones. Due again after <paramref name="after"/>; it does not count as an attempt, is not written to
    /// the timeline and does not pause the channel.
    /// </summary>
    public static DeliveryResult Deferred(TimeSpan after) => new(DeliveryOutcome.Deferred, null, after, null);

    /// <summary>Will never succeed; stop trying and record why.</summary>
    public static DeliveryResult Failed(string error) => new(DeliveryOutcome.FailedPermanently, null, null, error);
}
