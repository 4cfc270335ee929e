using Sensor.Detection;
using Sensor.Events;
using Sensor.Kernel;
using Sensor.Rules;
using Sensor.Tests.Support;

namespace Sensor.Tests.Rules;

/// <summary>
/// The open paths derived from the loaded rules (what the kernel reports instead of fixed prefixes): never narrower
/// than what a rule can match, and narrow enough that the opens of an ordinary exec are not reported.
/// </summary>
public sealed class OpenPathAnalysisTests
{
    private static readonly Lazy<RuleSet> DefaultPack = new(() => new RuleLoader().LoadPath(RepoFiles.DefaultRules).Build());
    private static readonly Lazy<RuleSet> FalcoStable = new(() => new RuleLoader().LoadPath(RepoFiles.FalcoStableRules).Build());

    private static PathPatterns Paths(string condition, string prelude = "") =>
        RuleText.Load(prelude + "\n" + RuleText.Rule(condition)).OpenPaths;

    // What a dynamically linked exec opens, and other opens of a busy node no default rule reads.
    public static TheoryData<string> UnwatchedPaths =>
    [
        "/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/locale/locale-archive", "/etc/passwd",
        "/etc/nsswitch.conf", "/proc/self/maps", "/dev/null", "/sys/fs/cgroup/cgroup.controllers", "/home/app/notes.txt",
        "/root/.bashrc",
    ];

    [Theory]
    [MemberData(nameof(UnwatchedPaths))]
    public void DefaultPack_OpensNoRuleReads_AreNotWatched(string path)
    {
        var watched = RuleDetector.WatchedOpenPaths(DefaultPack.Value);

        Assert.False(watched.Matches(path), $"{path} is watched by {watched}");
    }

    [Theory]
    [InlineData("/etc/shadow")]
    [InlineData("/etc/gshadow-")]
    [InlineData("/root/.aws/credentials")]
    [InlineData("/srv/app/.aws/credentials")]
    [InlineData("/home/u/.config/gcloud/credentials.db")]
    [InlineData("/var/run/secrets/kubernetes.io/serviceaccount/token")]
    [InlineData("/var/run/secrets/eks.amazonaws.com/serviceaccount/token")]
    [InlineData("/sys/fs/cgroup/rdma/release_agent")]
    [InlineData("/proc/sys/kernel/core_pattern")]
    [InlineData("/proc/1/root/etc/hostname")]
    public void DefaultPack_PathsItsRulesRead_AreWatched(string path)
    {
        var watched = RuleDetector.WatchedOpenPaths(DefaultPack.Value);

        Assert.True(watched.Matches(path), $"{path} is not watched by {watched}");
        Assert.InRange(watched.Prefixes.Count, 1, KernelProbe.MaxPathPatterns);
        Assert.InRange(watched.Suffixes.Count, 1, KernelProbe.MaxPathPatterns);
    }

    /// <summary>Soundness on the rule tests' own cases: every open that fires a rule is one the kernel reports. The
    /// sensor's fd.name is the path as passed (EventBuilder), so cases with a different raw path cannot occur and are left out.</summary>
    [Fact]
    public void RuleCases_EveryOpenThatFires_IsWatched()
    {
        var cases = DefaultRulePackTests.CaseList.Select(c => (Pack: DefaultPack.Value, c.Rule, c.Event, c.Fires))
            .Concat(FalcoStableRulesTests.CaseList.Select(c => (Pack: FalcoStable.Value, c.Rule, c.Event, c.Fires)))
            .Where(c => c.Fires && c.Event.Fd is { TypeChar: 'f' } fd && (fd.NameRaw is null || fd.NameRaw == fd.Name)
                        && OpenPathAnalysis.OpenTypes.Contains(c.Event.Type))
            .ToList();

        Assert.True(cases.Count >= 8, $"only {cases.Count} firing open cases");
        foreach (var (pack, rule, e, _) in cases)
        {
            var watched = RuleDetector.WatchedOpenPaths(pack);
            Assert.True(watched.Matches(e.Fd!.Name), $"rule '{rule}' fires on {e.Fd.Name}, which {watched} does not report");
        }
    }

