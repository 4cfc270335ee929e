namespace Triage.Bot.Delivery;

/// <summary>
/// Paces calls per key (a channel, a method) with the generic cell rate algorithm: a sustained rate of one call per
/// <c>interval</c> with bursts of up to <c>burst</c> calls, and a key can be blocked until a time a 429 named.
/// Reservations are handed out in order, so concurrent senders queue instead of all waking at once. Thread-safe.
/// </summary>
public sealed class RatePacer(TimeProvider time, TimeSpan interval, int burst)
{
    private readonly Dictionary<string, DateTimeOffset> _theoreticalArrival = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly TimeSpan _tolerance = interval * Math.Max(0, burst - 1);

    /// <summary>How long the caller must wait before making the call it reserves now.</summary>
    public TimeSpan Reserve(string key)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            var tat = _theoreticalArrival.TryGetValue(key, out var t) && t > now ? t : now;
            var wait = tat - _tolerance - now;
            _theoreticalArrival[key] = tat + interval;
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
    }

    /// <summary>Nothing for <paramref name="key"/> before <paramref name="until"/> (a Retry-After), then the normal pace.</summary>
    public void BlockUntil(string key, DateTimeOffset until)
    {
        lock (_lock)
        {
            var blocked = until + _tolerance;
            if (!_theoreticalArrival.TryGetValue(key, out var t) || t < blocked)
            {
                _theoreticalArrival[key] = blocked;
            }
        }
    }

    /// <summary>Waits for a reservation on <paramref name="key"/>.</summary>
    public Task WaitAsync(string key, CancellationToken ct)
    {
        var wait = Reserve(key);
        return wait == TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, time, ct);
    }
}
