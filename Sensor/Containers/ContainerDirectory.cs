using System.Collections.Concurrent;
using Sensor.Events;

namespace Sensor.Containers;

/// <summary>
/// Container and pod metadata by container id, filled in the background from the runtime (and, when configured, the
/// Kubernetes pod watch), read without waiting by the event pipeline. <see cref="WaitForPodAsync"/> is the bounded wait
/// an alert does before it ships marked pending. Entries of containers the node has not seen for
/// <see cref="Retention"/> are forgotten, so hosting many short-lived containers does not grow the sensor.
/// </summary>
internal sealed class ContainerDirectory(IContainerRuntime runtime, IPodDirectory? pods, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ContainerMetadata> _known = new();
    private readonly ConcurrentDictionary<string, Task> _lookups = new();
    // Per container: when the node last saw it (UTC ticks), when its lookup last gave up, and who waits for it.
    private readonly ConcurrentDictionary<string, long> _lastSeen = new();
    private readonly ConcurrentDictionary<string, long> _unknown = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _changed = new();
    private long _nextSweep;

    /// <summary>How long a container nobody saw stays known. Default 10 min (its late alerts still resolve).</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a container the runtime could not name is not asked about again. Default 1 min.</summary>
    public TimeSpan UnknownRetry { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Runtime lookups per container before it counts as unknown, 100 ms apart. Default 3: the runtime registers a
    /// container before it starts, so a miss after its first syscall means it is gone (a short-lived container removed
    /// with --rm) or not this runtime's; asking 20 times spawned 20 podman processes per such container.
    /// </summary>
    public int LookupAttempts { get; init; } = 3;

    /// <summary>Containers remembered (known, or being looked up); /metrics material.</summary>
    public int Count => _lastSeen.Count;

    /// <summary>
    /// Raised (on a lookup thread) when the runtime's metadata of a container becomes known, so that per-namespace
    /// enforcement can start before the container's next syscall rather than after it.
    /// </summary>
    public event Action<string, ContainerMetadata>? Learned;

    /// <summary>True when pods should be resolvable (a Kubernetes API is configured or the runtime labels pods).</summary>
    public bool ExpectsPods => pods is not null;

    /// <summary>
    /// What is known now: the runtime's metadata, else the container as its pod's status describes it; starts a runtime
    /// lookup on a miss and answers with the id alone meanwhile.
    /// </summary>
    public ContainerContext Get(string fullId)
    {
        var now = time.GetUtcNow().UtcTicks;
        _lastSeen[fullId] = now;
        if (now >= Interlocked.Read(ref _nextSweep))
            Sweep(now);
        if (_known.TryGetValue(fullId, out var m))
            return m.Container;
        if (!_unknown.TryGetValue(fullId, out var gaveUp) || now - gaveUp >= UnknownRetry.Ticks)
            StartLookup(fullId);
        return pods?.Find(fullId)?.Container ?? new ContainerContext { Id = ContainerIds.Short(fullId), FullId = fullId };
    }

    /// <summary>The pod from the Kubernetes API when configured; the runtime's pod labels as the fallback.</summary>
    public KubernetesContext? Pod(string fullId) =>
        pods?.Find(fullId)?.Pod ?? (_known.TryGetValue(fullId, out var m) ? m.Pod : null);

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the container's metadata (runtime, or its pod's status) and, when pods
    /// are expected, the pod. Returns the moment the runtime lookup ends or the pod watch reports the container (not
    /// on a polling tick: this wait is on every container alert's path to the service), or at once when the runtime
    /// already said it does not know the container and no pod watch could name it.
    /// </summary>
    public async Task<(ContainerContext Container, KubernetesContext? Pod, bool Pending)> WaitForPodAsync(
        string fullId, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            // Registered before looking, so a lookup that ends in between still wakes this wait.
            var changed = _changed.GetOrAdd(fullId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            var podsChanged = pods?.Changed;
            var match = pods?.Find(fullId);
            var container = Get(fullId);
            var pod = match?.Pod ?? Pod(fullId);
            var known = _known.ContainsKey(fullId) || match is not null;
            var complete = known && (pod is not null || !ExpectsPods);
            // Without a pod watch nothing else can name the container once the runtime gave up; with one, the pod
            // may still arrive (a CRI node where the runtime lookup cannot answer), so wait for it.
            var gaveUp = !known && pods is null && !LookupRunning(fullId) && _unknown.ContainsKey(fullId);
            var remaining = deadline - time.GetUtcNow();
            if (complete || gaveUp || remaining <= TimeSpan.Zero)
                return (container, pod, ExpectsPods && pod is null);
            // The pod directory signals every change; without one, while only the pod is missing, look every 50 ms.
            var wait = known && podsChanged is null && remaining > PodPoll ? PodPoll : remaining;
            try
            {
                await (podsChanged is null ? changed : Task.WhenAny(changed, podsChanged)).WaitAsync(wait, time, ct);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    private static readonly TimeSpan PodPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>Wakes <see cref="WaitForPodAsync"/> callers of <paramref name="fullId"/> (metadata or pod arrived).</summary>
    public void NotifyChanged(string fullId)
    {
        if (_changed.TryRemove(fullId, out var waiters))
            waiters.TrySetResult();
    }

    private bool LookupRunning(string fullId) => _lookups.TryGetValue(fullId, out var lookup) && !lookup.IsCompleted;

    private void Sweep(long now)
    {
        Interlocked.Exchange(ref _nextSweep, now + Math.Max(Retention.Ticks / 10, TimeSpan.TicksPerSecond));
        foreach (var (id, seen) in _lastSeen)
        {
            if (now - seen < Retention.Ticks || LookupRunning(id))
                continue;
            _lastSeen.TryRemove(id, out _);
            _known.TryRemove(id, out _);
            _unknown.TryRemove(id, out _);
            _lookups.TryRemove(id, out _);
            NotifyChanged(id);
        }
    }

    private void StartLookup(string fullId) =>
        _lookups.GetOrAdd(fullId, id => Task.Run(async () =>
        {
            try
            {
                for (var attempt = 0; attempt < LookupAttempts && !_known.ContainsKey(id); attempt++)
                {
                    var m = await runtime.InspectAsync(id, CancellationToken.None);
                    if (m is not null)
                    {
                        _known[id] = m;
                        _unknown.TryRemove(id, out _);
                        Learned?.Invoke(id, m with { Pod = Pod(id) });
                        break;
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time);
                }
                if (!_known.ContainsKey(id))
                {
                    // Gone before it could be inspected, or not this runtime's: do not spawn lookups for every event.
                    _unknown[id] = time.GetUtcNow().UtcTicks;
                }
            }
            finally
            {
                _lookups.TryRemove(id, out _);
                NotifyChanged(id);
            }
        }));
}

/// <summary>Pods on this node by container id (Kubernetes pod watch with tombstones). I/O seam.</summary>
internal interface IPodDirectory
{
    /// <summary>The container's pod, or null when the directory does not know the container (or its tombstone expired).</summary>
    PodMatch? Find(string containerFullId);

    /// <summary>Completes at the directory's next change.</summary>
    Task Changed { get; }
}

/// <summary>A container's pod and the container as the pod's status describes it (name, image, digest).</summary>
internal sealed record PodMatch(KubernetesContext Pod, ContainerContext Container);
