using System.Globalization;
using System.Net;
using Sensor.Events;
using Sensor.Kernel;

namespace Sensor.Rules.Enforcement;

/// <summary>
/// Decides and carries out enforcement: programs the metadata deny for containers of chosen namespaces as the sensor
/// learns them, kills processes whose alerts match a kill policy, and says in words what was done for the alert's
/// <c>enforced</c> list. Thread-safe.
/// </summary>
internal sealed class EnforcementPolicy
{
    private const long EPerm = -1;

    private readonly EnforcementOptions _options;
    private readonly IKernelEnforcement _actuator;
    private readonly HashSet<string> _denyNamespaces;
    private readonly IPAddress[] _metadataAddresses;
    private readonly HashSet<string> _metadataText;
    private readonly Dictionary<ulong, bool> _deniedCgroups = [];
    // Cgroups found removed: a late event or lookup of their container must not program entries for them again.
    private readonly HashSet<ulong> _removed = [];
    private readonly HashSet<(int Pid, ulong Start)> _killed = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, string?> _observedNamespace = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ulong> _cgroupByContainer = new();
    private readonly Lock _lock = new();
    private long _denyFailures;
    private long _removedCgroups;

    public EnforcementPolicy(EnforcementOptions options, IKernelEnforcement actuator)
    {
        _options = options;
        _actuator = actuator;
        _denyNamespaces = new HashSet<string>(options.DenyMetadata.Namespaces, StringComparer.Ordinal);
        _metadataAddresses = options.DenyMetadata.Addresses
            .Select(a => IPAddress.TryParse(a, out var ip) ? ip : null)
            .OfType<IPAddress>()
            .ToArray();
        _metadataText = _metadataAddresses.Select(a => a.ToString()).ToHashSet(StringComparer.Ordinal);
    }

    public bool Enabled => _options.Enabled;

    /// <summary>True when connects to the metadata service are denied for pods of <paramref name="pod"/>'s namespace.</summary>
    public bool DeniesMetadata(KubernetesContext? pod) =>
        _options.Enabled && pod is not null && _denyNamespaces.Contains(pod.Namespace);

    /// <summary>
    /// The sensor calls this when it has resolved a container's cgroup to its pod (and again if the pod changes):
    /// containers of denied namespaces get their metadata connects refused in the kernel from then on.
    /// </summary>
    public void OnContainerResolved(ulong cgroupId, KubernetesContext? pod)
    {
        var deny = DeniesMetadata(pod);
        lock (_lock)
        {
            var was = _deniedCgroups.GetValueOrDefault(cgroupId);
            if (deny == was || (deny && _removed.Contains(cgroupId)))
            {
                return;
            }

            foreach (var address in _metadataAddresses)
            {
                if (deny)
                {
                    _actuator.DenyConnect(cgroupId, address);
                }
                else
                {
                    _actuator.AllowConnect(cgroupId, address);
                }
            }

            if (deny)
            {
                _deniedCgroups[cgroupId] = true;
            }
            else
            {
                _deniedCgroups.Remove(cgroupId);
            }
        }
    }

    /// <summary>
    /// The rule detector hands every event here: the first event of a container whose pod is known (and the first after
    /// the pod changed) programs or lifts the metadata deny of its cgroup. Cheap for every other event.
    /// </summary>
    public void Observe(SensorEvent sensorEvent)
    {
        if (!_options.Enabled || _denyNamespaces.Count == 0 || sensorEvent.Container is null || sensorEvent.Process.CgroupId == 0)
        {
            return;
        }

        if (sensorEvent.Container.FullId is { } id)
        {
            if (_cgroupByContainer.Count > 100_000)
            {
                _cgroupByContainer.Clear();
            }

            _cgroupByContainer[id] = sensorEvent.Process.CgroupId;
        }

        // An event built before the pod was known says nothing about the namespace: it must not lift a deny that
        // OnContainerLearned has already put in place.
        var ns = sensorEvent.Kubernetes?.Namespace;
        if (ns is null || (_observedNamespace.TryGetValue(sensorEvent.Process.CgroupId, out var known) && known == ns))
        {
            return;
        }

        if (_observedNamespace.Count > 100_000)
        {
            // Cgroup ids are never reused while the kernel runs; forgetting old ones only costs a repeated check.
            _observedNamespace.Clear();
        }

        _observedNamespace[sensorEvent.Process.CgroupId] = ns;
        Resolve(sensorEvent.Process.CgroupId, sensorEvent.Kubernetes);
    }

    /// <summary>
    /// The container directory calls this as soon as it learns a container's metadata: a container seen before its
    /// pod was known gets its deny without waiting for its next syscall.
    /// </summary>
    public void OnContainerLearned(string fullId, KubernetesContext? pod)
    {
        if (!_options.Enabled || _denyNamespaces.Count == 0 || !_cgroupByContainer.TryGetValue(fullId, out var cgroupId))
        {
            return;
        }

        _observedNamespace[cgroupId] = pod?.Namespace;
        Resolve(cgroupId, pod);
    }

    /// <summary>True while connects from <paramref name="cgroupId"/> to the metadata service are denied.</summary>
    public bool DeniesCgroup(ulong cgroupId)
    {
        lock (_lock)
        {
            return _deniedCgroups.ContainsKey(cgroupId);
        }
    }

    private void Resolve(ulong cgroupId, KubernetesContext? pod)
    {
        try
        {
            OnContainerResolved(cgroupId, pod);
        }
        catch (Exception ex) when (ex is Native.BpfException or InvalidOperationException)
        {
            // The deny map is full or connect hooks cannot attach: the event must still reach the rules.
            Interlocked.Increment(ref _denyFailures);
        }
    }

