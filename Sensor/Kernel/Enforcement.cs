using System.Net;
using System.Runtime.InteropServices;
using Sensor.Native;
using Sensor.Processes;

namespace Sensor.Kernel;

/// <summary>
/// What the sensor can enforce by itself on this node. The rule engine and the response executor call these; they
/// act on kernel identities (cgroup id, pid plus start time) so that a recycled pid is never hit by mistake.
/// </summary>
internal interface IKernelEnforcement
{
    /// <summary>
    /// Refuses, from now on, every connect from processes in cgroup <paramref name="cgroupId"/> (0: every cgroup) to
    /// <paramref name="address"/> (any port). The caller gets EPERM. The sensor reports it once, as Falco's
    /// <c>connect</c> with result EPERM: the traced connect's own event carries <see cref="EventFlags.ConnectDenied"/>;
    /// when connects are not traced a <see cref="EventKind.ConnectDenied"/> event stands in for it.
    /// </summary>
    void DenyConnect(ulong cgroupId, IPAddress address);

    /// <summary>Removes a deny entry; false when there was none.</summary>
    bool AllowConnect(ulong cgroupId, IPAddress address);

    /// <summary>
    /// Sends SIGKILL to <paramref name="pid"/> only if it is still the process that started at
    /// <paramref name="startBoottimeNs"/> (the start_boottime the sensor reported), through a pidfd so that the pid
    /// cannot be recycled between the check and the signal.
    /// </summary>
    KillResult KillProcess(int pid, ulong startBoottimeNs);
}

internal enum KillResult
{
    Killed,
    NotFound,
    PidReused,
    Failed,
}

internal static class ProcessKiller
{
    public static KillResult Kill(int pid, ulong startBoottimeNs)
    {
        var pidfd = LibC.pidfd_open(pid, 0);
        if (pidfd < 0)
            return KillResult.NotFound;
        try
        {
            // Checked after the pidfd is open: from here on the pidfd names this process even if the pid is reused.
            var ticks = ProcStat.StartTicks(pid);
            if (ticks is null)
                return KillResult.NotFound;
            if (!ProcStat.SameStart(ticks.Value, startBoottimeNs))
                return KillResult.PidReused;
            if (LibC.pidfd_send_signal(pidfd, LibC.SIGKILL, 0, 0) == 0)
                return KillResult.Killed;
            return Marshal.GetLastPInvokeError() == 3 ? KillResult.NotFound : KillResult.Failed;
        }
        finally
        {
            _ = LibC.close(pidfd);
        }
    }
}
