using System.Globalization;
using System.Net;
using Sensor.Events;
using Sensor.Rules.Syntax;

namespace Sensor.Rules;

/// <summary>
/// The obvious way to run rules: walk each rule's syntax tree for every event, looking fields, macros and lists up
/// by name as it goes, and try every rule on every event. It shares nothing with the compiler but the parser and
/// the field table, which makes it a test oracle for the compiled engine (the two must agree) and the peer the
/// benchmark compares the compiled engine with. Not used by the sensor.
/// </summary>
internal sealed class ReferenceInterpreter
{
    private readonly List<(RuleDefinition Rule, ConditionNode Ast)> _rules;
    private readonly IReadOnlyDictionary<string, MacroDefinition> _macros;
    private readonly IReadOnlyDictionary<string, ListDefinition> _lists;
    private readonly EventView _view = new();

    public ReferenceInterpreter(
        IReadOnlyList<RuleDefinition> rules,
        IReadOnlyDictionary<string, MacroDefinition> macros,
        IReadOnlyDictionary<string, ListDefinition> lists)
    {
        _macros = macros;
        _lists = lists;
        _rules = rules
            .Where(r => r.Exceptions.Count == 0 && r.Source == "syscall")
            .Select(r => (r, ConditionParser.Parse(r.Condition.Text)))
            .Where(r => Binds(r.Item2))
            .ToList();
    }

    /// <summary>Names of the rules it evaluates (those without exceptions whose fields all exist).</summary>
    public IEnumerable<string> RuleNames => _rules.Select(r => r.Rule.Name);

    public List<string> Evaluate(SensorEvent sensorEvent)
    {
        _view.Reset(sensorEvent);
        var fired = new List<string>();
        foreach (var (rule, ast) in _rules)
        {
            if (Eval(ast))
            {
                fired.Add(rule.Name);
            }
        }

        return fired;
    }

    public int Count(SensorEvent sensorEvent)
    {
        _view.Reset(sensorEvent);
        var count = 0;
        foreach (var (_, ast) in _rules)
        {
            if (Eval(ast))
            {
                count++;
            }
        }

        return count;
    }

    private bool Binds(ConditionNode node) => node switch
    {
        AndNode a => Binds(a.Left) && Binds(a.Right),
        OrNode o => Binds(o.Left) && Binds(o.Right),
        NotNode n => Binds(n.Operand),
        MacroRefNode m => _macros.TryGetValue(m.Name, out var macro) && Binds(macro.Ast),
        CompareNode c => RuleFields.TryBind(c.Field, out _) is not null,
        _ => false,
    };

    private bool Eval(ConditionNode node) => node switch
    {
        AndNode a => Eval(a.Left) && Eval(a.Right),
        OrNode o => Eval(o.Left) || Eval(o.Right),
        NotNode n => !Eval(n.Operand),
        MacroRefNode m => Eval(_macros[m.Name].Ast),
        CompareNode c => Compare(c),
        _ => false,
    };

    private bool Compare(CompareNode node)
    {
        var field = RuleFields.TryBind(node.Field, out _)!;
        if (field.Many is { } many)
        {
            var list = many(_view);
            if (node.Op == CompareOp.Exists)
            {
                return list.Count > 0;
            }

            foreach (var item in list)
            {
                if (CompareText(item, node, field.Flavor))
                {
                    return true;
                }
            }

            return false;
        }

        var value = field.Extract(_view);
        if (node.Op == CompareOp.Exists || value is null)
        {
            return value is not null && node.Op == CompareOp.Exists;
        }

        return value switch
        {
            long n when node.Op is not (CompareOp.Contains or CompareOp.IContains or CompareOp.StartsWith or CompareOp.EndsWith or CompareOp.Glob)
                => CompareNumber(n, node),
            bool b => node.Op == CompareOp.Equal ? b == bool.Parse(Values(node)[0]) : b != bool.Parse(Values(node)[0]),
            _ => CompareText(Convert.ToString(value, CultureInfo.InvariantCulture)!, node, field.Flavor),
        };
    }

