using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Sensor.Native;

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
    // /proc/<pid>/stat field 22 counts clock ticks since boot; USER_HZ is 100 on every Linux ABI.
    private const ulong NsPerTick = 10_000_000;

    public static KillResult Kill(int pid, ulong startBoottimeNs)
    {
        var pidfd = LibC.pidfd_open(pid, 0);
        if (pidfd < 0)
            return KillResult.NotFound;
        try
        {
            var ticks = StartTicks(pid);
            if (ticks is null)
                return KillResult.NotFound;
            // The kernel rounds start_boottime down to ticks for /proc; allow one tick of rounding difference.
            var expected = startBoottimeNs / NsPerTick;
            if (ticks.Value + 1 < expected || ticks.Value > expected + 1)
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

    /// <summary>Start time of a process in clock ticks since boot, from /proc/&lt;pid&gt;/stat; null when gone.</summary>
    public static ulong? StartTicks(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        // comm may contain spaces and parentheses: fields resume after the last ')'.
        var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // rest[0] is field 3 (state); field 22 is rest[19].
        return rest.Length > 19 && ulong.TryParse(rest[19], CultureInfo.InvariantCulture, out var t) ? t : null;
    }
}
