using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Sensor.Kernel;
using Sensor.Native;
using Sensor.Processes;
using Sensor.Tests.Support;

namespace Sensor.Tests.Kernel;

public sealed class KernelProbeTests
{
    [Fact]
    public unsafe void RawEvent_Size_MatchesCStruct()
    {
        var obj = Requires.Ebpf();
        using var bpf = BpfObject.Open(obj);
        Assert.Equal(RawEvent.Size, sizeof(RawEvent));
        Assert.Equal(RawEvent.Size, bpf.StructSize(RawEvent.CName));
        Assert.Equal(sizeof(RawConfig), bpf.StructSize("sensor_config"));
        Assert.Equal(sizeof(RawPathPrefix), bpf.StructSize("path_prefix"));
        Assert.Equal(sizeof(RawDenyKey), bpf.StructSize("deny_key"));
    }

    [Fact]
    public async Task Start_ExecForkExit_ReportsLifecycleWithArgvAndParent()
    {
        var obj = Requires.Ebpf();
        await using var collector = EventCollector.Start(obj);
        var marker = $"marker-{Guid.NewGuid():N}";

        var (shPid, code, _) = await Shell.Run("/bin/sh", "-c", $"/bin/busybox true {marker}; exit 0");
        Assert.Equal(0, code);

        var exec = await collector.WaitFor(e => e.Kind == EventKind.Exec && e.Argv.Contains(marker), "exec of busybox true");
        Assert.Equal("/bin/busybox", exec.Path);
        Assert.Equal(["/bin/busybox", "true", marker], exec.Argv);
        Assert.Equal(shPid, exec.Ppid);
        Assert.Equal(59u, exec.Syscall);
        Assert.NotEqual(0ul, exec.CgroupId);
        var fork = await collector.WaitFor(e => e.Kind == EventKind.Fork && e.Pid == exec.Pid, "fork of the child");
        Assert.Equal(shPid, fork.Ppid);
        var exit = await collector.WaitFor(e => e.Kind == EventKind.Exit && e.Pid == exec.Pid, "exit of the child");
        Assert.Equal(exec.StartBoottimeNs, exit.StartBoottimeNs);
        Assert.Equal(0ul, collector.Probe.KernelDrops(EventKind.Exec));
    }

    [Fact]
    public async Task Start_ForkAndExitBuiltInTheRingBuffer_CarryTheTaskAndNothingLeftFromEarlierEvents()
    {
        // Lifecycle events are written straight into ring-buffer memory, which is not zeroed: a fork or exit record
        // taking the place of an earlier exec must not show that exec's path, argv or a connect's address.
        var obj = Requires.Ebpf();
        await using var collector = EventCollector.Start(obj);
        var marker = $"ring-{Guid.NewGuid():N}";
        var longArg = new string('x', 400);

        var (shPid, code, _) = await Shell.Run("/bin/sh", "-c", $"/bin/busybox true {marker} {longArg}; /bin/busybox true {marker}; exit 0");
        Assert.Equal(0, code);

        var execs = new List<KernelEvent>();
        await collector.WaitFor(e => e.Kind == EventKind.Exit && e.Pid == shPid, "exit of the shell");
        foreach (var exec in collector.Events.Where(e => e.Kind == EventKind.Exec && e.Argv.Contains(marker)))
            execs.Add(exec);
        Assert.Equal(2, execs.Count);
        var selfMntNs = NamespaceInode("/proc/self/ns/mnt");
        foreach (var exec in execs)
        {
            Assert.Equal(selfMntNs, exec.MntNs);
            Assert.NotEqual(0u, exec.PidNs);
            Assert.NotEqual(0u, exec.NetNs);
            Assert.Equal("busybox", exec.Comm);
            Assert.NotEqual(0ul, exec.ExeInode);
            Assert.Equal("busybox", exec.Path2);
            var fork = collector.Events.Single(e => e.Kind == EventKind.Fork && e.Pid == exec.Pid);
            var exit = collector.Events.Single(e => e.Kind == EventKind.Exit && e.Pid == exec.Pid);
            foreach (var life in new[] { fork, exit })
            {
                Assert.Equal("", life.Path);
                Assert.Equal("", life.Path2);
                Assert.Empty(life.Argv);
                Assert.Null(life.Address);
                Assert.Equal(0u, life.Syscall);
                Assert.Equal(EventFlags.None, life.Flags);
                Assert.Equal(0ul, life.ExeInode);
                var args = life.Args;
                Assert.Equal(new ulong[SyscallArgs.Count], ((ReadOnlySpan<ulong>)args).ToArray());
                Assert.Equal(exec.CgroupId, life.CgroupId);
                Assert.Equal(exec.CgroupName, life.CgroupName);
                Assert.Equal(exec.StartBoottimeNs, life.StartBoottimeNs);
                Assert.Equal(exec.Uid, life.Uid);
                Assert.Equal(shPid, life.Ppid);
            }
            Assert.Equal(selfMntNs, fork.MntNs);
            Assert.Equal("sh", fork.Comm);
            Assert.Equal("busybox", exit.Comm);
        }
        Assert.Equal(0ul, collector.Probe.KernelDrops(EventKind.Fork));
    }