    /// <summary>Deny entries that could not be programmed (map full, no cgroup v2 hierarchy) or removed; /metrics material.</summary>
    public long DenyFailures => Interlocked.Read(ref _denyFailures);

    /// <summary>Drops the deny entries of a container whose cgroup went away (<see cref="DropRemoved"/> finds them).</summary>
    public void OnContainerRemoved(ulong cgroupId) => OnContainerResolved(cgroupId, null);

    /// <summary>
    /// How often <see cref="RunAsync"/> looks for denied cgroups that were removed. Default 10 s: one syscall per
    /// denied cgroup, and the kernel map (1,024 entries, three per container with the default addresses) fills only
    /// after hundreds of denied containers came and went.
    /// </summary>
    public TimeSpan RemovedCheckInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Cgroups whose deny entries were dropped because the cgroup was removed; /metrics material.</summary>
    public long RemovedCgroups => Interlocked.Read(ref _removedCgroups);

    /// <summary>
    /// Drops the deny entries of every denied cgroup that no longer exists and returns how many cgroups that was.
    /// Neither the runtime nor the pod watch says reliably when a container's cgroup is gone (a container removed
    /// while the sensor was down, a pod deleted without its tombstone being read), the kernel does.
    /// </summary>
    public int DropRemoved()
    {
        ulong[] denied;
        lock (_lock)
        {
            denied = [.. _deniedCgroups.Keys];
        }

        var removed = denied.Where(id => !_actuator.CgroupExists(id)).ToHashSet();
        foreach (var id in removed)
        {
            lock (_lock)
            {
                if (_removed.Count > 100_000)
                {
                    // Cgroup ids are never reused; forgetting old ones only lets a very late event deny for one round.
                    _removed.Clear();
                }

                _removed.Add(id);
            }

            OnContainerRemoved(id);
        }

        if (removed.Count > 0)
        {
            foreach (var (container, cgroup) in _cgroupByContainer)
            {
                if (removed.Contains(cgroup))
                {
                    _cgroupByContainer.TryRemove(container, out _);
                }
            }

            Interlocked.Add(ref _removedCgroups, removed.Count);
        }

        return removed.Count;
    }

    /// <summary>Runs <see cref="DropRemoved"/> every <see cref="RemovedCheckInterval"/> until cancelled (no-op when no namespace is denied).</summary>
    public async Task RunAsync(TimeProvider time, CancellationToken ct)
    {
        if (!_options.Enabled || _denyNamespaces.Count == 0)
        {
            return;
        }

        while (true)
        {
            try
            {
                await Task.Delay(RemovedCheckInterval, time, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                DropRemoved();
            }
            catch (Native.BpfException)
            {
                // A delete the kernel refused: the entry stays and the next round tries again.
                Interlocked.Increment(ref _denyFailures);
            }
        }
    }

    /// <summary>
    /// Carries out what the policy says for <paramref name="rule"/> firing on <paramref name="sensorEvent"/> and
    /// returns what was enforced, for <c>NativeAlert.Enforced</c>; empty when nothing was.
    /// </summary>
    public IReadOnlyList<string> Enforce(CompiledRule rule, SensorEvent sensorEvent)
    {
        if (!_options.Enabled)
        {
            return [];
        }

        var enforced = new List<string>();
        if (sensorEvent is { Type: "connect", Result: EPerm, Fd.ServerIp: { } ip } && _metadataText.Contains(Canonical(ip))
            && DeniesMetadata(sensorEvent.Kubernetes))
        {
            enforced.Add(string.Create(CultureInfo.InvariantCulture,
                $"connect to metadata service {ip}:{sensorEvent.Fd.ServerPort} denied (EPERM) for namespace {sensorEvent.Kubernetes!.Namespace}"));
        }

        if (ShouldKill(rule, sensorEvent))
        {
            enforced.Add(Kill(sensorEvent.Process));
        }

        return enforced;
    }

    private bool ShouldKill(CompiledRule rule, SensorEvent sensorEvent)
    {
        foreach (var kill in _options.Kill)
        {
            if (kill.Rules.Count == 0 && kill.Namespaces.Count == 0)
            {
                continue;
            }

            if (sensorEvent.Container is null && !kill.IncludeHost)
            {
                continue;
            }

            if (kill.Rules.Count > 0 && !kill.Rules.Contains(rule.Name))
            {
                continue;
            }

            if (kill.Namespaces.Count > 0 && (sensorEvent.Kubernetes is null || !kill.Namespaces.Contains(sensorEvent.Kubernetes.Namespace)))
            {
                continue;
            }

            return true;
        }

        return false;
    }

    private string Kill(ProcessSnapshot process)
    {
        var key = (process.Pid, process.StartTimeNs);
        lock (_lock)
        {
            if (_killed.Contains(key))
            {
                return string.Create(CultureInfo.InvariantCulture, $"process {process.Pid} ({process.Name}) already killed");
            }

            if (_killed.Count > 10_000)
            {
                _killed.Clear();
            }

            _killed.Add(key);
        }

        var outcome = _actuator.KillProcess(process.Pid, process.StartTimeNs);
        return outcome switch
        {
            KillResult.Killed => string.Create(CultureInfo.InvariantCulture, $"process {process.Pid} ({process.Name}) killed (SIGKILL)"),
            KillResult.NotFound => string.Create(CultureInfo.InvariantCulture, $"kill of process {process.Pid} ({process.Name}) not needed: it had exited"),
            KillResult.PidReused => string.Create(CultureInfo.InvariantCulture, $"kill of process {process.Pid} ({process.Name}) refused: the pid now belongs to another process"),
            _ => string.Create(CultureInfo.InvariantCulture, $"kill of process {process.Pid} ({process.Name}) failed"),
        };
    }

    private static string Canonical(string ip) => IPAddress.TryParse(ip, out var address) ? address.ToString() : ip;
}
