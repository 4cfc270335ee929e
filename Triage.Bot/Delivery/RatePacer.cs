namespace Triage.Bot.Delivery;

/// <summary>
/// Paces calls per key (a channel, a method) with the generic cell rate algorithm: a sustained rate of one call per
/// <c>interval</c> with bursts of up to <c>burst</c> calls, and a key can be blocked until a time a 429 named.
/// Reservations are handed out in order, so concurrent senders queue instead of all waking at once. Thread-safe.
/// </summary>
public sealed class RatePacer(TimeProvider time, TimeSpan interval, int burst)
{
    private readonly Dictionary<string, DateTimeOffset> _theoreticalArrival = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _blockedUntil = new(StringComparer.Ordinal);
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

    /// <summary>
    /// Reserves a call now only if that leaves <paramref name="keep"/> calls of the burst unused, for calls that must
    /// not wait (a new incident's card) — otherwise reserves nothing and returns false with how long until it would.
    /// Background calls (thread replies, card updates) use this and are deferred instead of queueing in front.
    /// </summary>
    public bool TryReserveNow(string key, int keep, out TimeSpan wait)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            var tat = _theoreticalArrival.TryGetValue(key, out var t) && t > now ? t : now;
            var tolerance = interval * Math.Max(0, burst - 1 - keep);
            wait = tat - tolerance - now;
            if (wait > TimeSpan.Zero)
            {
                return false;
            }

            _theoreticalArrival[key] = tat + interval;
            wait = TimeSpan.Zero;
            return true;
        }
    }

    /// <summary>Nothing for <paramref name="key"/> before <paramref name="until"/> (a Retry-After), then the normal pace.</summary>
    public void BlockUntil(string key, DateTimeOffset until)
    {
        lock (_lock)
        {
            _blockedUntil[key] = _blockedUntil.TryGetValue(key, out var earlier) && earlier > until ? earlier : until;
            var blocked = until + _tolerance;
            if (!_theoreticalArrival.TryGetValue(key, out var t) || t < blocked)
            {
                _theoreticalArrival[key] = blocked;
            }
        }
    }

    /// <summary>How much longer <paramref name="key"/> is blocked by <see cref="BlockUntil"/> (zero when it is not).</summary>
    public TimeSpan BlockedFor(string key)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            return _blockedUntil.TryGetValue(key, out var until) && until > now ? until - now : TimeSpan.Zero;
        }
    }

    /// <summary>Waits only while <paramref name="key"/> is blocked by <see cref="BlockUntil"/>; reserves nothing.</summary>
    public Task WaitUntilUnblockedAsync(string key, CancellationToken ct) =>
        BlockedFor(key) is var blocked && blocked > TimeSpan.Zero ? Task.Delay(blocked, time, ct) : Task.CompletedTask;

    /// <summary>Waits for a reservation on <paramref name="key"/>.</summary>
    public Task WaitAsync(string key, CancellationToken ct)
    {
        var wait = Reserve(key);
        return wait == TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, time, ct);
    }
}
