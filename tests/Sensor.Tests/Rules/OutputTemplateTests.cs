using Sensor.Rules;
using Sensor.Tests.Support;
using Triage.Contracts;
using static Sensor.Tests.Support.TestEvents;

namespace Sensor.Tests.Rules;

public sealed class OutputTemplateTests
{
    private const string Yaml = """
        - rule: Metadata access
          desc: d
          condition: evt.type = connect and fd.sip = 169.254.169.254
          output: >
            Metadata service contacted (proc=%proc.name cmd=%proc.cmdline ip=%fd.sip port=%fd.sport
            parent=%proc.aname[1] ns=%k8s.ns.name upper=%proc.is_exe_upper_layer pct=100%% unknown=%proc.sname
            end=%container.id.)
          priority: CRITICAL
          tags: [container, mitre_credential_access, T1552.005]
          runbook: metadata-credential-access
        """;

    private static RuleMatch Match()
    {
        var rules = RuleText.Load(Yaml);
        var evaluator = new RuleEvaluator(rules);
        var e = Connect(Proc("curl", "-s", "http://169.254.169.254/"), "169.254.169.254", 80, container: Container(),
            k8s: Pod());
        var rule = Assert.Single(evaluator.Evaluate(e));
        return evaluator.Match(rule, e);
    }

    [Fact]
    public void Format_SubstitutesFieldsAndMarksMissingOnes()
    {
        var match = Match();

        Assert.Equal(
            "Metadata service contacted (proc=curl cmd=curl -s http://169.254.169.254/ ip=169.254.169.254 port=80 " +
            "parent=bash ns=shop upper=false pct=100% unknown=<NA> end=3f2a9c1b7d4e.)",
            match.Output.Trim());
    }

    [Fact]
    public void Format_OutputFieldsUseFalcoNamesAndJsonTypes()
    {
        var fields = Match().OutputFields;

        Assert.Equal("curl", fields["proc.name"]!.GetValue<string>());
        Assert.Equal(80, fields["fd.sport"]!.GetValue<long>());
        Assert.False(fields["proc.is_exe_upper_layer"]!.GetValue<bool>());
        Assert.Equal("bash", fields["proc.aname[1]"]!.GetValue<string>());
        Assert.Null(fields["proc.sname"]);
    }

    [Fact]
    public void Load_OutputWithUnknownField_WarnsButLoads()
    {
        var rules = RuleText.Load(Yaml);

        Assert.Single(rules.Rules);
        Assert.Contains(rules.Warnings, w => w.Message.Contains("'proc.sname'", StringComparison.Ordinal));
    }

    [Fact]
    public void ToNativeAlert_CarriesRuleTagsRunbookAndEnforcement()
    {
        var alert = Match().ToNativeAlert("a-1", "node-1", ["connect denied (EPERM)"]);

        Assert.Empty(NativeAlertValidator.Validate(alert));
        Assert.Equal("Metadata access", alert.Rule);
        Assert.Equal("Critical", alert.Priority);
        Assert.Contains("T1552.005", alert.Tags!);
        Assert.Equal("metadata-credential-access", alert.Runbook);
        Assert.Equal(["connect denied (EPERM)"], alert.Enforced);
        Assert.Equal("connect", alert.Syscall!.Name);
        Assert.Equal("shop", alert.K8s!.Namespace);
        Assert.Equal("docker.io/library/nginx:1.27", alert.Container!.Image);
        Assert.Equal(2, alert.Ancestors!.Count);
        Assert.Equal("curl -s http://169.254.169.254/", alert.Process!.Cmdline);
    }

    [Fact]
    public void MitreIds_AreTheTechniqueAndTacticIdTags()
    {
        var rules = RuleText.Load(Yaml.Replace("T1552.005]", "T1552.005, TA0006, Tailored]", StringComparison.Ordinal));

        Assert.Equal(["T1552.005", "TA0006"], rules.Rules[0].MitreIds);
    }
}
