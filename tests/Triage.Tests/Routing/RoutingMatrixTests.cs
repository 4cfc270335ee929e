using Triage.Api.Configuration;
using Triage.Api.Routing;
using Triage.Contracts;

namespace Triage.Tests.Routing;

public sealed class RoutingMatrixTests
{
    internal const string Teams = """
        teams:
          - name: payments
            kind: platform
            escalation_policy: payments-default
          - name: platform
            kind: platform
            escalation_policy: platform-default
          - name: soc
            kind: soc
            escalation_policy: soc-default
        people:
          - name: alice
            teams: [payments]
          - name: carol
            teams: [soc]
          - name: dave
            teams: [platform]
        escalation_policies:
          - name: payments-default
            levels: [{ timeout: 5m, targets: [{ person: alice }] }]
          - name: platform-default
            levels: [{ timeout: 5m, targets: [{ person: dave }] }]
          - name: soc-default
            levels: [{ timeout: 5m, targets: [{ person: carol }] }]
          - name: soc-critical
            levels: [{ timeout: 1m, targets: [{ person: carol }] }]
        """;

    private const string Matrix = Teams + """

        routing:
          fallback_platform_team: platform
          rules:
            - name: credential-access-in-prod
              match:
                tags: [T1552.005, TA0006]
                min_priority: Critical
                labels: { env: prod }
              route: both
              primary: soc
              escalation_policy: soc-critical
            - name: deploy-artifact
              match:
                recent_rollout: true
                image_changed: true
                max_priority: Error
              route: platform
              urgency: low
            - name: payments-business-hours
              match:
                namespaces: [payments, "payments-*"]
                time_of_day: { time_zone: Europe/Berlin, days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00" }
              route: platform
            - name: system-namespaces
              match:
                namespaces: ["kube-*"]
              route: platform
              platform_team: platform
          default:
            route: soc
        """;

