using Sensor.Rules;
using Sensor.Tests.Support;
using static Sensor.Tests.Support.TestEvents;

namespace Sensor.Tests.Rules;

public sealed class RuleLoaderTests
{
    private const string Base = """
        - list: shells
          items: [bash, sh]
        - list: all_shells
          items: [shells, zsh, '"dash"']
        - macro: spawned_process
          condition: evt.type in (execve, execveat)
        - macro: shell_procs
          condition: proc.name in (all_shells)
        - rule: Shell
          desc: a shell
          condition: spawned_process and shell_procs
          output: shell %proc.name
          priority: NOTICE
          tags: [shell, T1059]
        """;

    private static bool Fires(RuleSet rules, Sensor.Events.SensorEvent e, string rule = "Shell") =>
        new RuleEvaluator(rules).Evaluate(e).Any(r => r.Name == rule);

    [Theory]
    [InlineData("bash", true)]
    [InlineData("zsh", true)]
    [InlineData("dash", true)]
    [InlineData("fish", false)]
    public void Lists_NestAndUnquote(string shell, bool expected)
    {
        Assert.Equal(expected, Fires(RuleText.Load(Base), Exec(Proc(shell))));
    }

    [Fact]
    public void Macro_DefinedAfterUse_IsResolved()
    {
        var rules = RuleText.Load("""
            - rule: Late
              desc: d
              condition: late_macro
              output: o
              priority: INFO
            - macro: late_macro
              condition: proc.name = late
            """);

        Assert.True(Fires(rules, Exec(Proc("late")), "Late"));
    }

    [Fact]
    public void ListOverride_Append_AddsItems()
    {
        var rules = RuleText.Load(Base + """

            - list: shells
              items: [fish]
              override:
                items: append
            """);

        Assert.True(Fires(rules, Exec(Proc("fish"))));
        Assert.True(Fires(rules, Exec(Proc("bash"))));
    }

    [Fact]
    public void ListOverride_Replace_DropsOldItems()
    {
        var rules = RuleText.Load(Base + """

            - list: shells
              items: [fish]
              override:
                items: replace
            """);

        Assert.True(Fires(rules, Exec(Proc("fish"))));
        Assert.False(Fires(rules, Exec(Proc("bash"))));
    }

    [Fact]
    public void MacroOverride_Append_ConcatenatesCondition()
    {
        var rules = RuleText.Load(Base + """

            - macro: shell_procs
              condition: and user.uid = 0
              override:
                condition: append
            """);

        Assert.True(Fires(rules, Exec(Proc("bash"))));
        Assert.False(Fires(rules, Exec(Proc("bash") with { Uid = 1000 })));
    }