    private bool CompareNumber(long n, CompareNode node)
    {
        var values = Values(node);
        return node.Op switch
        {
            CompareOp.In or CompareOp.Intersects => values.Any(v => long.Parse(v, CultureInfo.InvariantCulture) == n),
            CompareOp.Equal => n == long.Parse(values[0], CultureInfo.InvariantCulture),
            CompareOp.NotEqual => n != long.Parse(values[0], CultureInfo.InvariantCulture),
            CompareOp.Less => n < long.Parse(values[0], CultureInfo.InvariantCulture),
            CompareOp.LessOrEqual => n <= long.Parse(values[0], CultureInfo.InvariantCulture),
            CompareOp.Greater => n > long.Parse(values[0], CultureInfo.InvariantCulture),
            CompareOp.GreaterOrEqual => n >= long.Parse(values[0], CultureInfo.InvariantCulture),
            _ => false,
        };
    }

    private bool CompareText(string s, CompareNode node, FieldFlavor flavor)
    {
        var values = Values(node);
        if (flavor == FieldFlavor.Net)
        {
            var address = IPAddress.Parse(s);
            var inAny = values.Any(v => (IPNetwork.TryParse(v, out var net) ? net : new IPNetwork(IPAddress.Parse(v), IPAddress.Parse(v).GetAddressBytes().Length * 8)).Contains(address));
            return node.Op == CompareOp.NotEqual ? !inAny : inAny;
        }

        if (flavor == FieldFlavor.Ip)
        {
            values = values.Select(v => IPAddress.TryParse(v, out var ip) ? ip.ToString() : v).ToList();
        }

        var x = values.Count > 0 ? values[0] : "";
        return node.Op switch
        {
            CompareOp.Equal => s == x,
            CompareOp.NotEqual => s != x,
            CompareOp.Less => string.CompareOrdinal(s, x) < 0,
            CompareOp.LessOrEqual => string.CompareOrdinal(s, x) <= 0,
            CompareOp.Greater => string.CompareOrdinal(s, x) > 0,
            CompareOp.GreaterOrEqual => string.CompareOrdinal(s, x) >= 0,
            CompareOp.Contains => s.Contains(x, StringComparison.Ordinal),
            CompareOp.IContains => s.Contains(x, StringComparison.OrdinalIgnoreCase),
            CompareOp.StartsWith => s.StartsWith(x, StringComparison.Ordinal),
            CompareOp.EndsWith => s.EndsWith(x, StringComparison.Ordinal),
            CompareOp.Glob => Glob.IsMatch(x, s),
            CompareOp.In or CompareOp.Intersects => values.Contains(s),
            CompareOp.PMatch => values.Any(p =>
            {
                var prefix = p.Length > 1 ? p.TrimEnd('/') : p;
                return s.StartsWith(prefix, StringComparison.Ordinal) && (s.Length == prefix.Length || prefix == "/" || s[prefix.Length] == '/');
            }),
            _ => false,
        };
    }

    /// <summary>The right-hand side with list names expanded, recomputed on every comparison.</summary>
    private List<string> Values(CompareNode node)
    {
        var result = new List<string>();
        foreach (var token in node.Values)
        {
            if (!token.Quoted && (node.IsList || node.Op.TakesList()) && _lists.ContainsKey(token.Text))
            {
                Expand(token.Text, result);
            }
            else
            {
                result.Add(token.Text);
            }
        }

        return result;
    }

    private void Expand(string list, List<string> into)
    {
        foreach (var item in _lists[list].Items)
        {
            if (item.Length >= 2 && item[0] is '"' or '\'' && item[^1] == item[0])
            {
                into.Add(item[1..^1].Replace("\\\"", "\"", StringComparison.Ordinal));
            }
            else if (_lists.ContainsKey(item))
            {
                Expand(item, into);
            }
            else
            {
                into.Add(item);
            }
        }
    }
}
