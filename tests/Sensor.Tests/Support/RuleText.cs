using Sensor.Events;
using Sensor.Rules;

namespace Sensor.Tests.Support;

/// <summary>Small rule files written inline for tests.</summary>
internal static class RuleText
{
    public static RuleSet Load(string yaml, RuleEngineOptions? options = null) =>
        new RuleLoader().LoadText(yaml, "test.yaml").Build(options);

    /// <summary>One rule named "t" with <paramref name="condition"/> as a literal block, after <paramref name="prelude"/>.</summary>
    public static string Rule(string condition, string name = "t", string output = "o", string extra = "") =>
        $"""
        - rule: {name}
          desc: test rule
          condition: |-
            {condition}
          output: {output}
          priority: WARNING
        {extra}
        """;

    public static bool Matches(string condition, SensorEvent sensorEvent, string prelude = "")
    {
        var rules = Load(prelude + "\n" + Rule(condition));
        Assert.Single(rules.Rules);
        return new RuleEvaluator(rules).Evaluate(sensorEvent).Count == 1;
    }
}