    [Fact]
    public void Analyze_ComparisonsOnThePath_GiveTheirPrefixesAndSuffixes()
    {
        var paths = Paths(
            "evt.type = openat and (fd.name in (/etc/shadow, /etc/shadow-) or fd.name startswith /data/"
            + " or fd.name pmatch (/srv/keys/) or fd.directory = /opt/conf or fd.filename = id_rsa"
            + " or fd.name endswith .pem or fd.name glob '/var/lib/*/token' or fd.nameraw glob '*/secret.txt'"
            + " or evt.arg.name = /boot/x)");

        Assert.Equal(["/boot/x", "/data/", "/etc/shadow", "/opt/conf", "/srv/keys", "/var/lib/"], paths.Prefixes);
        Assert.Equal([".pem", "/id_rsa", "/secret.txt"], paths.Suffixes);
    }

    [Theory]
    [InlineData("evt.type = openat and not fd.name startswith /etc/")]
    [InlineData("evt.type = openat and fd.name contains shadow")]
    [InlineData("evt.type = openat and proc.name = cat")]
    [InlineData("evt.type = openat and (fd.name = /etc/shadow or proc.name = cat)")]
    [InlineData("evt.type = openat and fd.name glob '*'")]
    [InlineData("evt.type != execve and fd.name != /etc/shadow")]
    public void Analyze_ConditionsItCannotNarrow_WatchEveryPath(string condition)
    {
        Assert.True(Paths(condition).IsEverything, condition);
    }

    [Fact]
    public void Analyze_BranchesForOtherEventTypes_AddNothing()
    {
        var paths = Paths("(evt.type = execve and proc.name = bash) or (my_open and fd.name startswith /etc/ssh/)",
            "- macro: my_open\n  condition: evt.type in (open, openat)\n");

        Assert.Equal(["/etc/ssh/"], paths.Prefixes);
        Assert.Empty(paths.Suffixes);
    }

    [Fact]
    public void Analyze_AndOfPrefixes_KeepsOnlyWhatBothAllow()
    {
        var paths = Paths("evt.type = openat and fd.name startswith /etc/ and fd.name in (/etc/shadow, /tmp/x)");

        Assert.Equal(["/etc/shadow"], paths.Prefixes);
    }

    [Fact]
    public void RuleSet_WithoutRulesOnOpens_WatchesNothing()
    {
        var rules = RuleText.Load(RuleText.Rule("evt.type = execve and proc.name = bash"));

        Assert.True(rules.OpenPaths.IsNothing);
    }

    [Fact]
    public void Fit_TooManyOrTooLong_WidensWithoutLosingAPath()
    {
        var prefixes = Enumerable.Range(0, 40).Select(i => $"/data/tenant-{i:D2}/keys/").ToList();
        var suffixes = Enumerable.Range(0, 20).Select(i => $"/secret-{i}.pem").ToList();
        var longPrefix = "/" + new string('a', 100) + "/x";
        var patterns = PathPatterns.Simplify([.. prefixes, longPrefix], suffixes);

        var fitted = patterns.Fit(KernelProbe.MaxPathPatterns, KernelProbe.MaxPathPatternBytes);

        Assert.InRange(fitted.Prefixes.Count, 1, KernelProbe.MaxPathPatterns);
        Assert.InRange(fitted.Suffixes.Count, 1, KernelProbe.MaxPathPatterns);
        Assert.All(fitted.Prefixes.Concat(fitted.Suffixes), p => Assert.InRange(p.Length, 1, KernelProbe.MaxPathPatternBytes));
        Assert.All(prefixes.Select(p => p + "k.pem").Append(longPrefix).Concat(suffixes.Select(s => "/any" + s)),
            p => Assert.True(fitted.Matches(p), p));
        Assert.False(fitted.Matches("/etc/ld.so.cache"));
    }
}
