using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Sensor.Rules.Syntax;

namespace Sensor.Rules;

/// <summary>
/// A rule's <c>output</c>, split once into literal text and fields. <c>%proc.name</c> and <c>%proc.aname[2]</c>
/// are substituted; <c>%%</c> is a literal percent sign; a value that cannot be extracted prints as <c>&lt;NA&gt;</c>,
/// as in Falco.
/// </summary>
internal sealed class OutputTemplate
{
    public const string NotAvailable = "<NA>";

    private readonly List<(string? Literal, string? FieldName, BoundField? Field)> _parts;

    private OutputTemplate(List<(string?, string?, BoundField?)> parts, IReadOnlyList<string> unknownFields)
    {
        _parts = parts;
        UnknownFields = unknownFields;
    }

    /// <summary>Fields the template names that the sensor does not provide; they print as &lt;NA&gt;.</summary>
    public IReadOnlyList<string> UnknownFields { get; }

    public static OutputTemplate Parse(string template)
    {
        var parts = new List<(string?, string?, BoundField?)>();
        var unknown = new List<string>();
        var literal = new StringBuilder();
        var i = 0;
        while (i < template.Length)
        {
            var c = template[i];
            if (c != '%')
            {
                literal.Append(c);
                i++;
                continue;
            }

            if (i + 1 < template.Length && template[i + 1] == '%')
            {
                literal.Append('%');
                i += 2;
                continue;
            }

            var start = i + 1;
            var end = start;
            while (end < template.Length && (char.IsLetterOrDigit(template[end]) || template[end] is '_' or '.'))
            {
                end++;
            }

            // A sentence may end right after a field: "%proc.name." names proc.name.
            while (end > start && template[end - 1] == '.')
            {
                end--;
            }

            if (end == start)
            {
                literal.Append(c);
                i++;
                continue;
            }

            var name = template[start..end];
            string? argument = null;
            if (end < template.Length && template[end] == '[')
            {
                var close = template.IndexOf(']', end);
                if (close > end)
                {
                    argument = template[(end + 1)..close];
                    end = close + 1;
                }
            }

            if (literal.Length > 0)
            {
                parts.Add((literal.ToString(), null, null));
                literal.Clear();
            }

            var reference = new FieldRef(name, argument, start);
            var bound = RuleFields.TryBind(reference, out _);
            if (bound is null)
            {
                unknown.Add(reference.ToString());
            }

            parts.Add((null, reference.ToString(), bound));
            i = end;
        }

        if (literal.Length > 0)
        {
            parts.Add((literal.ToString(), null, null));
        }

        return new OutputTemplate(parts, unknown);
    }

    /// <summary>The output line and the fields it names with their values (Falco's output_fields).</summary>
    public (string Output, Dictionary<string, JsonNode?> Fields) Format(EventView view)
    {
        var sb = new StringBuilder();
        var fields = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (text, name, field) in _parts)
        {
            if (text is not null)
            {
                sb.Append(text);
                continue;
            }

            var value = field?.Extract(view);
            sb.Append(value switch
            {
                null => NotAvailable,
                string s when s.Length == 0 => NotAvailable,
                bool b => b ? "true" : "false",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            });
            fields[name!] = value switch
            {
                null => null,
                string s => JsonValue.Create(s),
                long l => JsonValue.Create(l),
                bool b => JsonValue.Create(b),
                _ => JsonValue.Create(value.ToString()),
            };
        }

        return (sb.ToString(), fields);
    }
}
