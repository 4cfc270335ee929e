using Triage.Api.Suppression;
using YamlDotNet.RepresentationModel;

namespace Triage.Tests.Suppression;

public sealed class FalcoExceptionsExportTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static YamlSequenceNode Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return (YamlSequenceNode)stream.Documents[0].RootNode;
    }

    private static List<string> Strings(YamlNode node) =>
        ((YamlSequenceNode)node).Children.Select(c => ((YamlScalarNode)c).Value!).ToList();

    [Fact]
    public void Render_GroupsByRule_AppendsExceptionsWithFieldsCompsValues()
    {
        var narrowed = new SuppressionScope("Drop and execute new binary in container", "payments", "Deployment", "api",
            "ghcr.io/acme/api", "sha256:aaa", "/app/migrate", "/app/migrate --to *");
        var plain = narrowed with { ImageDigest = null, ProcessExe = null, CmdlinePattern = null, WorkloadName = "worker" };
        var other = narrowed with { Rule = "Terminal shell in container", Namespace = null, ImageDigest = null, ProcessExe = null, CmdlinePattern = null };

        var yaml = FalcoExceptionsExport.Render(
            [new FalcoExportItem(7, narrowed, Now.AddDays(3)), new FalcoExportItem(9, other, Now.AddDays(1)), new FalcoExportItem(8, plain, Now.AddDays(2))],
            Now);

        var rules = Parse(yaml).Children.Cast<YamlMappingNode>().ToList();
        Assert.Equal(2, rules.Count);
        var drop = rules.Single(r => ((YamlScalarNode)r["rule"]).Value == "Drop and execute new binary in container");
        Assert.Equal("append", ((YamlScalarNode)((YamlMappingNode)drop["override"])["exceptions"]).Value);

        var exceptions = ((YamlSequenceNode)drop["exceptions"]).Children.Cast<YamlMappingNode>().ToList();
        Assert.Equal(["triage_suppression_7", "triage_suppression_8"], exceptions.Select(e => ((YamlScalarNode)e["name"]).Value!));
        var first = exceptions[0];
        Assert.Equal(["k8s.ns.name", "k8s.pod.name", "container.image.repository", "container.image.digest", "proc.exepath", "proc.cmdline"], Strings(first["fields"]));
        Assert.Equal(["=", "startswith", "=", "=", "=", "glob"], Strings(first["comps"]));
        var values = ((YamlSequenceNode)first["values"]).Children.Single();
        Assert.Equal(["payments", "api-", "ghcr.io/acme/api", "sha256:aaa", "/app/migrate", "/app/migrate --to *"], Strings(values));

        // Every field has a comparison and a value: Falco refuses a mismatched tuple.
        foreach (var exception in exceptions)
        {
            var count = Strings(exception["fields"]).Count;
            Assert.Equal(count, Strings(exception["comps"]).Count);
            Assert.All(((YamlSequenceNode)exception["values"]).Children, v => Assert.Equal(count, Strings(v).Count));
        }

        var shell = rules.Single(r => ((YamlScalarNode)r["rule"]).Value == "Terminal shell in container");
        var shellFields = Strings(((YamlMappingNode)((YamlSequenceNode)shell["exceptions"]).Children[0])["fields"]);
        Assert.DoesNotContain("k8s.ns.name", shellFields);
    }

    [Fact]
    public void Render_ValuesWithYamlSyntax_RoundTripExactly()
    {
        var scope = new SuppressionScope("Rule: with colon # and hash", "ns", "Pod", "single", "repo", null, null, "sh -c 'a: b' # {x} [y] &z");

        var rules = Parse(FalcoExceptionsExport.Render([new FalcoExportItem(1, scope, Now)], Now));

        var rule = (YamlMappingNode)rules.Children.Single();
        Assert.Equal("Rule: with colon # and hash", ((YamlScalarNode)rule["rule"]).Value);
        var exception = (YamlMappingNode)((YamlSequenceNode)rule["exceptions"]).Children.Single();
        var values = Strings(((YamlSequenceNode)exception["values"]).Children.Single());
        Assert.Equal(["ns", "single", "repo", "sh -c 'a: b' # {x} [y] &z"], values);
        Assert.Equal("=", Strings(exception["comps"])[1]);
    }

    [Fact]
    public void Render_ValueWithDoubleQuote_IsLeftOutAndSaid()
    {
        var scope = new SuppressionScope("R", "ns", "Deployment", "api", "repo", null, null, "echo \"hi\"");

        var yaml = FalcoExceptionsExport.Render([new FalcoExportItem(3, scope, Now)], Now);

        Assert.Contains("# suppression 3 not exported", yaml, StringComparison.Ordinal);
        Assert.Empty(Parse(yaml).Children);
    }
}
