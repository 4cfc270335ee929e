using Sensor.Events;
using Sensor.Rules;
using Sensor.Tests.Support;
using Triage.Contracts;

namespace Sensor.Tests.Rules.Live;

/// <summary>
/// Every rule of the default pack (Sensor/rules/default-rules.yaml) fired by a real trigger in a real container through
/// the live sensor, and a near miss that the sensor sees but that must not fire it. One sensor and two long-lived
/// containers serve the whole class. Commands run through <c>podman exec</c>; busybox's shell re-executes its applets
/// through /proc/self/exe, so these tests also pin that the sensor names such processes after the applet.
/// Networking: the containers have no network (<c>--network none</c>), so connects to the metadata service and to a
/// public pool address fail inside the container's own namespace and no packet leaves the machine.
/// </summary>
[Collection(LiveRulesGroup.Name)]
public sealed class DefaultRulesLiveTests(LiveSensor sensor) : IClassFixture<LiveSensor>
{
    private static readonly SemaphoreSlim ContainerLock = new(1, 1);
    private static string? _app;
    private static string? _locked;

    /// <summary>Rules with a live trigger and near miss in this class; a pack rule missing here fails the build's tests.</summary>
    private static readonly string[] Covered =
    [
        "Cloud metadata service contacted from container", "Container drift binary executed", "Fileless execution from memfd",
        "Namespace change from container", "Mount from container", "Container escape file written",
        "Host root accessed through proc from container", "Cryptominer stratum protocol in command line",
        "Known cryptominer launched", "Connection to mining pool port", "Reverse shell socket on standard streams",
        "Shadow password file read", "Service account token read by unexpected process", "Cloud credential file read",
        "Terminal shell exec in container", "Package manager in container", "Ptrace attach to process",
    ];

    [Fact]
    public void EveryDefaultRule_HasALiveTest()
    {
        var pack = new RuleLoader().LoadPath(RepoFiles.DefaultRules).Build();
        Assert.Equal(pack.Rules.Select(r => r.Name).Order(), Covered.Order());
    }

    /// <summary>The application container (namespace "shop", metadata not denied).</summary>
    private async Task<string> App()
    {
        await Start();
        return _app!;
    }

    /// <summary>A container of the namespace the sensor is configured to deny metadata connects for.</summary>
    private async Task<string> Locked()
    {
        await Start();
        return _locked!;
    }

