using Sensor.Events;
using Sensor.Rules;
using Sensor.Tests.Support;
using static Sensor.Tests.Support.TestEvents;

namespace Sensor.Tests.Rules;

/// <summary>
/// Every rule of the default pack against events shaped as the sensor builds them from kernel events: one that fires
/// it and near misses that must not. (The same rules against real containers and the eBPF sensor: DefaultRulePackLiveTests.)
/// </summary>
public sealed class DefaultRulePackTests
{
    private static readonly Lazy<RuleSet> Pack = new(() => new RuleLoader().LoadPath(RepoFiles.DefaultRules).Build());

    private static readonly string[] Runbooks =
    [
        "metadata-credential-access", "container-drift", "memfd-execution", "container-escape", "cryptomining",
        "reverse-shell", "sensitive-file-read", "shell-in-container", "package-manager-in-container", "ptrace-attach",
    ];

    private static List<string> Fired(SensorEvent e) => new RuleEvaluator(Pack.Value).Evaluate(e).Select(r => r.Name).ToList();

    private static readonly ProcessSnapshot Shell = Proc("bash") with { Pid = 700 };

    private static FdInfo Tcp(string server, int port) => new()
    {
        Name = $"10.88.0.5:40000->{server}:{port}", TypeChar = server.Contains(':', StringComparison.Ordinal) ? '6' : '4',
        L4Proto = "tcp", ClientIp = "10.88.0.5", ClientPort = 40000, ServerIp = server, ServerPort = port,
    };

    private static Dictionary<string, string> Args(params (string Key, string Value)[] args) =>
        args.ToDictionary(a => a.Key, a => a.Value);

