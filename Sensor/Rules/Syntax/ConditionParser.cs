using System.Text;

namespace Sensor.Rules.Syntax;

/// <summary>
/// Parses Falco's condition language: <c>or</c> binds loosest, then <c>and</c>, then <c>not</c>; parentheses group.
/// A comparison is <c>field op value</c>, <c>field op (v1, v2, ...)</c> or <c>field exists</c>; an identifier that is
/// not followed by an operator is a macro reference.
/// </summary>
internal sealed class ConditionParser
{
    private static readonly HashSet<string> UnsupportedOperators =
        new(StringComparer.Ordinal) { "bcontains", "bstartswith", "iglob", "regex" };

    private readonly string _text;
    private int _pos;

    private ConditionParser(string text) => _text = text;

    public static ConditionNode Parse(string text)
    {
        var parser = new ConditionParser(text);
        parser.SkipWhitespace();
        if (parser.AtEnd)
        {
            throw new ConditionSyntaxException("empty condition", 0);
        }

        var node = parser.ParseOr();
        parser.SkipWhitespace();
        if (!parser.AtEnd)
        {
            throw new ConditionSyntaxException($"unexpected '{parser.Peek()}'", parser._pos);
        }

        return node;
    }

    private bool AtEnd => _pos >= _text.Length;

    private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

