using System.Globalization;
using System.Net;
using Sensor.Rules.Syntax;

namespace Sensor.Rules;

/// <summary>A compiled condition: the predicate and the event types it can match (<see cref="Exact"/> when the set
/// is exactly right rather than an over-approximation, which decides whether <c>not</c> may complement it).</summary>
internal readonly record struct CompiledCondition(Func<EventView, bool> Eval, EventTypeSet Types, bool Exact)
{
    /// <summary>Set when the condition is known at compile time (see <see cref="ConditionCompiler.KnownType"/>).</summary>
    public bool? Constant { get; init; }
}

/// <summary>Something wrong with a condition; <see cref="UnknownField"/> is set when the cause is a field the sensor
/// does not provide (skipped or refused by setting), otherwise the condition is invalid.</summary>
internal sealed record CompileIssue(string Message, SourceLocation? Location, string? UnknownField);

/// <summary>
/// Turns condition trees into closures once, at load: macros are inlined (and compiled once each), list names are
/// expanded, literals are parsed into the field's type, and and/or chains become array loops.
/// </summary>
internal sealed class ConditionCompiler
{
    private static readonly Func<EventView, bool> Never = static _ => false;

    private readonly IReadOnlyDictionary<string, MacroDefinition> _macros;
    private readonly IReadOnlyDictionary<string, IReadOnlyList<string>> _lists;
    private readonly Dictionary<string, (CompiledCondition Compiled, List<CompileIssue> Issues)> _macroCache = new(StringComparer.Ordinal);
    private readonly HashSet<string> _expanding = new(StringComparer.Ordinal);

    public ConditionCompiler(
        IReadOnlyDictionary<string, MacroDefinition> macros,
        IReadOnlyDictionary<string, IReadOnlyList<string>> lists)
    {
        _macros = macros;
        _lists = lists;
    }

    /// <summary>
    /// When set, the condition is compiled for events of this type only: <c>evt.type</c> comparisons fold to
    /// constants and and/or chains drop them, so a rule indexed under a type does not test the type again.
    /// </summary>
    public string? KnownType { get; set; }

    private static CompiledCondition Const(bool value, EventTypeSet types) =>
        new(value ? static _ => true : static _ => false, types, false) { Constant = value };

    public CompiledCondition Compile(ConditionNode node, SourceText source, List<CompileIssue> issues) =>
        node switch
        {
            AndNode or OrNode => CompileChain(node, source, issues),
            NotNode not => CompileNot(not, source, issues),
            MacroRefNode macro => CompileMacro(macro, source, issues),
            CompareNode compare => CompileCompare(compare, source, issues),
            _ => throw new InvalidOperationException($"unknown node {node.GetType().Name}"),
        };

    private CompiledCondition CompileNot(NotNode node, SourceText source, List<CompileIssue> issues)
    {
        var inner = Compile(node.Operand, source, issues);
        if (inner.Constant is { } constant)
        {
            return Const(!constant, inner.Exact ? inner.Types.Negate() : EventTypeSet.All);
        }

        var eval = inner.Eval;
        return new(v => !eval(v), inner.Exact ? inner.Types.Negate() : EventTypeSet.All, inner.Exact);
    }