    internal static readonly List<(string Rule, string Case, SensorEvent Event, bool Fires)> CaseList =
    [
        ("Cloud metadata service contacted from container", "curl to 169.254.169.254 in a pod",
            Connect(Proc("curl"), "169.254.169.254", 80, container: Container(), k8s: Pod()), true),
        ("Cloud metadata service contacted from container", "IPv6 fd00:ec2::254",
            Connect(Proc("python3"), "fd00:ec2::254", 80, container: Container()), true),
        ("Cloud metadata service contacted from container", "denied connect (EPERM) still reported",
            Connect(Proc("curl"), "169.254.169.254", 80, result: -1, container: Container()), true),
        ("Cloud metadata service contacted from container", "near miss: node agent on the host",
            Connect(Proc("amazon-ssm-agent"), "169.254.169.254", 80), false),
        ("Cloud metadata service contacted from container", "near miss: link-local DNS 169.254.169.253",
            Connect(Proc("curl"), "169.254.169.253", 53, container: Container()), false),

        ("Container drift binary executed", "exec of an upper-layer binary",
            Exec(Proc("/tmp/payload") with { IsExeUpperLayer = true }, Container()), true),
        ("Container drift binary executed", "near miss: image binary",
            Exec(Proc("ls"), Container()), false),
        ("Container drift binary executed", "near miss: upper-layer binary on the host",
            Exec(Proc("/tmp/payload") with { IsExeUpperLayer = true }), false),

        ("Fileless execution from memfd", "execveat of a memfd",
            Exec(Proc("3") with { IsExeFromMemfd = true, ExePath = "memfd:payload (deleted)" }, Container()), true),
        ("Fileless execution from memfd", "near miss: runc cloning itself",
            Exec(Proc("runc") with { IsExeFromMemfd = true, ExePath = "memfd:runc_cloned:/proc/self/exe" }), false),

        ("Namespace change from container", "nsenter's setns",
            Event("setns", Proc("nsenter"), result: -1, container: Container(), args: Args(("nstype", "CLONE_NEWNS"))), true),
        ("Namespace change from container", "unshare -U",
            Event("unshare", Proc("unshare"), container: Container(), args: Args(("flags", "CLONE_NEWUSER"))), true),
        ("Namespace change from container", "near miss: runc setting up the container",
            Event("unshare", Proc("runc:[1:CHILD]") with { ExePath = "/usr/bin/runc" }, container: Container()), false),
        ("Namespace change from container", "near miss: unshare on the host",
            Event("unshare", Proc("unshare")), false),

        ("Mount from container", "mount of the host disk",
            Event("mount", Proc("mount"), result: -1, container: Container(), args: Args(("dev", "/dev/sda1"), ("dir", "/mnt"))), true),
        ("Mount from container", "near miss: crun mounting for the container",
            Event("mount", Proc("crun") with { ExePath = "/usr/bin/crun" }, container: Container()), false),

        ("Container escape file written", "release_agent opened for write",
            Open(Shell, "/sys/fs/cgroup/rdma/release_agent", flags: 1, container: Container()), true),
        ("Container escape file written", "core_pattern write attempt refused",
            Open(Shell, "/proc/sys/kernel/core_pattern", flags: 1, result: -30, container: Container()), true),
        ("Container escape file written", "near miss: release_agent only read",
            Open(Shell, "/sys/fs/cgroup/rdma/release_agent", flags: 0, container: Container()), false),
        ("Container escape file written", "near miss: a file that merely mentions core_pattern",
            Open(Shell, "/tmp/core_pattern.txt", flags: 1, container: Container()), false),

        ("Host root accessed through proc from container", "open through /proc/1/root",
            Open(Proc("cat"), "/proc/1/root/etc/hostname", container: Container()), true),
        ("Host root accessed through proc from container", "nsenter -t 1",
            Exec(Proc("nsenter", "-t", "1", "-m", "-u", "-i", "-n", "sh"), Container()), true),
        ("Host root accessed through proc from container", "near miss: /proc/self/root",
            Open(Proc("cat"), "/proc/self/root/etc/hostname", container: Container()), false),
        ("Host root accessed through proc from container", "near miss: nsenter -t 12",
            Exec(Proc("nsenter", "-t", "12", "-n", "ip", "a"), Container()), false),

        ("Cryptominer stratum protocol in command line", "pool URL",
            Exec(Proc("sysd", "-o", "stratum+tcp://pool.example:3333", "-u", "wallet"), Container()), true),
        ("Cryptominer stratum protocol in command line", "near miss: https URL",
            Exec(Proc("curl", "https://example.com/stratum"), Container()), false),

        ("Known cryptominer launched", "xmrig",
            Exec(Proc("xmrig", "--donate-level", "1")), true),
        ("Known cryptominer launched", "near miss: xmllint",
            Exec(Proc("xmllint")), false),

        ("Connection to mining pool port", "connect to a public address on 3333",
            Connect(Proc("sysd"), "203.0.113.9", 3333, container: Container()), true),
        ("Connection to mining pool port", "near miss: same port on a private address",
            Connect(Proc("grafana"), "10.1.2.3", 3333, container: Container()), false),
        ("Connection to mining pool port", "near miss: https",
            Connect(Proc("curl"), "203.0.113.9", 443, container: Container()), false),

        ("Reverse shell socket on standard streams", "dup2(sock, 0) in bash",
            Event("dup2", Shell, Tcp("203.0.113.9", 4444), result: 0, container: Container()), true),
        ("Reverse shell socket on standard streams", "dup2(sock, 1) on the host",
            Event("dup2", Proc("python3"), Tcp("203.0.113.9", 4444), result: 1), true),
        ("Reverse shell socket on standard streams", "near miss: file redirected onto stdout",
            Event("dup2", Shell, new FdInfo { Name = "/tmp/out.log", TypeChar = 'f' }, result: 1, container: Container()), false),
        ("Reverse shell socket on standard streams", "near miss: socket dup'd to fd 5",
            Event("dup2", Shell, Tcp("203.0.113.9", 4444), result: 5, container: Container()), false),
        ("Reverse shell socket on standard streams", "near miss: httpd hands an accepted connection to its handler",
            Event("dup2", Proc("httpd"), Tcp("10.88.0.9", 51000) with { IsServerSide = true }, result: 0, container: Container()), false),
        ("Reverse shell socket on standard streams", "httpd connecting out and wiring the socket to stdio",
            Event("dup2", Proc("httpd"), Tcp("203.0.113.9", 4444), result: 0, container: Container()), true),
        ("Reverse shell socket on standard streams", "bind shell: nc -l -e sh (server side, not an inetd server)",
            Event("dup2", Proc("nc"), Tcp("203.0.113.9", 51000) with { IsServerSide = true }, result: 0, container: Container()), true),
        ("Reverse shell socket on standard streams", "near miss: unix socket on stdout",
            Event("dup2", Shell, new FdInfo { Name = "/run/app.sock", TypeChar = 'u' }, result: 1, container: Container()), false),

        ("Shadow password file read", "cat /etc/shadow",
            Open(Proc("cat", "/etc/shadow"), "/etc/shadow", container: Container()), true),
        ("Shadow password file read", "near miss: unix_chkpwd",
            Open(Proc("unix_chkpwd"), "/etc/shadow"), false),
        ("Shadow password file read", "near miss: /etc/passwd",
            Open(Proc("cat"), "/etc/passwd"), false),

        ("Service account token read by unexpected process", "cat token",
            Open(Proc("cat"), "/var/run/secrets/kubernetes.io/serviceaccount/token", container: Container(), ancestors: [Shell]), true),
        ("Service account token read by unexpected process", "read from a terminal",
            Open(Proc("python3") with { Tty = 34816 }, "/run/secrets/kubernetes.io/serviceaccount/token", container: Container()), true),
        ("Service account token read by unexpected process", "near miss: the application's client library",
            Open(Proc("controller"), "/var/run/secrets/kubernetes.io/serviceaccount/token", container: Container()), false),
        ("Service account token read by unexpected process", "near miss: cat of the namespace file",
            Open(Proc("cat"), "/var/run/secrets/kubernetes.io/serviceaccount/namespace", container: Container()), false),

        ("Cloud credential file read", "cat ~/.aws/credentials",
            Open(Proc("cat"), "/root/.aws/credentials"), true),
        ("Cloud credential file read", "gcloud ADC by python",
            Open(Proc("python3"), "/home/app/.config/gcloud/application_default_credentials.json", container: Container()), true),
        ("Cloud credential file read", "near miss: the aws CLI",
            Open(Proc("aws"), "/root/.aws/credentials"), false),
        ("Cloud credential file read", "near miss: ~/.aws/config",
            Open(Proc("cat"), "/root/.aws/config"), false),

        ("Terminal shell exec in container", "podman exec -it sh",
            Exec(Proc("sh") with { Tty = 34816 }, Container(), [Proc("runc:[2:INIT]")]), true),
        ("Terminal shell exec in container", "near miss: sh -c from the app (no terminal)",
            Exec(Proc("sh", "-c", "date"), Container(), [Proc("node")]), false),
        ("Terminal shell exec in container", "near miss: nested shell below the exec'd shell",
            Exec(Proc("bash") with { Tty = 34816 }, Container(), [Proc("sh")]), false),
        ("Terminal shell exec in container", "near miss: terminal shell on the host",
            Exec(Proc("bash") with { Tty = 34816 }, null, [Proc("runc")]), false),

        ("Package manager in container", "apt-get install",
            Exec(Proc("apt-get", "install", "-y", "nmap"), Container(), [Shell]), true),
        ("Package manager in container", "apk add",
            Exec(Proc("apk", "add", "socat"), Container(), [Shell]), true),
        ("Package manager in container", "near miss: dpkg run by apt-get",
            Exec(Proc("dpkg", "--unpack"), Container(), [Proc("apt-get")]), false),
        ("Package manager in container", "near miss: apt-get on the host",
            Exec(Proc("apt-get", "update")), false),

        ("Ptrace attach to process", "PTRACE_ATTACH",
            Event("ptrace", Proc("gdb"), args: Args(("request", "PTRACE_ATTACH"), ("pid", "4000"))), true),
        ("Ptrace attach to process", "PTRACE_SEIZE in a container",
            Event("ptrace", Proc("python3"), container: Container(), args: Args(("request", "PTRACE_SEIZE"))), true),
        ("Ptrace attach to process", "near miss: PTRACE_TRACEME",
            Event("ptrace", Proc("app"), args: Args(("request", "PTRACE_TRACEME"))), false),
    ];

