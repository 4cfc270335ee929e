using System.Globalization;
using Sensor.Events;
using Sensor.Kernel;

namespace Sensor.Processes;

/// <summary>One process as the table knows it. Immutable: an exec replaces the entry.</summary>
internal sealed record ProcessEntry
{
    public required int Pid { get; init; }
    public int Ppid { get; init; }

    /// <summary>Start time in ns since boot (start_boottime; what /proc reports, rounded to ticks there).</summary>
    public ulong StartNs { get; init; }
    public string Name { get; init; } = "";
    public string ExePath { get; init; } = "";
    public IReadOnlyList<string> Argv { get; init; } = [];
    public int Uid { get; init; }
    public int Tty { get; init; }
    public ulong CgroupId { get; init; }
    public string CgroupName { get; init; } = "";
    public bool IsExeUpperLayer { get; init; }
    public bool IsExeFromMemfd { get; init; }

    /// <summary>Set when the process exited; the entry stays as a tombstone so children can still name it.</summary>
    public DateTimeOffset? ExitedAt { get; init; }

    // The snapshot of this entry, built once: every event of a process and of its descendants carries its snapshot
    // (up to 8 ancestors per event), and rebuilding them per event was most of what an exec event allocated.
    private SnapshotSlot _snapshot;

    /// <summary>The entry as events carry it; the same immutable instance for every event (the entry is immutable).</summary>
    public ProcessSnapshot ToSnapshot()
    {
        if (_snapshot.Get(this) is { } cached)
            return cached;
        var snapshot = BuildSnapshot(-1, CgroupId);
        _snapshot = new SnapshotSlot(this, snapshot);
        return snapshot;
    }

    /// <summary>
    /// The snapshot an event of this very process carries, with what the kernel saw at that syscall (login uid,
    /// cgroup). With <paramref name="keep"/> false and nothing cached yet it is built for this event alone: an exec
    /// starts a new entry and is, for most processes (a shell's commands), their only event, so a snapshot kept then
    /// sat unused in the tombstone for its whole life (and the event copied it anyway to add these two fields).
    /// Later events of the same entry (opens, connects) pass true and share the cached one, as descendants do.
    /// </summary>
    public ProcessSnapshot ToEventSnapshot(long loginUid, ulong cgroupId, bool keep) =>
        _snapshot.Get(this) is null && !keep
            ? BuildSnapshot(loginUid, cgroupId)
            : ToSnapshot() with { LoginUid = loginUid, CgroupId = cgroupId };

    private ProcessSnapshot BuildSnapshot(long loginUid, ulong cgroupId)
    {
        var argv = Argv;
        var args = argv.Count > 1 ? new string[argv.Count - 1] : [];
        for (var i = 1; i < argv.Count; i++)
            args[i - 1] = argv[i];
        return new ProcessSnapshot
        {
            Pid = Pid,
            Ppid = Ppid,
            Name = Name,
            Exe = argv.Count > 0 ? argv[0] : Name,
            ExePath = ExePath,
            Args = args,
            Uid = Uid,
            User = Uid == 0 ? "root" : Uid.ToString(CultureInfo.InvariantCulture),
            Tty = Tty,
            IsExeUpperLayer = IsExeUpperLayer,
            IsExeFromMemfd = IsExeFromMemfd,
            StartTimeNs = StartNs,
            CgroupId = cgroupId,
            LoginUid = loginUid,
        };
    }

    /// <summary>
    /// This process as a tombstone, exited at <paramref name="at"/>. The snapshot shows nothing of the exit, so the
    /// tombstone takes over the one already built: a plain <c>with</c> copy would build its own on the next event of a
    /// child, and would keep this entry alive through the copied slot for as long as the tombstone lives (about 120
    /// bytes more per tombstone, tens of thousands of them on a busy node).
    /// </summary>
    public ProcessEntry Exited(DateTimeOffset at)
    {
        var tombstone = this with { ExitedAt = at };
        tombstone._snapshot = _snapshot.Get(this) is { } built ? new SnapshotSlot(tombstone, built) : default;
        return tombstone;
    }

