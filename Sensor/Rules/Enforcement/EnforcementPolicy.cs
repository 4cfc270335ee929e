using System.Globalization;
using System.Net;
using Sensor.Events;

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
    private readonly IEnforcementActuator _actuator;
    private readonly HashSet<string> _denyNamespaces;
    private readonly IPAddress[] _metadataAddresses;
    private readonly HashSet<string> _metadataText;
    private readonly Dictionary<ulong, bool> _deniedCgroups = [];
    private readonly HashSet<(int Pid, ulong Start)> _killed = [];
    private readonly Lock _lock = new();

    public EnforcementPolicy(EnforcementOptions options, IEnforcementActuator actuator)
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
            if (deny == was)
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

    /// <summary>The sensor calls this when a container's cgroup goes away, to drop its deny entries.</summary>
    public void OnContainerRemoved(ulong cgroupId) => OnContainerResolved(cgroupId, null);

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
            KillOutcome.Killed => string.Create(CultureInfo.InvariantCulture, $"process {process.Pid} ({process.Name}) killed (SIGKILL)"),
            KillOutcome.NotFound => string.Create(CultureInfo.InvariantCulture, $"kill of process {process.Pid} ({process.Name}) not needed: it had exited"),
            KillOutcome.PidReused => string.Create(CultureInfo.InvariantCulture, $"kill of process {process.Pid} ({process.Name}) refused: the pid now belongs to another process"),
            _ => string.Create(CultureInfo.InvariantCulture, $"kill of process {process.Pid} ({process.Name}) failed"),
        };
    }

    private static string Canonical(string ip) => IPAddress.TryParse(ip, out var address) ? address.ToString() : ip;
}
