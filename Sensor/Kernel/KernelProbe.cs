using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Sensor.Native;

namespace Sensor.Kernel;

/// <summary>Options of the kernel side.</summary>
internal sealed record KernelProbeOptions
{
    /// <summary>Path of the compiled CO-RE object (bpf/.output/sensor.bpf.o copied next to the sensor binary).</summary>
    public required string ObjectPath { get; init; }

    /// <summary>Syscall event kinds to trace. Exec, fork and exit are always traced: the process table needs them.</summary>
    public IReadOnlySet<EventKind> Kinds { get; init; } = new HashSet<EventKind>();

    /// <summary>Report syscall events only from processes outside the host's mount namespace.</summary>
    public bool ContainerOnly { get; init; }

    /// <summary>Opens are reported when the path starts with one of these (at most <see cref="KernelProbe.MaxPathPatterns"/>,
    /// each at most <see cref="KernelProbe.MaxPathPatternBytes"/> bytes; more is an error, not a silent cut).</summary>
    public IReadOnlyList<string> WatchedPathPrefixes { get; init; } = [];

    /// <summary>Opens are also reported when the path ends with one of these (same limits).</summary>
    public IReadOnlyList<string> WatchedPathSuffixes { get; init; } = [];

    /// <summary>Ring buffer size in bytes (power of two). Default 8 MiB.</summary>
    public uint RingBufferBytes { get; init; } = 8u << 20;

    /// <summary>How often the ring buffer is drained. Default 10 ms.</summary>
    public TimeSpan DrainInterval { get; init; } = TimeSpan.FromMilliseconds(10);
}

/// <summary>
/// The sensor's hold on the kernel: loads bpf/sensor.bpf.o, programs the filter maps, attaches only the hooks the
/// options ask for, drains the ring buffer on a timer into a bounded channel, reads the kernel drop counters and
/// offers the enforcement mechanics (connect deny per cgroup, kill by pid and start time).
/// </summary>
internal sealed class KernelProbe : IKernelEnforcement, IAsyncDisposable
{
    /// <summary>Watched open path prefixes (and, separately, suffixes) the kernel's tables hold (MAX_PREFIXES).</summary>
    public const int MaxPathPatterns = 16;

    /// <summary>Bytes of one watched path pattern (PREFIX_LEN - 1).</summary>
    public const int MaxPathPatternBytes = 63;

    private static readonly Dictionary<EventKind, string[]> Programs = new()
    {
        [EventKind.Exec] = ["handle_exec"],
        [EventKind.Fork] = ["handle_fork"],
        [EventKind.Exit] = ["handle_exit"],
        [EventKind.Connect] = ["connect"],
        [EventKind.Open] = ["open", "openat", "openat2"],
        [EventKind.Setns] = ["setns"],
        [EventKind.Unshare] = ["unshare"],
        [EventKind.Mount] = ["mount"],
        [EventKind.Ptrace] = ["ptrace"],
        [EventKind.Module] = ["init_module", "finit_module"],
        [EventKind.Bpf] = ["bpf"],
        [EventKind.MemfdCreate] = ["memfd_create"],
        [EventKind.Dup] = ["dup2", "dup3"],
    };

    private readonly BpfObject _object;
    private readonly List<BpfLinkHandle> _links = [];
    private readonly RingBufferHandle _ring;
    private readonly ChannelWriter<KernelEvent> _writer;
    private readonly TimeProvider _time;
    private readonly TimeSpan _drainInterval;
    private readonly GCHandle _self;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _drain;
    private readonly Lock _cgroupAttachLock = new();
    private readonly Lock _consumeLock = new();
    private readonly string? _cgroupRoot;
    private long _userDrops;
    private readonly long[] _received = new long[16];
    // Used only by OnSample, which runs inside ring_buffer__consume under _consumeLock: one thread at a time.
    private readonly DecodedStrings _strings = new();
    private bool _denyAttached;

