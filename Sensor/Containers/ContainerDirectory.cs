using System.Collections.Concurrent;
using Sensor.Events;

namespace Sensor.Containers;

/// <summary>
/// Container and pod metadata by container id, filled in the background from the runtime (and, when configured, the
/// Kubernetes pod watch), read without waiting by the event pipeline. <see cref="WaitForPodAsync"/> is the bounded wait
/// an alert does before it ships marked pending.
/// </summary>
internal sealed class ContainerDirectory(IContainerRuntime runtime, IPodDirectory? pods, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ContainerMetadata> _known = new();
    private readonly ConcurrentDictionary<string, Task> _lookups = new();

    /// <summary>
    /// Raised (on a lookup thread) when the runtime's metadata of a container becomes known, so that per-namespace
    /// enforcement can start before the container's next syscall rather than after it.
    /// </summary>
    public event Action<string, ContainerMetadata>? Learned;

    /// <summary>True when pods should be resolvable (a Kubernetes API is configured or the runtime labels pods).</summary>
    public bool ExpectsPods => pods is not null;

    /// <summary>What is known now; starts a runtime lookup on a miss and answers with the id alone meanwhile.</summary>
    public ContainerContext Get(string fullId)
    {
        if (_known.TryGetValue(fullId, out var m))
            return m.Container;
        StartLookup(fullId);
        return new ContainerContext { Id = ContainerIds.Short(fullId), FullId = fullId };
    }

    public KubernetesContext? Pod(string fullId) =>
        pods?.Find(fullId) ?? (_known.TryGetValue(fullId, out var m) ? m.Pod : null);

    /// <summary>Waits up to <paramref name="timeout"/> for runtime metadata and, when pods are expected, the pod.</summary>
    public async Task<(ContainerContext Container, KubernetesContext? Pod, bool Pending)> WaitForPodAsync(
        string fullId, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + timeout;
        while (true)
        {
            var container = Get(fullId);
            var pod = Pod(fullId);
            var complete = _known.ContainsKey(fullId) && (pod is not null || !ExpectsPods);
            if (complete || time.GetUtcNow() >= deadline)
                return (container, pod, ExpectsPods && pod is null);
            await Task.Delay(TimeSpan.FromMilliseconds(50), time, ct);
        }
    }

    private void StartLookup(string fullId) =>
        _lookups.GetOrAdd(fullId, id => Task.Run(async () =>
        {
            try
            {
                for (var attempt = 0; attempt < 20 && !_known.ContainsKey(id); attempt++)
                {
                    var m = await runtime.InspectAsync(id, CancellationToken.None);
                    if (m is not null)
                    {
                        _known[id] = m;
                        Learned?.Invoke(id, m with { Pod = Pod(id) });
                        break;
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time);
                }
            }
            finally
            {
                _lookups.TryRemove(id, out _);
            }
        }));
}

/// <summary>Pods on this node by container id (Kubernetes pod watch with tombstones). I/O seam.</summary>
internal interface IPodDirectory
{
    KubernetesContext? Find(string containerFullId);
}