    private CompiledCondition CompileChain(ConditionNode node, SourceText source, List<CompileIssue> issues)
    {
        var isAnd = node is AndNode;
        var operands = new List<ConditionNode>();
        Flatten(node, isAnd, operands);
        var kept = new List<Func<EventView, bool>>(operands.Count);
        EventTypeSet? types = null;
        var exact = true;
        bool? decided = null;
        for (var i = 0; i < operands.Count; i++)
        {
            var compiled = Compile(operands[i], source, issues);
            if (compiled.Constant is { } constant)
            {
                // true in an and-chain (false in an or-chain) changes nothing; the other value decides the chain.
                if (constant != isAnd)
                {
                    decided ??= constant;
                }
            }
            else
            {
                kept.Add(compiled.Eval);
            }

            exact &= compiled.Exact;
            types = types is null ? compiled.Types : isAnd ? types.Intersect(compiled.Types) : types.Union(compiled.Types);
            if (isAnd && !compiled.Exact)
            {
                // An inexact operand is "all types"; intersecting with it keeps the other side's set, which stays an
                // over-approximation of what the conjunction matches.
                exact = false;
            }
        }

        if (decided is { } result)
        {
            return Const(result, types!);
        }

        if (kept.Count == 0)
        {
            return Const(isAnd, types!);
        }

        var parts = kept.ToArray();
        if (parts.Length == 1)
        {
            return new(parts[0], types!, exact);
        }

        if (parts.Length == 2)
        {
            var (a, b) = (parts[0], parts[1]);
            return new(isAnd ? v => a(v) && b(v) : v => a(v) || b(v), types!, exact);
        }

        Func<EventView, bool> eval = isAnd
            ? v =>
            {
                foreach (var part in parts)
                {
                    if (!part(v))
                    {
                        return false;
                    }
                }

                return true;
            }
            : v =>
            {
                foreach (var part in parts)
                {
                    if (part(v))
                    {
                        return true;
                    }
                }

                return false;
            };
        return new(eval, types!, exact);
    }

    private static void Flatten(ConditionNode node, bool isAnd, List<ConditionNode> into)
    {
        switch (node)
        {
            case AndNode conjunction when isAnd:
                Flatten(conjunction.Left, isAnd, into);
                Flatten(conjunction.Right, isAnd, into);
                break;
            case OrNode disjunction when !isAnd:
                Flatten(disjunction.Left, isAnd, into);
                Flatten(disjunction.Right, isAnd, into);
                break;
            default:
                into.Add(node);
                break;
        }
    }

    private CompiledCondition CompileMacro(MacroRefNode node, SourceText source, List<CompileIssue> issues)
    {
        var cacheKey = KnownType is null ? node.Name : $"{KnownType}\0{node.Name}";
        if (_macroCache.TryGetValue(cacheKey, out var cached))
        {
            issues.AddRange(cached.Issues);
            return cached.Compiled;
        }

        if (!_macros.TryGetValue(node.Name, out var macro))
        {
            issues.Add(new($"undefined macro '{node.Name}'", source.Locate(node.Offset), null));
            return new(Never, EventTypeSet.All, false);
        }

        if (!_expanding.Add(node.Name))
        {
            issues.Add(new($"macro '{node.Name}' refers to itself", source.Locate(node.Offset), null));
            return new(Never, EventTypeSet.All, false);
        }

        var macroIssues = new List<CompileIssue>();
        var compiled = Compile(macro.Ast, macro.Condition, macroIssues);
        _expanding.Remove(node.Name);
        _macroCache[cacheKey] = (compiled, macroIssues);
        issues.AddRange(macroIssues);
        return compiled;
    }

    private CompiledCondition CompileCompare(CompareNode node, SourceText source, List<CompileIssue> issues)
    {
        var bound = RuleFields.TryBind(node.Field, out var fieldError);
        if (bound is null)
        {
            issues.Add(new(fieldError!, source.Locate(node.Field.Offset), node.Field.ToString()));
            return new(Never, EventTypeSet.All, false);
        }

        var values = ExpandValues(node);
        if (node.Op != CompareOp.Exists && values.Count == 0 && !node.IsList)
        {
            issues.Add(new($"'{node.Op.Name()}' needs a value", source.Locate(node.Offset), null));
            return new(Never, EventTypeSet.All, false);
        }

        if (!node.Op.TakesList() && node.Op != CompareOp.Exists && values.Count != 1)
        {
            issues.Add(new($"'{node.Op.Name()}' takes one value, not a list", source.Locate(node.Offset), null));
            return new(Never, EventTypeSet.All, false);
        }

        string? error = null;
        var eval = BuildPredicate(bound, node.Op, values, ref error);
        if (eval is null)
        {
            issues.Add(new($"{error} (field '{bound.Name}')", source.Locate(node.Offset), null));
            return new(Never, EventTypeSet.All, false);
        }

        if (KnownType is not null && bound.Name == "evt.type")
        {
            var known = node.Op == CompareOp.Exists || StringPredicate(node.Op, values, FieldFlavor.Plain, ref error)!(KnownType);
            return Const(known, EventTypeSet.All);
        }

        var types = (bound.Name, node.Op) switch
        {
            ("evt.type", CompareOp.Equal or CompareOp.In or CompareOp.Intersects) => (EventTypeSet.Of(values), true),
            ("evt.type", CompareOp.NotEqual) => (EventTypeSet.Of(values).Negate(), true),
            _ => (EventTypeSet.All, false),
        };
        return new(eval, types.Item1, types.Item2);
    }

