using System.Text.RegularExpressions;
using Triage.Api.Enrichment.Runbooks;

namespace Triage.Tests.Enrichment;

public sealed class RunbookCatalogTests
{
    /// <summary>The names the default detection rules point to; each must have a runbook.</summary>
    public static readonly TheoryData<string> DefaultRunbooks =
    [
        "metadata-credential-access", "container-drift", "memfd-execution", "container-escape", "cryptomining",
        "reverse-shell", "sensitive-file-read", "shell-in-container", "package-manager-in-container", "ptrace-attach",
    ];

    [Theory]
    [MemberData(nameof(DefaultRunbooks))]
    public void Load_RepositoryRunbooks_EachDefaultHasTitleStepsAndSections(string name)
    {
        var runbook = EnrichmentHarness.Catalog.Value.Find(name);

        Assert.NotNull(runbook);
        Assert.False(string.IsNullOrWhiteSpace(runbook.Title));
        Assert.InRange(runbook.FirstSteps.Count, 3, 8);
        Assert.NotEmpty(runbook.Techniques);
        Assert.Contains(name, runbook.Rules);
        Assert.True(runbook.OwnerHints.ContainsKey("platform") && runbook.OwnerHints.ContainsKey("soc"));
        foreach (var section in new[] { "## Triage questions", "## Is it a deployment artifact?", "## Containment",
                     "## Evidence to keep", "## Ownership: platform versus SOC" })
        {
            Assert.Contains(section, runbook.Markdown, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Match_NameThenRuleThenTechniqueThenParent()
    {
        var catalog = EnrichmentHarness.Catalog.Value;

        var byName = catalog.Match("reverse-shell", "Terminal shell in container", ["T1611"]);
        var byRule = catalog.Match(null, "terminal shell in container", ["T1611"]);
        var byTechnique = catalog.Match("no-such-runbook", "Some custom rule", ["mitre_privilege_escalation", "T1611"]);
        var byParent = catalog.Match(null, "Some custom rule", ["T1496.001"]);
        var none = catalog.Match(null, "Some custom rule", ["T9999"]);

        Assert.Equal(("reverse-shell", RunbookMatch.Name), (byName!.Value.Runbook.Name, byName.Value.How));
        Assert.Equal(("shell-in-container", RunbookMatch.Rule), (byRule!.Value.Runbook.Name, byRule.Value.How));
        Assert.Equal(("container-escape", RunbookMatch.Technique), (byTechnique!.Value.Runbook.Name, byTechnique.Value.How));
        Assert.Equal(("cryptomining", RunbookMatch.ParentTechnique), (byParent!.Value.Runbook.Name, byParent.Value.How));
        Assert.Null(none);
    }

    [Fact]
    public void Parse_FirstStepsAcrossWrappedLines_Joined()
    {
        const string text = """
            ---
            title: T
            rules: [r]
            mitre: [T1059]
            ---
            # T
            ## First steps
            1. Look at
               the tree.
            2. Isolate.
            ## Other
            1. Not a step.
            """;

        var runbook = RunbookCatalog.Parse("t", text, "t.md");

        Assert.Equal(["Look at the tree.", "Isolate."], runbook.FirstSteps);
    }

    [Fact]
    public void Parse_BadTechniqueOrNoSteps_NamesFileAndProblem()
    {
        var badTechnique = Assert.Throws<RunbookException>(() => RunbookCatalog.Parse("x",
            "---\ntitle: X\nmitre: [credential_access]\n---\n## First steps\n1. a\n", "x.md"));
        var noSteps = Assert.Throws<RunbookException>(() => RunbookCatalog.Parse("y", "---\ntitle: Y\n---\nbody\n", "y.md"));

        Assert.StartsWith("x.md: 'credential_access' is not a MITRE", badTechnique.Message, StringComparison.Ordinal);
        Assert.StartsWith("y.md: no numbered list", noSteps.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SensorDefaultRules_EachRuleMatchesTheRunbookItNames()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Triage.sln")))
        {
            root = root.Parent;
        }

        var rulesFile = Path.Combine(root!.FullName, "Sensor", "rules", "default-rules.yaml");
        if (!File.Exists(rulesFile))
        {
            Assert.Skip($"{rulesFile} is not in this checkout");
        }

        // Each rule block: "- rule: NAME" ... "  runbook: NAME".
        var pairs = Regex.Matches(File.ReadAllText(rulesFile), @"^- rule: (?<rule>.+?)\s*$(?:(?!^- ).)*?^  runbook: (?<runbook>\S+)",
                RegexOptions.Multiline | RegexOptions.Singleline)
            .Select(m => (Rule: m.Groups["rule"].Value, Runbook: m.Groups["runbook"].Value))
            .ToList();

        Assert.NotEmpty(pairs);
        foreach (var (rule, runbook) in pairs)
        {
            Assert.NotNull(EnrichmentHarness.Catalog.Value.Find(runbook));
            var match = EnrichmentHarness.Catalog.Value.Match(null, rule, []);
            Assert.True(match?.Runbook.Name == runbook, $"rule '{rule}' should match runbook {runbook}, matched {match?.Runbook.Name ?? "none"}");
        }
    }
}