    private static readonly DateTimeOffset TuesdayNoonBerlin = new(2026, 11, 24, 11, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset SaturdayNight = new(2026, 11, 28, 23, 0, 0, TimeSpan.Zero);

    private static RouteInput Input(
        string rule = "Terminal shell in container",
        string[]? tags = null,
        AlertPriority priority = AlertPriority.Warning,
        string? ns = "payments",
        string? owner = "payments",
        Dictionary<string, string>? labels = null,
        bool? rollout = null,
        bool? imageChanged = null,
        DateTimeOffset? at = null,
        RouteFacts? facts = null) =>
        new(rule, tags ?? [], priority, ns, labels ?? [],
            facts ?? new RouteFacts("enrichment", rollout is null ? "unavailable" : "complete", owner, owner is null ? null : "label team on the namespace",
                rollout is not null, rollout switch { true => TimeSpan.FromMinutes(10), false => TimeSpan.FromDays(3), null => null },
                rollout is null ? null : 7, imageChanged, imageChanged == true ? "registry.local/cart:1.1 → registry.local/cart:1.2" : null,
                rollout is null ? "Kubernetes enrichment unavailable: API timed out" : null),
            at ?? TuesdayNoonBerlin);

    private static RoutingMatrix Load() => new(ConfigLoader.Parse(Matrix, "triage.yaml"));

    [Fact]
    public void Decide_CredentialAccessInProd_RoutesToBothWithSocPrimaryAndExplains()
    {
        var decision = Load().Decide(Input(
            rule: "Contact cloud metadata service from container",
            tags: ["T1552.005", "container"],
            priority: AlertPriority.Critical,
            labels: new() { ["env"] = "prod", ["app"] = "api" }));

        Assert.Equal("credential-access-in-prod", decision.Row);
        Assert.Equal(0, decision.RowIndex);
        Assert.Equal("both", decision.Route);
        Assert.Equal("soc", decision.PrimaryTeam);
        Assert.Equal("payments", decision.InformedTeam);
        Assert.Equal("soc-critical", decision.EscalationPolicy);
        Assert.Equal("high", decision.Urgency);
        Assert.Contains("tag 'T1552.005' is present", decision.Why[0], StringComparison.Ordinal);
        Assert.Contains("priority Critical >= Critical", decision.Why[0], StringComparison.Ordinal);
        Assert.Contains("labels env=prod present", decision.Why[0], StringComparison.Ordinal);
        Assert.Contains(decision.Why, w => w.Contains("'soc' is primary (paged), 'payments' is informed", StringComparison.Ordinal));
    }

    [Fact]
    public void Decide_PriorityTooLow_SkipsRowAndSaysWhichConditionFailed()
    {
        var decision = Load().Decide(Input(tags: ["T1552.005"], priority: AlertPriority.Warning, labels: new() { ["env"] = "prod" }));

        var first = decision.Rows[0];
        Assert.False(first.Matched);
        var failed = Assert.Single(first.Checks, c => !c.Held);
        Assert.Equal("min_priority", failed.Condition);
        Assert.Equal("priority Warning < Critical", failed.Reason);
        Assert.Equal("payments-business-hours", decision.Row);
    }

    [Fact]
    public void Decide_DeploymentArtifact_RoutesToOwnerLowUrgencyWithTeamPolicy()
    {
        var decision = Load().Decide(Input(rollout: true, imageChanged: true, priority: AlertPriority.Error));

        Assert.Equal("deploy-artifact", decision.Row);
        Assert.Equal("payments", decision.PrimaryTeam);
        Assert.Null(decision.InformedTeam);
        Assert.Equal("low", decision.Urgency);
        Assert.Equal("payments-default", decision.EscalationPolicy);
        Assert.Contains(decision.Why, w => w == "escalation policy 'payments-default' of team 'payments'");
    }

    [Fact]
    public void Decide_EnrichmentFactsUnknown_NeverSatisfyConditionsOnThem()
    {
        var decision = Load().Decide(Input(rollout: null, imageChanged: null, priority: AlertPriority.Error, at: SaturdayNight));

        var row = decision.Rows[1];
        Assert.False(row.Matched);
        Assert.Contains(row.Checks, c => c is { Condition: "recent_rollout", Held: false, Unknown: true }
            && c.Reason == "recent_rollout unknown (Kubernetes enrichment unavailable: API timed out), wanted true");
        Assert.Contains(decision.Why, w => w == "enrichment facts unknown (Kubernetes enrichment unavailable: API timed out): row 'deploy-artifact' could not be matched on them");
        Assert.Equal("unavailable", decision.Enrichment);
    }

    [Fact]
    public void Decide_OutsideBusinessHours_FallsToDefaultSoc()
    {
        var decision = Load().Decide(Input(at: SaturdayNight));

        Assert.Equal("default", decision.Row);
        Assert.Null(decision.RowIndex);
        Assert.Equal("soc", decision.PrimaryTeam);
        Assert.Equal("soc-default", decision.EscalationPolicy);
        var timeCheck = Assert.Single(decision.Rows[2].Checks, c => c.Condition == "time_of_day");
        Assert.False(timeCheck.Held);
        Assert.Equal("Sun 00:00 Europe/Berlin is outside mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin", timeCheck.Reason);
    }

    [Fact]
    public void Decide_OwnerUnknown_UsesFallbackPlatformTeamAndSaysSo()
    {
        var decision = Load().Decide(Input(owner: null, ns: "payments-batch"));

        Assert.Equal("payments-business-hours", decision.Row);
        Assert.Equal("platform", decision.PrimaryTeam);
        Assert.Contains(decision.Why, w => w == "no owning team is known: fallback platform team 'platform'");
        Assert.Contains("namespace 'payments-batch' matches 'payments-*'", decision.Why[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_OwnerUnknownWithoutFallback_GoesToTheSoc()
    {
        var config = ConfigLoader.Parse(Teams + """

            routing:
              rules:
                - name: everything-to-owner
                  route: platform
            """, "t.yaml");

        var decision = new RoutingMatrix(config).Decide(Input(owner: null));

        Assert.Equal("soc", decision.PrimaryTeam);
        Assert.Contains(decision.Why, w => w == "no owning team is known and no fallback_platform_team is set");
        Assert.Contains("it has no conditions", decision.Why[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_BadMatrix_ReportsEveryProblemWithLine()
    {
        var yaml = Teams + """

            routing:
              rules:
                - name: catch-all
                  route: soc
                - name: never
                  match: { namespaces: [payments] }
                  route: platform
                  platform_team: nobody
                  escalation_policy: missing-policy
                - name: empty
                  match: { rules: [] , min_priority: Critical, max_priority: Warning }
                  route: sideways
                  urgency: medium
            """;
        var lineOf = (string text) => yaml.Split('\n').ToList().FindIndex(l => l.Contains(text, StringComparison.Ordinal)) + 1;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "routing.yaml"));

        Assert.Contains(error.Errors, e => e.Field == "routing.rules[1].match" && e.Message.Contains("row 0 ('catch-all') has no conditions", StringComparison.Ordinal)
            && e.Line == lineOf("match: { namespaces: [payments] }"));
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[1].platform_team" && e.Line == lineOf("platform_team: nobody"));
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[1].escalation_policy" && e.Message == "unknown escalation policy 'missing-policy'");
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[2].match.rules" && e.Message.Contains("can never match", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[2].match.max_priority" && e.Message.Contains("can never match", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[2].route" && e.Line == lineOf("route: sideways"));
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[2].urgency");
        Assert.All(error.Errors, e => Assert.Equal("routing.yaml", e.File));
    }

    [Fact]
    public void Validate_RowShadowedByBroaderEarlierRow_IsReported()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Teams + """

            routing:
              rules:
                - name: prod-namespaces
                  match: { namespaces: [payments, checkout] }
                  route: platform
                - name: payments-critical
                  match: { namespaces: [payments], min_priority: Critical }
                  route: soc
            """, "t.yaml"));

        var only = Assert.Single(error.Errors);
        Assert.Equal("routing.rules[1].match", only.Field);
        Assert.Contains("row 0 ('prod-namespaces') matches everything this row does", only.Message, StringComparison.Ordinal);
    }
    private const string RolloutMatrix = Teams + """

        routing:
          rules:
            - name: fresh-image-change
              match: { rolled_out_within: 15m, image_changed: true, owning_teams: [payments] }
              route: platform
              urgency: low
          default:
            route: soc
        """;

    private static RouteFacts Rollout(TimeSpan? before, bool? imageChanged = true, string? owner = "payments") =>
        new("enrichment", "complete", owner, "label team=payments on Namespace payments", true, before, 4, imageChanged,
            imageChanged == true ? "registry.local/cart:1.1 → registry.local/cart:1.2" : null, null);

    [Fact]
    public void Decide_RolledOutWithinWindowWithImageChange_MatchesAndExplainsTheFacts()
    {
        var decision = new RoutingMatrix(ConfigLoader.Parse(RolloutMatrix, "t.yaml")).Decide(Input(facts: Rollout(TimeSpan.FromMinutes(7))));

        Assert.Equal("fresh-image-change", decision.Row);
        Assert.Equal(("payments", "low"), (decision.PrimaryTeam, decision.Urgency));
        Assert.Equal("complete", decision.Enrichment);
        Assert.Equal("row 0 'fresh-image-change' matched: owning team 'payments' is listed; "
            + "newest rollout 7 minutes before the alert is within 15 minutes before it; registry.local/cart:1.1 → registry.local/cart:1.2",
            decision.Why[0]);
        Assert.Equal("facts: enrichment complete; owning team 'payments' (label team=payments on Namespace payments); "
            + "newest rollout (revision 4) 7 minutes before the alert; registry.local/cart:1.1 → registry.local/cart:1.2", decision.Why[1]);
    }

    [Theory]
    [InlineData(20, true, "rolled_out_within", "newest rollout 20 minutes before the alert is not within 15 minutes before it")]
    [InlineData(-3, true, "rolled_out_within", "newest rollout 3 minutes after the alert is not within 15 minutes before it")]
    [InlineData(5, false, "image_changed", "image unchanged in the last rollout")]
    public void Decide_RolloutFactsDoNotHold_FallsToDefaultAndSaysWhich(int minutes, bool imageChanged, string condition, string reason)
    {
        var decision = new RoutingMatrix(ConfigLoader.Parse(RolloutMatrix, "t.yaml"))
            .Decide(Input(facts: Rollout(TimeSpan.FromMinutes(minutes), imageChanged)));

        Assert.Equal("default", decision.Row);
        var failed = Assert.Single(decision.Rows[0].Checks, c => !c.Held);
        Assert.Equal((condition, reason, false), (failed.Condition, failed.Reason, failed.Unknown));
        Assert.DoesNotContain(decision.Why, w => w.StartsWith("enrichment facts unknown", StringComparison.Ordinal));
    }

    [Fact]
    public void Decide_NoRolloutHistory_RolledOutWithinDoesNotHoldButRecentRolloutFalseDoes()
    {
        var config = ConfigLoader.Parse(Teams + """

            routing:
              rules:
                - name: quiet-workload
                  match: { recent_rollout: false }
                  route: soc
                  urgency: low
            """, "t.yaml");

        var none = new RoutingMatrix(config).Decide(Input(facts: Rollout(null, imageChanged: false)));
        var recent = new RoutingMatrix(config).Decide(Input(facts: Rollout(TimeSpan.FromMinutes(30))));

        Assert.Equal("quiet-workload", none.Row);
        Assert.Equal("no rollout recorded, so none within 1 hour before the alert", none.Rows[0].Checks[0].Reason);
        Assert.Equal("default", recent.Row);
        Assert.Equal("newest rollout 30 minutes before the alert is within 1 hour before it", recent.Rows[0].Checks[0].Reason);
    }

    [Fact]
    public void Decide_EnrichmentNotYetStored_OwnerAndRolloutUnknownAndSaysSo()
    {
        var decision = new RoutingMatrix(ConfigLoader.Parse(RolloutMatrix, "t.yaml")).Decide(Input(facts: RouteFacts.NotEnriched(null)));

        Assert.Equal("default", decision.Row);
        Assert.Equal("not_enriched", decision.Enrichment);
        Assert.All(decision.Rows[0].Checks, c => Assert.True(c.Unknown));
        Assert.Contains(decision.Why, w => w == "facts: no enrichment yet; owning team unknown; rollout facts unknown (the incident has not been enriched)");
        Assert.Contains(decision.Why, w => w == "enrichment facts unknown (the incident has not been enriched): row 'fresh-image-change' could not be matched on them");
    }

    [Fact]
    public void Validate_RolloutConditions_ReportsRangeContradictionNoKubernetesAndShadowing()
    {
        var yaml = Teams + """

            enrichment:
              kubernetes: { mode: none }
            routing:
              rules:
                - name: too-long
                  match: { rolled_out_within: 8d, namespaces: [other] }
                  route: platform
                - name: contradiction
                  match: { recent_rollout: false, rolled_out_within: 30m, namespaces: [shop] }
                  route: platform
                - name: wide
                  match: { rolled_out_within: 2h, namespaces: [payments] }
                  route: platform
                - name: narrow
                  match: { rolled_out_within: 10m, namespaces: [payments] }
                  route: soc
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "routing.yaml"));

        Assert.Contains(error.Errors, e => e.Field == "routing.rules[0].match.rolled_out_within" && e.Message == "must be between 1m and 7d");
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[1].match.rolled_out_within"
            && e.Message.StartsWith("can never match together with recent_rollout: false", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[2].match"
            && e.Message.Contains("enrichment.kubernetes.mode is none", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.Field == "routing.rules[3].match"
            && e.Message.Contains("row 2 ('wide') matches everything this row does", StringComparison.Ordinal));
    }
}
