using System.Text;

namespace Triage.Api.Suppression;

/// <summary>
/// Command-line patterns: <c>*</c> (any run of characters, spaces included), <c>?</c> (one character) and
/// <c>\</c> (the next character literally). This is the subset of fnmatch(3) that Falco's <c>glob</c> operator
/// means the same way, so an exported exception matches exactly what the suppression matches here. Bracket
/// expressions are refused rather than half-supported.
/// </summary>
internal static class Glob
{
    /// <summary>Null when <paramref name="pattern"/> is usable, otherwise why not.</summary>
    public static string? Validate(string pattern)
    {
        for (var i = 0; i < pattern.Length; i++)
        {
            switch (pattern[i])
            {
                case '\\' when i == pattern.Length - 1:
                    return "ends with a lone backslash";
                case '\\':
                    i++;
                    break;
                case '[':
                    return "bracket expressions are not supported; write \\[ for a literal [";
            }
        }

        return pattern.Length > 1000 ? "is longer than 1000 characters" : null;
    }

    /// <summary>A pattern that matches exactly <paramref name="literal"/>.</summary>
    public static string Escape(string literal)
    {
        var builder = new StringBuilder(literal.Length + 8);
        foreach (var c in literal)
        {
            if (c is '*' or '?' or '[' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    /// <summary>Whether <paramref name="text"/> matches the whole of <paramref name="pattern"/>; linear backtracking.</summary>
    public static bool IsMatch(string pattern, string text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                starP = ++p;
                starT = t;
                continue;
            }

            if (p < pattern.Length && Step(pattern, p, text[t]) is var width and > 0)
            {
                p += width;
                t++;
                continue;
            }

            if (starP < 0)
            {
                return false;
            }

            // Let the last star swallow one more character and retry from there.
            p = starP;
            t = ++starT;
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    /// <summary>How many pattern characters match <paramref name="c"/> at <paramref name="p"/>; 0 when none.</summary>
    private static int Step(string pattern, int p, char c) => pattern[p] switch
    {
        '?' => 1,
        '\\' when p + 1 < pattern.Length => pattern[p + 1] == c ? 2 : 0,
        var literal => literal == c ? 1 : 0,
    };
}
