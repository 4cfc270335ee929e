using Microsoft.Extensions.Time.Testing;
using Sensor.Kernel;
using Sensor.Processes;

namespace Sensor.Tests.Processes;

/// <summary>Tombstones and ancestor walks of the process table (no kernel needed).</summary>
public sealed class ProcessTableTests
{
    // Far above any pid_max (4194304 at most): /proc never has these, so a walk that falls back to /proc stops there.
    private const int Base = 2_000_000_000;
    private const ulong Sec = 1_000_000_000;

    private static KernelEvent Fork(int pid, int ppid, ulong start, ulong parentStart, string comm) =>
        new() { Kind = EventKind.Fork, Pid = pid, Ppid = ppid, StartBoottimeNs = start, ParentStartNs = parentStart, Comm = comm };

    private static KernelEvent Exit(int pid, ulong start) => new() { Kind = EventKind.Exit, Pid = pid, StartBoottimeNs = start };

    [Fact]
    public void ToSnapshot_BuiltOncePerEntry_AndACopyGetsItsOwn()
    {
        var entry = new ProcessEntry { Pid = Base + 1, Name = "sh", Argv = ["sh", "-c", "true"], Uid = 1000 };

        var first = entry.ToSnapshot();
        var copy = entry with { Name = "bash", Argv = ["bash"] };

        Assert.Same(first, entry.ToSnapshot());
        Assert.Equal(["-c", "true"], first.Args);
        Assert.Equal("1000", first.User);
        var copied = copy.ToSnapshot();
        Assert.Equal("bash", copied.Name);
        Assert.Empty(copied.Args);
        // The cache takes no part in the record's equality.
        Assert.Equal(entry, entry with { });
        Assert.Equal(new ProcessEntry { Pid = Base + 1, Name = "sh", Argv = entry.Argv, Uid = 1000 }, entry);
    }

    [Fact]
    public void ToEventSnapshot_NotKeptUntilAnEventAsksToKeepIt_ThenShared()
    {
        var entry = new ProcessEntry { Pid = Base + 1, Name = "sh", Argv = ["sh", "-c", "true"], Uid = 1000, CgroupId = 7 };

        var exec = entry.ToEventSnapshot(1000, 9, keep: false);
        var again = entry.ToEventSnapshot(-1, 7, keep: false);
        var kept = entry.ToEventSnapshot(-1, 8, keep: true);
        var afterKept = entry.ToEventSnapshot(5, 9, keep: false);

        Assert.Equal((9ul, 1000L, "1000", "sh -c true"), (exec.CgroupId, exec.LoginUid, exec.User, exec.Cmdline));
        Assert.NotSame(exec.Args, again.Args);
        Assert.Equal((8ul, -1L), (kept.CgroupId, kept.LoginUid));
        var cached = entry.ToSnapshot();
        Assert.Equal((7ul, -1L), (cached.CgroupId, cached.LoginUid));
        Assert.Same(cached.Args, kept.Args);
        Assert.Same(cached.Args, afterKept.Args);
        Assert.Equal((9ul, 5L), (afterKept.CgroupId, afterKept.LoginUid));
    }

    [Fact]
    public void Ancestors_SeveralTombstonesOfOnePid_OldestGoesOverTheBoundOthersStillFound()
    {
        var table = new ProcessTable(new FakeTimeProvider()) { MaxTombstones = 2 };
        // The same pid runs three times; a child of each run outlives it.
        for (var run = 0; run < 3; run++)
        {
            var start = (10 + 10 * (ulong)run) * Sec;
            table.Apply(Fork(Base + 1, 0, start, 0, $"run{run}"));
            table.Apply(Fork(Base + 10 + run, Base + 1, start + Sec, start, "child"));
            table.Apply(Exit(Base + 1, start));
        }

        Assert.Equal(2, table.TombstoneCount);
        Assert.Equal("run2", Assert.Single(table.Ancestors(table.Get(Base + 12)!)).Name);
        Assert.Equal("run1", Assert.Single(table.Ancestors(table.Get(Base + 11)!)).Name);
        // The oldest run's tombstone went over the bound; no later run of that pid started before its child.
        Assert.Empty(table.Ancestors(table.Get(Base + 10)!));
    }

