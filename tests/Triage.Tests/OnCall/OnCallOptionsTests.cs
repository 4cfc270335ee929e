using Triage.Api.Configuration;

namespace Triage.Tests.OnCall;

/// <summary>
/// Keys and list entries left without a value — what a mis-indented list leaves behind — are configuration errors with
/// file, line and field in the on-call, routing and paging sections, never a NullReferenceException.
/// </summary>
public sealed class OnCallOptionsTests
{
    private const string Teams = """
        teams:
          - name: payments
            kind: platform
          - name: soc
            kind: soc
        people:
          - { name: alice, teams: [payments] }
        """;

    private static int LineOf(string yaml, string text) =>
        yaml.Split('\n').ToList().FindIndex(l => l.Contains(text, StringComparison.Ordinal)) + 1;

    [Fact]
    public void Parse_TargetsIndentedAsANewLevel_ReportsTheEmptyTargetsWithFileLineAndField()
    {
        // The targets' list items sit at the level of the levels list, so "targets:" has no value and
        // "- person: alice" becomes a second level.
        var yaml = Teams + """

            escalation_policies:
              - name: pager
                levels:
                  - timeout: 5m
                    targets:
                  - person: alice
            """;

        var error = Assert.Throws<ConfigException>(() => Parse(yaml, "oncall.yaml"));

        var targets = Assert.Single(error.Errors, e => e.Field == "escalation_policies[0].levels[0].targets");
        Assert.Equal(("oncall.yaml", LineOf(yaml, "targets:")), (targets.File, targets.Line));
        Assert.Contains("has no value", targets.Message, StringComparison.Ordinal);
        Assert.Contains("indentation", targets.Message, StringComparison.Ordinal);
        Assert.Contains(error.Errors, e => e.Field == "escalation_policies[0].levels[1].person" && e.Line == LineOf(yaml, "- person: alice"));
        Assert.Contains("oncall.yaml:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmptyEntriesAndKeysInSchedulesAndPolicies_AreEachReported()
    {
        var yaml = Teams + """

            schedules:
              - name: primary
                time_zone:
                layers:
                  - name: weekly
                    users:
                      - alice
                      -
                    start: 2026-11-02
                    restrictions:
                  -
              - name: secondary
                layers:
            escalation_policies:
              - name: pager
                levels:
                  - timeout: 5m
                    targets:
                      -
                      - person: alice
                  -
              -
            """;

        var error = Assert.Throws<ConfigException>(() => Parse(yaml, "oncall.yaml"));

        Assert.Equal(
            [
                ("schedules[0].time_zone", LineOf(yaml, "time_zone:")),
                ("schedules[0].layers[0].users[1]", LineOf(yaml, "- alice") + 1),
                ("schedules[0].layers[0].restrictions", LineOf(yaml, "restrictions:")),
                ("schedules[0].layers[1]", LineOf(yaml, "restrictions:") + 1),
                ("schedules[1].layers", LineOf(yaml, "name: secondary") + 1),
                ("escalation_policies[0].levels[0].targets[0]", LineOf(yaml, "- person: alice") - 1),
                ("escalation_policies[0].levels[1]", LineOf(yaml, "- person: alice") + 1),
                ("escalation_policies[1]", LineOf(yaml, "- person: alice") + 2),
            ],
            error.Errors.Select(e => (e.Field, e.Line)));
        Assert.Contains("is an empty entry", error.Errors[1].Message, StringComparison.Ordinal);
        Assert.Equal("has no value", error.Errors[0].Message);
    }

    [Fact]
    public void Parse_EmptyKeysInRoutingAndPaging_AreReported()
    {
        var yaml = Teams + """

            routing:
              rules:
                - name: platform-first
                  match:
                    namespaces:
                  route: platform
                  platform_team:
                - name: nothing
                  match:
              default:
            paging:
              pagerduty:
                routing_keys:
                  payments:
              webhooks:
                - name: ops
                  url: https://hooks.example.com/page
                  secret:
                  events:
                -
            """;

        var error = Assert.Throws<ConfigException>(() => Parse(yaml, "routing.yaml"));

        Assert.Equal(
            [
                ("routing.rules[0].match.namespaces", LineOf(yaml, "namespaces:")),
                ("routing.rules[0].platform_team", LineOf(yaml, "platform_team:")),
                ("routing.rules[1].match", LineOf(yaml, "- name: nothing") + 1),
                ("routing.default", LineOf(yaml, "default:")),
                ("paging.pagerduty.routing_keys.payments", LineOf(yaml, "payments:")),
                ("paging.webhooks[0].secret", LineOf(yaml, "secret:")),
                ("paging.webhooks[0].events", LineOf(yaml, "events:")),
                ("paging.webhooks[1]", LineOf(yaml, "events:") + 1),
            ],
            error.Errors.Select(e => (e.Field, e.Line)));
    }

    [Fact]
    public void Parse_AnOptionalSectionLeftEmpty_MeansNotConfigured()
    {
        var config = Parse(Teams + """

            paging:
              pagerduty:
            """, "paging.yaml");

        Assert.Null(config.Paging.Pagerduty);
    }

    [Fact]
    public void Parse_EmptyTopLevelList_IsReportedNotThrown()
    {
        var error = Assert.Throws<ConfigException>(() => Parse("teams:\npeople:\n", "empty.yaml"));

        Assert.Equal([("teams", 1), ("people", 2)], error.Errors.Select(e => (e.Field, e.Line)));
    }

    private static TriageConfig Parse(string yaml, string file) => ConfigLoader.Parse(yaml, file);
}