    /// <summary>
    /// A cached snapshot tied to the entry that built it: <c>with</c> copies fields, so a copy finds its original as
    /// the owner and builds its own. It never takes part in the record's equality (always equal, hash 0).
    /// </summary>
    private readonly struct SnapshotSlot(ProcessEntry owner, ProcessSnapshot snapshot) : IEquatable<SnapshotSlot>
    {
        private readonly Holder? _holder = new(owner, snapshot);

        public ProcessSnapshot? Get(ProcessEntry self) =>
            _holder is { } h && ReferenceEquals(h.Owner, self) ? h.Snapshot : null;

        public bool Equals(SnapshotSlot other) => true;

        public override bool Equals(object? obj) => obj is SnapshotSlot;

        public override int GetHashCode() => 0;

        // One reference, so a reader on another thread sees owner and snapshot together.
        private sealed record Holder(ProcessEntry Owner, ProcessSnapshot Snapshot);
    }
}

/// <summary>
/// The node's processes, seeded from /proc at start and kept by the kernel's exec, fork and exit events. Exited
/// processes stay as tombstones so that an event of a child whose parent already exited still carries the full
/// ancestry: for <see cref="TombstoneTtl"/> while some process in the table names them as parent, and only
/// <see cref="LeafTombstoneTtl"/> when none does (bounded by <see cref="MaxTombstones"/> either way). Thread-safe: the
/// event pipeline writes, the response executor and evidence capture read.
/// </summary>
internal sealed class ProcessTable(TimeProvider time)
{
    public TimeSpan TombstoneTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a tombstone no process in the table names as parent is kept: nothing can ask for it any more (its
    /// descendants' events are what ask), but a fork event can still be on its way through the pipeline. Most exited
    /// processes are such leaves (/bin/true of a shell loop, a container's processes once it is gone); keeping them the
    /// full <see cref="TombstoneTtl"/> made the table, and the sensor's memory, grow with every short-lived container
    /// for five minutes.
    /// </summary>
    public TimeSpan LeafTombstoneTtl { get; init; } = TimeSpan.FromSeconds(30);
    public int MaxTombstones { get; init; } = 50_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<int, ProcessEntry> _live = [];
    // Tombstones keyed by (pid, start) so a recycled pid does not hide the exited process from its children.
    private readonly Dictionary<(int Pid, ulong Start), ProcessEntry> _dead = [];
    // The start times of each pid's tombstones: a parent lookup by pid touches only that pid's few tombstones. It used
    // to scan them all, which made every event of a process whose parent had exited cost O(tombstones) — about a
    // quarter of the sensor's CPU on a node running 1,000 short-lived processes a second (5-minute retention).
    private readonly Dictionary<int, StartTimes> _deadStarts = [];
    private readonly Queue<(int Pid, ulong Start, DateTimeOffset At)> _deadOrder = new();
    // Tombstones past LeafTombstoneTtl that still had children then: kept until TombstoneTtl (same time order).
    private readonly Queue<(int Pid, ulong Start, DateTimeOffset At)> _parentOrder = new();
    // How many entries (live or tombstones) name each pid as their parent: a tombstone whose pid has none is a leaf.
    private readonly Dictionary<int, int> _children = [];
    // (parent pid, child start) pairs whose parent /proc could not supply; cleared when full (it only saves reads).
    private readonly HashSet<(int Ppid, ulong ChildStart)> _missingParents = [];
    private const int MaxMissingParents = 4096;

    public int LiveCount
    {
        get
        {
            lock (_lock)
                return _live.Count;
        }
    }

    public int TombstoneCount
    {
        get
        {
            lock (_lock)
                return _dead.Count;
        }
    }

    /// <summary>Reads every process in /proc (the sensor starts after them and would otherwise not know them).</summary>
    public int SeedFromProc(string procRoot = "/proc")
    {
        var n = 0;
        foreach (var dir in Directory.EnumerateDirectories(procRoot))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid))
                continue;
            var entry = ProcReader.Read(procRoot, pid);
            if (entry is null)
                continue;
            lock (_lock)
                TryAddLive(entry);
            n++;
        }
        return n;
    }

    /// <summary>Applies a lifecycle event; other kinds only fill in a process the table missed.</summary>
    public ProcessEntry Apply(KernelEvent e)
    {
        lock (_lock)
        {
            Expire();
            switch (e.Kind)
            {
                case EventKind.Fork:
                {
                    // The child starts as a copy of its parent (same image, same argv) until it execs.
                    var parent = FindLocked(e.Ppid, e.ParentStartNs);
                    var child = (parent ?? FromEvent(e)) with
                    {
                        Pid = e.Pid,
                        Ppid = e.Ppid,
                        StartNs = e.StartBoottimeNs,
                        CgroupId = e.CgroupId,
                        CgroupName = e.CgroupName,
                        Uid = e.Uid,
                        ExitedAt = null,
                    };
                    SetLive(child);
                    return child;
                }
                case EventKind.Exec:
                {
                    // Keep the ppid from the fork: after a reparent the kernel's real_parent is the reaper, but the
                    // tree that matters to an analyst is who started the process.
                    var known = _live.GetValueOrDefault(e.Pid);
                    var same = known is not null && Same(known.StartNs, e.StartBoottimeNs);
                    var entry = FromEvent(e, same ? known!.Ppid : e.Ppid);
                    if (SelfReexec.IsSelfExePath(e.Path))
                    {
                        // A multi-call binary (busybox, runc) re-executed itself through /proc/self/exe: the kernel
                        // names it "exe". The program that runs is the one argv[0] names, and the file is the one the
                        // process ran before this exec.
                        entry = entry with
                        {
                            Name = SelfReexec.NameFromArgv(e.Argv) ?? entry.Name,
                            ExePath = same && known!.ExePath.Length > 0 && !SelfReexec.IsSelfExePath(known.ExePath) ? known.ExePath : entry.ExePath,
                        };
                    }
                    SetLive(entry);
                    return entry;
                }
                case EventKind.Exit:
                {
                    var known = _live.GetValueOrDefault(e.Pid);
                    var entry = (known is not null && Same(known.StartNs, e.StartBoottimeNs) ? known : FromEvent(e)).Exited(time.GetUtcNow());
                    RemoveLive(e.Pid);
                    Bury(entry);
                    return entry;
                }
                default:
                {
                    var known = _live.GetValueOrDefault(e.Pid);
                    if (known is not null && Same(known.StartNs, e.StartBoottimeNs))
                        return known;
                    // Missed (started before seeding finished, or its exec event was dropped): learn what we can.
                    var learned = ProcReader.Read("/proc", e.Pid) ?? FromEvent(e);
                    learned = learned with { StartNs = e.StartBoottimeNs, CgroupId = e.CgroupId };
                    SetLive(learned);
                    return learned;
                }
            }
        }
    }

    /// <summary>A live process by pid, or null.</summary>
    public ProcessEntry? Get(int pid)
    {
        lock (_lock)
            return _live.GetValueOrDefault(pid);
    }

    /// <summary>
    /// Ancestors of <paramref name="process"/>, parent first, up to <paramref name="max"/>, including exited ones.
    /// A pid that was recycled by a process younger than its supposed child is skipped in favour of the tombstone.
    /// </summary>
    public IReadOnlyList<ProcessEntry> Ancestors(ProcessEntry process, int max = 8)
    {
        var list = new List<ProcessEntry>(max);
        lock (_lock)
        {
            var current = process;
            while (list.Count < max && current.Ppid > 0)
            {
                var parent = FindParentLocked(current);
                if (parent is null)
                {
                    // A parent that exited before the sensor started is never found: remember the miss, or every
                    // event of that process (and of its descendants) would read /proc again.
                    if (_missingParents.Contains((current.Ppid, current.StartNs)))
                        break;
                    parent = ProcReader.Read("/proc", current.Ppid, current.StartNs);
                    if (parent is null || !StartedNoLaterThan(parent.StartNs, current.StartNs))
                    {
                        if (_missingParents.Count >= MaxMissingParents)
                            _missingParents.Clear();
                        _missingParents.Add((current.Ppid, current.StartNs));
                        break;
                    }
                    TryAddLive(parent);
                }
                if (parent.Pid == process.Pid || Contains(list, parent.Pid))
                    break;
                list.Add(parent);
                current = parent;
            }
        }
        return list;
    }

    // A loop in the recorded tree (pid reuse) ends the walk; at most 8 entries, so a scan beats a HashSet per event.
    private static bool Contains(List<ProcessEntry> list, int pid)
    {
        foreach (var entry in list)
        {
            if (entry.Pid == pid)
                return true;
        }
        return false;
    }

    private ProcessEntry? FindParentLocked(ProcessEntry child)
    {
        if (_live.TryGetValue(child.Ppid, out var live) && StartedNoLaterThan(live.StartNs, child.StartNs))
            return live;
        // The newest tombstone with that pid that started before the child.
        ProcessEntry? best = null;
        if (_deadStarts.TryGetValue(child.Ppid, out var starts))
        {
            for (var i = 0; i < starts.Count; i++)
            {
                var entry = _dead[(child.Ppid, starts[i])];
                if (StartedNoLaterThan(entry.StartNs, child.StartNs) && (best is null || entry.StartNs > best.StartNs))
                    best = entry;
            }
        }
        return best;
    }

    private ProcessEntry? FindLocked(int pid, ulong startNs)
    {
        if (_live.TryGetValue(pid, out var live) && Same(live.StartNs, startNs))
            return live;
        if (_deadStarts.TryGetValue(pid, out var starts))
        {
            for (var i = 0; i < starts.Count; i++)
            {
                var entry = _dead[(pid, starts[i])];
                if (Same(entry.StartNs, startNs))
                    return entry;
            }
        }
        return null;
    }

    /// <summary>Same start time, allowing for /proc's rounding down to clock ticks.</summary>
    internal static bool Same(ulong a, ulong b) =>
        a == 0 || b == 0 || (a > b ? a - b : b - a) < ProcReader.NsPerTick;

    private static bool StartedNoLaterThan(ulong parent, ulong child) => child == 0 || parent <= child + ProcReader.NsPerTick;

    private void SetLive(ProcessEntry entry)
    {
        if (_live.TryGetValue(entry.Pid, out var old))
            Unlink(old.Ppid);
        _live[entry.Pid] = entry;
        Link(entry.Ppid);
    }

    private void TryAddLive(ProcessEntry entry)
    {
        if (_live.TryAdd(entry.Pid, entry))
            Link(entry.Ppid);
    }

    private void RemoveLive(int pid)
    {
        if (_live.Remove(pid, out var old))
            Unlink(old.Ppid);
    }

    private void Link(int ppid)
    {
        if (ppid > 0)
            System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_children, ppid, out _)++;
    }

    private void Unlink(int ppid)
    {
        if (ppid > 0 && _children.TryGetValue(ppid, out var n))
        {
            if (n <= 1)
                _children.Remove(ppid);
            else
                _children[ppid] = n - 1;
        }
    }

    private void Bury(ProcessEntry entry)
    {
        var key = (entry.Pid, entry.StartNs);
        if (_dead.TryGetValue(key, out var replaced))
        {
            Unlink(replaced.Ppid);
        }
        else
        {
            System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_deadStarts, entry.Pid, out _).Add(entry.StartNs);
        }
        _dead[key] = entry;
        Link(entry.Ppid);
        _deadOrder.Enqueue((entry.Pid, entry.StartNs, entry.ExitedAt ?? time.GetUtcNow()));
        // Over the bound: the oldest first, from whichever queue holds it.
        while (_dead.Count > MaxTombstones)
        {
            var fromParents = _parentOrder.TryPeek(out var parent) && (!_deadOrder.TryPeek(out var leaf) || parent.At <= leaf.At);
            if (!(fromParents ? _parentOrder : _deadOrder).TryDequeue(out var old))
                break;
            RemoveDead(old.Pid, old.Start);
        }
    }

    private void RemoveDead(int pid, ulong start)
    {
        if (!_dead.Remove((pid, start), out var removed))
            return;
        Unlink(removed.Ppid);
        ref var starts = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_deadStarts, pid);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref starts))
            return;
        starts.Remove(start);
        if (starts.Count == 0)
            _deadStarts.Remove(pid);
    }

    /// <summary>
    /// The start times of one pid's tombstones (distinct). Nearly always one, held inline: a list per pid was two
    /// more objects per tombstone, kept as long as the tombstone (tens of thousands on a busy node, all of them for
    /// the collector to move).
    /// </summary>
    private struct StartTimes
    {
        private ulong _first;
        private List<ulong>? _more;

        public int Count { get; private set; }

        public readonly ulong this[int index] => index == 0 ? _first : _more![index - 1];

        public void Add(ulong start)
        {
            if (Count == 0)
                _first = start;
            else
                (_more ??= []).Add(start);
            Count++;
        }

        public void Remove(ulong start)
        {
            if (Count > 0 && _first == start)
            {
                // The last of the others takes the inline place.
                if (Count > 1)
                {
                    _first = _more![^1];
                    _more.RemoveAt(_more.Count - 1);
                }
                Count--;
            }
            else if (_more is not null && _more.Remove(start))
            {
                Count--;
            }
        }
    }

    private void Expire()
    {
        var now = time.GetUtcNow();
        var cutoff = now - TombstoneTtl;
        var leafCutoff = now - LeafTombstoneTtl;
        while (_deadOrder.TryPeek(out var old) && (old.At < leafCutoff || old.At < cutoff))
        {
            _deadOrder.Dequeue();
            // A later burial of the same key has its own, later queue entry.
            if (!_dead.TryGetValue((old.Pid, old.Start), out var e) || e.ExitedAt > old.At)
                continue;
            if (old.At < cutoff || !_children.ContainsKey(old.Pid))
                RemoveDead(old.Pid, old.Start);
            else
                _parentOrder.Enqueue(old);
        }
        while (_parentOrder.TryPeek(out var parent) && parent.At < cutoff)
        {
            _parentOrder.Dequeue();
            if (_dead.TryGetValue((parent.Pid, parent.Start), out var e) && e.ExitedAt <= parent.At)
                RemoveDead(parent.Pid, parent.Start);
        }
    }

    private static ProcessEntry FromEvent(KernelEvent e) => FromEvent(e, e.Ppid);

    private static ProcessEntry FromEvent(KernelEvent e, int ppid) => new()
    {
        Pid = e.Pid,
        Ppid = ppid,
        StartNs = e.StartBoottimeNs,
        Name = e.Comm,
        // A memfd has no path: name it as the kernel does ("memfd:<name>"), not by the /dev/fd/N it was run through.
        ExePath = e.Kind != EventKind.Exec ? "" : e.Flags.HasFlag(EventFlags.ExeFromMemfd) && e.Path2.Length > 0 ? e.Path2 : e.Path,
        Argv = e.Kind == EventKind.Exec ? e.Argv : [],
        Uid = e.Uid,
        Tty = e.Tty,
        CgroupId = e.CgroupId,
        CgroupName = e.CgroupName,
        IsExeUpperLayer = e.Flags.HasFlag(EventFlags.ExeUpperLayer),
        IsExeFromMemfd = e.Flags.HasFlag(EventFlags.ExeFromMemfd),
    };
}