    /// <summary>The literal values, with list names expanded (in lists, and for a bare value of a list operator).</summary>
    private List<string> ExpandValues(CompareNode node)
    {
        var values = new List<string>(node.Values.Count);
        foreach (var token in node.Values)
        {
            if (!token.Quoted && (node.IsList || node.Op.TakesList()) && _lists.TryGetValue(token.Text, out var items))
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

    private static Func<EventView, bool>? BuildPredicate(BoundField field, CompareOp op, List<string> values, ref string? error)
    {
        if (field.Many is { } many)
        {
            if (op == CompareOp.Exists)
            {
                return v => many(v).Count > 0;
            }

            var pred = StringPredicate(op, values, field.Flavor, ref error);
            if (pred is null)
            {
                return null;
            }

            return v =>
            {
                var list = many(v);
                for (var i = 0; i < list.Count; i++)
                {
                    if (pred(list[i]))
                    {
                        return true;
                    }
                }

                return false;
            };
        }

        switch (field.Type)
        {
            case FieldType.String:
            {
                var get = field.Text!;
                if (op == CompareOp.Exists)
                {
                    return v => get(v) is not null;
                }

                var pred = StringPredicate(op, values, field.Flavor, ref error);
                return pred is null ? null : v => get(v) is { } s && pred(s);
            }

            case FieldType.Number:
            {
                var get = field.Number!;
                if (op == CompareOp.Exists)
                {
                    return v => get(v) is not null;
                }

                if (op is CompareOp.Contains or CompareOp.IContains or CompareOp.StartsWith or CompareOp.EndsWith or CompareOp.Glob)
                {
                    var text = StringPredicate(op, values, FieldFlavor.Plain, ref error);
                    return text is null ? null : v => get(v) is { } n && text(n.ToString(CultureInfo.InvariantCulture));
                }

                var pred = NumberPredicate(op, values, ref error);
                return pred is null ? null : v => get(v) is { } n && pred(n);
            }

            default:
            {
                var get = field.Bool!;
                if (op == CompareOp.Exists)
                {
                    return v => get(v) is not null;
                }

                if (op is not (CompareOp.Equal or CompareOp.NotEqual) || !bool.TryParse(values[0], out var literal))
                {
                    error = op is CompareOp.Equal or CompareOp.NotEqual
                        ? $"expected true or false, not '{values[0]}'"
                        : $"operator '{op.Name()}' does not apply to a boolean";
                    return null;
                }

                var want = op == CompareOp.Equal ? literal : !literal;
                return v => get(v) is { } b && b == want;
            }
        }
    }

    private static Func<long, bool>? NumberPredicate(CompareOp op, List<string> values, ref string? error)
    {
        var numbers = new long[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            if (!long.TryParse(values[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out numbers[i]))
            {
                error = $"expected a number, not '{values[i]}'";
                return null;
            }
        }

        if (op is CompareOp.In or CompareOp.Intersects)
        {
            var set = numbers.ToHashSet();
            return set.Contains;
        }

        if (op == CompareOp.PMatch)
        {
            error = "pmatch does not apply to a number";
            return null;
        }

        var x = numbers[0];
        return op switch
        {
            CompareOp.Equal => n => n == x,
            CompareOp.NotEqual => n => n != x,
            CompareOp.Less => n => n < x,
            CompareOp.LessOrEqual => n => n <= x,
            CompareOp.Greater => n => n > x,
            _ => n => n >= x,
        };
    }

    private static Func<string, bool>? StringPredicate(CompareOp op, List<string> values, FieldFlavor flavor, ref string? error)
    {
        if (flavor == FieldFlavor.Net)
        {
            return NetPredicate(op, values, ref error);
        }

        if (flavor == FieldFlavor.Ip)
        {
            // Addresses compare in canonical text form: fd00:ec2::254 and FD00:EC2:0::254 are the same server.
            values = values.ConvertAll(v => IPAddress.TryParse(v, out var ip) ? ip.ToString() : v);
        }

        var x = values.Count > 0 ? values[0] : "";
        switch (op)
        {
            case CompareOp.Equal: return s => string.Equals(s, x, StringComparison.Ordinal);
            case CompareOp.NotEqual: return s => !string.Equals(s, x, StringComparison.Ordinal);
            case CompareOp.Less: return s => string.CompareOrdinal(s, x) < 0;
            case CompareOp.LessOrEqual: return s => string.CompareOrdinal(s, x) <= 0;
            case CompareOp.Greater: return s => string.CompareOrdinal(s, x) > 0;
            case CompareOp.GreaterOrEqual: return s => string.CompareOrdinal(s, x) >= 0;
            case CompareOp.Contains: return s => s.Contains(x, StringComparison.Ordinal);
            case CompareOp.IContains: return s => s.Contains(x, StringComparison.OrdinalIgnoreCase);
            case CompareOp.StartsWith: return s => s.StartsWith(x, StringComparison.Ordinal);
            case CompareOp.EndsWith: return s => s.EndsWith(x, StringComparison.Ordinal);
            case CompareOp.Glob: return s => Glob.IsMatch(x, s);
            case CompareOp.In or CompareOp.Intersects:
            {
                if (values.Count == 1)
                {
                    return s => string.Equals(s, x, StringComparison.Ordinal);
                }

                var set = new HashSet<string>(values, StringComparer.Ordinal);
                return set.Contains;
            }

            case CompareOp.PMatch:
            {
                var prefixes = values.Select(p => p.Length > 1 ? p.TrimEnd('/') : p).ToArray();
                return s =>
                {
                    foreach (var p in prefixes)
                    {
                        if (s.StartsWith(p, StringComparison.Ordinal)
                            && (s.Length == p.Length || p == "/" || s[p.Length] == '/'))
                        {
                            return true;
                        }
                    }

                    return false;
                };
            }

            default:
                error = $"operator '{op.Name()}' does not apply here";
                return null;
        }
    }

    private static Func<string, bool>? NetPredicate(CompareOp op, List<string> values, ref string? error)
    {
        var networks = new List<IPNetwork>();
        foreach (var value in values)
        {
            if (IPNetwork.TryParse(value, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(value, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                error = $"expected an IP address or CIDR network, not '{value}'";
                return null;
            }
        }

        bool InAny(string s)
        {
            if (!IPAddress.TryParse(s, out var address))
            {
                return false;
            }

            foreach (var network in networks)
            {
                if (network.Contains(address))
                {
                    return true;
                }
            }

            return false;
        }

        switch (op)
        {
            case CompareOp.Equal or CompareOp.In or CompareOp.Intersects: return InAny;
            case CompareOp.NotEqual: return s => IPAddress.TryParse(s, out _) && !InAny(s);
            default:
                error = $"operator '{op.Name()}' does not apply to a network field";
                return null;
        }
    }
}
