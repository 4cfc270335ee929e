using Sensor.Rules.Syntax;

namespace Sensor.Rules;

/// <summary>
/// Paths whose opens the kernel reports: a path is reported when it starts with one of <see cref="Prefixes"/> or ends
/// with one of <see cref="Suffixes"/> (byte-wise, on the path exactly as the process passed it, which is also what
/// <c>fd.name</c> holds). An empty prefix matches every path.
/// </summary>
internal sealed record PathPatterns(IReadOnlyList<string> Prefixes, IReadOnlyList<string> Suffixes)
{
    /// <summary>Every path (a rule needs opens it cannot narrow to a prefix or suffix).</summary>
    public static readonly PathPatterns Everything = new([""], []);

    /// <summary>No path at all (no rule can match an open).</summary>
    public static readonly PathPatterns Nothing = new([], []);

    public bool IsEverything => Prefixes.Contains("");

    public bool IsNothing => Prefixes.Count == 0 && Suffixes.Count == 0;

    /// <summary>Whether <paramref name="path"/> is reported (what the kernel program does, for tests and tools).</summary>
    public bool Matches(string path) =>
        Prefixes.Any(p => path.StartsWith(p, StringComparison.Ordinal))
        || Suffixes.Any(s => path.EndsWith(s, StringComparison.Ordinal));

    public PathPatterns Union(PathPatterns other) => IsEverything || other.IsEverything
        ? Everything
        : Simplify(Prefixes.Concat(other.Prefixes), Suffixes.Concat(other.Suffixes));

    /// <summary>
    /// The same or a wider set within the kernel's table sizes: at most <paramref name="maxCount"/> prefixes and as many
    /// suffixes, each at most <paramref name="maxBytes"/> UTF-8 bytes. A longer prefix is cut (a shorter prefix
    /// matches more); too many prefixes are merged pairwise into their longest common prefix, suffixes likewise.
    /// Never narrower: a path reported before is reported after.
    /// </summary>
    public PathPatterns Fit(int maxCount, int maxBytes)
    {
        if (IsEverything)
        {
            return Everything;
        }

        var prefixes = Prefixes.Select(p => CutUtf8(p, maxBytes, keepEnd: false)).ToList();
        var suffixes = Suffixes.Select(s => CutUtf8(s, maxBytes, keepEnd: true)).ToList();
        var fitted = Simplify(prefixes, suffixes);
        prefixes = [.. fitted.Prefixes];
        suffixes = [.. fitted.Suffixes];
        Merge(prefixes, maxCount, prefix: true);
        Merge(suffixes, maxCount, prefix: false);
        return prefixes.Contains("") || suffixes.Contains("") ? Everything : Simplify(prefixes, suffixes);
    }

    public override string ToString() => IsEverything
        ? "(every path)"
        : string.Join(", ", Prefixes.Select(p => p + "*").Concat(Suffixes.Select(s => "*" + s)));

    /// <summary>Sorted, without duplicates and without patterns another one already covers.</summary>
    internal static PathPatterns Simplify(IEnumerable<string> prefixes, IEnumerable<string> suffixes)
    {
        var p = prefixes.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (p.Contains(""))
        {
            return Everything;
        }

        var s = suffixes.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (s.Contains(""))
        {
            return Everything;
        }

        var keptPrefixes = p.Where(x => !p.Any(y => y.Length < x.Length && x.StartsWith(y, StringComparison.Ordinal))).ToList();
        var keptSuffixes = s.Where(x => !s.Any(y => y.Length < x.Length && x.EndsWith(y, StringComparison.Ordinal))).ToList();
        return new(keptPrefixes, keptSuffixes);
    }

    private static void Merge(List<string> items, int maxCount, bool prefix)
    {
        while (items.Count > maxCount)
        {
            // Merge the pair that loses the least (the longest common part).
            var (bi, bj, best) = (0, 1, -1);
            for (var i = 0; i < items.Count; i++)
            {
                for (var j = i + 1; j < items.Count; j++)
                {
                    var length = prefix ? CommonPrefix(items[i], items[j]) : CommonSuffix(items[i], items[j]);
                    if (length > best)
                    {
                        (bi, bj, best) = (i, j, length);
                    }
                }
            }

            var merged = prefix ? items[bi][..best] : items[bi][^best..];
            items.RemoveAt(bj);
            items.RemoveAt(bi);
            // The merged pattern may cover others now.
            items.RemoveAll(x => prefix ? x.StartsWith(merged, StringComparison.Ordinal) : x.EndsWith(merged, StringComparison.Ordinal));
            items.Add(merged);
        }
    }

