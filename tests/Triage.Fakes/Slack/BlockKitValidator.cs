using System.Text.Json;
using System.Text.Json.Nodes;

namespace Triage.Fakes.Slack;

/// <summary>
/// Offline substitute for Slack's block validation: checks a message's blocks against the limit data in
/// <c>Reference/slack-blockkit-limits.json</c> (community data checked against Slack's Block Kit reference), for the
/// block and element types a message may carry. Errors name a JSON pointer as Slack's own do
/// (<c>must be less than 151 characters [json-pointer:/blocks/0/text]</c>). Unknown types are errors.
/// </summary>
public sealed class BlockKitValidator
{
    private static readonly HashSet<string> ButtonStyles = ["primary", "danger"];
    private readonly JsonElement _limits;

    public BlockKitValidator(string limitsFile)
    {
        _limits = JsonSerializer.Deserialize<JsonElement>(File.ReadAllText(limitsFile));
    }

    /// <summary>Loads the limit data copied next to the assembly.</summary>
    public static BlockKitValidator Default { get; } =
        new(Path.Combine(AppContext.BaseDirectory, "Reference", "slack-blockkit-limits.json"));

    /// <summary>At most 50 blocks in a message (100 in modals and the Home tab).</summary>
    public const int MaxMessageBlocks = 50;

    public IReadOnlyList<string> Validate(JsonNode? blocks)
    {
        var errors = new List<string>();
        if (blocks is not JsonArray array)
        {
            errors.Add("blocks must be an array [json-pointer:/blocks]");
            return errors;
        }

        if (array.Count > MaxMessageBlocks)
        {
            errors.Add($"no more than {MaxMessageBlocks} items allowed [json-pointer:/blocks]");
        }

        var blockIds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < array.Count; i++)
        {
            var at = $"/blocks/{i}";
            if (array[i] is not JsonObject block)
            {
                errors.Add($"must be an object [json-pointer:{at}]");
                continue;
            }

            if (Str(block, "block_id") is { } blockId)
            {
                MaxLength(errors, blockId, Limit("block_id", "max_length"), $"{at}/block_id");
                if (!blockIds.Add(blockId))
                {
                    errors.Add($"duplicate block_id [json-pointer:{at}/block_id]");
                }
            }

            switch (Str(block, "type"))
            {
                case "header":
                    TextObject(errors, block["text"], $"{at}/text", Limit("header", "text", "max_length"), plainOnly: true, required: true);
                    break;
                case "section":
                    var hasText = block["text"] is not null;
                    var hasFields = block["fields"] is JsonArray;
                    if (!hasText && !hasFields)
                    {
                        errors.Add($"must provide text or fields [json-pointer:{at}]");
                    }

                    if (hasText)
                    {
                        TextObject(errors, block["text"], $"{at}/text", Limit("section", "text", "max_length"), plainOnly: false, required: true);
                    }

                    if (block["fields"] is JsonArray fields)
                    {
                        MaxItems(errors, fields, Limit("section", "fields", "max_items"), $"{at}/fields");
                        for (var f = 0; f < fields.Count; f++)
                        {
                            TextObject(errors, fields[f], $"{at}/fields/{f}", Limit("section", "fields", "item_max_length"), plainOnly: false, required: true);
                        }
                    }

                    if (block["accessory"] is JsonObject accessory)
                    {
                        Element(errors, accessory, $"{at}/accessory", new HashSet<string>(StringComparer.Ordinal));
                    }

                    break;
                case "context":
                    if (block["elements"] is not JsonArray contextElements || contextElements.Count == 0)
                    {
                        errors.Add($"must provide elements [json-pointer:{at}/elements]");
                        break;
                    }

                    MaxItems(errors, contextElements, Limit("context", "elements", "max_items"), $"{at}/elements");
                    for (var e = 0; e < contextElements.Count; e++)
                    {
                        if (Str(contextElements[e] as JsonObject, "type") == "image")
                        {
                            continue;
                        }

                        TextObject(errors, contextElements[e], $"{at}/elements/{e}", Limit("text", "max_length"), plainOnly: false, required: true);
                    }

                    break;
                case "actions":
                    if (block["elements"] is not JsonArray actionElements || actionElements.Count == 0)
                    {
                        errors.Add($"must provide elements [json-pointer:{at}/elements]");
                        break;
                    }

                    MaxItems(errors, actionElements, Limit("actions", "elements", "max_items"), $"{at}/elements");
                    var actionIds = new HashSet<string>(StringComparer.Ordinal);
                    for (var e = 0; e < actionElements.Count; e++)
                    {
                        Element(errors, actionElements[e] as JsonObject, $"{at}/elements/{e}", actionIds);
                    }

                    break;
                case "divider":
                    break;
                case "markdown":
                    var markdown = Str(block, "text");
                    if (string.IsNullOrEmpty(markdown))
                    {
                        errors.Add($"must provide text [json-pointer:{at}/text]");
                    }
                    else
                    {
                        MaxLength(errors, markdown, Limit("markdown", "text", "max_length"), $"{at}/text");
                    }

                    break;
                default:
                    errors.Add($"unsupported block type [json-pointer:{at}/type]");
                    break;
            }
        }

