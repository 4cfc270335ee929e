using System.Text.Json.Nodes;

namespace Triage.Fakes.Kubernetes;

/// <summary>A patch the server cannot apply; answered 422 Invalid (JSON patch) or 400 BadRequest.</summary>
public sealed class PatchException(string message) : Exception(message);

/// <summary>The patch types of <c>PATCH</c> requests, by Content-Type.</summary>
internal static class Patches
{
    public const string JsonPatch = "application/json-patch+json";
    public const string MergePatch = "application/merge-patch+json";
    public const string StrategicMergePatch = "application/strategic-merge-patch+json";
    public const string ApplyPatch = "application/apply-patch+yaml";

    /// <summary>RFC 7386. Strategic merge patch is applied the same way: for the maps people patch here (labels,
    /// annotations) the two agree; list merge keys are not modelled.</summary>
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result.TryGetPropertyValue(key, out var existing);
                var merged = Merge(existing, value);
                result.Remove(key);
                result[key] = merged is null ? null : merged.Parent is null ? merged : merged.DeepClone();
            }
        }

        return result;
    }

    /// <summary>RFC 6902 operations add, remove, replace, test (the ones clients send for labels).</summary>
    public static JsonObject ApplyJsonPatch(JsonObject target, JsonArray operations)
    {
        foreach (var operation in operations)
        {
            var op = (string?)operation?["op"] ?? throw new PatchException("missing op");
            var path = (string?)operation!["path"] ?? throw new PatchException("missing path");
            var tokens = path.Split('/').Skip(1).Select(t => t.Replace("~1", "/", StringComparison.Ordinal)
                .Replace("~0", "~", StringComparison.Ordinal)).ToArray();
            if (tokens.Length == 0)
            {
                throw new PatchException($"unsupported path \"{path}\"");
            }

            var parent = Walk(target, tokens[..^1], path);
            var last = tokens[^1];
            var value = operation["value"]?.DeepClone();
            switch (op)
            {
                case "add":
                    SetChild(parent, last, value, path, replace: false);
                    break;
                case "replace":
                    if (!HasChild(parent, last))
                    {
                        throw new PatchException($"replace operation does not apply: doc is missing key: {path}");
                    }

                    SetChild(parent, last, value, path, replace: true);
                    break;
                case "remove":
                    if (!HasChild(parent, last))
                    {
                        throw new PatchException($"remove operation does not apply: doc is missing path: \"{path}\"");
                    }

                    if (parent is JsonObject o)
                    {
                        o.Remove(last);
                    }
                    else
                    {
                        ((JsonArray)parent).RemoveAt(int.Parse(last, System.Globalization.CultureInfo.InvariantCulture));
                    }

                    break;
                case "test":
                    var actual = parent is JsonObject t ? t[last] : ((JsonArray)parent)[int.Parse(last, System.Globalization.CultureInfo.InvariantCulture)];
                    if (!JsonNode.DeepEquals(actual, value))
                    {
                        throw new PatchException($"testing value {path} failed");
                    }

                    break;
                default:
                    throw new PatchException($"Unexpected kind: {op}");
            }
        }

        return target;
    }

    private static JsonNode Walk(JsonObject root, string[] tokens, string path)
    {
        JsonNode node = root;
        foreach (var token in tokens)
        {
            node = node switch
            {
                JsonObject o when o[token] is { } child => child,
                JsonArray a when int.TryParse(token, out var i) && i < a.Count && a[i] is { } child => child,
                _ => throw new PatchException($"add operation does not apply: doc is missing path: \"{path}\""),
            };
        }

        return node;
    }

    private static bool HasChild(JsonNode parent, string key) => parent switch
    {
        JsonObject o => o.ContainsKey(key),
        JsonArray a => int.TryParse(key, out var i) && i < a.Count,
        _ => false,
    };

    private static void SetChild(JsonNode parent, string key, JsonNode? value, string path, bool replace)
    {
        switch (parent)
        {
            case JsonObject o:
                o[key] = value;
                break;
            case JsonArray a when key == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(key, out var i) && i <= a.Count:
                if (replace)
                {
                    a[i] = value;
                }
                else
                {
                    a.Insert(i, value);
                }

                break;
            default:
                throw new PatchException($"operation does not apply: \"{path}\"");
        }
    }
}
