using Triage.Api.Suppression;

namespace Triage.Tests.Suppression;

public sealed class GlobTests
{
    [Theory]
    [InlineData("*", "", true)]
    [InlineData("*", "anything at all", true)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a?c", "ac", false)]
    [InlineData("/app/* --to *", "/app/migrate --to 42", true)]
    [InlineData("/app/* --to *", "/app/migrate --from 42", false)]
    [InlineData("*b*b*", "abxbyb", true)]
    [InlineData("*bb", "abab", false)]
    [InlineData(@"a\*c", "a*c", true)]
    [InlineData(@"a\*c", "abc", false)]
    [InlineData("abc", "abcd", false)]
    public void IsMatch_Cases(string pattern, string text, bool expected) =>
        Assert.Equal(expected, Glob.IsMatch(pattern, text));

    [Theory]
    [InlineData("[ab]")]
    [InlineData(@"trailing\")]
    public void Validate_UnsupportedPattern_SaysWhy(string pattern) =>
        Assert.NotNull(Glob.Validate(pattern));

    [Theory]
    [InlineData("python -c 'print(1)'")]
    [InlineData(@"weird *?[\ chars")]
    public void Escape_MatchesOnlyTheLiteral(string literal)
    {
        var pattern = Glob.Escape(literal);

        Assert.Null(Glob.Validate(pattern));
        Assert.True(Glob.IsMatch(pattern, literal));
        Assert.False(Glob.IsMatch(pattern, literal + "x"));
    }
}
