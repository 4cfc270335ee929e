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
        DateTimeOffset? at = null) =>
        new(rule, tags ?? [], priority, ns, owner, labels ?? [], rollout, imageChanged, at ?? TuesdayNoonBerlin);

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
        Assert.Contains(row.Checks, c => c is { Condition: "recent_rollout", Held: false } && c.Reason.Contains("unknown (no enrichment)", StringComparison.Ordinal));
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
}