    /// <summary>Hooks that were asked for but could not be attached on this kernel (name and reason).</summary>
    public IReadOnlyList<string> Unavailable { get; }

    /// <summary>Syscall kinds attached and enabled.</summary>
    public IReadOnlySet<EventKind> ActiveKinds { get; }

    private unsafe KernelProbe(BpfObject obj, KernelProbeOptions options, ChannelWriter<KernelEvent> writer, TimeProvider time)
    {
        _object = obj;
        _writer = writer;
        _time = time;
        _drainInterval = options.DrainInterval;
        _cgroupRoot = Preflight.CgroupV2Root();

        var config = new RawConfig
        {
            SelfTgid = (uint)Environment.ProcessId,
            ContainerOnly = options.ContainerOnly ? 1u : 0u,
            // The sensor runs in the host mount namespace (pid 1 may not be readable from a sandboxed root).
            HostMntNs = NamespaceInode("/proc/self/ns/mnt"),
            PrefixCount = (uint)options.WatchedPathPrefixes.Count,
            SuffixCount = (uint)options.WatchedPathSuffixes.Count,
        };
        obj.Map("sensor_cfg").Update(0u, config);
        WritePatterns(obj.Map("open_prefixes"), options.WatchedPathPrefixes);
        WritePatterns(obj.Map("open_suffixes"), options.WatchedPathSuffixes);

        var wanted = new HashSet<EventKind>(options.Kinds) { EventKind.Exec, EventKind.Fork, EventKind.Exit };
        var unavailable = new List<string>();
        var active = new HashSet<EventKind>();
        var interest = obj.Map("interest");
        foreach (var kind in wanted)
        {
            if (!Programs.TryGetValue(kind, out var names))
                continue;
            var attachedAny = false;
            foreach (var name in names)
            {
                try
                {
                    if (name.StartsWith("handle_", StringComparison.Ordinal))
                    {
                        _links.Add(obj.Program(name).Attach());
                    }
                    else
                    {
                        if (!Directory.Exists($"{Preflight.TraceFs}/events/syscalls/sys_enter_{name}"))
                        {
                            unavailable.Add($"{name}: no syscall tracepoint on this kernel");
                            continue;
                        }
                        // Exit first: an enter without its exit would leave entries in the inflight map.
                        _links.Add(obj.Program($"exit_{name}").Attach());
                        _links.Add(obj.Program($"enter_{name}").Attach());
                    }
                    attachedAny = true;
                }
                catch (BpfException e) when (!name.StartsWith("handle_", StringComparison.Ordinal))
                {
                    // Syscall hooks are optional per kernel; the process lifecycle is not.
                    unavailable.Add($"{name}: {e.Message}");
                }
            }
            if (attachedAny)
            {
                active.Add(kind);
                interest.Update((uint)kind, 1u);
            }
        }
        interest.Update((uint)EventKind.ConnectDenied, 1u);
        Unavailable = unavailable;
        ActiveKinds = active;

        _self = GCHandle.Alloc(this);
        var rb = BpfException.CheckPointer(
            LibBpf.ring_buffer__new(obj.Map("events").Fd, &OnSample, GCHandle.ToIntPtr(_self), 0), "ring_buffer__new");
        _ring = new RingBufferHandle();
        Marshal.InitHandle(_ring, rb);
        _drain = time == TimeProvider.System ? StartDrainThread() : Task.Factory.StartNew(DrainLoop, TaskCreationOptions.LongRunning).Unwrap();
    }