    [Fact]
    public async Task Start_Opens_OnlyWatchedPathsAreReportedAndThoseCarryTheTask()
    {
        // The path is matched before the task's context is read: a watched open must still have all of it.
        var obj = Requires.Ebpf();
        var dir = Directory.CreateTempSubdirectory("sensor-open-");
        var watched = Path.Combine(dir.FullName, "watched", "secret");
        var other = Path.Combine(dir.FullName, "other", "secret");
        Directory.CreateDirectory(Path.GetDirectoryName(watched)!);
        Directory.CreateDirectory(Path.GetDirectoryName(other)!);
        await File.WriteAllTextAsync(watched, "x", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(other, "x", TestContext.Current.CancellationToken);
        try
        {
            await using var collector = new EventCollector(new KernelProbeOptions
            {
                ObjectPath = obj,
                Kinds = new HashSet<EventKind> { EventKind.Open },
                WatchedPathPrefixes = [Path.Combine(dir.FullName, "watched") + "/"],
            });

            var (shPid, code, _) = await Shell.Run("/bin/sh", "-c", $"/bin/busybox cat {other} {watched} >/dev/null; exit 0");
            Assert.Equal(0, code);

            var open = await collector.WaitFor(e => e.Kind == EventKind.Open && e.Path == watched, "open of the watched file");
            await collector.WaitFor(e => e.Kind == EventKind.Exit && e.Pid == shPid, "exit of the shell");
            Assert.DoesNotContain(collector.Events, e => e.Kind == EventKind.Open && e.Path == other);
            Assert.Equal(shPid, open.Ppid);
            Assert.Equal("busybox", open.Comm);
            Assert.True(open.Result >= 0, $"open returned {open.Result}");
            Assert.Equal(NamespaceInode("/proc/self/ns/mnt"), open.MntNs);
            Assert.NotEqual(0ul, open.CgroupId);
            Assert.NotEqual(0ul, open.StartBoottimeNs);
            Assert.Equal(open.Pid, open.Tid);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public async Task Start_OpensWithWatchedSuffix_AreReportedWhereverTheFileIs()
    {
        // Rules on fd.name endswith (~/.aws/credentials, release_agent) become suffixes: matched from the path's end.
        var obj = Requires.Ebpf();
        var dir = Directory.CreateTempSubdirectory("sensor-open-suffix-");
        var suffix = $"/{Path.GetFileName(dir.FullName)}.cred";
        var deep = Path.Combine(dir.FullName, "a", "b", "c") + suffix;
        var shallow = Path.Combine(dir.FullName, "x") + suffix;
        var near = Path.Combine(dir.FullName, "x") + suffix + ".bak";
        var shorter = Path.Combine(dir.FullName, "x.cred");
        foreach (var f in new[] { deep, shallow, near, shorter })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(f)!);
            await File.WriteAllTextAsync(f, "x", TestContext.Current.CancellationToken);
        }

        try
        {
            await using var collector = new EventCollector(new KernelProbeOptions
            {
                ObjectPath = obj,
                Kinds = new HashSet<EventKind> { EventKind.Open },
                WatchedPathPrefixes = ["/nonexistent-prefix/"],
                WatchedPathSuffixes = ["/no-such-suffix", suffix],
            });

            var (shPid, code, _) = await Shell.Run("/bin/sh", "-c", $"/bin/busybox cat {near} {shorter} {deep} {shallow} >/dev/null; exit 0");
            Assert.Equal(0, code);

            var open = await collector.WaitFor(e => e.Kind == EventKind.Open && e.Path == deep, "open of the deep file");
            await collector.WaitFor(e => e.Kind == EventKind.Open && e.Path == shallow, "open of the shallow file");
            await collector.WaitFor(e => e.Kind == EventKind.Exit && e.Pid == shPid, "exit of the shell");
            Assert.DoesNotContain(collector.Events, e => e.Kind == EventKind.Open && (e.Path == near || e.Path == shorter));
            Assert.Equal("busybox", open.Comm);
            Assert.True(open.Result >= 0, $"open returned {open.Result}");
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Start_TooManyWatchedPaths_FailsWithAPlainReason()
    {
        var obj = Requires.Ebpf();
        var channel = System.Threading.Channels.Channel.CreateUnbounded<KernelEvent>();

        var error = Assert.Throws<InvalidOperationException>(() => KernelProbe.Start(new KernelProbeOptions
        {
            ObjectPath = obj,
            WatchedPathSuffixes = Enumerable.Range(0, KernelProbe.MaxPathPatterns + 1).Select(i => $"/s{i}").ToList(),
        }, channel.Writer, TimeProvider.System));

        Assert.Contains("at most 16", error.Message, StringComparison.Ordinal);
    }

    private static uint NamespaceInode(string path)
    {
        var target = File.ResolveLinkTarget(path, returnFinalTarget: false)!.ToString(); // mnt:[4026531841]
        return uint.Parse(target[(target.IndexOf('[', StringComparison.Ordinal) + 1)..^1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Start_LoopbackConnect_ReportsAddressPortAndResult()
    {
        var obj = Requires.Ebpf();
        await using var collector = EventCollector.Start(obj, EventKind.Connect);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var closed = GetClosedPort();
        // Accept and close at once so that nc sees end of stream and exits.
        var accepting = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
        }, TestContext.Current.CancellationToken);

        // The sensor ignores its own process, so the connects come from children.
        await Shell.Run("/bin/busybox", "nc", "-w", "1", "127.0.0.1", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await accepting;
        await Shell.Run("/bin/busybox", "nc", "-w", "1", "127.0.0.1", closed.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var ok = await collector.WaitFor(e => e.Kind == EventKind.Connect && e.Address?.Port == port, "connect to the listener");
        Assert.Equal(IPAddress.Loopback, ok.Address!.Address);
        Assert.Equal(0, ok.Result);
        Assert.Equal("busybox", ok.Comm);
        var refused = await collector.WaitFor(e => e.Kind == EventKind.Connect && e.Address?.Port == closed, "connect to a closed port");
        Assert.Equal(-111, refused.Result); // ECONNREFUSED
    }

    [Fact]
    public async Task ProcessTable_DeepChainWhoseParentsExited_KeepsFiveAncestorsWithExeAndCmdline()
    {
        var obj = Requires.Ebpf();
        await using var collector = EventCollector.Start(obj);
        var table = new ProcessTable(new FakeTimeProvider(DateTimeOffset.UtcNow));
        table.SeedFromProc();
        var marker = $"leaf-{Guid.NewGuid():N}";
        var script = Path.Combine(Path.GetTempPath(), $"chain-{Guid.NewGuid():N}.sh");
        // Six nested shells; the trailing exit stops sh from exec-ing the last command in place.
        await File.WriteAllTextAsync(script,
            $"if [ $1 -gt 0 ]; then /bin/sh {script} $(($1-1)); exit $?; else /bin/busybox true {marker}; fi\n",
            TestContext.Current.CancellationToken);
        try
        {
            var (top, _, _) = await Shell.Run("/bin/sh", script, "6");
            await collector.WaitFor(e => e.Kind == EventKind.Exit && e.Pid == top, "exit of the top shell");
        }
        finally
        {
            File.Delete(script);
        }

        ProcessEntry? leaf = null;
        IReadOnlyList<ProcessEntry> atExec = [];
        foreach (var e in collector.Events)
        {
            var entry = table.Apply(e);
            if (e.Kind == EventKind.Exec && e.Argv.Contains(marker))
            {
                leaf = entry;
                atExec = table.Ancestors(entry);
            }
        }

        Assert.NotNull(leaf);
        Assert.True(atExec.Count >= 7, $"only {atExec.Count} ancestors at exec");
        // Every shell of the chain has exited by now: the tree comes from tombstones.
        var later = table.Ancestors(leaf with { });
        Assert.True(later.Count >= 7, $"only {later.Count} ancestors after the chain exited");
        for (var i = 0; i < 7; i++)
        {
            Assert.Equal("/bin/sh", later[i].ExePath);
            Assert.Contains(script, later[i].ToSnapshot().Cmdline, StringComparison.Ordinal);
            Assert.NotNull(later[i].ExitedAt);
            Assert.Equal(atExec[i].Pid, later[i].Pid);
        }
        Assert.Equal(leaf.Ppid, later[0].Pid);
    }

    private static int GetClosedPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
