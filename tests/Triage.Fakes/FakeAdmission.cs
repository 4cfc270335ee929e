using Microsoft.AspNetCore.Http;

namespace Triage.Fakes;

/// <summary>
/// The admission bookkeeping the strict chat fakes share (FakeSlackWebApi, FakeBotFramework): the bearer token of a
/// request, failures a test injected for the next calls of a key, and a sliding one-second window per key that turns
/// a burst over the service's documented limit into a 429. How a refusal looks on the wire stays with each fake,
/// because Slack and the Bot Connector answer differently. Thread-safe.
/// </summary>
internal sealed class FakeAdmission(TimeProvider time)
{
    private readonly Dictionary<string, Queue<DateTimeOffset>> _recent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Count, int Status, int? RetryAfter)> _injected = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>The token of an <c>Authorization: Bearer …</c> header; empty for another scheme; null without the header.</summary>
    public static string? BearerToken(HttpRequest request) =>
        request.Headers.Authorization.ToString() is { Length: > 0 } auth
            ? auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..] : ""
            : null;

    /// <summary>The next <paramref name="count"/> calls of <paramref name="key"/> fail with <paramref name="status"/>.</summary>
    public void FailNext(string key, int count, int status, int? retryAfterSeconds)
    {
        lock (_lock)
        {
            _injected[key] = (count, status, retryAfterSeconds);
        }
    }

    /// <summary>True (with the injected status and Retry-After) when a failure is pending for <paramref name="key"/>; uses it up.</summary>
    public bool TakeInjected(string key, out int status, out int? retryAfterSeconds)
    {
        lock (_lock)
        {
            if (_injected.TryGetValue(key, out var injected) && injected.Count > 0)
            {
                _injected[key] = injected with { Count = injected.Count - 1 };
                (status, retryAfterSeconds) = (injected.Status, injected.RetryAfter);
                return true;
            }
        }

        (status, retryAfterSeconds) = (0, null);
        return false;
    }

    /// <summary>
    /// Admits a call on <paramref name="key"/> when fewer than <paramref name="perSecond"/> were admitted in the last
    /// second (and counts it); false means the caller answers 429.
    /// </summary>
    public bool WithinRate(string key, int perSecond)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (!_recent.TryGetValue(key, out var recent))
            {
                _recent[key] = recent = new Queue<DateTimeOffset>();
            }

            while (recent.Count > 0 && now - recent.Peek() >= TimeSpan.FromSeconds(1))
            {
                recent.Dequeue();
            }

            if (recent.Count >= perSecond)
            {
                return false;
            }

            recent.Enqueue(now);
            return true;
        }
    }
}
