using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Triage.Api.Configuration;

/// <summary>
/// Reads durations as people write them in YAML: <c>90s</c>, <c>15m</c>, <c>1h30m</c>, <c>7d</c>, or <c>hh:mm:ss</c>.
/// </summary>
internal sealed partial class DurationConverter : IYamlTypeConverter
{
    public bool Accepts(Type type) => type == typeof(TimeSpan) || type == typeof(TimeSpan?);

    public object? ReadYaml(IParser parser, Type type, ObjectDeserializer rootDeserializer)
    {
        var scalar = parser.Consume<Scalar>();
        if (TryParse(scalar.Value, out var value))
        {
            return value;
        }

        throw new YamlException(scalar.Start, scalar.End,
            $"'{scalar.Value}' is not a duration; write e.g. 30s, 15m, 1h30m, 7d or 00:15:00");
    }

    public void WriteYaml(IEmitter emitter, object? value, Type type, ObjectSerializer serializer) =>
        emitter.Emit(new Scalar(value is TimeSpan span ? span.ToString("c", CultureInfo.InvariantCulture) : ""));

    public static bool TryParse(string text, out TimeSpan value)
    {
        text = text.Trim();
        if (text.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
        }

        var match = UnitPattern().Match(text);
        if (!match.Success || text.Length == 0)
        {
            value = default;
            return false;
        }

        value = TimeSpan.Zero;
        foreach (Capture part in match.Groups["part"].Captures)
        {
            var number = double.Parse(part.Value[..^1], CultureInfo.InvariantCulture);
            value += part.Value[^1] switch
            {
                'd' => TimeSpan.FromDays(number),
                'h' => TimeSpan.FromHours(number),
                'm' => TimeSpan.FromMinutes(number),
                _ => TimeSpan.FromSeconds(number),
            };
        }

        return true;
    }

    [GeneratedRegex(@"^(?<part>\d+(\.\d+)?[dhms])+$")]
    private static partial Regex UnitPattern();
}