    private void SkipWhitespace()
    {
        while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos]))
        {
            _pos++;
        }
    }

    private ConditionNode ParseOr()
    {
        var left = ParseAnd();
        while (TryKeyword("or", out var at))
        {
            left = new OrNode(left, ParseAnd(), at);
        }

        return left;
    }

    private ConditionNode ParseAnd()
    {
        var left = ParseNot();
        while (TryKeyword("and", out var at))
        {
            left = new AndNode(left, ParseNot(), at);
        }

        return left;
    }

    private ConditionNode ParseNot()
    {
        if (TryKeyword("not", out var at))
        {
            return new NotNode(ParseNot(), at);
        }

        return ParsePrimary();
    }

    private ConditionNode ParsePrimary()
    {
        SkipWhitespace();
        if (AtEnd)
        {
            throw new ConditionSyntaxException("unexpected end of condition, expected a comparison, a macro or '('", _pos);
        }

        if (Peek() == '(')
        {
            var open = _pos++;
            var inner = ParseOr();
            SkipWhitespace();
            if (Peek() != ')')
            {
                throw new ConditionSyntaxException(
                    AtEnd ? $"missing ')' for '(' at offset {open}" : $"expected ')' but found '{Peek()}'", _pos);
            }

            _pos++;
            return inner;
        }

        var start = _pos;
        var name = ReadIdentifier();
        if (name.Length == 0)
        {
            throw new ConditionSyntaxException($"expected a field, a macro or '(' but found '{Peek()}'", _pos);
        }

        if (name is "and" or "or")
        {
            throw new ConditionSyntaxException($"unexpected '{name}'", start);
        }

        string? argument = null;
        if (Peek() == '[')
        {
            var close = _text.IndexOf(']', _pos);
            if (close < 0)
            {
                throw new ConditionSyntaxException("missing ']' after field argument", _pos);
            }

            argument = _text[(_pos + 1)..close];
            _pos = close + 1;
        }

        var field = new FieldRef(name, argument, start);
        SkipWhitespace();
        var opStart = _pos;
        var op = TryReadOperator();
        if (op is null)
        {
            if (argument is not null || (!AtEnd && Peek() != ')' && !NextIsKeyword("and") && !NextIsKeyword("or")))
            {
                throw new ConditionSyntaxException($"expected an operator after '{field}'", _pos);
            }

            return new MacroRefNode(name, start);
        }

        if (op == CompareOp.Exists)
        {
            return new CompareNode(field, op.Value, [], false, opStart);
        }

        SkipWhitespace();
        if (Peek() == '(')
        {
            return new CompareNode(field, op.Value, ReadList(), true, opStart);
        }

        if (AtEnd)
        {
            throw new ConditionSyntaxException($"expected a value after '{op.Value.Name()}'", _pos);
        }

        return new CompareNode(field, op.Value, [ReadValue(inList: false)], false, opStart);
    }

    private List<ValueToken> ReadList()
    {
        var open = _pos++;
        var items = new List<ValueToken>();
        SkipWhitespace();
        if (Peek() == ')')
        {
            _pos++;
            return items;
        }

        while (true)
        {
            SkipWhitespace();
            if (AtEnd)
            {
                throw new ConditionSyntaxException($"missing ')' for the list opened at offset {open}", _pos);
            }

            items.Add(ReadValue(inList: true));
            SkipWhitespace();
            if (Peek() == ',')
            {
                _pos++;
                continue;
            }

            if (Peek() == ')')
            {
                _pos++;
                return items;
            }

            throw new ConditionSyntaxException(
                AtEnd ? $"missing ')' for the list opened at offset {open}" : $"expected ',' or ')' in list but found '{Peek()}'", _pos);
        }
    }

    private ValueToken ReadValue(bool inList)
    {
        var start = _pos;
        var c = Peek();
        if (c is '"' or '\'')
        {
            _pos++;
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd)
                {
                    throw new ConditionSyntaxException("unterminated quoted string", start);
                }

                var ch = _text[_pos++];
                if (ch == c)
                {
                    return new ValueToken(sb.ToString(), true, start);
                }

                if (ch == '\\' && _pos < _text.Length && (_text[_pos] == c || _text[_pos] == '\\'))
                {
                    ch = _text[_pos++];
                }

                sb.Append(ch);
            }
        }

        while (_pos < _text.Length)
        {
            var ch = _text[_pos];
            if (char.IsWhiteSpace(ch) || ch == ')' || (inList && ch == ',') || (ch == '(' && _pos == start))
            {
                break;
            }

            _pos++;
        }

        if (_pos == start)
        {
            throw new ConditionSyntaxException($"expected a value but found '{Peek()}'", start);
        }

        return new ValueToken(_text[start.._pos], false, start);
    }

    private string ReadIdentifier()
    {
        var start = _pos;
        if (_pos < _text.Length && (char.IsLetter(_text[_pos]) || _text[_pos] == '_'))
        {
            _pos++;
            while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || _text[_pos] is '_' or '.' or '-'))
            {
                _pos++;
            }
        }

        return _text[start.._pos];
    }

    private CompareOp? TryReadOperator()
    {
        var c = Peek();
        switch (c)
        {
            case '=':
                _pos += _pos + 1 < _text.Length && _text[_pos + 1] == '=' ? 2 : 1;
                return CompareOp.Equal;
            case '!':
                if (_pos + 1 < _text.Length && _text[_pos + 1] == '=')
                {
                    _pos += 2;
                    return CompareOp.NotEqual;
                }

                throw new ConditionSyntaxException("expected '!='", _pos);
            case '<' or '>':
                var orEqual = _pos + 1 < _text.Length && _text[_pos + 1] == '=';
                _pos += orEqual ? 2 : 1;
                return (c, orEqual) switch
                {
                    ('<', false) => CompareOp.Less,
                    ('<', true) => CompareOp.LessOrEqual,
                    ('>', false) => CompareOp.Greater,
                    _ => CompareOp.GreaterOrEqual,
                };
        }

        if (!char.IsLetter(c))
        {
            return null;
        }

        var start = _pos;
        var end = start;
        while (end < _text.Length && char.IsLetter(_text[end]))
        {
            end++;
        }

        var word = _text[start..end];
        if (CompareOps.ByName.TryGetValue(word, out var op))
        {
            _pos = end;
            return op;
        }

        if (UnsupportedOperators.Contains(word))
        {
            throw new ConditionSyntaxException($"operator '{word}' is not supported", start);
        }

        if (word is "and" or "or")
        {
            return null;
        }

        throw new ConditionSyntaxException($"unknown operator '{word}'", start);
    }

    private bool NextIsKeyword(string keyword)
    {
        var end = _pos + keyword.Length;
        return end <= _text.Length
            && string.CompareOrdinal(_text, _pos, keyword, 0, keyword.Length) == 0
            && (end == _text.Length || !IsIdentifierChar(_text[end]));
    }

    private bool TryKeyword(string keyword, out int at)
    {
        SkipWhitespace();
        at = _pos;
        if (!NextIsKeyword(keyword))
        {
            return false;
        }

        // "not(" and "not (" are both keywords; "notify" is an identifier.
        _pos += keyword.Length;
        return true;
    }

    private static bool IsIdentifierChar(char c) => char.IsLetterOrDigit(c) || c is '_' or '.' or '-' or '[';
}
