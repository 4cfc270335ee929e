using Triage.Scenario;
using Triage.Tests.Support;

namespace Triage.Tests.Scenario;

/// <summary>
/// The live attack scenario exactly as <c>./scenario.sh</c> runs it (real container, eBPF sensor, service, network
/// namespaces), asserted step by step. Needs root, podman and eBPF: skipped with the reason elsewhere, a failure in CI.
/// </summary>
public sealed class AttackScenarioTests
{
    [Fact]
    public async Task RunAsync_LiveAttack_EachStepDetectedEnrichedRoutedCardedAnsweredAndEscalated()
    {
        var missing = ScenarioEnvironment.MissingPrerequisites();
        Requires.That(missing.Count == 0, "the live attack scenario needs " + string.Join("; ", missing));
        var output = new StringWriter();
        ScenarioReport report;
        try
        {
            report = await AttackScenario.RunAsync(output, waitForEscalation: true, TestContext.Current.CancellationToken);
        }
        finally
        {
            TestContext.Current.TestOutputHelper?.WriteLine(output.ToString());
        }

        // The attacker's side: an IMDSv2 session, the role's credentials, a shell on the second host with the stolen key.
        Assert.Contains(report.MetadataRequests, r => r.StartsWith("PUT /latest/api/token -> 200", StringComparison.Ordinal));
        Assert.Contains(report.MetadataRequests, r => r.StartsWith("GET /latest/meta-data/iam/security-credentials/checkout-node-role -> 200", StringComparison.Ordinal));
        Assert.Contains(report.SecondHostOutput, l => l == $"shell on {report.Pod} as uid 0");
        Assert.Contains(report.SecondHostOutput, l => l == "stolen key ASIAFAKEFAKEFAKEFAKE");

        // One incident per step (the metadata requests grouped into one), each with its full context.
        var metadata = Assert.Single(report.Incidents, i => i.Rule == AttackScenario.MetadataRule);
        var drift = Assert.Single(report.Incidents, i => i.Rule == AttackScenario.DriftRule);
        var shell = Assert.Single(report.Incidents, i => i.Rule == AttackScenario.ReverseShellRule);
        Assert.True(metadata.AlertCount >= 3, $"the PUT and two GETs should group into one incident; saw {metadata.AlertCount} alerts");
        foreach (var incident in report.Incidents)
        {
            Assert.Equal("Critical", incident.Priority, ignoreCase: true);
            Assert.Equal("payments", incident.Namespace);
            Assert.Equal(report.Pod, incident.Pod);
            Assert.Equal("Deployment/checkout", incident.Workload);
            Assert.StartsWith("registry.example.com/payments/checkout:1.4.2-", incident.Image, StringComparison.Ordinal);
            Assert.Equal("payments", incident.Owner);
            Assert.Equal(3, incident.Rollouts.Count);
            Assert.Contains("release 1.4.2: faster receipts", incident.Rollouts[0], StringComparison.Ordinal);
            Assert.True(incident.ProcessTree.Count >= 2, "process tree: " + string.Join(" / ", incident.ProcessTree));
            Assert.All(["kill_process", "isolate_pod", "capture_evidence", "ack"], a => Assert.Contains(a, incident.CardActions));
            Assert.Contains($"incident #{incident.Id}", incident.CardText, StringComparison.Ordinal);
            Assert.Contains(incident.Evidence, e => e.StartsWith("process_tree: ", StringComparison.Ordinal));
            Assert.Contains(incident.Evidence, e => e.StartsWith("filesystem_diff: ", StringComparison.Ordinal));
            Assert.Contains(incident.Evidence, e => e.StartsWith("filesystem_export: ", StringComparison.Ordinal));
            Assert.Contains(incident.Evidence, e => e.StartsWith("checkpoint: unavailable", StringComparison.Ordinal) && e.Contains("CRIU", StringComparison.Ordinal));
            Assert.InRange(incident.SyscallToCard, TimeSpan.Zero, TimeSpan.FromSeconds(60));
        }

        Assert.StartsWith("connect(", metadata.Syscall, StringComparison.Ordinal);
        Assert.Contains("169.254.169.254:80", metadata.Syscall, StringComparison.Ordinal);
        Assert.Equal("metadata-credential-access", metadata.Runbook);
        Assert.StartsWith("routed: soc → primary soc", metadata.Route, StringComparison.Ordinal);

        Assert.StartsWith("execve(", drift.Syscall, StringComparison.Ordinal);
        Assert.Contains("exe /tmp/.x/nc", drift.ProcessTree[^1], StringComparison.Ordinal);
        Assert.Equal("container-drift", drift.Runbook);
        Assert.StartsWith("routed: both → primary payments", drift.Route, StringComparison.Ordinal);
        Assert.Contains(drift.Evidence, e => e.StartsWith("executable: ", StringComparison.Ordinal));

        Assert.StartsWith("dup2(", shell.Syscall, StringComparison.Ordinal);
        Assert.Equal("reverse-shell", shell.Runbook);

        // Response from the card's actions: the shell is killed on the node, the pod quarantined in Kubernetes.
        Assert.Contains("succeeded", report.KillResult, StringComparison.Ordinal);
        Assert.True(report.SecondHostSessionClosed, "the second host's shell session should close when the process is killed");
        Assert.NotNull(report.NetworkPolicy);
        Assert.Equal("""["Ingress","Egress"]""", report.NetworkPolicy!["spec"]!["policyTypes"]!.ToJsonString());
        Assert.StartsWith("triage.security/quarantine=", report.QuarantineLabel, StringComparison.Ordinal);

        // Nobody acknowledged the credential theft: level 2 of the SOC policy (erin) was paged.
        Assert.Contains(report.Escalation, e => e.StartsWith("paged: Paged level 1/2: carol", StringComparison.Ordinal));
        Assert.Contains(report.Escalation, e => e.StartsWith("paged: Paged level 2/2: erin", StringComparison.Ordinal));
    }
}
