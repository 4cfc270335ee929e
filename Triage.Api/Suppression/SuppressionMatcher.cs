using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Suppression;

/// <summary>
/// The active suppressions in memory, by rule, for the ingest writer's hot path. Reloaded after every local change
/// (the suppression observer and the expiry sweep call <see cref="ReloadAsync"/>) and on the sweep's timer, which
/// picks up other replicas' changes. Expiry is checked at match time as well, so a suppression never outlives its
/// <c>expires_at</c> even between sweeps.
/// </summary>
internal sealed class SuppressionMatcher(IServiceScopeFactory scopes) : IDisposable
{
    private sealed record Entry(long Id, SuppressionScope Scope, DateTimeOffset ExpiresAt);

    private readonly SemaphoreSlim _reloading = new(1, 1);
    private volatile Dictionary<string, Entry[]> _byRule = new(StringComparer.Ordinal);
    private volatile Dictionary<long, Entry> _byId = [];

    /// <summary>Number of active suppressions in the snapshot.</summary>
    public int Count => _byRule.Values.Sum(e => e.Length);

    /// <summary>The id of an active suppression covering <paramref name="alert"/> at <paramref name="now"/>, or null.</summary>
    public long? Match(NativeAlert alert, DateTimeOffset now)
    {
        if (alert.Rule is null || !_byRule.TryGetValue(alert.Rule, out var entries))
        {
            return null;
        }

        var facts = AlertFacts.From(alert);
        foreach (var entry in entries)
        {
            if (entry.ExpiresAt > now && entry.Scope.Matches(facts))
            {
                return entry.Id;
            }
        }

        return null;
    }

    /// <summary>
    /// Whether the snapshot already reflects <paramref name="record"/> as committed: present with its expiry when
    /// active, absent otherwise. Compared by content rather than by time, because a vote's timestamp is taken before
    /// its commit and a reload running in between would read the old state.
    /// </summary>
    public bool Reflects(SuppressionRecord record) =>
        record.Status == SuppressionStatus.Active
            ? _byId.TryGetValue(record.Id, out var entry) && entry.ExpiresAt == record.ExpiresAt
            : !_byId.ContainsKey(record.Id);

    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        // One reload at a time: otherwise the sweeper's read, begun before a vote's commit, could finish after the
        // observer's newer read and put the old set back.
        await _reloading.WaitAsync(cancellationToken);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
            var active = await db.Set<SuppressionRecord>().AsNoTracking()
                .Where(s => s.Status == SuppressionStatus.Active)
                .OrderBy(s => s.Id)
                .ToListAsync(cancellationToken);
            var entries = active.Select(s => (s.Rule, Entry: new Entry(s.Id, s.Scope, s.ExpiresAt!.Value))).ToList();
            _byId = entries.ToDictionary(e => e.Entry.Id, e => e.Entry);
            _byRule = entries
                .GroupBy(e => e.Rule, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Select(e => e.Entry).ToArray(), StringComparer.Ordinal);
        }
        finally
        {
            _reloading.Release();
        }
    }

    public void Dispose() => _reloading.Dispose();
}
