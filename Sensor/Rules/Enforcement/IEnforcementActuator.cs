using System.Net;

namespace Sensor.Rules.Enforcement;

/// <summary>
/// The kernel side of enforcement, provided by the sensor's eBPF loader: a cgroup/connect4 and connect6 deny map and
/// a kill that checks the process start time. This is the narrow seam the rule engine needs; it mirrors the loader's
/// own enforcement API member for member so that the loader's object can be adapted with one line each.
/// </summary>
internal interface IEnforcementActuator
{
    /// <summary>From now on, connects from cgroup <paramref name="cgroupId"/> to <paramref name="address"/> (any port)
    /// fail with EPERM.</summary>
    void DenyConnect(ulong cgroupId, IPAddress address);

    /// <summary>Removes a deny entry; false when there was none.</summary>
    bool AllowConnect(ulong cgroupId, IPAddress address);

    /// <summary>SIGKILL to <paramref name="pid"/> only if it is still the process that started at
    /// <paramref name="startBoottimeNs"/>; the result says what happened.</summary>
    KillOutcome KillProcess(int pid, ulong startBoottimeNs);
}

internal enum KillOutcome
{
    Killed,
    NotFound,
    PidReused,
    Failed,
}