    private static int CommonPrefix(string a, string b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n])
        {
            n++;
        }

        return n;
    }

    private static int CommonSuffix(string a, string b)
    {
        var n = 0;
        while (n < a.Length && n < b.Length && a[^(n + 1)] == b[^(n + 1)])
        {
            n++;
        }

        return n;
    }

    /// <summary>At most <paramref name="maxBytes"/> UTF-8 bytes, cut at a character boundary (from the start, or
    /// keeping the end for a suffix).</summary>
    private static string CutUtf8(string text, int maxBytes, bool keepEnd)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        var length = text.Length;
        while (length > 0)
        {
            var candidate = keepEnd ? text[^length..] : text[..length];
            if (!char.IsSurrogate(candidate[keepEnd ? 0 : ^1]) && System.Text.Encoding.UTF8.GetByteCount(candidate) <= maxBytes)
            {
                return candidate;
            }

            length--;
        }

        return "";
    }
}

/// <summary>
/// Which open paths a rule condition can match, derived from its <c>fd.name</c>, <c>fd.nameraw</c>,
/// <c>evt.arg.name</c>, <c>fd.directory</c> and <c>fd.filename</c> comparisons, so that the kernel reports only opens
/// some loaded rule could match (a dynamically linked exec opens /etc/ld.so.cache and libraries, which no default rule
/// reads). The result is an over-approximation: whenever the condition holds for an open, the path matches it.
/// Anything the analysis cannot narrow (a negation, <c>contains</c>, a rule on opens without a path condition) widens
/// to every path, so a rule never misses an open it could have matched.
/// </summary>
internal sealed class OpenPathAnalysis(
    IReadOnlyDictionary<string, MacroDefinition> macros,
    IReadOnlyDictionary<string, IReadOnlyList<string>> lists)
{
    /// <summary>The open-family event types the sensor produces (creat included for rules written for Falco).</summary>
    public static readonly IReadOnlySet<string> OpenTypes =
        new HashSet<string>(StringComparer.Ordinal) { "open", "openat", "openat2", "creat" };

    private readonly HashSet<string> _expanding = new(StringComparer.Ordinal);

    /// <summary>Paths of opens for which <paramref name="condition"/> can be true; null means every path.</summary>
    public PathPatterns Analyze(ConditionNode condition) => Visit(condition) ?? PathPatterns.Everything;

    // null: unconstrained (every path); otherwise the patterns (empty: the condition is false for every open).
    private PathPatterns? Visit(ConditionNode node) => node switch
    {
        AndNode and => Intersect(Visit(and.Left), Visit(and.Right)),
        OrNode or => Visit(or.Left) is { } left && Visit(or.Right) is { } right ? left.Union(right) : null,
        // "not X" holds for paths X excludes: nothing to narrow (and "not never" is every path).
        NotNode => null,
        MacroRefNode macro => VisitMacro(macro),
        CompareNode compare => VisitCompare(compare),
        _ => null,
    };

    private PathPatterns? VisitMacro(MacroRefNode node)
    {
        if (!macros.TryGetValue(node.Name, out var macro) || !_expanding.Add(node.Name))
        {
            return null;
        }

        try
        {
            return Visit(macro.Ast);
        }
        finally
        {
            _expanding.Remove(node.Name);
        }
    }

    private static PathPatterns? Intersect(PathPatterns? a, PathPatterns? b)
    {
        if (a is null || b is null)
        {
            return a ?? b;
        }

        if (a.IsNothing || b.IsNothing)
        {
            return PathPatterns.Nothing;
        }

        if (a.Suffixes.Count == 0 && b.Suffixes.Count == 0)
        {
            // Two prefix sets: a path starting with x and with y starts with the longer of the two when one extends
            // the other, and can start with neither otherwise.
            var both = new List<string>();
            foreach (var x in a.Prefixes)
            {
                foreach (var y in b.Prefixes)
                {
                    if (x.StartsWith(y, StringComparison.Ordinal))
                    {
                        both.Add(x);
                    }
                    else if (y.StartsWith(x, StringComparison.Ordinal))
                    {
                        both.Add(y);
                    }
                }
            }

            return PathPatterns.Simplify(both, []);
        }

        // Prefixes and suffixes do not intersect into either form: either side alone is a valid (wider) answer.
        // Prefer the one without suffixes, then the one with fewer patterns (both cost per open in the kernel).
        if (a.Suffixes.Count == 0 || b.Suffixes.Count == 0)
        {
            return a.Suffixes.Count == 0 ? a : b;
        }

        return a.Prefixes.Count + a.Suffixes.Count <= b.Prefixes.Count + b.Suffixes.Count ? a : b;
    }

    private PathPatterns? VisitCompare(CompareNode node)
    {
        var field = node.Field.Argument is null ? node.Field.Name : $"{node.Field.Name}.{node.Field.Argument}";
        var values = Values(node);
        switch (field)
        {
            case "evt.type" when node.Op is CompareOp.Equal or CompareOp.In or CompareOp.Intersects:
                // A branch for other event types is false for every open.
                return values.Any(OpenTypes.Contains) ? null : PathPatterns.Nothing;

            case "fd.name" or "fd.nameraw" or "evt.arg.name":
                return node.Op switch
                {
                    CompareOp.Equal or CompareOp.In or CompareOp.Intersects or CompareOp.StartsWith => Prefixes(values),
                    // pmatch: the prefix, then the end or a '/'.
                    CompareOp.PMatch => Prefixes(values.Select(v => v.Length > 1 ? v.TrimEnd('/') : v)),
                    CompareOp.EndsWith => PathPatterns.Simplify([], values),
                    CompareOp.Glob => GlobLiteral(values[0]),
                    _ => null,
                };

            case "fd.directory":
                // The path up to its last '/' (or the path itself for a directory fd): it starts with the directory.
                return node.Op switch
                {
                    CompareOp.Equal or CompareOp.In or CompareOp.Intersects or CompareOp.StartsWith =>
                        Prefixes(values.Select(v => v.Length > 1 ? v.TrimEnd('/') : v)),
                    CompareOp.PMatch => Prefixes(values.Select(v => v.Length > 1 ? v.TrimEnd('/') : v)),
                    _ => null,
                };

            case "fd.filename":
                // Only absolute paths have a file name (RuleFields.FileName): it follows the last '/'.
                return node.Op switch
                {
                    CompareOp.Equal or CompareOp.In or CompareOp.Intersects => PathPatterns.Simplify([], values.Select(v => "/" + v)),
                    CompareOp.EndsWith => PathPatterns.Simplify([], values),
                    _ => null,
                };

            default:
                return null;
        }
    }

    private static PathPatterns? Prefixes(IEnumerable<string> values) => PathPatterns.Simplify(values, []) is var p && p.IsEverything ? null : p;

    /// <summary>A glob's literal start as a prefix, else its literal end as a suffix, else nothing to narrow.</summary>
    private static PathPatterns? GlobLiteral(string pattern)
    {
        var first = pattern.IndexOfAny(['*', '?', '[', '\\']);
        if (first < 0)
        {
            return PathPatterns.Simplify([pattern], []);
        }

        if (first > 0)
        {
            return PathPatterns.Simplify([pattern[..first]], []);
        }

        var last = pattern.LastIndexOfAny(['*', '?', '[', ']', '\\']);
        return last < pattern.Length - 1 ? PathPatterns.Simplify([], [pattern[(last + 1)..]]) : null;
    }

    private List<string> Values(CompareNode node)
    {
        var values = new List<string>(node.Values.Count);
        foreach (var token in node.Values)
        {
            if (!token.Quoted && (node.IsList || node.Op.TakesList()) && lists.TryGetValue(token.Text, out var items))
            {
                values.AddRange(items);
            }
            else
            {
                values.Add(token.Text);
            }
        }

        return values;
    }
}