        return errors;
    }

    private void Element(List<string> errors, JsonObject? element, string at, HashSet<string> actionIds)
    {
        if (element is null)
        {
            errors.Add($"must be an object [json-pointer:{at}]");
            return;
        }

        if (Str(element, "action_id") is { } actionId)
        {
            MaxLength(errors, actionId, Limit("action_id", "max_length"), $"{at}/action_id");
            if (!actionIds.Add(actionId))
            {
                errors.Add($"duplicate action_id [json-pointer:{at}/action_id]");
            }
        }

        if (element["confirm"] is { } confirm)
        {
            Confirm(errors, confirm as JsonObject, $"{at}/confirm");
        }

        switch (Str(element, "type"))
        {
            case "button":
                TextObject(errors, element["text"], $"{at}/text", Limit("button", "text", "max_length"), plainOnly: true, required: true);
                if (Str(element, "value") is { } value)
                {
                    MaxLength(errors, value, Limit("button", "value", "max_length"), $"{at}/value");
                }

                if (Str(element, "url") is { } url)
                {
                    MaxLength(errors, url, Limit("button", "url", "max_length"), $"{at}/url");
                }

                if (Str(element, "style") is { } style && !ButtonStyles.Contains(style))
                {
                    errors.Add($"must be one of primary, danger [json-pointer:{at}/style]");
                }

                break;
            case "static_select":
                if (element["placeholder"] is { } placeholder)
                {
                    TextObject(errors, placeholder, $"{at}/placeholder", Limit("select", "placeholder", "max_length"), plainOnly: true, required: true);
                }

                if (element["options"] is JsonArray options)
                {
                    if (options.Count == 0)
                    {
                        errors.Add($"must provide at least 1 option [json-pointer:{at}/options]");
                    }

                    MaxItems(errors, options, Limit("select", "options", "max_items"), $"{at}/options");
                    for (var o = 0; o < options.Count; o++)
                    {
                        Option(errors, options[o] as JsonObject, $"{at}/options/{o}");
                    }
                }
                else if (element["option_groups"] is null)
                {
                    errors.Add($"must provide options or option_groups [json-pointer:{at}/options]");
                }

                break;
            case "overflow":
                if (element["options"] is not JsonArray overflow)
                {
                    errors.Add($"must provide options [json-pointer:{at}/options]");
                    break;
                }

                if (overflow.Count < Limit("overflow", "options", "min_items") || overflow.Count > Limit("overflow", "options", "max_items"))
                {
                    errors.Add($"must provide between {Limit("overflow", "options", "min_items")} and {Limit("overflow", "options", "max_items")} options [json-pointer:{at}/options]");
                }

                for (var o = 0; o < overflow.Count; o++)
                {
                    Option(errors, overflow[o] as JsonObject, $"{at}/options/{o}");
                }

                break;
            default:
                errors.Add($"unsupported element type [json-pointer:{at}/type]");
                break;
        }
    }

    private void Option(List<string> errors, JsonObject? option, string at)
    {
        if (option is null)
        {
            errors.Add($"must be an object [json-pointer:{at}]");
            return;
        }

        TextObject(errors, option["text"], $"{at}/text", Limit("option", "text", "max_length"), plainOnly: false, required: true);
        var value = Str(option, "value");
        if (value is null)
        {
            errors.Add($"must provide value [json-pointer:{at}/value]");
        }
        else
        {
            MaxLength(errors, value, Limit("option", "value", "max_length"), $"{at}/value");
        }
    }

    private void Confirm(List<string> errors, JsonObject? confirm, string at)
    {
        if (confirm is null)
        {
            errors.Add($"must be an object [json-pointer:{at}]");
            return;
        }

        TextObject(errors, confirm["title"], $"{at}/title", Limit("confirmation", "title", "max_length"), plainOnly: true, required: true);
        TextObject(errors, confirm["text"], $"{at}/text", Limit("confirmation", "text", "max_length"), plainOnly: false, required: true);
        TextObject(errors, confirm["confirm"], $"{at}/confirm", Limit("confirmation", "confirm", "max_length"), plainOnly: true, required: true);
        TextObject(errors, confirm["deny"], $"{at}/deny", Limit("confirmation", "deny", "max_length"), plainOnly: true, required: true);
        if (Str(confirm, "style") is { } style && !ButtonStyles.Contains(style))
        {
            errors.Add($"must be one of primary, danger [json-pointer:{at}/style]");
        }
    }

    private void TextObject(List<string> errors, JsonNode? node, string at, int max, bool plainOnly, bool required)
    {
        if (node is not JsonObject text)
        {
            if (required)
            {
                errors.Add($"must provide a text object [json-pointer:{at}]");
            }

            return;
        }

        var type = Str(text, "type");
        if (type is not ("plain_text" or "mrkdwn"))
        {
            errors.Add($"must be plain_text or mrkdwn [json-pointer:{at}/type]");
        }
        else if (plainOnly && type != "plain_text")
        {
            errors.Add($"must be plain_text [json-pointer:{at}/type]");
        }

        var value = Str(text, "text");
        if (string.IsNullOrEmpty(value))
        {
            errors.Add($"must be at least {Limit("text", "min_length")} characters [json-pointer:{at}/text]");
            return;
        }

        MaxLength(errors, value, max, $"{at}/text");
    }

    private static void MaxLength(List<string> errors, string value, int max, string at)
    {
        if (value.Length > max)
        {
            errors.Add($"must be less than {max + 1} characters [json-pointer:{at}]");
        }
    }

    private static void MaxItems(List<string> errors, JsonArray array, int max, string at)
    {
        if (array.Count > max)
        {
            errors.Add($"no more than {max} items allowed [json-pointer:{at}]");
        }
    }

    private int Limit(params string[] path)
    {
        var node = _limits;
        foreach (var step in path)
        {
            node = node.GetProperty(step);
        }

        return node.GetInt32();
    }

    private static string? Str(JsonObject? o, string name) => o?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
