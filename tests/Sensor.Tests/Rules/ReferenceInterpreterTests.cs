using Sensor.Events;
using Sensor.Rules;
using Sensor.Tests.Support;

namespace Sensor.Tests.Rules;

/// <summary>The compiled engine and the tree-walking reference interpreter must fire the same rules on every event.</summary>
public sealed class ReferenceInterpreterTests
{
    [Fact]
    public void CompiledEngine_AgreesWithReferenceInterpreter_OnEveryTestEvent()
    {
        var loader = new RuleLoader().LoadPath(RepoFiles.FalcoStableRules).LoadPath(RepoFiles.DefaultRules);
        var compiled = new RuleEvaluator(loader.Build());
        var reference = loader.BuildReferenceInterpreter();
        var compared = reference.RuleNames.ToHashSet();
        IEnumerable<SensorEvent> events = [
            .. DefaultRulePackTests.CaseList.Select(c => c.Event),
            .. FalcoStableRulesTests.CaseList.Select(c => c.Event)];

        var fired = 0;
        foreach (var e in events)
        {
            var expected = reference.Evaluate(e);
            var actual = compiled.Evaluate(e).Select(r => r.Name).Where(compared.Contains).ToList();
            Assert.Equal(expected, actual);
            fired += expected.Count;
        }

        Assert.True(compared.Count >= 40, $"only {compared.Count} rules compared");
        Assert.True(fired > 50, $"only {fired} matches: the comparison would prove little");
    }
}