    public static TheoryData<string, string, int> Cases()
    {
        var data = new TheoryData<string, string, int>();
        for (var i = 0; i < CaseList.Count; i++)
        {
            data.Add(CaseList[i].Rule, CaseList[i].Case, i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DefaultRule_FiresOnTriggerNotOnNearMiss(string rule, string scenario, int index)
    {
        Assert.True(Pack.Value.Find(rule) is not null, $"rule '{rule}' is not loaded");

        var fired = Fired(CaseList[index].Event);

        Assert.True(CaseList[index].Fires == fired.Contains(rule), $"{scenario}: fired [{string.Join(", ", fired)}]");
    }

    [Fact]
    public void DefaultPack_LoadsCleanly()
    {
        var pack = Pack.Value;

        Assert.Empty(pack.Skipped);
        Assert.Empty(pack.Warnings);
        Assert.Equal(17, pack.Rules.Count);
        Assert.False(pack.RequiredEventTypes.Complement);
    }

    [Fact]
    public void DefaultPack_EveryRuleHasMitreIdAndAKnownRunbook()
    {
        foreach (var rule in Pack.Value.Rules)
        {
            Assert.True(rule.MitreIds.Count > 0, $"{rule.Name} has no MITRE id");
            Assert.Contains(rule.Runbook, Runbooks);
        }

        Assert.Equal(Runbooks.Order(), Pack.Value.Rules.Select(r => r.Runbook!).Distinct().Order());
    }

    [Fact]
    public void DefaultPack_EveryRuleHasATriggerAndANearMiss()
    {
        foreach (var rule in Pack.Value.Rules)
        {
            Assert.Contains(CaseList, c => c.Rule == rule.Name && c.Fires);
            Assert.Contains(CaseList, c => c.Rule == rule.Name && !c.Fires);
        }
    }

    [Fact]
    public void DefaultPack_LoadsTogetherWithFalcoStableRules()
    {
        var rules = new RuleLoader().LoadPath(RepoFiles.FalcoStableRules).LoadPath(RepoFiles.DefaultRules).Build();

        Assert.Equal(24 + 17, rules.Rules.Count);
    }

    [Fact]
    public void DefaultPack_RunbooksExistInRepository()
    {
        var dir = Path.Combine(RepoFiles.Root, "runbooks");
        if (!Directory.Exists(dir))
        {
            Assert.Skip("runbooks/ is not in this tree yet");
        }

        var missing = Runbooks.Where(r => !File.Exists(Path.Combine(dir, r + ".md"))).ToList();
        Assert.True(missing.Count == 0, $"missing runbooks: {string.Join(", ", missing)}");
    }

    [Fact]
    public void DefaultPack_IsCopiedNextToTheSensorBinary()
    {
        Assert.True(File.Exists(RulesConfig.DefaultPackPath), RulesConfig.DefaultPackPath);
    }
}
