namespace Triage.Bot.Delivery;

/// <summary>
/// A chat call failed. <see cref="Retryable"/> says whether trying again can help (rate limits, 5xx, timeouts) as
/// opposed to a permanent refusal (unknown channel, bad credentials, invalid blocks); <see cref="RetryAfter"/> is the
/// wait the service asked for, when it named one.
/// </summary>
public class ChatDeliveryException : Exception
{
    public ChatDeliveryException(string message, bool retryable, TimeSpan? retryAfter = null, Exception? inner = null)
        : base(message, inner)
    {
        Retryable = retryable;
        RetryAfter = retryAfter;
    }

    public ChatDeliveryException()
    {
    }

    public ChatDeliveryException(string message) : base(message)
    {
    }

    public ChatDeliveryException(string message, Exception innerException) : base(message, innerException)
    {
    }

    public bool Retryable { get; }

    public TimeSpan? RetryAfter { get; }

    /// <summary>The service's own error code (<c>channel_not_found</c>, <c>BadArgument</c> …), when it gave one.</summary>
    public string? ErrorCode { get; init; }

    /// <summary>
    /// The call may have been carried out although it failed: no answer came (a dropped connection, a timeout) or the
    /// service answered 5xx. False when the service answered that it did not take the call (a 429, an error answer), so
    /// a retry cannot repeat what it did.
    /// </summary>
    public bool MayHaveArrived { get; init; }
}

/// <summary>
/// Not sent: sending now would spend the pace a chat service allows on a background message (a thread reply, a card
/// update) when it is kept for urgent ones. Nothing reached the service; send again after <see cref="ChatDeliveryException.RetryAfter"/>.
/// </summary>
public sealed class ChatDeferredException(string message, TimeSpan retryAfter)
    : ChatDeliveryException(message, retryable: true, retryAfter)
{
}
