using Sensor.Events;
using Sensor.Tests.Support;
using static Sensor.Tests.Support.TestEvents;

namespace Sensor.Tests.Rules;

public sealed class OperatorTests
{
    private static readonly SensorEvent Curl = Exec(
        Proc("curl", "-s", "http://169.254.169.254/latest/meta-data/") with { Uid = 1000, User = "app", Tty = 34816 },
        Container(),
        [Proc("sh"), Proc("node"), Proc("containerd-shim")]);

    [Theory]
    [InlineData("proc.name = curl", true)]
    [InlineData("proc.name == curl", true)]
    [InlineData("proc.name = cur", false)]
    [InlineData("proc.name != curl", false)]
    [InlineData("proc.name != wget", true)]
    [InlineData("user.uid < 1001", true)]
    [InlineData("user.uid < 1000", false)]
    [InlineData("user.uid <= 1000", true)]
    [InlineData("user.uid > 999", true)]
    [InlineData("user.uid > 1000", false)]
    [InlineData("user.uid >= 1000", true)]
    [InlineData("user.uid >= 1001", false)]
    [InlineData("proc.name in (wget, curl)", true)]
    [InlineData("proc.name in (wget, nc)", false)]
    [InlineData("proc.aname intersects (node, java)", true)]
    [InlineData("proc.aname intersects (java, python)", false)]
    [InlineData("proc.cmdline contains 169.254.169.254", true)]
    [InlineData("proc.cmdline contains META-DATA", false)]
    [InlineData("proc.cmdline icontains META-DATA", true)]
    [InlineData("proc.cmdline startswith \"curl -s\"", true)]
    [InlineData("proc.cmdline startswith \"-s\"", false)]
    [InlineData("proc.cmdline endswith meta-data/", true)]
    [InlineData("proc.cmdline endswith curl", false)]
    [InlineData("proc.exepath glob /usr/*/cu?l", true)]
    [InlineData("proc.exepath glob '/usr/bin/[a-c]url'", true)]
    [InlineData("proc.exepath glob '/usr/bin/[!c]url'", false)]
    [InlineData("proc.exepath pmatch (/usr/bin, /opt)", true)]
    [InlineData("proc.exepath pmatch (/usr/bi)", false)]
    [InlineData("proc.exepath pmatch (/usr/bin/curl)", true)]
    [InlineData("proc.pname exists", true)]
    [InlineData("fd.name exists", false)]
    [InlineData("not fd.name exists", true)]
    [InlineData("proc.tty != 0", true)]
    [InlineData("container.id != host", true)]
    [InlineData("k8s.ns.name = shop", false)]
    [InlineData("not k8s.ns.name = shop", true)]
    [InlineData("k8s.ns.name != shop", false)]
    public void Operator_OnExecEvent_MatchesAsFalcoDocuments(string condition, bool expected)
    {
        Assert.Equal(expected, RuleText.Matches(condition, Curl));
    }

    [Theory]
    [InlineData("proc.name = bash or proc.name = curl and user.uid = 0", false)]
    [InlineData("(proc.name = bash or proc.name = curl) and user.uid = 1000", true)]
    [InlineData("proc.name = curl and not user.uid = 0", true)]
    [InlineData("not proc.name = curl or user.uid = 1000", true)]
    [InlineData("not (proc.name = curl or user.uid = 1000)", false)]
    [InlineData("proc.name = bash or proc.name = sh or proc.name = curl", true)]
    [InlineData("proc.name = curl and user.uid = 1000 and proc.tty = 0", false)]
    public void LogicalOperators_FollowPrecedence(string condition, bool expected)
    {
        Assert.Equal(expected, RuleText.Matches(condition, Curl));
    }

    [Theory]
    [InlineData("proc.aname[1] = sh", true)]
    [InlineData("proc.aname[2] = node", true)]
    [InlineData("proc.aname[0] = curl", true)]
    [InlineData("proc.aname[5] = node", false)]
    [InlineData("proc.aname = node", true)]
    [InlineData("proc.aname = curl", false)]
    [InlineData("proc.pname = sh", true)]
    public void AncestorFields_IndexAsFalco(string condition, bool expected)
    {
        Assert.Equal(expected, RuleText.Matches(condition, Curl));
    }

