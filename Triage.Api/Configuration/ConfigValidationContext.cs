using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Triage.Api.Configuration;

/// <summary>
/// Collects validation errors; each is placed on the line of the field it names (a path such as
/// <c>routing.rules[2].team</c>), or of the nearest parent that exists in the file when the field was left out.
/// </summary>
internal sealed class ConfigValidationContext(string fileName, YamlNode? root)
{
    private readonly List<ConfigError> _errors = [];

    public IReadOnlyList<ConfigError> Errors => _errors;

    public string FileName => fileName;

    public void Error(string field, string message)
    {
        var mark = Locate(field);
        _errors.Add(new ConfigError(fileName, (int)mark.Line, (int)mark.Column, field, message));
    }

    public void ErrorAt(Mark mark, string field, string message) =>
        _errors.Add(new ConfigError(fileName, (int)mark.Line, (int)mark.Column, field, message));

    /// <summary>The line of <paramref name="field"/>, or of its nearest existing parent.</summary>
    public Mark Locate(string field)
    {
        var node = root;
        var mark = root?.Start ?? Mark.Empty;
        foreach (var step in Steps(field))
        {
            YamlNode? next = null;
            if (step.Index is { } index)
            {
                if (node is YamlSequenceNode sequence && index < sequence.Children.Count)
                {
                    next = sequence.Children[index];
                }
            }
            else if (node is YamlMappingNode mapping)
            {
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is YamlScalarNode scalar && scalar.Value == step.Name)
                    {
                        mark = key.Start;
                        next = value;
                        break;
                    }
                }
            }

            if (next is null)
            {
                return mark;
            }

            node = next;
            if (step.Index is not null || node is not YamlScalarNode)
            {
                mark = node.Start;
            }
        }

        return mark;
    }

    /// <summary>The field path of the innermost node that contains <paramref name="mark"/>, for parser errors.</summary>
    /// <remarks>
    /// YamlDotNet gives collection nodes no reliable end mark, so the containing child is the last one that starts
    /// at or before the mark.
    /// </remarks>
    public static string? PathOfMark(YamlNode node, Mark mark, string path = "")
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                var entry = mapping.Children.LastOrDefault(c => Compare(c.Key.Start, mark) <= 0);
                if (entry.Key is YamlScalarNode key)
                {
                    var name = path.Length == 0 ? key.Value ?? "" : $"{path}.{key.Value}";
                    return PathOfMark(entry.Value, mark, name);
                }

                break;
            case YamlSequenceNode sequence:
                var index = sequence.Children.Count - 1;
                while (index >= 0 && Compare(sequence.Children[index].Start, mark) > 0)
                {
                    index--;
                }

                if (index >= 0)
                {
                    return PathOfMark(sequence.Children[index], mark, $"{path}[{index}]");
                }

                break;
        }

        return path.Length == 0 ? null : path;
    }

    private static int Compare(Mark a, Mark b) => a.Line != b.Line ? a.Line.CompareTo(b.Line) : a.Column.CompareTo(b.Column);

    private static IEnumerable<(string? Name, int? Index)> Steps(string field)
    {
        foreach (var part in field.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bracket = part.IndexOf('[', StringComparison.Ordinal);
            yield return (bracket < 0 ? part : part[..bracket], null);
            while (bracket >= 0)
            {
                var close = part.IndexOf(']', bracket);
                yield return (null, int.Parse(part[(bracket + 1)..close], System.Globalization.CultureInfo.InvariantCulture));
                bracket = part.IndexOf('[', close);
            }
        }
    }
}
