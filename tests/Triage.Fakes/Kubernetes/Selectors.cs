using System.Text.Json.Nodes;

namespace Triage.Fakes.Kubernetes;

/// <summary>A parse error in a selector; the server answers 400 BadRequest with the message.</summary>
public sealed class SelectorException(string message) : Exception(message);

/// <summary>
/// A label selector in the API's string form: <c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a</c>, <c>!a</c>,
/// <c>a in (x,y)</c>, <c>a notin (x)</c>, joined by commas (all must hold).
/// </summary>
internal sealed class LabelSelector
{
    private readonly List<Func<IReadOnlyDictionary<string, string>, bool>> _requirements = [];

    public static LabelSelector Everything { get; } = new();

    public static LabelSelector Parse(string? text)
    {
        var selector = new LabelSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        foreach (var part in SplitTopLevel(text))
        {
            selector._requirements.Add(ParseRequirement(part.Trim(), text));
        }

        return selector;
    }

    public bool Matches(IReadOnlyDictionary<string, string> labels) => _requirements.All(r => r(labels));

    private static Func<IReadOnlyDictionary<string, string>, bool> ParseRequirement(string part, string whole)
    {
        if (part.Length == 0)
        {
            throw new SelectorException($"unable to parse requirement: found '', expected: identifier in \"{whole}\"");
        }

        if (part.StartsWith('!'))
        {
            var key = ValidKey(part[1..].Trim(), whole);
            return labels => !labels.ContainsKey(key);
        }

        var setStart = part.IndexOf('(', StringComparison.Ordinal);
        if (setStart > 0)
        {
            var head = part[..setStart].Trim();
            if (!part.EndsWith(')'))
            {
                throw new SelectorException($"unable to parse requirement: found '{part}', expected: ')'");
            }

            var values = part[(setStart + 1)..^1].Split(',').Select(v => v.Trim()).ToHashSet(StringComparer.Ordinal);
            var words = head.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 2 && words[1] == "in")
            {
                var key = ValidKey(words[0], whole);
                return labels => labels.TryGetValue(key, out var v) && values.Contains(v);
            }

            if (words.Length == 2 && words[1] == "notin")
            {
                var key = ValidKey(words[0], whole);
                return labels => !labels.TryGetValue(key, out var v) || !values.Contains(v);
            }

            throw new SelectorException($"unable to parse requirement: found '{head}', expected: in, notin");
        }

        foreach (var op in new[] { "!=", "==", "=" })
        {
            var at = part.IndexOf(op, StringComparison.Ordinal);
            if (at > 0)
            {
                var key = ValidKey(part[..at].Trim(), whole);
                var value = part[(at + op.Length)..].Trim();
                return op == "!="
                    ? labels => !labels.TryGetValue(key, out var v) || v != value
                    : labels => labels.TryGetValue(key, out var v) && v == value;
            }
        }

        var exists = ValidKey(part, whole);
        return labels => labels.ContainsKey(exists);
    }

    private static string ValidKey(string key, string whole)
    {
        if (key.Length == 0 || key.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/')))
        {
            throw new SelectorException($"unable to parse requirement: invalid label key \"{key}\" in \"{whole}\"");
        }

        return key;
    }

    /// <summary>Splits on commas outside parentheses (a set's values are comma-separated too).</summary>
    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    yield return text[start..i];
                    start = i + 1;
                    break;
            }
        }

        yield return text[start..];
    }
}

/// <summary>A field selector: <c>spec.nodeName=n1,metadata.name!=x</c>; only fields the resource supports.</summary>
internal sealed class FieldSelector
{
    private readonly List<(string Path, bool Equal, string Value)> _requirements = [];

    public static FieldSelector Everything { get; } = new();

    public static FieldSelector Parse(string? text, KubernetesResource resource)
    {
        var selector = new FieldSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        var supported = KubernetesResources.ExtraSelectableFields(resource);
        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            string path;
            string value;
            bool equal;
            var ne = part.IndexOf("!=", StringComparison.Ordinal);
            if (ne > 0)
            {
                (path, value, equal) = (part[..ne], part[(ne + 2)..], false);
            }
            else
            {
                var eq = part.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new SelectorException($"invalid selector: '{text}'; can't understand '{part}'");
                }

                var skip = part.AsSpan(eq).StartsWith("==") ? 2 : 1;
                (path, value, equal) = (part[..eq], part[(eq + skip)..], true);
            }

            path = path.Trim();
            if (path is not ("metadata.name" or "metadata.namespace") && !supported.Contains(path))
            {
                throw new SelectorException(
                    $"\"{path}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    + (supported.Count > 0 ? ", " + string.Join(", ", supported.Select(s => $"\"{s}\"")) : ""));
            }

            selector._requirements.Add((path, equal, value.Trim()));
        }

        return selector;
    }

    public bool Matches(JsonObject item) => _requirements.All(r =>
    {
        var actual = Read(item, r.Path) ?? "";
        return r.Equal ? actual == r.Value : actual != r.Value;
    });

    private static string? Read(JsonObject item, string path)
    {
        JsonNode? node = item;
        foreach (var step in path.Split('.'))
        {
            node = node is JsonObject o && o.TryGetPropertyValue(step, out var next) ? next : null;
        }

        return node switch
        {
            null => null,
            JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
            JsonValue v when v.TryGetValue<long>(out var l) => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
            JsonValue v => v.GetValue<string>(),
            _ => node.ToJsonString(),
        };
    }
}