    [Theory]
    [InlineData("fd.sip = 169.254.169.254", true)]
    [InlineData("fd.rip = 169.254.169.254", true)]
    [InlineData("fd.lip = 10.88.0.5", true)]
    [InlineData("fd.sport = 80", true)]
    [InlineData("fd.rport in (80, 443)", true)]
    [InlineData("fd.l4proto = tcp", true)]
    [InlineData("fd.typechar = 4", true)]
    [InlineData("fd.type = ipv4", true)]
    [InlineData("fd.snet in (\"169.254.0.0/16\")", true)]
    [InlineData("fd.net = \"10.0.0.0/8\"", true)]
    [InlineData("fd.snet in (\"10.0.0.0/8\", \"192.168.0.0/16\")", false)]
    [InlineData("evt.res = SUCCESS", true)]
    [InlineData("evt.rawres >= 0", true)]
    public void NetworkFields_OnConnect(string condition, bool expected)
    {
        Assert.Equal(expected, RuleText.Matches(condition, Connect(Proc("curl"), "169.254.169.254", 80, container: Container())));
    }

    [Fact]
    public void IpField_ComparesIpv6InCanonicalForm()
    {
        var connect = Connect(Proc("curl"), "fd00:ec2::254", 80);

        Assert.True(RuleText.Matches("fd.sip = \"FD00:EC2:0::254\"", connect));
        Assert.True(RuleText.Matches("fd.sip in (169.254.169.254, \"fd00:ec2::254\")", connect));
    }

    [Theory]
    [InlineData("evt.res = ENOENT", true)]
    [InlineData("evt.res startswith E", true)]
    [InlineData("evt.failed = true", true)]
    [InlineData("fd.num = -1", true)]
    [InlineData("evt.is_open_read = true", true)]
    [InlineData("fd.directory = /etc", true)]
    [InlineData("fd.filename = shadow", true)]
    public void FailedOpen_ExposesErrnoAndFd(string condition, bool expected)
    {
        Assert.Equal(expected, RuleText.Matches(condition, Open(Proc("cat"), "/etc/shadow", result: -2)));
    }

    [Fact]
    public void EvtArgFlags_FallsBackToRenderedOpenFlags()
    {
        var open = Open(Proc("logrotate"), "/var/log/syslog", flags: 0x241);

        Assert.True(RuleText.Matches("evt.arg.flags contains O_TRUNC and evt.is_open_write = true", open));
        Assert.False(RuleText.Matches("evt.arg.flags contains O_APPEND", open));
    }

    [Fact]
    public void CapEffective_RendersCapabilityNames()
    {
        var e = Open(Proc("sh") with { CapEffective = (1UL << 21) | (1UL << 1) }, "/sys/fs/cgroup/x/release_agent", flags: 1);

        Assert.True(RuleText.Matches("thread.cap_effective contains CAP_SYS_ADMIN", e));
        Assert.True(RuleText.Matches("thread.cap_effective icontains dac_override", e));
        Assert.False(RuleText.Matches("thread.cap_effective contains CAP_SYS_MODULE", e));
    }

    [Fact]
    public void EvtNum_Unnumbered_IsUnavailableSoNeverTrueStaysFalse()
    {
        var e = Exec(Proc("sh"));
        var unnumbered = new SensorEvent { Type = "execve", Process = e.Process };

        Assert.False(RuleText.Matches("evt.num = 0", unnumbered));
        Assert.True(RuleText.Matches("not evt.num = 0", unnumbered));
    }

    [Fact]
    public void BadLiteral_ForNumericField_IsALoadError()
    {
        var ex = Assert.Throws<Sensor.Rules.RuleLoadException>(() => RuleText.Load(RuleText.Rule("user.uid = root")));

        Assert.Contains("expected a number", ex.Message, StringComparison.Ordinal);
        Assert.Contains("test.yaml:4:", ex.Message, StringComparison.Ordinal);
    }
}
