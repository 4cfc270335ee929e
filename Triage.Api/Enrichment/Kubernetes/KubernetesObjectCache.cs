using System.Collections.Concurrent;

namespace Triage.Api.Enrichment.Kubernetes;

/// <summary>
/// Objects read from the Kubernetes API, each reused until it is older than the staleness bound (<c>cache_ttl</c>).
/// Absent objects (404) are cached too, so that an alert storm about a vanished pod does not hammer the API.
/// Failures are never cached.
/// </summary>
internal sealed class KubernetesObjectCache(TimeProvider time, TimeSpan ttl, int maxEntries)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _hits;
    private long _misses;

    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>The cached value (and when it was read) or a fresh read through <paramref name="fetch"/>.</summary>
    public async Task<(T? Value, DateTimeOffset FetchedAt)> GetAsync<T>(string key,
        Func<CancellationToken, Task<T?>> fetch, CancellationToken cancellationToken)
        where T : class
    {
        var now = time.GetUtcNow();
        if (_entries.TryGetValue(key, out var entry) && now - entry.FetchedAt <= ttl)
        {
            Interlocked.Increment(ref _hits);
            return ((T?)entry.Value, entry.FetchedAt);
        }

        Interlocked.Increment(ref _misses);
        var value = await fetch(cancellationToken);
        var fetchedAt = time.GetUtcNow();
        if (_entries.Count >= maxEntries)
        {
            Trim(fetchedAt);
        }

        _entries[key] = new Entry(value, fetchedAt);
        return (value, fetchedAt);
    }

    public void Clear() => _entries.Clear();

    public void Invalidate(string key) => _entries.TryRemove(key, out _);

    private void Trim(DateTimeOffset now)
    {
        foreach (var (key, entry) in _entries)
        {
            if (now - entry.FetchedAt > ttl)
            {
                _entries.TryRemove(key, out _);
            }
        }

        if (_entries.Count >= maxEntries)
        {
            // Everything is fresh and the cache is full: start over rather than grow without bound.
            _entries.Clear();
        }
    }

    private sealed record Entry(object? Value, DateTimeOffset FetchedAt);
}
