namespace Sensor.Rules;

/// <summary>A place in a rules file, 1-based.</summary>
internal readonly record struct SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>
/// A condition's text together with the way back from an offset in it to the file: YAML folds multi-line scalars,
/// and an override appends text from another file, so one condition can span several places.
/// </summary>
internal sealed class SourceText
{
    private readonly List<(int Start, Func<int, SourceLocation> Map)> _parts;

    public SourceText(string text, Func<int, SourceLocation> map)
    {
        Text = text;
        _parts = [(0, map)];
    }

    private SourceText(string text, List<(int, Func<int, SourceLocation>)> parts)
    {
        Text = text;
        _parts = parts;
    }

    public string Text { get; }

    public static SourceText Plain(string text, string file = "<text>", int line = 1, int column = 1) =>
        new(text, offset => new SourceLocation(file, line, column + offset));

    public SourceLocation Locate(int offset)
    {
        for (var i = _parts.Count - 1; i >= 0; i--)
        {
            if (offset >= _parts[i].Start)
            {
                return _parts[i].Map(offset - _parts[i].Start);
            }
        }

        return _parts[0].Map(0);
    }

    /// <summary>Falco's condition append: the texts joined by a space.</summary>
    public SourceText Append(SourceText other)
    {
        var parts = new List<(int, Func<int, SourceLocation>)>(_parts);
        var start = Text.Length + 1;
        foreach (var (partStart, map) in other._parts)
        {
            parts.Add((start + partStart, map));
        }

        return new SourceText(Text + " " + other.Text, parts);
    }
}