    [Fact]
    public void RuleOverride_AppendConditionAndReplacePriority()
    {
        var rules = RuleText.Load(Base + """

            - rule: Shell
              condition: and not proc.pname = sshd
              priority: CRITICAL
              tags: [extra]
              override:
                condition: append
                priority: replace
                tags: append
            """);

        var shell = rules.Find("Shell")!;
        Assert.Equal(Triage.Contracts.AlertPriority.Critical, shell.Priority);
        Assert.Equal(["shell", "T1059", "extra"], shell.Tags);
        Assert.True(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("node")])));
        Assert.False(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("sshd")])));
    }

    [Fact]
    public void RuleOverride_ReplaceEnabled_DisablesRule()
    {
        var rules = RuleText.Load(Base + """

            - rule: Shell
              enabled: false
              override:
                enabled: replace
            """);

        Assert.Empty(rules.Rules);
        var skipped = Assert.Single(rules.Skipped);
        Assert.Contains("disabled", skipped.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DeprecatedAppendTrue_StillAppends()
    {
        var rules = RuleText.Load(Base + """

            - rule: Shell
              condition: and proc.pname = node
              append: true
            """);

        Assert.True(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("node")])));
        Assert.False(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("sshd")])));
        Assert.Contains(rules.Warnings, w => w.Message.Contains("deprecated", StringComparison.Ordinal));
    }

    [Fact]
    public void RuleEnabledOnlyItem_ReenablesDisabledRule()
    {
        var rules = RuleText.Load(Base.Replace("priority: NOTICE", "priority: NOTICE\n  enabled: false", StringComparison.Ordinal) + """

            - rule: Shell
              enabled: true
            """);

        Assert.Single(rules.Rules);
    }

    [Fact]
    public void Override_OfUndefinedRule_IsAnError()
    {
        var ex = Assert.Throws<RuleLoadException>(() => RuleText.Load("""
            - rule: Nope
              condition: and x
              override:
                condition: append
            """));

        Assert.Contains("was not defined before", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, ex.Location!.Value.Line);
    }

    [Fact]
    public void Exceptions_MultiField_ExcludeMatchingTuples()
    {
        var rules = RuleText.Load(Base.Replace("  tags: [shell, T1059]", """
              tags: [shell, T1059]
              exceptions:
                - name: known_parents
                  fields: [proc.pname, user.name]
                  comps: [=, in]
                  values:
                    - [node, [root, admin]]
                    - [java, app]
            """, StringComparison.Ordinal));

        Assert.False(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("node")])));
        Assert.True(Fires(rules, Exec(Proc("bash") with { User = "app" }, ancestors: [Proc("node")])));
        Assert.False(Fires(rules, Exec(Proc("bash") with { User = "app" }, ancestors: [Proc("java")])));
        Assert.True(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("java")])));
    }

    [Fact]
    public void Exceptions_SingleFieldAndAppendedValues_Exclude()
    {
        var rules = RuleText.Load(Base.Replace("  tags: [shell, T1059]", """
              tags: [shell, T1059]
              exceptions:
                - name: known_procs
                  fields: proc.pname
                  values: [node]
            """, StringComparison.Ordinal) + """

            - rule: Shell
              exceptions:
                - name: known_procs
                  values: [java]
              override:
                exceptions: append
            """);

        Assert.False(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("node")])));
        Assert.False(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("java")])));
        Assert.True(Fires(rules, Exec(Proc("bash"), ancestors: [Proc("python")])));
    }

    [Fact]
    public void UnknownField_SkipPolicy_ReportsRuleAndField()
    {
        var rules = RuleText.Load(Base + "\n" + RuleText.Rule("spawned_process and fd.sip.name = x", name: "Dns"));

        var skipped = Assert.Single(rules.Skipped);
        Assert.Equal("Dns", skipped.Name);
        Assert.Contains("fd.sip.name", skipped.Reason, StringComparison.Ordinal);
        Assert.Contains("test.yaml:", skipped.Reason, StringComparison.Ordinal);
        Assert.Single(rules.Rules);
    }

    [Fact]
    public void UnknownField_RefusePolicy_RefusesToLoad()
    {
        var yaml = Base + "\n" + RuleText.Rule("spawned_process and fd.sip.name = x", name: "Dns");

        var ex = Assert.Throws<RuleLoadException>(() => RuleText.Load(yaml, new RuleEngineOptions { UnknownFields = UnknownFieldPolicy.Refuse }));

        Assert.Contains("rule 'Dns'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("fd.sip.name", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownField_SkipIfUnknownFilter_SkipsEvenWhenRefusing()
    {
        var yaml = Base + "\n" + RuleText.Rule("fd.sip.name = x", name: "Dns", extra: "  skip-if-unknown-filter: true");

        var rules = RuleText.Load(yaml, new RuleEngineOptions { UnknownFields = UnknownFieldPolicy.Refuse });

        Assert.Equal("Dns", Assert.Single(rules.Skipped).Name);
    }

    [Fact]
    public void ConditionSyntaxError_InFoldedBlock_NamesFileLineAndColumn()
    {
        const string yaml = """
            - rule: Broken
              desc: d
              condition: >
                evt.type = execve
                and (proc.name = bash
                     or proc.name in (a, b)
              output: o
              priority: INFO
            """;

        var ex = Assert.Throws<RuleLoadException>(() => RuleText.Load(yaml));

        Assert.Contains("missing ')'", ex.Message, StringComparison.Ordinal);
        Assert.Equal("test.yaml", ex.Location!.Value.File);
        // End of the condition: just after "(a, b)" on the third condition line.
        Assert.Equal(6, ex.Location.Value.Line);
        Assert.Equal(32, ex.Location.Value.Column);
    }

    [Fact]
    public void ConditionSyntaxError_OnOneLine_PointsAtTheToken()
    {
        const string yaml = """
            - macro: m
              condition: proc.name = bash and and x
            """;

        var ex = Assert.Throws<RuleLoadException>(() => RuleText.Load(yaml));

        Assert.Equal(new SourceLocation("test.yaml", 2, 35), ex.Location);
        Assert.StartsWith("test.yaml:2:35: macro 'm'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void YamlSyntaxError_NamesLineAndColumn()
    {
        var ex = Assert.Throws<RuleLoadException>(() => RuleText.Load("- rule: x\n  desc: d\n  output: o\n    bad: indent\n"));

        Assert.Contains("YAML syntax error", ex.Message, StringComparison.Ordinal);
        Assert.Equal("test.yaml", ex.Location!.Value.File);
        Assert.Equal(4, ex.Location.Value.Line);
    }

    [Fact]
    public void UndefinedMacro_IsALoadErrorNamingTheRule()
    {
        var ex = Assert.Throws<RuleLoadException>(() => RuleText.Load(RuleText.Rule("evt.type = execve and no_such_macro")));

        Assert.Contains("rule 't': undefined macro 'no_such_macro'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(4, ex.Location!.Value.Line);
    }

    [Fact]
    public void EventTypes_IndexRulesAndFormRequiredSet()
    {
        var rules = RuleText.Load(Base + "\n" + RuleText.Rule("evt.type = connect and fd.sport = 80", name: "Web")
            + "\n" + RuleText.Rule("not evt.type in (execve, execveat) and proc.name = x", name: "Other"));

        Assert.Equal(["execve", "execveat"], rules.Find("Shell")!.EventTypes.Types.Order());
        Assert.True(rules.Find("Other")!.EventTypes.Complement);
        Assert.Equal(["Shell"], rules.RulesFor("execve").Select(r => r.Name));
        Assert.Equal(["Web", "Other"], rules.RulesFor("connect").Select(r => r.Name));
        Assert.Equal(["Other"], rules.RulesFor("openat").Select(r => r.Name));
        Assert.True(rules.RequiredEventTypes.IsAll);
    }

    [Fact]
    public void RequiredEventTypes_WithoutCatchAllRules_IsTheUnion()
    {
        var rules = RuleText.Load(Base + "\n" + RuleText.Rule("evt.type = connect and fd.sport = 80", name: "Web"));

        Assert.False(rules.RequiredEventTypes.Complement);
        Assert.Equal(["connect", "execve", "execveat"], rules.RequiredEventTypes.Types.Order());
    }

    [Fact]
    public void RuleMatchingFirst_ReportsOnlyFirstRule()
    {
        var yaml = Base + "\n" + RuleText.Rule("spawned_process and proc.name = bash", name: "Second");

        var all = new RuleEvaluator(RuleText.Load(yaml)).Evaluate(Exec(Proc("bash")));
        Assert.Equal(["Shell", "Second"], all.Select(r => r.Name));
        var first = new RuleEvaluator(RuleText.Load(yaml, new RuleEngineOptions { Matching = RuleMatching.First }))
            .Evaluate(Exec(Proc("bash")));
        Assert.Equal(["Shell"], first.Select(r => r.Name));
    }

    [Fact]
    public void TypeSpecialisedConditions_KeepEachBranchToItsType()
    {
        var rules = RuleText.Load(RuleText.Rule(
            "(evt.type = execve and proc.name = curl) or (evt.type = openat and fd.name = /etc/shadow) or evt.type = ptrace"));
        var evaluator = new RuleEvaluator(rules);

        Assert.Single(evaluator.Evaluate(Exec(Proc("curl"))));
        Assert.Empty(evaluator.Evaluate(Exec(Proc("wget"))));
        Assert.Single(evaluator.Evaluate(Open(Proc("curl"), "/etc/shadow")));
        Assert.Empty(evaluator.Evaluate(Open(Proc("curl"), "/etc/hosts")));
        Assert.Single(evaluator.Evaluate(Event("ptrace", Proc("gdb"))));
        Assert.Empty(evaluator.Evaluate(Event("connect", Proc("curl"))));
    }
}
