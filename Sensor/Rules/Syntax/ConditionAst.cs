namespace Sensor.Rules.Syntax;

/// <summary>A parsed condition. Offsets point into the condition text so that errors can name file, line and column.</summary>
internal abstract record ConditionNode(int Offset);

internal sealed record AndNode(ConditionNode Left, ConditionNode Right, int Offset) : ConditionNode(Offset);

internal sealed record OrNode(ConditionNode Left, ConditionNode Right, int Offset) : ConditionNode(Offset);

internal sealed record NotNode(ConditionNode Operand, int Offset) : ConditionNode(Offset);

/// <summary>A bare identifier: a macro reference (resolved when the rule set is compiled).</summary>
internal sealed record MacroRefNode(string Name, int Offset) : ConditionNode(Offset);

/// <summary><c>field op value</c>, <c>field op (v1, v2)</c> or <c>field exists</c>.</summary>
internal sealed record CompareNode(FieldRef Field, CompareOp Op, IReadOnlyList<ValueToken> Values, bool IsList, int Offset)
    : ConditionNode(Offset);

/// <summary>A field reference such as <c>proc.aname[2]</c> or <c>evt.arg.flags</c>.</summary>
internal sealed record FieldRef(string Name, string? Argument, int Offset)
{
    public override string ToString() => Argument is null ? Name : $"{Name}[{Argument}]";
}

/// <summary>A literal on the right-hand side; <see cref="Quoted"/> literals are never expanded as list names.</summary>
internal sealed record ValueToken(string Text, bool Quoted, int Offset);

internal enum CompareOp
{
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    In,
    Intersects,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    Glob,
    PMatch,
    Exists,
}

internal static class CompareOps
{
    public static readonly IReadOnlyDictionary<string, CompareOp> ByName = new Dictionary<string, CompareOp>(StringComparer.Ordinal)
    {
        ["="] = CompareOp.Equal,
        ["=="] = CompareOp.Equal,
        ["!="] = CompareOp.NotEqual,
        ["<"] = CompareOp.Less,
        ["<="] = CompareOp.LessOrEqual,
        [">"] = CompareOp.Greater,
        [">="] = CompareOp.GreaterOrEqual,
        ["in"] = CompareOp.In,
        ["intersects"] = CompareOp.Intersects,
        ["contains"] = CompareOp.Contains,
        ["icontains"] = CompareOp.IContains,
        ["startswith"] = CompareOp.StartsWith,
        ["endswith"] = CompareOp.EndsWith,
        ["glob"] = CompareOp.Glob,
        ["pmatch"] = CompareOp.PMatch,
        ["exists"] = CompareOp.Exists,
    };

    public static string Name(this CompareOp op) => op switch
    {
        CompareOp.Equal => "=",
        CompareOp.NotEqual => "!=",
        CompareOp.Less => "<",
        CompareOp.LessOrEqual => "<=",
        CompareOp.Greater => ">",
        CompareOp.GreaterOrEqual => ">=",
        _ => op.ToString().ToLowerInvariant(),
    };

    /// <summary>Operators whose right-hand side is a parenthesised list.</summary>
    public static bool TakesList(this CompareOp op) => op is CompareOp.In or CompareOp.Intersects or CompareOp.PMatch;
}

/// <summary>A condition that does not parse; <see cref="Offset"/> is the position in the condition text.</summary>
internal sealed class ConditionSyntaxException(string message, int offset) : Exception(message)
{
    public int Offset { get; } = offset;
}