    private async Task Start()
    {
        Requires.Ebpf();
        Requires.Podman();
        await sensor.EnsureStarted();
        await ContainerLock.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            _app ??= await sensor.StartContainer("--network", "none",
                "--label", "io.kubernetes.pod.namespace=shop", "--label", "io.kubernetes.pod.name=web-1");
            _locked ??= await sensor.StartContainer("--network", "none",
                "--label", $"io.kubernetes.pod.namespace={LiveSensor.DeniedNamespace}", "--label", "io.kubernetes.pod.name=batch-1");
        }
        finally
        {
            ContainerLock.Release();
        }
    }

    private static async Task<string> Exec(string container, string script, bool tty = false)
    {
        var (_, _, output) = await LiveSensor.Exec(container, script, tty);
        return output;
    }

    private static bool Cmd(SensorEvent e, string contains) => e.Process.Cmdline.Contains(contains, StringComparison.Ordinal);

    private static bool Cmd(NativeAlert a, string contains) => a.Process?.Cmdline?.Contains(contains, StringComparison.Ordinal) == true;

    [Fact]
    public async Task MetadataService_ConnectFromContainer_FiresOnceAndIsDeniedOnlyInTheLockedNamespace()
    {
        var app = await App();
        var locked = await Locked();
        await Exec(app, "nc -w 1 169.254.169.254 80 </dev/null; nc -w 1 fd00:ec2::254 80 </dev/null; true");
        await sensor.WaitUntilDenied(locked);
        var output = await Exec(locked, "nc -w 1 169.254.169.254 80 </dev/null; true");

        const string Rule = "Cloud metadata service contacted from container";
        var v4 = await sensor.WaitForAlert(Rule, app, a => Cmd(a, "169.254.169.254"), "IPv4 metadata connect");
        Assert.Equal("nc", v4.Process!.Name);
        Assert.Equal(-101, v4.Syscall!.Return); // ENETUNREACH: no network, nothing denied
        Assert.Null(v4.Enforced);
        Assert.Contains("T1552.005", v4.Tags!);
        Assert.Equal("metadata-credential-access", v4.Runbook);
        await sensor.WaitForAlert(Rule, app, a => Cmd(a, "fd00:ec2::254"), "IPv6 metadata connect");

        var denied = await sensor.WaitForAlert(Rule, locked, a => Cmd(a, "169.254.169.254"), "metadata connect in the denied namespace");
        Assert.Contains("not permitted", output, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(-1, denied.Syscall!.Return); // EPERM from the sensor's cgroup/connect4 program
        Assert.Equal("locked-down", denied.K8s?.Namespace);
        Assert.Contains(denied.Enforced!, x => x.Contains("denied (EPERM) for namespace locked-down", StringComparison.Ordinal));
        // The deny and the syscall are one event: one alert per connect, not one per kernel hook.
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.Single(sensor.Alerts, a => a.Rule == Rule && a.Container?.Id == locked[..12]);

        await Exec(app, "nc -w 1 169.254.169.253 80 </dev/null; true");
        await sensor.AssertNoAlert(Rule, app, e => e.Type == "connect" && e.Fd?.ServerIp == "169.254.169.253", "connect to a neighbour of the metadata address");
    }

    [Fact]
    public async Task MetadataDeny_ContainerRemoved_ItsEntriesLeaveTheKernelMap()
    {
        await Start();
        var doomed = await sensor.StartContainer("--network", "none",
            "--label", $"io.kubernetes.pod.namespace={LiveSensor.DeniedNamespace}", "--label", "io.kubernetes.pod.name=batch-2");
        await sensor.WaitUntilDenied(doomed);
        await sensor.WaitUntilDenied(_locked!);
        var cgroup = sensor.CgroupOf(doomed);
        var lockedCgroup = sensor.CgroupOf(_locked!);
        Assert.Equal(3, sensor.Probe.DenyEntries().Count(e => e.CgroupId == cgroup)); // the three default metadata addresses

        await Shell.Check("podman", "rm", "-f", "-t", "0", doomed);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (sensor.Probe.DenyEntries().Any(e => e.CgroupId == cgroup) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.DoesNotContain(sensor.Probe.DenyEntries(), e => e.CgroupId == cgroup);
        Assert.False(sensor.Enforcement.DeniesCgroup(cgroup));
        Assert.True(sensor.Enforcement.RemovedCgroups >= 1);
        // The container that still runs in the namespace keeps its deny.
        Assert.Equal(3, sensor.Probe.DenyEntries().Count(e => e.CgroupId == lockedCgroup));
        Assert.True(sensor.Enforcement.DeniesCgroup(lockedCgroup));
    }

    [Fact]
    public async Task Drift_BinaryCopiedIntoContainer_Fires_ImageBinaryDoesNot()
    {
        var app = await App();
        await Exec(app, "cp /bin/busybox /root/dropped; /root/dropped true drift-trigger; true");
        var alert = await sensor.WaitForAlert("Container drift binary executed", app, a => Cmd(a, "drift-trigger"), "exec of a copied binary");
        Assert.Equal("/root/dropped", alert.Process!.Exe);
        Assert.True(alert.Process.ExeUpperLayer);

        await Exec(app, "/bin/busybox true drift-near-miss");
        await sensor.AssertNoAlert("Container drift binary executed", app, e => e.Type == "execve" && Cmd(e, "drift-near-miss"), "image binary");
    }

    [Fact]
    public async Task Memfd_ExecveatOfMemfd_Fires_MemfdCreatedButDiskBinaryRunDoesNot()
    {
        var app = await App();
        await Exec(app, "rulehelper memfd-exec payload /bin/busybox true memfd-trigger");
        var alert = await sensor.WaitForAlert("Fileless execution from memfd", app, a => Cmd(a, "memfd-trigger"), "execveat of a memfd");
        Assert.StartsWith("memfd:payload", alert.Process!.Name, StringComparison.Ordinal);

        await Exec(app, "rulehelper memfd-only payload /bin/busybox true memfd-near-miss");
        await sensor.AssertNoAlert("Fileless execution from memfd", app, e => e.Type == "execve" && Cmd(e, "memfd-near-miss"), "memfd created, disk binary run");
    }

    [Fact]
    public async Task NamespaceChangeAndMount_FromAShellInTheContainer_Fire_RuntimeSetupDoesNot()
    {
        var app = await App();
        await Exec(app, "unshare -U true ns-trigger; mount -t tmpfs mount-trigger /mnt; true");
        var ns = await sensor.WaitForAlert("Namespace change from container", app, a => Cmd(a, "ns-trigger"), "unshare -U");
        Assert.Equal("unshare", ns.Process!.Name); // not "exe": busybox re-executed itself for the applet
        var mount = await sensor.WaitForAlert("Mount from container", app, a => Cmd(a, "mount-trigger"), "mount -t tmpfs");
        Assert.Equal("mount", mount.Process!.Name);

        // Near miss: runc itself unshares, sets namespaces and mounts inside every new container's cgroup (its unshare
        // and setns run in the host's mount namespace, which the container-only filter drops in the kernel; its mounts
        // run in the new one and are seen).
        var fresh = await sensor.StartContainer("--network", "none");
        await sensor.AssertNoAlert("Namespace change from container", fresh, e => e.Process.Name == "runc", "runc's container set-up");
        await sensor.AssertNoAlert("Mount from container", fresh, e => e.Type == "mount" && e.Process.Name == "runc", "runc's own mounts");
    }

    [Fact]
    public async Task EscapeFile_WriteToCorePatternAndReleaseAgent_Fires_ReadDoesNot()
    {
        var app = await App();
        await Exec(app, "echo '|/tmp/x' > /proc/sys/kernel/core_pattern; echo /tmp/x > /sys/fs/cgroup/release_agent; true");
        const string Rule = "Container escape file written";
        var core = await sensor.WaitForAlert(Rule, app, a => a.Output!.Contains("file=/proc/sys/kernel/core_pattern", StringComparison.Ordinal), "core_pattern write");
        Assert.True(core.Syscall!.Return < 0); // read-only in the container: the attempt is the signal
        await sensor.WaitForAlert(Rule, app, a => a.Output!.Contains("file=/sys/fs/cgroup/release_agent", StringComparison.Ordinal), "release_agent write");

        await Exec(app, "cat /proc/sys/kernel/core_pattern >/dev/null; true");
        await sensor.AssertNoAlert(Rule, app, e => e.Type == "openat" && e.Fd?.Name == "/proc/sys/kernel/core_pattern" && e.Process.Name == "cat", "core_pattern read");
    }

    [Fact]
    public async Task HostRoot_ThroughProc1RootAndNsenterTarget1_Fires_OtherProc1FilesAndPidsDoNot()
    {
        var app = await App();
        await Exec(app, "cat /proc/1/root/etc/passwd >/dev/null; nsenter -t 1 -m true hostroot-nsenter; true");
        const string Rule = "Host root accessed through proc from container";
        await sensor.WaitForAlert(Rule, app, a => a.Output!.Contains("file=/proc/1/root/etc/passwd", StringComparison.Ordinal), "open through /proc/1/root");
        var nsenter = await sensor.WaitForAlert(Rule, app, a => Cmd(a, "hostroot-nsenter"), "nsenter -t 1");
        Assert.Equal("nsenter", nsenter.Process!.Name);

        await Exec(app, "cat /proc/1/status >/dev/null; nsenter -t 12 -m true hostroot-near-miss; true");
        await sensor.AssertNoAlert(Rule, app, e => e.Fd?.Name == "/proc/1/status", "/proc/1/status read");
        await sensor.AssertNoAlert(Rule, app, e => e.Type == "execve" && Cmd(e, "hostroot-near-miss"), "nsenter -t 12");
    }

    [Fact]
    public async Task Stratum_PoolUrlInCommandLine_Fires_StratumHostNameDoesNot()
    {
        var app = await App();
        // Spelled through a variable so that only the process under test, not podman's or sh's command line, has the URL.
        await Exec(app, "S=stratum; /bin/busybox true \"$S+tcp://pool.example:3333\" stratum-trigger");
        var alert = await sensor.WaitForAlert("Cryptominer stratum protocol in command line", app, a => Cmd(a, "stratum-trigger"), "stratum+tcp URL");
        Assert.Contains("T1496", alert.Tags!);

        await Exec(app, "/bin/busybox true --url stratum.example.com:3333 stratum-near-miss");
        await sensor.AssertNoAlert("Cryptominer stratum protocol in command line", app, e => e.Type == "execve" && Cmd(e, "stratum-near-miss"), "stratum host name");
    }

    [Fact]
    public async Task KnownMiner_ProcessNamedXmrig_Fires_SimilarNameDoesNot()
    {
        var app = await App();
        await Exec(app, "ln -sf /bin/busybox /tmp/xmrig; /tmp/xmrig --donate-level 1; true");
        var alert = await sensor.WaitForAlert("Known cryptominer launched", app, a => Cmd(a, "--donate-level"), "xmrig");
        Assert.Equal("xmrig", alert.Process!.Name);

        await Exec(app, "ln -sf /bin/busybox /tmp/xmrig-report; /tmp/xmrig-report miner-near-miss; true");
        await sensor.AssertNoAlert("Known cryptominer launched", app, e => e.Type == "execve" && Cmd(e, "miner-near-miss"), "xmrig-report");
    }

    [Fact]
    public async Task PoolPort_ConnectToPublicAddressPort3333_Fires_LoopbackPort3333DoesNot()
    {
        var app = await App();
        // TEST-NET-3 address: the container has no route, the connect fails inside its namespace.
        await Exec(app, "nc -w 1 203.0.113.7 3333 </dev/null; true");
        var alert = await sensor.WaitForAlert("Connection to mining pool port", app, a => Cmd(a, "203.0.113.7"), "connect to :3333");
        Assert.Equal("nc", alert.Process!.Name);

        await Exec(app, "nc -w 1 127.0.0.1 3333 </dev/null; true");
        await sensor.AssertNoAlert("Connection to mining pool port", app, e => e.Type == "connect" && e.Fd?.ServerIp == "127.0.0.1" && e.Fd.ServerPort == 3333, "loopback :3333");
    }

    [Fact]
    public async Task ReverseShell_NcExecWithSocketOnStdio_Fires_PlainNcConnectionDoesNot()
    {
        var app = await App();
        await Exec(app, "(nc -l -p 4444 >/dev/null &); sleep 0.3; nc 127.0.0.1 4444 -e /bin/true; true");
        var alert = await sensor.WaitForAlert("Reverse shell socket on standard streams", app,
            a => Cmd(a, "-e /bin/true") && a.Output!.Contains("->127.0.0.1:4444", StringComparison.Ordinal), "nc -e (connection named)");
        Assert.Equal("nc", alert.Process!.Name);
        Assert.Contains("proto=tcp", alert.Output!, StringComparison.Ordinal);

        await Exec(app, "(nc -l -p 4445 >/dev/null &); sleep 0.3; echo hello | nc 127.0.0.1 4445; true");
        await sensor.AssertNoAlert("Reverse shell socket on standard streams", app, e => e.Type == "connect" && e.Fd?.ServerPort == 4445, "nc without -e");

        // inetd style: busybox httpd puts every accepted connection on the handler's stdin and stdout.
        await Exec(app, "(httpd -f -p 8081 -h /srv/www &); sleep 0.3; wget -q -O /dev/null http://127.0.0.1:8081/; true");
        await sensor.AssertNoAlert("Reverse shell socket on standard streams", app,
            e => e.Type is "dup2" or "dup3" && e.Process.Name == "httpd" && e.Fd?.IsServerSide == true, "httpd's accepted connection");

        // A bind shell is server side too, but nc is no inetd-style server.
        await Exec(app, "(nc -l -p 4446 -e /bin/true &); sleep 0.3; nc -w 1 127.0.0.1 4446 </dev/null; true");
        var bind = await sensor.WaitForAlert("Reverse shell socket on standard streams", app, a => Cmd(a, "-l -p 4446"), "bind shell nc -l -e");
        Assert.Equal("nc", bind.Process!.Name);
    }

    [Fact]
    public async Task Shadow_CatEtcShadow_Fires_EtcPasswdDoesNot()
    {
        var app = await App();
        await Exec(app, "cat /etc/shadow >/dev/null");
        var alert = await sensor.WaitForAlert("Shadow password file read", app, a => Cmd(a, "/etc/shadow"), "cat /etc/shadow");
        Assert.Equal("cat", alert.Process!.Name);

        await Exec(app, "cat /etc/passwd >/dev/null");
        await sensor.AssertNoAlert("Shadow password file read", app, e => e.Fd?.Name == "/etc/passwd" && e.Process.Name == "cat", "/etc/passwd");
    }

    [Fact]
    public async Task ServiceAccountToken_ReadByCat_Fires_ReadByTheApplicationDoesNot()
    {
        var app = await App();
        const string Dir = "/var/run/secrets/kubernetes.io/serviceaccount";
        await Exec(app, $"mkdir -p {Dir}; echo eyJhbGciOi > {Dir}/token; cat {Dir}/token >/dev/null");
        var alert = await sensor.WaitForAlert("Service account token read by unexpected process", app, a => Cmd(a, "cat"), "cat token");
        Assert.Equal("cat", alert.Process!.Name);

        await Exec(app, $"rulehelper read {Dir}/token >/dev/null");
        await sensor.AssertNoAlert("Service account token read by unexpected process", app,
            e => e.Fd?.Name == $"{Dir}/token" && e.Process.Name == "rulehelper", "the application's own read");
    }

    [Fact]
    public async Task CloudCredentials_CatAwsCredentials_Fires_AwsConfigDoesNot()
    {
        var app = await App();
        await Exec(app, "mkdir -p /root/.aws; echo k > /root/.aws/credentials; echo r > /root/.aws/config; cat /root/.aws/credentials >/dev/null");
        var alert = await sensor.WaitForAlert("Cloud credential file read", app, a => Cmd(a, "/root/.aws/credentials"), "cat credentials");
        Assert.Equal("cat", alert.Process!.Name);

        await Exec(app, "cat /root/.aws/config >/dev/null");
        await sensor.AssertNoAlert("Cloud credential file read", app, e => e.Fd?.Name == "/root/.aws/config", "aws config");
    }

    [Fact]
    public async Task TerminalShell_ExecWithTty_Fires_ExecWithoutTtyDoesNot()
    {
        var app = await App();
        await Exec(app, "true tty-trigger", tty: true);
        var alert = await sensor.WaitForAlert("Terminal shell exec in container", app, a => Cmd(a, "tty-trigger"), "podman exec -t sh");
        Assert.Equal("sh", alert.Process!.Name);

        await Exec(app, "true tty-near-miss");
        await sensor.AssertNoAlert("Terminal shell exec in container", app, e => e.Type == "execve" && Cmd(e, "tty-near-miss"), "podman exec without -t");
    }

    [Fact]
    public async Task PackageManager_AptGetInContainer_Fires_DpkgItRunsDoesNot()
    {
        var app = await App();
        await Exec(app, """
            ln -sf /bin/busybox /tmp/dpkg
            printf '#!/bin/sh\n/tmp/dpkg --configure pkg-near-miss\n' > /tmp/apt-get; chmod +x /tmp/apt-get
            /tmp/apt-get install pkg-trigger; true
            """);
        var alert = await sensor.WaitForAlert("Package manager in container", app, a => Cmd(a, "pkg-trigger"), "apt-get install");
        Assert.Equal("apt-get", alert.Process!.Name);

        await sensor.AssertNoAlert("Package manager in container", app, e => e.Type == "execve" && Cmd(e, "pkg-near-miss"), "dpkg run by apt-get");
    }

    [Fact]
    public async Task Ptrace_AttachToAProcess_Fires_PeekWithoutAttachDoesNot()
    {
        var app = await App();
        await Exec(app, "rulehelper ptrace attach");
        var alert = await sensor.WaitForAlert("Ptrace attach to process", app, a => Cmd(a, "ptrace attach"), "PTRACE_ATTACH");
        Assert.Equal("PTRACE_ATTACH", alert.Syscall!.Args!["request"]);

        await Exec(app, "rulehelper ptrace peek");
        await sensor.AssertNoAlert("Ptrace attach to process", app, e => e.Type == "ptrace" && e.Args["request"] == "PTRACE_PEEKDATA", "PTRACE_PEEKDATA");
    }
}

/// <summary>
/// The live rule tests run alone: other tests run whole sensors that act on what they see on this node (evidence
/// capture pauses and exports a container that drifted, response tests kill processes), and the drift trigger here
/// would otherwise hand them this class's container.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LiveRulesGroup
{
    public const string Name = "live rules (not in parallel with other sensors)";
}
