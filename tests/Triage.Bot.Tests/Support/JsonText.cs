using System.Text;
using System.Text.Json.Nodes;

namespace Triage.Bot.Tests.Support;

/// <summary>All string values of a JSON tree, one per line: what a reader of the card sees, without JSON escaping.</summary>
internal static class JsonText
{
    public static string Of(JsonNode? node)
    {
        var builder = new StringBuilder();
        Walk(node, builder);
        return builder.ToString();
    }

    private static void Walk(JsonNode? node, StringBuilder builder)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, child) in o)
                {
                    Walk(child, builder);
                }

                break;
            case JsonArray a:
                foreach (var child in a)
                {
                    Walk(child, builder);
                }

                break;
            case JsonValue v when v.TryGetValue<string>(out var s):
                builder.AppendLine(s);
                break;
        }
    }
}
