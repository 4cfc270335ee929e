using Microsoft.Extensions.Time.Testing;
using Sensor.Kernel;
using Sensor.Pipeline;
using Sensor.Processes;

namespace Sensor.Tests.Processes;

public sealed class SelfReexecTests
{
    [Theory]
    [InlineData("/proc/self/exe", true)]
    [InlineData("/proc/thread-self/exe", true)]
    [InlineData("/proc/1234/exe", true)]
    [InlineData("/proc/12a/exe", false)]
    [InlineData("/bin/exe", false)]
    [InlineData("/proc/self/exe2", false)]
    public void IsSelfExePath_RecognisesOnlyTheProcExeLinks(string path, bool expected) =>
        Assert.Equal(expected, SelfReexec.IsSelfExePath(path));

    [Fact]
    public void Apply_BusyboxAppletReexecutedThroughProcSelfExe_IsNamedAfterArgv0WithThePreviousImage()
    {
        var table = new ProcessTable(new FakeTimeProvider());
        // The shell forks (a copy of /bin/sh), then the child re-executes busybox through /proc/self/exe as "cat".
        table.Apply(new KernelEvent { Kind = EventKind.Exec, Pid = 10, Ppid = 1, StartBoottimeNs = 5_000_000_000, Comm = "sh", Path = "/bin/sh", Argv = ["sh", "-c", "x"] });
        table.Apply(new KernelEvent { Kind = EventKind.Fork, Pid = 11, Ppid = 10, StartBoottimeNs = 6_000_000_000, ParentStartNs = 5_000_000_000, Comm = "sh" });
        var cat = table.Apply(new KernelEvent { Kind = EventKind.Exec, Pid = 11, Ppid = 10, StartBoottimeNs = 6_000_000_000, Comm = "exe", Path = "/proc/self/exe", Argv = ["cat", "/etc/shadow"] });

        Assert.Equal("cat", cat.Name);
        Assert.Equal("/bin/sh", cat.ExePath);
        Assert.Equal("cat /etc/shadow", cat.ToSnapshot().Cmdline);
    }

    [Fact]
    public void Apply_OrdinaryExec_KeepsTheKernelsName()
    {
        var table = new ProcessTable(new FakeTimeProvider());
        var p = table.Apply(new KernelEvent { Kind = EventKind.Exec, Pid = 12, Ppid = 1, StartBoottimeNs = 1, Comm = "xmrig", Path = "/tmp/xmrig", Argv = ["sshd", "-D"] });

        Assert.Equal("xmrig", p.Name);
        Assert.Equal("/tmp/xmrig", p.ExePath);
    }

    [Fact]
    public void Apply_ExecFromMemfd_ExePathIsTheMemfdName()
    {
        var table = new ProcessTable(new FakeTimeProvider());
        var p = table.Apply(new KernelEvent
        {
            Kind = EventKind.Exec, Pid = 13, Ppid = 1, StartBoottimeNs = 1, Comm = "memfd:payload", Path = "/dev/fd/3",
            Path2 = "memfd:payload", Flags = EventFlags.ExeFromMemfd, Argv = ["payload"],
        });

        Assert.Equal("memfd:payload", p.ExePath);
    }

    [Theory]
    [InlineData(16ul, "PTRACE_ATTACH")]
    [InlineData(0x4206ul, "PTRACE_SEIZE")]
    [InlineData(2ul, "PTRACE_PEEKDATA")]
    [InlineData(999ul, "999")]
    public void PtraceRequest_IsNamedAsFalcoNamesIt(ulong request, string expected) =>
        Assert.Equal(expected, EventBuilder.PtraceRequest(request));
}
