using Sensor.Rules.Syntax;

namespace Sensor.Tests.Rules;

public sealed class ConditionParserTests
{
    [Fact]
    public void Parse_AndBindsTighterThanOr()
    {
        var node = ConditionParser.Parse("a or b and c");

        var or = Assert.IsType<OrNode>(node);
        Assert.Equal("a", Assert.IsType<MacroRefNode>(or.Left).Name);
        var and = Assert.IsType<AndNode>(or.Right);
        Assert.Equal("b", Assert.IsType<MacroRefNode>(and.Left).Name);
    }

    [Fact]
    public void Parse_NotBindsTighterThanAnd()
    {
        var node = ConditionParser.Parse("not a and b");

        var and = Assert.IsType<AndNode>(node);
        Assert.IsType<NotNode>(and.Left);
        Assert.IsType<MacroRefNode>(and.Right);
    }

    [Fact]
    public void Parse_ParenthesesOverridePrecedence()
    {
        var node = ConditionParser.Parse("(a or b) and c");

        var and = Assert.IsType<AndNode>(node);
        Assert.IsType<OrNode>(and.Left);
    }

    [Fact]
    public void Parse_ComparisonWithoutSpaces_ReadsFieldOperatorAndValue()
    {
        var compare = Assert.IsType<CompareNode>(ConditionParser.Parse("proc.name!=\"sshd\""));

        Assert.Equal("proc.name", compare.Field.Name);
        Assert.Equal(CompareOp.NotEqual, compare.Op);
        Assert.Equal("sshd", compare.Values[0].Text);
        Assert.True(compare.Values[0].Quoted);
    }

    [Fact]
    public void Parse_IndexedFieldAndList_ReadsArgumentAndItems()
    {
        var compare = Assert.IsType<CompareNode>(ConditionParser.Parse("proc.aname[2] in (runc:[0:PARENT], 'a b', c)"));

        Assert.Equal("2", compare.Field.Argument);
        Assert.Equal(["runc:[0:PARENT]", "a b", "c"], compare.Values.Select(v => v.Text));
        Assert.True(compare.IsList);
    }

    [Fact]
    public void Parse_EscapedQuoteInsideString_Unescapes()
    {
        var compare = Assert.IsType<CompareNode>(ConditionParser.Parse("proc.cmdline = \"sh -c \\\"x\\\"\""));

        Assert.Equal("sh -c \"x\"", compare.Values[0].Text);
    }

    [Fact]
    public void Parse_Exists_TakesNoValue()
    {
        var and = Assert.IsType<AndNode>(ConditionParser.Parse("proc.pname exists and a"));

        Assert.Equal(CompareOp.Exists, Assert.IsType<CompareNode>(and.Left).Op);
        Assert.Equal("a", Assert.IsType<MacroRefNode>(and.Right).Name);
    }

    [Theory]
    [InlineData("proc.name = ", 12, "expected a value")]
    [InlineData("(a and b", 8, "missing ')'")]
    [InlineData("proc.name in (a, b", 18, "missing ')'")]
    [InlineData("a and and b", 6, "unexpected 'and'")]
    [InlineData("proc.name foo bar", 10, "unknown operator 'foo'")]
    [InlineData("proc.name regex x", 10, "not supported")]
    [InlineData("a b", 2, "unknown operator 'b'")]
    [InlineData("proc.name = 'x", 12, "unterminated")]
    public void Parse_BadSyntax_ReportsOffset(string text, int offset, string message)
    {
        var ex = Assert.Throws<ConditionSyntaxException>(() => ConditionParser.Parse(text));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.Equal(offset, ex.Offset);
    }
}