    [Fact]
    public void Apply_Exit_TombstoneKeepsTheSnapshotTheLiveEntryBuilt()
    {
        var time = new FakeTimeProvider();
        var table = new ProcessTable(time);
        var live = table.Apply(new KernelEvent { Kind = EventKind.Exec, Pid = Base + 1, Ppid = 1, StartBoottimeNs = 10 * Sec, Comm = "sh", Path = "/bin/sh", Argv = ["sh", "-c", "x"] });
        var built = live.ToSnapshot();

        var tombstone = table.Apply(Exit(Base + 1, 10 * Sec));

        Assert.Equal(time.GetUtcNow(), tombstone.ExitedAt);
        Assert.Equal(live with { ExitedAt = tombstone.ExitedAt }, tombstone);
        Assert.Same(built, tombstone.ToSnapshot());
        // An entry whose snapshot was never built builds its own once it is a tombstone.
        var other = table.Apply(new KernelEvent { Kind = EventKind.Exec, Pid = Base + 2, Ppid = 1, StartBoottimeNs = 11 * Sec, Comm = "cat", Path = "/bin/cat", Argv = ["cat", "f"] });
        var otherTombstone = table.Apply(Exit(Base + 2, 11 * Sec));
        var rebuilt = otherTombstone.ToSnapshot();
        Assert.Equal((other.Pid, other.StartNs, "cat", "/bin/cat"), (rebuilt.Pid, rebuilt.StartTimeNs, rebuilt.Name, rebuilt.ExePath));
        Assert.Equal(["f"], rebuilt.Args);
        Assert.Same(rebuilt, otherTombstone.ToSnapshot());
    }

    [Fact]
    public void Ancestors_ParentExitedAndPidRecycled_NamesTheExitedParentAmongManyTombstones()
    {
        var table = new ProcessTable(new FakeTimeProvider());
        table.Apply(Fork(Base + 1, 0, 10 * Sec, 0, "parent"));
        table.Apply(Fork(Base + 2, Base + 1, 20 * Sec, 10 * Sec, "child"));
        table.Apply(Exit(Base + 1, 10 * Sec));
        // Thousands of short-lived processes, and the parent's pid reused by a process younger than the child.
        for (var i = 0; i < 5_000; i++)
        {
            table.Apply(Fork(Base + 100 + i, 0, (30 + (ulong)i) * Sec, 0, "short"));
            table.Apply(Exit(Base + 100 + i, (30 + (ulong)i) * Sec));
        }
        table.Apply(Fork(Base + 1, 0, 40 * Sec, 0, "recycled"));
        table.Apply(Exit(Base + 1, 40 * Sec));
        var child = table.Get(Base + 2)!;

        var ancestors = table.Ancestors(child);

        Assert.Equal("parent", Assert.Single(ancestors).Name);
        Assert.Equal(10 * Sec, ancestors[0].StartNs);
        Assert.Equal(5_002, table.TombstoneCount);
    }

    [Fact]
    public void Fork_ParentOnlyATombstone_ChildCopiesThatParentNotTheRecycledPid()
    {
        var table = new ProcessTable(new FakeTimeProvider());
        table.Apply(new KernelEvent { Kind = EventKind.Exec, Pid = Base + 1, Ppid = 0, StartBoottimeNs = 10 * Sec, Comm = "app", Path = "/bin/app", Argv = ["app"] });
        table.Apply(Exit(Base + 1, 10 * Sec));
        table.Apply(Fork(Base + 1, 0, 50 * Sec, 0, "other"));
        table.Apply(Exit(Base + 1, 50 * Sec));

        // The fork event was read after its parent's exit (the ring buffer is drained in batches).
        var child = table.Apply(Fork(Base + 2, Base + 1, 11 * Sec, 10 * Sec, "app"));

        Assert.Equal("/bin/app", child.ExePath);
    }

    [Fact]
    public void Bury_OverMaxTombstones_DropsTheOldestAndItsParentLink()
    {
        var time = new FakeTimeProvider();
        var table = new ProcessTable(time) { MaxTombstones = 2 };
        table.Apply(Fork(Base + 1, 0, 10 * Sec, 0, "first"));
        table.Apply(Fork(Base + 2, Base + 1, 11 * Sec, 10 * Sec, "child"));
        table.Apply(Exit(Base + 1, 10 * Sec));
        table.Apply(Fork(Base + 3, 0, 12 * Sec, 0, "x"));
        table.Apply(Exit(Base + 3, 12 * Sec));
        Assert.Equal("first", Assert.Single(table.Ancestors(table.Get(Base + 2)!)).Name);

        table.Apply(Fork(Base + 4, 0, 13 * Sec, 0, "y"));
        table.Apply(Exit(Base + 4, 13 * Sec));

        Assert.Equal(2, table.TombstoneCount);
        Assert.Empty(table.Ancestors(table.Get(Base + 2)!));
    }

    [Fact]
    public void Expire_AfterTheTtl_ForgetsTombstonesAndRecyclingTheKeyStillWorks()
    {
        var time = new FakeTimeProvider();
        var table = new ProcessTable(time) { TombstoneTtl = TimeSpan.FromMinutes(5) };
        table.Apply(Fork(Base + 1, 0, 10 * Sec, 0, "gone"));
        table.Apply(Exit(Base + 1, 10 * Sec));
        time.Advance(TimeSpan.FromMinutes(6));
        table.Apply(Fork(Base + 9, 0, 99 * Sec, 0, "tick")); // any event expires old tombstones

        Assert.Equal(0, table.TombstoneCount);
        Assert.Equal("orphan", table.Apply(Fork(Base + 2, Base + 1, 11 * Sec, 10 * Sec, "orphan")).Name); // not a copy of "gone"

        // The same (pid, start) buried again after expiry is found again.
        table.Apply(Fork(Base + 1, 0, 10 * Sec, 0, "again"));
        table.Apply(Exit(Base + 1, 10 * Sec));
        Assert.Equal("again", table.Apply(Fork(Base + 3, Base + 1, 12 * Sec, 10 * Sec, "c")).Name);
    }

