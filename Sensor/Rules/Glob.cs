namespace Sensor.Rules;

/// <summary>
/// fnmatch(3) without flags, as Falco's <c>glob</c> operator uses it: <c>*</c> matches any run of characters
/// including '/', <c>?</c> one character, <c>[abc]</c>, <c>[a-z]</c> and <c>[!abc]</c> a set. No allocation per match.
/// </summary>
internal static class Glob
{
    public static bool IsMatch(string pattern, string text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starT = t;
                continue;
            }

            if (p < pattern.Length && MatchOne(pattern, ref p, text[t]))
            {
                t++;
                continue;
            }

            if (starP < 0)
            {
                return false;
            }

            p = starP + 1;
            t = ++starT;
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    /// <summary>Matches one pattern element at <paramref name="p"/> against <paramref name="c"/>, advancing on success.</summary>
    private static bool MatchOne(string pattern, ref int p, char c)
    {
        var ch = pattern[p];
        if (ch == '?')
        {
            p++;
            return true;
        }

        if (ch != '[')
        {
            if (ch != c)
            {
                return false;
            }

            p++;
            return true;
        }

        var i = p + 1;
        var negate = i < pattern.Length && pattern[i] is '!' or '^';
        if (negate)
        {
            i++;
        }

        var matched = false;
        var first = true;
        while (i < pattern.Length && (pattern[i] != ']' || first))
        {
            first = false;
            var lo = pattern[i];
            if (i + 2 < pattern.Length && pattern[i + 1] == '-' && pattern[i + 2] != ']')
            {
                matched |= c >= lo && c <= pattern[i + 2];
                i += 3;
            }
            else
            {
                matched |= c == lo;
                i++;
            }
        }

        if (i >= pattern.Length)
        {
            // No closing bracket: fnmatch treats '[' as a literal.
            if (c != '[')
            {
                return false;
            }

            p++;
            return true;
        }

        if (matched == negate)
        {
            return false;
        }

        p = i + 1;
        return true;
    }
}
