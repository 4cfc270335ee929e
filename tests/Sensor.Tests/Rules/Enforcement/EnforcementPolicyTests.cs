using System.Net;
using Sensor.Kernel;
using Sensor.Rules;
using Sensor.Rules.Enforcement;
using Sensor.Tests.Support;
using static Sensor.Tests.Support.TestEvents;

namespace Sensor.Tests.Rules.Enforcement;

public sealed class EnforcementPolicyTests
{
    private static readonly Lazy<RuleSet> Pack = new(() => new RuleLoader().LoadPath(RepoFiles.DefaultRules).Build());

    /// <summary>Stands in for the kernel maps at the seam; records calls and answers kills as configured.</summary>
    private sealed class RecordingActuator : IKernelEnforcement
    {
        public List<(ulong Cgroup, IPAddress Address)> Denied { get; } = [];
        public List<(ulong Cgroup, IPAddress Address)> Allowed { get; } = [];
        public List<(int Pid, ulong Start)> Kills { get; } = [];
        public KillResult Outcome { get; set; } = KillResult.Killed;

        /// <summary>Cgroups the "kernel" no longer has.</summary>
        public HashSet<ulong> Removed { get; } = [];

        public void DenyConnect(ulong cgroupId, IPAddress address) => Denied.Add((cgroupId, address));

        public bool AllowConnect(ulong cgroupId, IPAddress address)
        {
            Allowed.Add((cgroupId, address));
            return true;
        }

        public KillResult KillProcess(int pid, ulong startBoottimeNs)
        {
            Kills.Add((pid, startBoottimeNs));
            return Outcome;
        }

        public bool CgroupExists(ulong cgroupId) => !Removed.Contains(cgroupId);
    }

    private static CompiledRule Rule(string name) => Pack.Value.Find(name)!;

    /// <summary>Enforcement on, metadata connects denied for namespace "shop".</summary>
    private static EnforcementPolicy DenyingShop(RecordingActuator actuator) => new(new EnforcementOptions
    {
        Enabled = true,
        DenyMetadata = new MetadataDenyOptions { Namespaces = ["shop"] },
    }, actuator);

    [Fact]
    public void Defaults_EnforceNothing()
    {
        var actuator = new RecordingActuator();
        var policy = new EnforcementPolicy(new EnforcementOptions(), actuator);
        var e = Exec(Proc("xmrig"), Container(), k8s: Pod());

        policy.OnContainerResolved(42, Pod());
        var enforced = policy.Enforce(Rule("Known cryptominer launched"), e);

        Assert.Empty(enforced);
        Assert.Empty(actuator.Denied);
        Assert.Empty(actuator.Kills);
    }

    [Fact]
    public void DenyMetadata_ProgramsEveryAddressForContainersOfChosenNamespaces()
    {
        var actuator = new RecordingActuator();
        var policy = DenyingShop(actuator);

        policy.OnContainerResolved(42, Pod("shop"));
        policy.OnContainerResolved(43, Pod("kube-system"));
        policy.OnContainerResolved(42, Pod("shop"));

        Assert.Equal(
            [(42UL, IPAddress.Parse("169.254.169.254")), (42UL, IPAddress.Parse("fd00:ec2::254")), (42UL, IPAddress.Parse("169.254.170.2"))],
            actuator.Denied);

        policy.OnContainerRemoved(42);
        Assert.Equal(3, actuator.Allowed.Count);
    }

    [Fact]
    public void Observe_ContainerSeenBeforeItsPod_IsDeniedWhenTheDirectoryLearnsIt_AndAnOlderEventDoesNotLiftIt()
    {
        var actuator = new RecordingActuator();
        var policy = DenyingShop(actuator);
        var container = Container() with { FullId = new string('a', 64) };
        var proc = Proc("sh") with { CgroupId = 77 };

        policy.Observe(Exec(proc, container));                      // runtime metadata not known yet
        Assert.Empty(actuator.Denied);
        policy.OnContainerLearned(container.FullId!, Pod("shop"));  // the directory learned it: deny at once
        Assert.True(policy.DeniesCgroup(77));
        policy.Observe(Exec(proc, container));                      // built before the lookup finished
        policy.Observe(Exec(proc, container, k8s: Pod("shop")));

        Assert.True(policy.DeniesCgroup(77));
        Assert.Equal(3, actuator.Denied.Count);
        Assert.Empty(actuator.Allowed);
    }

    [Fact]
    public void DropRemoved_CgroupGone_LiftsItsEntriesOnceAndALateEventDoesNotDenyAgain()
    {
        var actuator = new RecordingActuator();
        var policy = DenyingShop(actuator);
        var gone = Container() with { FullId = new string('c', 64) };
        policy.Observe(Exec(Proc("sh") with { CgroupId = 80 }, gone, k8s: Pod("shop")));
        policy.Observe(Exec(Proc("sh") with { CgroupId = 81 }, Container() with { FullId = new string('d', 64) }, k8s: Pod("shop")));

        actuator.Removed.Add(80);
        var dropped = policy.DropRemoved();
        var again = policy.DropRemoved();
        policy.Observe(Exec(Proc("sh") with { CgroupId = 80 }, gone, k8s: Pod("shop"))); // queued before the removal
        policy.OnContainerLearned(gone.FullId!, Pod("shop"));                              // a lookup that ended late

        Assert.Equal(1, dropped);
        Assert.Equal(0, again);
        Assert.Equal(1, policy.RemovedCgroups);
        Assert.False(policy.DeniesCgroup(80));
        Assert.True(policy.DeniesCgroup(81));
        Assert.Equal([80UL, 80UL, 80UL], actuator.Allowed.Select(a => a.Cgroup));
        Assert.Equal(6, actuator.Denied.Count);
    }

