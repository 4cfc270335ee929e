using Triage.Bot.Cards;

namespace Triage.Bot.Tests.Support;

/// <summary>Cards shaped like the acceptance scenario (IMDS credential theft), plain and with every section at its largest.</summary>
internal static class SampleCards
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 25, 19, 0, 0, TimeSpan.Zero);

    public static IncidentCard Imds(long id = 42, string status = "triggered") => new()
    {
        IncidentId = id,
        Rule = "Read cloud metadata credentials from a container",
        Severity = "Critical",
        Status = status,
        Output = "Process curl in payments/checkout-7d9f queried 169.254.169.254/latest/meta-data/iam/security-credentials/ (user=root)",
        AlertCount = 3,
        FirstSeen = T0,
        LastSeen = T0.AddMinutes(2),
        Workload = new CardWorkload
        {
            Namespace = "payments", Pod = "checkout-7d9f", WorkloadKind = "Deployment", WorkloadName = "checkout",
            Node = "node-a", Image = "registry.local/checkout:1.4.2", ContainerId = "3f2a9c",
        },
        ProcessTree =
        [
            new CardProcess(4122, "/usr/bin/curl", "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/", "root", ExeUpperLayer: true),
            new CardProcess(4121, "/bin/sh", "sh -c curl -s http://169.254.169.254/…"),
            new CardProcess(3000, "/usr/local/bin/python3", "python3 app.py"),
            new CardProcess(1, "/usr/bin/tini", "tini -- python3 app.py"),
        ],
        Syscall = new CardSyscall("connect", new Dictionary<string, string> { ["fd"] = "3", ["addr"] = "169.254.169.254:80" }, 0),
        Tags = ["T1552.005", "mitre_credential_access", "container"],
        Runbook = new CardRunbook("IMDS credential access", "https://runbooks.example/imds") { FirstSteps = ["Is the pod expected to call the metadata service?", "Block egress to 169.254.169.254 for the pod"] },
        DetailsUrl = $"http://127.0.0.1:8080/api/v1/incidents/{id}",
    };

    public static IncidentCard Full(long id = 43) => Imds(id, "acknowledged") with
    {
        Activity = [new CardActivity("acknowledged", "alice", T0.AddMinutes(3), "from Slack"), new CardActivity("escalated", "alice", T0.AddMinutes(4), "to SOC")],
        Owner = new CardOwner("payments", "label app.kubernetes.io/team", "#payments-oncall") { Detail = "label team=payments on Deployment payments/checkout" },
        Route = new CardRoute(["payments", "soc"], "credential access on a platform workload goes to both") { Row = "imds-both", EscalationLevel = 2, Paged = "carol", NextEscalationAt = T0.AddMinutes(15) },
        Rollouts = [new CardRollout("checkout-7d9f (rev 12)", T0.AddMinutes(-30), "registry.local/checkout:1.4.2", "argo-cd") { Cause = "bump checkout to 1.4.2" }],
        DeploymentFacts = ["rolled out 30 minutes before the alert", "image changed in the last rollout"],
        Votes = new CardVotes(1, 0) { Needed = 2 },
        Evidence = [new CardLink("File-system diff", "http://127.0.0.1:8080/evidence/1/diff.txt"), new CardLink("Process list", "http://127.0.0.1:8080/evidence/1/ps.txt")],
    };

    /// <summary>Every text at many times its limit: the builders must truncate, not produce an invalid card.</summary>
    public static IncidentCard Huge(long id = 44) => Full(id) with
    {
        Rule = new string('R', 400),
        Output = string.Concat(Enumerable.Repeat("very long output <&> ", 1000)),
        ProcessTree = [.. Enumerable.Range(1, 60).Select(i => new CardProcess(i, "/usr/bin/" + new string('x', 100), new string('c', 5000)))],
        Rollouts = [.. Enumerable.Range(1, 50).Select(i => new CardRollout(new string('v', 500), T0.AddMinutes(-i)) { Cause = new string('c', 3000) })],
        DeploymentFacts = [.. Enumerable.Range(1, 30).Select(i => new string('f', 1000))],
        Runbook = new CardRunbook(new string('t', 500), "https://runbooks.example/" + new string('r', 2000)) { FirstSteps = [.. Enumerable.Range(1, 40).Select(i => new string('s', 2000))] },
        Evidence = [.. Enumerable.Range(1, 50).Select(i => new CardLink(new string('e', 300), "http://127.0.0.1/" + new string('u', 400)))],
        Tags = [.. Enumerable.Range(1, 100).Select(i => "tag" + i)],
        Owner = new CardOwner(new string('o', 3000), new string('s', 3000)),
    };
}
