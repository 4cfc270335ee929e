using Triage.Api.Configuration;

namespace Triage.Tests.Suppression;

public sealed class SuppressionOptionsTests
{
    [Fact]
    public void Parse_ExampleFile_HasPoliciesByPriority()
    {
        var config = ConfigLoader.Load(Path.Combine(AppContext.BaseDirectory, "config", "triage.example.yaml"));

        Assert.Equal("default", config.Suppression.PolicyFor(Triage.Contracts.AlertPriority.Warning).Name);
        Assert.Equal("high priority", config.Suppression.PolicyFor(Triage.Contracts.AlertPriority.Critical).Name);
        Assert.NotEmpty(config.Suppression.NeverWithoutSoc);
    }

    [Fact]
    public void Parse_BadSuppressionSection_ReportsEachFieldWithItsLine()
    {
        const string yaml = """
            teams:
              - name: payments
            suppression:
              default_duration: 40d
              max_duration: 30d
              unknown_owner: maybe
              never_without_soc: [Container escape]
              policies:
                - name: p
                  min_priority: Loud
                  owning_team: 0
                  soc: 0
                  may_widen: [rule]
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "s.yaml"));

        Assert.Contains(error.Errors, e => e is { Field: "suppression.default_duration", Line: 4 });
        Assert.Contains(error.Errors, e => e is { Field: "suppression.unknown_owner", Line: 6 });
        Assert.Contains(error.Errors, e => e is { Field: "suppression.never_without_soc", Line: 7 });
        Assert.Contains(error.Errors, e => e is { Field: "suppression.policies[0].min_priority", Line: 10 });
        Assert.Contains(error.Errors, e => e is { Field: "suppression.policies[0].owning_team", Line: 11 });
        Assert.Contains(error.Errors, e => e is { Field: "suppression.policies[0].may_widen[0]", Line: 13 });
    }
}
