using System.Text;
using Sensor.Rules;
using Sensor.Rules.Syntax;
using Sensor.Tests.Support;

namespace Sensor.Tests.Rules;

/// <summary>The README's field and operator tables say exactly what the engine supports, no more and no less.</summary>
public sealed class ReadmeRulesTests
{
    private static string Readme => File.ReadAllText(Path.Combine(RepoFiles.Root, "README.md"));

    /// <summary>Backquoted names in the first column of the table rows that follow <paramref name="heading"/>.</summary>
    private static List<string> FirstColumn(string heading)
    {
        var lines = Readme.Split('\n');
        var start = Array.FindIndex(lines, l => l.TrimEnd() == heading);
        Assert.True(start >= 0, $"README has no '{heading}'");
        var names = new List<string>();
        foreach (var line in lines.Skip(start + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')))
        {
            var cell = line.Split('|')[1].Trim();
            names.AddRange(cell.Split(',').Select(c => c.Trim()).Where(c => c.StartsWith('`') && c.EndsWith('`')).Select(c => c.Trim('`')));
        }

        return names;
    }

    [Fact]
    public void FieldsTable_ListsEverySupportedFieldAndNoOther()
    {
        var documented = FirstColumn("#### Supported fields");
        var supported = RuleFields.All.Select(Display).ToList();
        var expected = new StringBuilder();
        foreach (var f in RuleFields.All)
        {
            expected.Append(Row(Display(f), f));
        }

        Assert.True(documented.Order(StringComparer.Ordinal).SequenceEqual(supported.Order(StringComparer.Ordinal)),
            "README fields table differs from RuleFields.All; expected rows:\n" + expected);
    }

    private static string Display(FieldInfo f) => f.Argument switch
    {
        FieldArgument.None => f.Name,
        _ when f.Name == "evt.arg" => "evt.arg.NAME",
        _ when f.Name == "k8s.pod.label" => "k8s.pod.label[KEY]",
        _ => $"{f.Name}[N]",
    };

    private static string Row(string name, FieldInfo f) =>
        $"| `{name}` | {f.Type.ToString().ToLowerInvariant()} | {f.Description} |\n";

    [Fact]
    public void OperatorsTable_ListsEverySupportedOperator()
    {
        var documented = FirstColumn("#### Supported operators");
        Assert.Equal(CompareOps.ByName.Keys.Append("and").Append("or").Append("not").Order(StringComparer.Ordinal),
            documented.Order(StringComparer.Ordinal));
    }
}
