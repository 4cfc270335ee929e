using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Triage.Api.Enrichment.Runbooks;

/// <summary>One runbook file: its front matter, the "First steps" list, and the Markdown text.</summary>
internal sealed record Runbook(
    string Name,
    string Title,
    IReadOnlyList<string> Rules,
    IReadOnlyList<string> Techniques,
    IReadOnlyDictionary<string, string> OwnerHints,
    IReadOnlyList<string> FirstSteps,
    string Markdown);

/// <summary>How a runbook was chosen for an incident.</summary>
internal enum RunbookMatch
{
    /// <summary>The alert named the runbook.</summary>
    Name,

    /// <summary>The rule name is in the runbook's <c>rules</c>.</summary>
    Rule,

    /// <summary>A MITRE technique tag equals one in the runbook's <c>mitre</c>.</summary>
    Technique,

    /// <summary>A sub-technique tag's parent (T1059 for T1059.004) is in the runbook's <c>mitre</c>.</summary>
    ParentTechnique,
}

/// <summary>A problem in one runbook file; the service refuses to start with one, naming file and reason.</summary>
internal sealed class RunbookException(string message) : Exception(message);

/// <summary>
/// The runbooks loaded from a folder at start-up, and the matcher: named by the alert, then rule name, then MITRE
/// technique (exact, then parent).
/// </summary>
internal sealed partial class RunbookCatalog
{
    private readonly Dictionary<string, Runbook> _byName;
    private readonly Dictionary<string, Runbook> _byRule;
    private readonly Dictionary<string, Runbook> _byTechnique;

    public RunbookCatalog(IEnumerable<Runbook> runbooks)
    {
        All = runbooks.OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        _byName = All.ToDictionary(r => r.Name, StringComparer.OrdinalIgnoreCase);
        _byRule = new Dictionary<string, Runbook>(StringComparer.OrdinalIgnoreCase);
        _byTechnique = new Dictionary<string, Runbook>(StringComparer.OrdinalIgnoreCase);
        foreach (var runbook in All)
        {
            foreach (var rule in runbook.Rules)
            {
                if (!_byRule.TryAdd(rule, runbook))
                {
                    throw new RunbookException(
                        $"runbooks {_byRule[rule].Name} and {runbook.Name} both claim rule '{rule}'");
                }
            }

            foreach (var technique in runbook.Techniques)
            {
                // Several runbooks may share a technique (T1059 is everywhere); the first by name answers it.
                _byTechnique.TryAdd(technique, runbook);
            }
        }
    }

    public IReadOnlyList<Runbook> All { get; }

    public Runbook? Find(string name) => _byName.GetValueOrDefault(name);

    public (Runbook Runbook, RunbookMatch How)? Match(string? runbookName, string rule, IEnumerable<string> tags)
    {
        if (runbookName is { Length: > 0 } && _byName.TryGetValue(runbookName, out var named))
        {
            return (named, RunbookMatch.Name);
        }

        if (_byRule.TryGetValue(rule, out var byRule))
        {
            return (byRule, RunbookMatch.Rule);
        }

        var techniques = tags.Where(t => TechniquePattern().IsMatch(t)).Select(t => t.ToUpperInvariant()).ToList();
        foreach (var technique in techniques)
        {
            if (_byTechnique.TryGetValue(technique, out var exact))
            {
                return (exact, RunbookMatch.Technique);
            }
        }

        foreach (var technique in techniques.Where(t => t.Contains('.', StringComparison.Ordinal)))
        {
            if (_byTechnique.TryGetValue(technique[..technique.IndexOf('.', StringComparison.Ordinal)], out var parent))
            {
                return (parent, RunbookMatch.ParentTechnique);
            }
        }

        return null;
    }

    /// <summary>Reads every <c>*.md</c> in <paramref name="directory"/> except README.md.</summary>
    public static RunbookCatalog Load(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new RunbookException($"runbook folder '{directory}' does not exist");
        }

        var runbooks = Directory.EnumerateFiles(directory, "*.md")
            .Where(f => !Path.GetFileName(f).Equals("README.md", StringComparison.OrdinalIgnoreCase))
            .Select(f => Parse(Path.GetFileNameWithoutExtension(f), File.ReadAllText(f), f));
        return new RunbookCatalog(runbooks);
    }

    public static Runbook Parse(string name, string text, string fileName)
    {
        text = text.ReplaceLineEndings("\n");
        if (!text.StartsWith("---\n", StringComparison.Ordinal))
        {
            throw new RunbookException($"{fileName}: no front matter (the file must start with a '---' line)");
        }

        var end = text.IndexOf("\n---\n", 4, StringComparison.Ordinal);
        if (end < 0)
        {
            throw new RunbookException($"{fileName}: front matter is not closed by a '---' line");
        }

        FrontMatter? front;
        try
        {
            front = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build()
                .Deserialize<FrontMatter?>(text[4..end]);
        }
        catch (YamlException ex)
        {
            throw new RunbookException($"{fileName}:{ex.Start.Line + 1}: {(ex.InnerException ?? ex).Message}");
        }

        if (string.IsNullOrWhiteSpace(front?.Title))
        {
            throw new RunbookException($"{fileName}: front matter has no title");
        }

        var body = text[(end + 5)..];
        var steps = FirstSteps(body);
        if (steps.Count == 0)
        {
            throw new RunbookException($"{fileName}: no numbered list under '## First steps'");
        }

        foreach (var technique in front.Mitre)
        {
            if (!TechniquePattern().IsMatch(technique))
            {
                throw new RunbookException($"{fileName}: '{technique}' is not a MITRE ATT&CK technique id (T1234 or T1234.001)");
            }
        }

        return new Runbook(name, front.Title.Trim(), front.Rules, front.Mitre.Select(t => t.ToUpperInvariant()).ToList(),
            front.OwnerHints, steps, text);
    }

    /// <summary>The numbered items under the <c>## First steps</c> heading, up to the next heading.</summary>
    private static List<string> FirstSteps(string body)
    {
        var steps = new List<string>();
        var inSection = false;
        foreach (var line in body.Split('\n'))
        {
            if (line.StartsWith('#'))
            {
                if (inSection)
                {
                    break;
                }

                inSection = line.TrimStart('#').Trim().Equals("First steps", StringComparison.OrdinalIgnoreCase);
                continue;
            }

            if (inSection && NumberedItem().Match(line) is { Success: true } item)
            {
                steps.Add(item.Groups["text"].Value.Trim());
            }
            else if (inSection && steps.Count > 0 && line.StartsWith("   ", StringComparison.Ordinal))
            {
                steps[^1] += " " + line.Trim();
            }
        }

        return steps;
    }

    [GeneratedRegex(@"^T\d{4}(\.\d{3})?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TechniquePattern();

    [GeneratedRegex(@"^\d+\.\s+(?<text>.+)$")]
    private static partial Regex NumberedItem();

    private sealed class FrontMatter
    {
        public string Title { get; set; } = "";
        public List<string> Rules { get; set; } = [];
        public List<string> Mitre { get; set; } = [];
        public Dictionary<string, string> OwnerHints { get; set; } = [];
    }
}
