using System.Text.Json;
using Triage.Api.Evidence;
using Triage.Contracts;
using Triage.Fakes.Kubernetes;
using Triage.Fakes.Slack;
using Triage.Tests.Support;

namespace Triage.Tests.Chat;

/// <summary>
/// The card shows what the other pipeline steps stored (issues #5 and #7): owner and its source, the matched routing
/// row and why, recent rollouts with their facts, the runbook's title, link and first steps, and evidence downloads,
/// in Slack and Teams alike. Real service, fake Kubernetes API, strict fake Slack and Bot Framework.
/// </summary>
public sealed class CardContentTests
{
    private const string PublicUrl = "https://triage.example";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Yaml(FakeKubernetesApi api) => $$"""
        enrichment:
          ownership:
            fallback_team: soc
          kubernetes:
            mode: api_server
            api_server: {{api.BaseAddress}}
            request_timeout: 5s
        routing:
          soc_team: soc
          rules:
            - name: credential-access
              match: { tags: [T1552.005] }
              route: both
              primary: platform
        """;

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task NewIncident_SlackAndTeamsCards_CarryOwnerSourceRouteRolloutsRunbookAndEvidence(DatabaseKind database)
    {
        await using var api = await FakeKubernetesApi.StartAsync(cancellationToken: Ct);
        var now = DateTimeOffset.UtcNow;
        api.AddNamespace("payments", new Dictionary<string, string> { ["team"] = "payments" });
        var pod = api.AddDeployment("payments", "checkout",
        [
            new Rollout(now.AddDays(-5), "registry.local/payments/checkout:1.4"),
            new Rollout(now.AddMinutes(-7), "registry.local/payments/checkout:1.5", "release 1.5"),
        ]);
        await using var chat = await ChatHarness.StartAsync(database, Yaml(api), PublicUrl);
        var alert = Some.Alert(time: now) with
        {
            K8s = new KubernetesInfo { Namespace = pod.Namespace, Pod = pod.Pod, WorkloadKind = pod.Kind, WorkloadName = pod.Workload },
            Container = new ContainerInfo { Id = pod.ContainerId[..12], Image = "registry.local/payments/checkout:1.5" },
            Runbook = "metadata-credential-access",
        };

        var (id, card) = await chat.IncidentAsync(Ct, alert);

        Assert.Empty(BlockKitValidator.Default.Validate(card.Blocks));
        var slack = card.Blocks!.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var teamsPost = await chat.Teams.WaitForActivityAsync(a => a.Body.ToJsonString().Contains($"Incident #{id}", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        var teams = teamsPost.Body.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        foreach (var (what, expected) in new[]
        {
            ("owner and source", "payments (from namespace_label: label team=payments on Namespace payments)"),
            ("route row", "row credential-access"),
            ("rollouts", "Recent rollouts"),
            ("newest rollout", "release 1.5"),
            ("rollout fact", "minutes before the alert"),
            ("runbook steps heading", "— first steps"),
            ("runbook link", $"{PublicUrl}/runbooks/metadata-credential-access"),
        })
        {
            Assert.True(slack.Contains(expected, StringComparison.Ordinal), $"Slack card lacks {what} ({expected}): {slack}");
            Assert.True(teams.Contains(expected, StringComparison.Ordinal), $"Teams card lacks {what} ({expected}): {teams}");
        }

        Assert.Contains("1. ", slack, StringComparison.Ordinal);

        // Evidence captured later shows on the next rendering (cards are rendered at delivery time).
        var artifactId = await chat.Host.QueryAsync(async db =>
        {
            var artifact = new EvidenceArtifact
            {
                IncidentId = id, Kind = "process_list", Name = "ps.txt", ContentType = "text/plain", Node = "node-1",
                Sha256 = new string('a', 64), Size = 2048, CapturedAt = now, StoredAt = now, ExpiresAt = now.AddDays(30),
            };
            db.Add(artifact);
            await db.SaveChangesAsync(Ct);
            return artifact.Id;
        });
        var slackBody = (await chat.Host.Operator.GetStringAsync($"/api/v1/incidents/{id}/cards/slack", Ct));
        var teamsBody = (await chat.Host.Operator.GetStringAsync($"/api/v1/incidents/{id}/cards/teams", Ct));
        var download = $"{PublicUrl}/api/v1/evidence/{artifactId}/content";
        Assert.Contains(download, slackBody, StringComparison.Ordinal);
        Assert.Contains(download, teamsBody, StringComparison.Ordinal);
        Assert.Contains("process_list: ps.txt", slackBody, StringComparison.Ordinal);
    }
}