    /// <summary>Loads and attaches. Throws <see cref="BpfException"/> or <see cref="InvalidOperationException"/> with a plain reason.</summary>
    public static unsafe KernelProbe Start(KernelProbeOptions options, ChannelWriter<KernelEvent> writer, TimeProvider time)
    {
        CheckPatterns("watched path prefixes", options.WatchedPathPrefixes);
        CheckPatterns("watched path suffixes", options.WatchedPathSuffixes);
        var obj = BpfObject.Open(options.ObjectPath);
        try
        {
            var cSize = obj.StructSize(RawEvent.CName);
            if (cSize != RawEvent.Size || sizeof(RawEvent) != RawEvent.Size)
                throw new InvalidOperationException(
                    $"struct event is {cSize} bytes in {options.ObjectPath} but RawEvent is {sizeof(RawEvent)}: rebuild both sides");
            obj.Map("events").SetMaxEntries(options.RingBufferBytes);
            obj.Load();
            return new KernelProbe(obj, options, writer, time);
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }

    /// <summary>Events that arrived from the kernel, by kind (counted in user space).</summary>
    public long Received(EventKind kind) => Interlocked.Read(ref _received[(int)kind & 15]);

    /// <summary>Events the kernel could not put into the ring buffer because it was full, by kind.</summary>
    public ulong KernelDrops(EventKind kind) => _object.Map("drops").SumPerCpu((uint)kind);

    /// <summary>Events read from the ring buffer but lost because the consumer's channel was full.</summary>
    public long UserDrops => Interlocked.Read(ref _userDrops);

    /// <summary>Drains what is in the ring buffer now (the timer does this every <see cref="KernelProbeOptions.DrainInterval"/>).</summary>
    public int DrainNow()
    {
        // ring_buffer__consume is not safe to run on two threads at once.
        lock (_consumeLock)
            return _ring.IsClosed ? 0 : LibBpf.ring_buffer__consume(_ring.DangerousGetHandle());
    }

    /// <summary>
    /// Drains on its own thread, sleeping between ticks in a timed wait on the stop handle: one wake-up per tick. The
    /// PeriodicTimer path costs the timer thread's wake-up, a hand-off to a thread-pool worker and that worker's
    /// wake-up on every tick, 100 times a second whether or not there is anything to read: an idle sensor used 3–5%
    /// of a vCPU that way, most of it on the timer thread and in futex calls (perf, session 5).
    /// </summary>
    private Task StartDrainThread()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                var stop = _stop.Token.WaitHandle;
                while (!stop.WaitOne(_drainInterval))
                    DrainNow();
                DrainNow();
                done.SetResult();
            }
#pragma warning disable CA1031 // the failure is handed to whoever awaits the drain (DisposeAsync)
            catch (Exception e)
#pragma warning restore CA1031
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "sensor-drain",
        };
        thread.Start();
        return done.Task;
    }

    /// <summary>Drain ticks from <see cref="_time"/> (a test's fake clock drives them).</summary>
    private async Task DrainLoop()
    {
        using var timer = new PeriodicTimer(_drainInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
                DrainNow();
        }
        catch (OperationCanceledException)
        {
        }
        DrainNow();
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe int OnSample(nint ctx, nint data, nuint size)
    {
        try
        {
            var probe = (KernelProbe)GCHandle.FromIntPtr(ctx).Target!;
            if (size < (nuint)RawEvent.Size)
                return 0;
            var e = KernelEvent.From((RawEvent*)data, probe._strings);
            Interlocked.Increment(ref probe._received[(int)e.Kind & 15]);
            if (!probe._writer.TryWrite(e))
                Interlocked.Increment(ref probe._userDrops);
        }
#pragma warning disable CA1031 // an exception must never unwind into libbpf's C frames
        catch
        {
        }
#pragma warning restore CA1031
        return 0;
    }

    /// <inheritdoc />
    public void DenyConnect(ulong cgroupId, IPAddress address)
    {
        EnsureDenyAttached();
        _object.Map("deny_connect").Update(DenyKey(cgroupId, address), 1u);
    }

    /// <inheritdoc />
    public bool AllowConnect(ulong cgroupId, IPAddress address) => _object.Map("deny_connect").Delete(DenyKey(cgroupId, address));

    /// <inheritdoc />
    public bool CgroupExists(ulong cgroupId) => _cgroupRoot is null || Cgroups.Exists(_cgroupRoot, cgroupId);

    /// <summary>The entries of the kernel's connect deny map now (cgroup id and address); /metrics and tests.</summary>
    public IReadOnlyList<(ulong CgroupId, IPAddress Address)> DenyEntries() =>
        _object.Map("deny_connect").Keys<RawDenyKey>().Select(DenyEntry).ToList();

    private static unsafe (ulong, IPAddress) DenyEntry(RawDenyKey key) =>
        (key.CgroupId, new IPAddress(new ReadOnlySpan<byte>(key.Addr, key.Family == 4 ? 4 : 16)));

    /// <inheritdoc />
    public KillResult KillProcess(int pid, ulong startBoottimeNs) => ProcessKiller.Kill(pid, startBoottimeNs);

    private void EnsureDenyAttached()
    {
        lock (_cgroupAttachLock)
        {
            if (_denyAttached)
                return;
            var root = _cgroupRoot ?? throw new InvalidOperationException("no cgroup v2 hierarchy to attach connect enforcement to");
            var fd = LibC.open(root, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC);
            if (fd < 0)
                throw new BpfException($"open {root}", Marshal.GetLastPInvokeError());
            try
            {
                _links.Add(_object.Program("deny_connect4").AttachCgroup(fd));
                _links.Add(_object.Program("deny_connect6").AttachCgroup(fd));
            }
            finally
            {
                _ = LibC.close(fd);
            }
            _denyAttached = true;
        }
    }

    private static unsafe RawDenyKey DenyKey(ulong cgroupId, IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        var key = new RawDenyKey { CgroupId = cgroupId, Family = address.AddressFamily == AddressFamily.InterNetwork ? 4u : 6u };
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
            key.Addr[i] = bytes[i];
        return key;
    }

    // Cutting a pattern here would change what is watched behind the caller's back (a cut suffix matches other paths,
    // a dropped prefix misses opens): callers fit their patterns first (PathPatterns.Fit).
    private static void CheckPatterns(string what, IReadOnlyList<string> patterns)
    {
        if (PatternProblems(what, patterns).FirstOrDefault() is { } problem)
            throw new InvalidOperationException(problem);
    }

    /// <summary>Why the kernel's tables cannot hold <paramref name="patterns"/> (none when they can); <paramref name="what"/> names them.</summary>
    public static IEnumerable<string> PatternProblems(string what, IReadOnlyList<string> patterns)
    {
        if (patterns.Count > MaxPathPatterns)
            yield return $"{what}: {patterns.Count} paths, the kernel holds at most {MaxPathPatterns}";
        foreach (var p in patterns)
        {
            if (System.Text.Encoding.UTF8.GetByteCount(p) > MaxPathPatternBytes)
                yield return $"{what}: '{p}' is longer than {MaxPathPatternBytes} bytes";
        }
    }

    private static unsafe void WritePatterns(BpfMap map, IReadOnlyList<string> patterns)
    {
        for (var i = 0; i < patterns.Count; i++)
        {
            var pattern = new RawPathPrefix();
            var bytes = System.Text.Encoding.UTF8.GetBytes(patterns[i]);
            pattern.Len = (uint)bytes.Length;
            for (var j = 0; j < bytes.Length; j++)
                pattern.Text[j] = bytes[j];
            map.Update((uint)i, pattern);
        }
    }

    private static uint NamespaceInode(string path)
    {
        try
        {
            var target = File.ResolveLinkTarget(path, returnFinalTarget: false)?.ToString() ?? ""; // mnt:[4026531841]
            var open = target.IndexOf('[', StringComparison.Ordinal);
            return open < 0 ? 0 : uint.Parse(target.AsSpan(open + 1, target.Length - open - 2), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _drain;
        foreach (var link in _links)
            link.Dispose();
        lock (_consumeLock)
            _ring.Dispose();
        _object.Dispose();
        _self.Free();
        _stop.Dispose();
    }
}