/// <summary>Reads one process from /proc (seeding, and processes the table missed).</summary>
internal static class ProcReader
{
    /// <summary>/proc counts start times in USER_HZ (100) ticks.</summary>
    internal const ulong NsPerTick = ProcStat.NsPerTick;

    /// <summary>
    /// Reads <paramref name="pid"/>, or returns null when it is gone or, with <paramref name="startedNoLaterThanNs"/>,
    /// when the process now under that pid started after that time (a recycled pid: not the parent being looked
    /// for). That check comes right after the stat line so a recycled pid costs one read, not five.
    /// </summary>
    public static ProcessEntry? Read(string procRoot, int pid, ulong startedNoLaterThanNs = 0)
    {
        try
        {
            var dir = $"{procRoot}/{pid}";
            if (ProcStat.Read(pid, procRoot) is not { } stat)
                return null;
            var (name, ppid, tty, startTicks) = stat;
            if (startedNoLaterThanNs != 0 && startTicks * NsPerTick > startedNoLaterThanNs + NsPerTick)
                return null;
            var cmdline = File.ReadAllBytes($"{dir}/cmdline");
            var argv = cmdline.Length == 0 ? [] : KernelEvent.SplitArgv(cmdline);
            string exe;
            try
            {
                exe = File.ResolveLinkTarget($"{dir}/exe", false)?.ToString() ?? "";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A sandboxed root may not resolve another process's exe (pid 1 here: EACCES). The rest of the entry
                // still names the process; without it every ancestor walk ending at that pid re-read /proc and threw.
                exe = "";
            }
            var uid = 0;
            var cgroup = "";
            foreach (var line in File.ReadLines($"{dir}/status"))
            {
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                {
                    uid = int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                    break;
                }
            }
            foreach (var line in File.ReadLines($"{dir}/cgroup"))
            {
                if (line.StartsWith("0::", StringComparison.Ordinal))
                {
                    cgroup = Path.GetFileName(line[3..]);
                    break;
                }
            }
            var startNs = startTicks * NsPerTick;
            // Started before the sensor through /proc/self/exe: name it as the exec path above does.
            if (name == "exe" && Path.GetFileName(exe) != "exe" && SelfReexec.NameFromArgv(argv) is { } applet)
                name = applet;
            return new ProcessEntry
            {
                Pid = pid,
                Ppid = ppid,
                StartNs = startNs,
                Name = name,
                ExePath = exe,
                Argv = argv,
                Uid = uid,
                Tty = tty,
                CgroupName = cgroup,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}

/// <summary>
/// Multi-call binaries re-execute themselves through <c>/proc/self/exe</c> (busybox's shell runs every applet that
/// way, runc its init). The kernel then sets comm to "exe", so every applet would look like the same process and rules
/// on proc.name (shells, nsenter, cat reading a token, nc) would miss. The sensor names such a process after argv[0],
/// which is what selects the applet. (argv[0] is chosen by the caller, but so are comm and the file name: proc.name is
/// never proof of identity; proc.exepath and the upper-layer flag are what an attacker cannot choose freely.)
/// </summary>
internal static class SelfReexec
{
    /// <summary>/proc/self/exe, /proc/thread-self/exe or /proc/&lt;pid&gt;/exe.</summary>
    public static bool IsSelfExePath(string path)
    {
        if (!path.StartsWith("/proc/", StringComparison.Ordinal) || !path.EndsWith("/exe", StringComparison.Ordinal))
            return false;
        var middle = path.AsSpan(6, path.Length - 10);
        return middle is "self" or "thread-self" || (middle.Length > 0 && !middle.ContainsAnyExceptInRange('0', '9'));
    }

    /// <summary>Basename of argv[0], cut to the 15 characters comm holds; null when there is none.</summary>
    public static string? NameFromArgv(IReadOnlyList<string> argv)
    {
        if (argv.Count == 0 || argv[0].Length == 0)
            return null;
        var name = argv[0][(argv[0].LastIndexOf('/') + 1)..].TrimStart('-'); // a login shell's argv[0] is "-sh"
        if (name.Length == 0)
            return null;
        return name.Length > 15 ? name[..15] : name;
    }
}
