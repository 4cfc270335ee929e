using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sensor.Kernel;
using Sensor.Tests.Support;

namespace Sensor.Tests.Kernel;

public sealed class EnforcementTests
{
    [Fact]
    public async Task DenyConnect_ForOneCgroup_RefusesWithEpermThereOnlyAndReports()
    {
        var obj = Requires.Ebpf();
        var root = Preflight.CgroupV2Root()!;
        // A cgroup of our own, so the deny never touches other processes on this shared machine.
        var cg = Directory.CreateDirectory(Path.Combine(root, $"sensortest-{Guid.NewGuid():N}"));
        await using var collector = EventCollector.Start(obj, EventKind.Connect);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        var accept = Task.Run(async () =>
        {
            while (true)
            {
                using var c = await listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
            }
        }, TestContext.Current.CancellationToken);
        try
        {
            var cgroupId = ulong.Parse((await Shell.Check("stat", "-c", "%i", cg.FullName)).Trim(), CultureInfo.InvariantCulture);
            collector.Probe.DenyConnect(cgroupId, IPAddress.Loopback);
            Assert.Contains((cgroupId, IPAddress.Loopback), collector.Probe.DenyEntries());
            var inCgroup = $"echo $$ > {cg.FullName}/cgroup.procs; exec /bin/busybox nc -w 1 127.0.0.1 {port}";

            var (_, deniedCode, deniedOut) = await Shell.Run("/bin/sh", "-c", inCgroup);
            var (_, outsideCode, _) = await Shell.Run("/bin/busybox", "nc", "-w", "1", "127.0.0.1", port);

            Assert.NotEqual(0, deniedCode);
            Assert.Contains("not permitted", deniedOut, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(0, outsideCode);
            // The connect syscall is traced, so the deny marks its event instead of adding one: one event per connect.
            var denied = await collector.WaitFor(e => e.Kind == EventKind.Connect && e.CgroupId == cgroupId, "denied connect event");
            Assert.Equal(IPAddress.Loopback, denied.Address!.Address);
            Assert.Equal(-1, denied.Result);
            Assert.True(denied.Flags.HasFlag(EventFlags.ConnectDenied));
            Assert.DoesNotContain(collector.Events, e => e.Kind == EventKind.ConnectDenied && e.CgroupId == cgroupId);

            Assert.True(collector.Probe.AllowConnect(cgroupId, IPAddress.Loopback));
            Assert.DoesNotContain(collector.Probe.DenyEntries(), e => e.CgroupId == cgroupId);
            var (_, allowedCode, _) = await Shell.Run("/bin/sh", "-c", inCgroup);
            Assert.Equal(0, allowedCode);
        }
        finally
        {
            for (var i = 0; i < 50 && cg.Exists; i++)
            {
                try
                {
                    cg.Delete();
                }
                catch (IOException)
                {
                    await Task.Delay(100, TestContext.Current.CancellationToken);
                }
                cg.Refresh();
            }
        }
    }

    [Fact]
    public async Task CgroupExists_ById_TrueWhileTheCgroupLives_FalseOnceRemoved()
    {
        Requires.Root();
        if (Preflight.CgroupV2Root() is not { } root)
        {
            Requires.Unmet("no cgroup v2 hierarchy mounted");
            return;
        }

        var cg = Directory.CreateDirectory(Path.Combine(root, $"sensortest-{Guid.NewGuid():N}"));
        var cgroupId = ulong.Parse((await Shell.Check("stat", "-c", "%i", cg.FullName)).Trim(), CultureInfo.InvariantCulture);
        var whileThere = Cgroups.Exists(root, cgroupId);
        cg.Delete();

        Assert.True(whileThere);
        Assert.False(Cgroups.Exists(root, cgroupId));
        // Not certain is not removed: a root that cannot be opened keeps the answer "exists".
        Assert.True(Cgroups.Exists(Path.Combine(root, "no-such-dir"), cgroupId));
    }

    [Fact]
    public async Task KillProcess_ChecksStartTime_KillsOnlyTheSameProcess()
    {
        Requires.Root();
        using var sleeper = Process.Start("/bin/sleep", "30");
        var ticks = Sensor.Processes.ProcStat.StartTicks(sleeper.Id)!.Value;

        Assert.Equal(KillResult.PidReused, ProcessKiller.Kill(sleeper.Id, (ticks + 500) * 10_000_000));
        Assert.False(sleeper.HasExited);
        Assert.Equal(KillResult.Killed, ProcessKiller.Kill(sleeper.Id, ticks * 10_000_000));
        await sleeper.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(137, sleeper.ExitCode);
    }
}