    [Fact]
    public void Expire_LeafTombstones_GoAfterTheLeafTtl_ParentsOfLiveProcessesStayTheFullTtl()
    {
        var time = new FakeTimeProvider();
        var table = new ProcessTable(time) { TombstoneTtl = TimeSpan.FromMinutes(5), LeafTombstoneTtl = TimeSpan.FromSeconds(30) };
        // grandparent -> parent -> child (alive); both ancestors exit. A shell loop's /bin/true children are leaves.
        table.Apply(Fork(Base + 1, 0, 10 * Sec, 0, "grandparent"));
        table.Apply(Fork(Base + 2, Base + 1, 11 * Sec, 10 * Sec, "parent"));
        table.Apply(Fork(Base + 3, Base + 2, 12 * Sec, 11 * Sec, "child"));
        table.Apply(Exit(Base + 1, 10 * Sec));
        table.Apply(Exit(Base + 2, 11 * Sec));
        for (var i = 0; i < 100; i++)
        {
            table.Apply(Fork(Base + 100 + i, Base + 3, (20 + (ulong)i) * Sec, 12 * Sec, "true"));
            table.Apply(Exit(Base + 100 + i, (20 + (ulong)i) * Sec));
        }
        Assert.Equal(102, table.TombstoneCount);

        time.Advance(TimeSpan.FromSeconds(31));
        table.Apply(Fork(Base + 9, 0, 99 * Sec, 0, "tick")); // any event expires tombstones

        Assert.Equal(2, table.TombstoneCount);
        Assert.Equal([Base + 2, Base + 1], table.Ancestors(table.Get(Base + 3)!).Select(a => a.Pid));

        // The child exits: the parent becomes a leaf but was already kept as a parent; the full TTL still bounds it.
        table.Apply(Exit(Base + 3, 12 * Sec));
        time.Advance(TimeSpan.FromMinutes(5));
        table.Apply(Fork(Base + 10, 0, 100 * Sec, 0, "tick"));

        Assert.Equal(0, table.TombstoneCount);
    }

    [Fact]
    public void Expire_ForkReadAfterItsParentsExit_FindsTheParentWithinTheLeafTtl()
    {
        var time = new FakeTimeProvider();
        var table = new ProcessTable(time) { LeafTombstoneTtl = TimeSpan.FromSeconds(30) };
        table.Apply(new KernelEvent { Kind = EventKind.Exec, Pid = Base + 1, Ppid = 0, StartBoottimeNs = 10 * Sec, Comm = "app", Path = "/bin/app", Argv = ["app"] });
        table.Apply(Exit(Base + 1, 10 * Sec));
        time.Advance(TimeSpan.FromSeconds(5));

        var child = table.Apply(Fork(Base + 2, Base + 1, 11 * Sec, 10 * Sec, "app"));
        time.Advance(TimeSpan.FromSeconds(60));
        table.Apply(Fork(Base + 9, 0, 99 * Sec, 0, "tick"));

        Assert.Equal("/bin/app", child.ExePath);
        Assert.Equal("app", Assert.Single(table.Ancestors(table.Get(Base + 2)!)).Name); // kept: it has a live child now
    }

    [Fact]
    public void Ancestors_ParentNeitherInTableNorProc_StopsAndAsksAgainWithTheSameAnswer()
    {
        var table = new ProcessTable(new FakeTimeProvider());
        var orphan = table.Apply(Fork(Base + 2, Base + 1, 20 * Sec, 10 * Sec, "orphan"));

        Assert.Empty(table.Ancestors(orphan));
        Assert.Empty(table.Ancestors(orphan)); // answered from the remembered miss
    }

    [Fact]
    public void ProcReaderRead_ProcessStartedAfterTheLimit_IsNotReturned()
    {
        var self = Environment.ProcessId;

        Assert.NotNull(ProcReader.Read("/proc", self));
        Assert.Null(ProcReader.Read("/proc", self, startedNoLaterThanNs: 1)); // we did not start 1 ns after boot
        Assert.NotNull(ProcReader.Read("/proc", self, startedNoLaterThanNs: ulong.MaxValue / 2));
    }

    [Fact]
    public void ProcReaderRead_Pid1_IsReadEvenWhereItsExeLinkIsNotReadable()
    {
        // A sandboxed root may get EACCES on /proc/1/exe (this CI machine does): the process is still named, otherwise
        // every ancestor walk that reaches pid 1 re-reads /proc.
        var init = ProcReader.Read("/proc", 1);

        Assert.NotNull(init);
        Assert.Equal(1, init.Pid);
        Assert.NotEqual("", init.Name);
    }
}
