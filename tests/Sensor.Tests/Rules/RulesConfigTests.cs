using Sensor.Rules;

namespace Sensor.Tests.Rules;

public sealed class RulesConfigTests
{
    [Fact]
    public void FromYaml_NoSection_GivesDefaultsWithPackOnAndEnforcementOff()
    {
        var config = RulesConfig.FromYaml("node: n1\n");

        Assert.True(config.IncludeDefaultPack);
        Assert.False(config.Enforcement.Enabled);
        Assert.Equal(UnknownFieldPolicy.Skip, config.UnknownFields);
        Assert.Equal(17, config.LoadRules().Rules.Count);
    }

    [Fact]
    public void FromYaml_FullSection_ReadsEverySetting()
    {
        var config = RulesConfig.FromYaml("""
            rules:
              include_default_pack: true
              unknown_fields: refuse
              rule_matching: first
              enforcement:
                enabled: true
                deny_metadata:
                  namespaces: [shop, payments]
                kill:
                  - rules: [Known cryptominer launched]
                    namespaces: [shop]
                  - namespaces: [ci]
                    include_host: true
            """);

        Assert.Equal(UnknownFieldPolicy.Refuse, config.UnknownFields);
        Assert.Equal(RuleMatching.First, config.RuleMatching);
        Assert.True(config.Enforcement.Enabled);
        Assert.Equal(["shop", "payments"], config.Enforcement.DenyMetadata.Namespaces);
        Assert.Contains("fd00:ec2::254", config.Enforcement.DenyMetadata.Addresses);
        Assert.Equal(["Known cryptominer launched"], config.Enforcement.Kill[0].Rules);
        Assert.True(config.Enforcement.Kill[1].IncludeHost);
        Assert.Equal(17, config.LoadRules().Rules.Count);
    }

    [Fact]
    public void LoadRules_KillNamingUnknownRule_Refuses()
    {
        var config = RulesConfig.FromYaml("""
            rules:
              enforcement:
                kill:
                  - rules: [Typo rule]
            """);

        var ex = Assert.Throws<RuleLoadException>(config.LoadRules);
        Assert.Contains("rule 'Typo rule' is not loaded", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromYaml_BadEnum_IsAnError()
    {
        var ex = Assert.Throws<RuleLoadException>(() => RulesConfig.FromYaml("rules:\n  unknown_fields: ignore\n"));

        Assert.Contains("rules.unknown_fields", ex.Message, StringComparison.Ordinal);
    }
}
