using Sensor.Rules;
using Sensor.Tests.Support;

namespace Sensor.Tests.Rules;

public sealed class RulesCheckCommandTests
{
    [Fact]
    public void Run_FalcoStableRules_ListsLoadedAndSkippedAndEndsWithCounts()
    {
        var output = new StringWriter();

        var exit = RulesCheckCommand.Run([RepoFiles.FalcoStableRules], output);

        var lines = output.ToString().TrimEnd().Split(Environment.NewLine);
        Assert.Equal(0, exit);
        Assert.Equal("24 loaded, 1 skipped", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith("loaded   Terminal shell in container", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("skipped  Contact K8S API Server From Container: uses field not provided by the sensor: fd.sip.name", StringComparison.Ordinal));
    }

    [Fact]
    public void Run_RefuseUnknownFields_FailsNamingRuleAndField()
    {
        var output = new StringWriter();

        var exit = RulesCheckCommand.Run(["--refuse-unknown-fields", RepoFiles.FalcoStableRules], output);

        Assert.Equal(1, exit);
        Assert.Contains("rule 'Contact K8S API Server From Container' uses field not provided by the sensor: fd.sip.name", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Run_SyntaxError_PrintsFileLineColumn()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rules-check-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "- rule: r\n  desc: d\n  condition: proc.name in (a, b\n  output: o\n  priority: INFO\n");
        try
        {
            var output = new StringWriter();

            var exit = RulesCheckCommand.Run([path], output);

            Assert.Equal(1, exit);
            Assert.Contains($"error: {path}:3:", output.ToString(), StringComparison.Ordinal);
            Assert.EndsWith("0 loaded, 0 skipped", output.ToString().TrimEnd(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
