using Triage.Api.Suppression;
using Triage.Contracts;

namespace Triage.Tests.Suppression;

public sealed class SuppressionScopeTests
{
    internal static AlertFacts Facts(
        string rule = "Drop and execute new binary in container",
        string? ns = "payments",
        string? kind = "Deployment",
        string? workload = "api",
        string? repo = "ghcr.io/acme/api",
        string? digest = "sha256:aaa",
        string? exe = "/app/migrate",
        string? cmdline = "/app/migrate --to 42") =>
        new(rule, ns, kind, workload, repo, digest, exe, cmdline);

    private static readonly QuorumPolicyOptions Strict = new() { Name = "strict" };
    private static readonly QuorumPolicyOptions Loose = new() { Name = "loose", MayWiden = ["workload", "image_repository"] };

    [Fact]
    public void AlertFacts_FromNativeAlert_SplitsImageAndTakesDigest()
    {
        var facts = AlertFacts.From(new NativeAlert
        {
            Rule = "R",
            Container = new ContainerInfo { Image = "registry:5000/team/app:1.4@sha256:bbb" },
            K8s = new KubernetesInfo { Namespace = "ns", WorkloadKind = "Deployment", WorkloadName = "app" },
            Process = new ProcessInfo { Exe = "/bin/x", Cmdline = "x -y" },
        });

        Assert.Equal("registry:5000/team/app", facts.ImageRepository);
        Assert.Equal("sha256:bbb", facts.ImageDigest);
        Assert.Equal("ns", facts.Namespace);
        Assert.Equal("x -y", facts.Cmdline);
    }

    [Theory]
    [InlineData("nginx", "nginx", null, null)]
    [InlineData("nginx:1.25", "nginx", "1.25", null)]
    [InlineData("registry:5000/app", "registry:5000/app", null, null)]
    [InlineData("registry:5000/app:2@sha256:ff", "registry:5000/app", "2", "sha256:ff")]
    public void ImageReference_Parse_SeparatesPortFromTag(string image, string repo, string? tag, string? digest)
    {
        var parsed = ImageReference.Parse(image);

        Assert.Equal(repo, parsed.Repository);
        Assert.Equal(tag, parsed.Tag);
        Assert.Equal(digest, parsed.Digest);
    }

    [Fact]
    public void Derive_Default_CoversRuleNamespaceWorkloadImageOnly()
    {
        var scope = SuppressionScope.Derive(Facts(), null, Strict).Scope!;

        Assert.Equal("payments", scope.Namespace);
        Assert.Equal("api", scope.WorkloadName);
        Assert.Equal("ghcr.io/acme/api", scope.ImageRepository);
        Assert.Null(scope.ImageDigest);
        Assert.Null(scope.ProcessExe);
        Assert.Null(scope.CmdlinePattern);
        Assert.True(scope.Matches(Facts()));
        Assert.True(scope.Matches(Facts(digest: "sha256:new", exe: "/bin/other", cmdline: "other")));
        Assert.False(scope.Matches(Facts(workload: "web")));
        Assert.False(scope.Matches(Facts(ns: "billing")));
        Assert.False(scope.Matches(Facts(repo: "ghcr.io/evil/api")));
        Assert.False(scope.Matches(Facts(rule: "Terminal shell in container")));
    }

    [Fact]
    public void Derive_Narrowed_MatchesOnlyTheSameDigestExeAndCommandPattern()
    {
        var request = new ScopeRequest(ImageDigest: true, ProcessExe: true, CmdlinePattern: "/app/migrate --to *");

        var scope = SuppressionScope.Derive(Facts(), request, Strict).Scope!;

        Assert.Equal(["image_digest", "process_exe", "cmdline_pattern"], scope.Narrowed());
        Assert.True(scope.Matches(Facts(cmdline: "/app/migrate --to 43")));
        Assert.False(scope.Matches(Facts(digest: "sha256:other")));
        Assert.False(scope.Matches(Facts(exe: "/tmp/migrate")));
        Assert.False(scope.Matches(Facts(cmdline: "/app/migrate --drop-all")));
    }

    [Fact]
    public void Derive_ExactCommandLine_EscapesGlobCharacters()
    {
        var facts = Facts(cmdline: "sh -c ls *.txt [a]");

        var scope = SuppressionScope.Derive(facts, new ScopeRequest(CmdlinePattern: ""), Strict).Scope!;

        Assert.True(scope.Matches(facts));
        Assert.False(scope.Matches(Facts(cmdline: "sh -c ls evil.txt [a]")));
    }

    [Fact]
    public void Derive_WidenedWithinPolicy_MatchesOtherWorkloadsAndImages()
    {
        var scope = SuppressionScope.Derive(Facts(), new ScopeRequest(Workload: false, ImageRepository: false), Loose).Scope!;

        Assert.Equal(["workload", "image_repository"], scope.Widened());
        Assert.True(scope.Matches(Facts(workload: "worker", kind: "StatefulSet", repo: "ghcr.io/acme/worker")));
        Assert.False(scope.Matches(Facts(ns: "billing")));
    }

    [Fact]
    public void Derive_WideningBeyondPolicy_IsRefusedWithEveryReason()
    {
        var result = SuppressionScope.Derive(Facts(), new ScopeRequest(Namespace: false, Workload: false), Strict);

        Assert.Null(result.Scope);
        Assert.Equal(2, result.Errors.Count);
        Assert.Contains(result.Errors, e => e.StartsWith("namespace:", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.StartsWith("workload:", StringComparison.Ordinal));
    }

    [Fact]
    public void Derive_PatternThatMissesTheAlert_IsRefused()
    {
        var result = SuppressionScope.Derive(Facts(), new ScopeRequest(CmdlinePattern: "/app/seed *"), Strict);

        Assert.Null(result.Scope);
        Assert.Contains("does not match", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Derive_NarrowToMissingDigest_IsRefused()
    {
        var result = SuppressionScope.Derive(Facts(digest: null), new ScopeRequest(ImageDigest: true), Strict);

        Assert.Null(result.Scope);
    }

    [Fact]
    public void Derive_HostAlertWithoutKubernetes_DoesNotBecomeAnyNamespace()
    {
        var host = Facts(ns: null, kind: null, workload: null, repo: null);

        var scope = SuppressionScope.Derive(host, null, Strict).Scope!;

        Assert.True(scope.Matches(host));
        Assert.False(scope.Matches(Facts()));
        Assert.Empty(scope.Widened());
    }

    [Fact]
    public void Key_DiffersBetweenAnyAndAbsent_AndIsStable()
    {
        var host = SuppressionScope.Derive(Facts(ns: null), null, Strict).Scope!;
        var any = SuppressionScope.Derive(Facts(), new ScopeRequest(Namespace: false), new QuorumPolicyOptions { MayWiden = ["namespace"] }).Scope!;

        Assert.NotEqual(host.Key(), any.Key());
        Assert.Equal(host.Key(), SuppressionScope.Derive(Facts(ns: null), null, Strict).Scope!.Key());
    }
}