    [Fact]
    public async Task RunAsync_EveryInterval_DropsCgroupsRemovedSinceTheLastRound()
    {
        var actuator = new RecordingActuator();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var policy = DenyingShop(actuator);
        policy.OnContainerResolved(90, Pod("shop"));
        using var stop = new CancellationTokenSource();
        var run = policy.RunAsync(time, stop.Token);

        actuator.Removed.Add(90);
        time.Advance(policy.RemovedCheckInterval - TimeSpan.FromSeconds(1));
        var beforeTheRound = policy.DeniesCgroup(90);
        time.Advance(TimeSpan.FromSeconds(1));
        // The round may continue on another thread than the one that advanced the clock: wait for it (60 s guard).
        var guard = System.Diagnostics.Stopwatch.StartNew();
        while (policy.DeniesCgroup(90) && guard.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await stop.CancelAsync();
        await run;
        Assert.True(beforeTheRound);
        Assert.False(policy.DeniesCgroup(90));
        Assert.Equal(1, policy.RemovedCgroups);
    }

    [Fact]
    public void Observe_PodOfAnotherNamespace_DeniesNothing()
    {
        var actuator = new RecordingActuator();
        var policy = DenyingShop(actuator);

        policy.Observe(Exec(Proc("sh") with { CgroupId = 78 }, Container() with { FullId = new string('b', 64) }, k8s: Pod("web")));

        Assert.False(policy.DeniesCgroup(78));
        Assert.Empty(actuator.Denied);
    }

    [Fact]
    public void DeniedMetadataConnect_AlertSaysWhatWasEnforced()
    {
        var policy = DenyingShop(new RecordingActuator());
        var denied = Connect(Proc("curl"), "169.254.169.254", 80, result: -1, container: Container(), k8s: Pod("shop"));
        var allowed = Connect(Proc("curl"), "169.254.169.254", 80, result: 0, container: Container(), k8s: Pod("other"));

        var rule = Rule("Cloud metadata service contacted from container");

        Assert.Equal(["connect to metadata service 169.254.169.254:80 denied (EPERM) for namespace shop"], policy.Enforce(rule, denied));
        Assert.Empty(policy.Enforce(rule, allowed));
    }

    [Fact]
    public void KillPolicy_ByRule_KillsOnceAndReportsIt()
    {
        var actuator = new RecordingActuator();
        var policy = new EnforcementPolicy(new EnforcementOptions
        {
            Enabled = true,
            Kill = [new KillPolicy { Rules = ["Known cryptominer launched"] }],
        }, actuator);
        var miner = Exec(Proc("xmrig") with { Pid = 999, StartTimeNs = 5_000 }, Container(), k8s: Pod());

        var first = policy.Enforce(Rule("Known cryptominer launched"), miner);
        var again = policy.Enforce(Rule("Known cryptominer launched"), miner);
        var otherRule = policy.Enforce(Rule("Container drift binary executed"), miner);

        Assert.Equal(["process 999 (xmrig) killed (SIGKILL)"], first);
        Assert.Equal(["process 999 (xmrig) already killed"], again);
        Assert.Empty(otherRule);
        Assert.Equal([(999, 5_000UL)], actuator.Kills);
    }

    [Fact]
    public void KillPolicy_ByNamespace_SparesOtherNamespacesAndTheHost()
    {
        var actuator = new RecordingActuator { Outcome = KillResult.PidReused };
        var policy = new EnforcementPolicy(new EnforcementOptions
        {
            Enabled = true,
            Kill = [new KillPolicy { Namespaces = ["ci"] }],
        }, actuator);
        var rule = Rule("Package manager in container");

        var inCi = policy.Enforce(rule, Exec(Proc("apk") with { Pid = 1 }, Container(), k8s: Pod("ci")));
        var inShop = policy.Enforce(rule, Exec(Proc("apk") with { Pid = 2 }, Container(), k8s: Pod("shop")));
        var onHost = policy.Enforce(rule, Exec(Proc("apk") with { Pid = 3 }, null, k8s: Pod("ci")));

        Assert.Equal(["kill of process 1 (apk) refused: the pid now belongs to another process"], inCi);
        Assert.Empty(inShop);
        Assert.Empty(onHost);
        Assert.Single(actuator.Kills);
    }

    [Fact]
    public void Validate_NamesUnknownRulesBadAddressesAndEmptyKillEntries()
    {
        var options = new EnforcementOptions
        {
            DenyMetadata = new MetadataDenyOptions { Addresses = ["169.254.169.254", "metadata.local"] },
            Kill = [new KillPolicy { Rules = ["No such rule"] }, new KillPolicy()],
        };

        var errors = options.Validate(Pack.Value);

        Assert.Equal(
        [
            "rules.enforcement.deny_metadata.addresses[1]: 'metadata.local' is not an IP address",
            "rules.enforcement.kill[0].rules: rule 'No such rule' is not loaded",
            "rules.enforcement.kill[1]: name at least one rule or namespace (an empty entry would kill on every alert)",
        ], errors);
    }
}
