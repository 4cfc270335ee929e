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

    /// <summary>
    /// False once cgroup <paramref name="cgroupId"/> has been removed (its container is gone); true while it exists and
    /// whenever the answer is not certain, so that a deny is never lifted on a doubt.
    /// </summary>
    bool CgroupExists(ulong cgroupId);
}

internal enum KillResult
{
    Killed,
    NotFound,
    PidReused,
    Failed,
}

/// <summary>
/// Whether a cgroup v2 directory still exists, by its id alone: the id the kernel reports
/// (<c>bpf_get_current_cgroup_id</c>) is the directory's kernfs file handle, which <c>open_by_handle_at</c> resolves
/// while the cgroup lives and answers ESTALE after it was removed. No path is needed (events carry only the leaf
/// name) and a new cgroup never takes an old id.
/// </summary>
internal static class Cgroups
{
    public static unsafe bool Exists(string cgroupRoot, ulong cgroupId)
    {
        var root = LibC.open(cgroupRoot, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
        if (root < 0)
        {
            return true;
        }

        try
        {
            var handle = new CgroupFileHandle { HandleBytes = sizeof(ulong), HandleType = LibC.FILEID_KERNFS, Id = cgroupId };
            var fd = LibC.open_by_handle_at(root, &handle, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
            if (fd >= 0)
            {
                _ = LibC.close(fd);
                return true;
            }

            // Anything but "no such cgroup" (EPERM without CAP_DAC_READ_SEARCH, EMFILE ...) is not a removal.
            return Marshal.GetLastPInvokeError() is not (LibC.ESTALE or LibC.ENOENT);
        }
        finally
        {
            _ = LibC.close(root);
        }
    }
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
