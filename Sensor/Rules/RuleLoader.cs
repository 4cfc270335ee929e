using Sensor.Rules.Syntax;
using Triage.Contracts;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sensor.Rules;

/// <summary>A rules file that cannot be loaded: YAML or condition syntax, a bad override, an undefined macro.</summary>
internal sealed class RuleLoadException(string message, SourceLocation? location)
    : Exception(location is { } l ? $"{l}: {message}" : message)
{
    public SourceLocation? Location { get; } = location;
}

/// <summary>A non-fatal remark about a rules file (unknown key, unsupported output field, deprecated syntax).</summary>
internal sealed record LoadWarning(string Message, SourceLocation? Location)
{
    public override string ToString() => Location is { } l ? $"{l}: {Message}" : Message;
}

/// <summary>
/// Reads rules files in Falco's syntax, in order, applying Falco's semantics: later files override earlier ones;
/// <c>override: {key: append|replace}</c> (and the deprecated <c>append: true</c>) change lists, macros and rules;
/// a rule defined again replaces the earlier one in place. Lists and macros are resolved at <see cref="Build"/>, after
/// every file is read, so their order does not matter.
/// </summary>
internal sealed class RuleLoader
{
    private static readonly HashSet<string> RuleKeys = new(StringComparer.Ordinal)
    {
        "rule", "desc", "condition", "output", "priority", "tags", "enabled", "exceptions", "source", "runbook",
        "warn_evttypes", "skip-if-unknown-filter", "override", "append", "capture", "capture_duration",
    };

    private static readonly HashSet<string> RuleAppendable =
        new(StringComparer.Ordinal) { "condition", "output", "desc", "tags", "exceptions" };

    private static readonly HashSet<string> RuleReplaceable = new(StringComparer.Ordinal)
    {
        "condition", "output", "desc", "tags", "exceptions", "priority", "enabled", "warn_evttypes", "skip-if-unknown-filter",
        "runbook",
    };

    private readonly Dictionary<string, ListDefinition> _lists = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MacroDefinition> _macros = new(StringComparer.Ordinal);
    private readonly List<RuleDefinition> _rules = [];
    private readonly Dictionary<string, int> _ruleIndex = new(StringComparer.Ordinal);
    private readonly List<LoadWarning> _warnings = [];
    private readonly List<string> _files = [];

    public IReadOnlyList<LoadWarning> Warnings => _warnings;

    /// <summary>Loads a file, or every *.yaml / *.yml file of a directory in name order.</summary>
    public RuleLoader LoadPath(string path)
    {
        if (Directory.Exists(path))
        {
            foreach (var file in Directory.EnumerateFiles(path)
                         .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                         .Order(StringComparer.Ordinal))
            {
                LoadText(File.ReadAllText(file), file);
            }

            return this;
        }

        if (!File.Exists(path))
        {
            throw new RuleLoadException($"rules file or directory '{path}' does not exist", null);
        }

        return LoadText(File.ReadAllText(path), path);
    }

    public RuleLoader LoadText(string text, string fileName)
    {
        _files.Add(fileName);
        var lines = text.Split('\n');
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new RuleLoadException($"YAML syntax error: {Inner(ex).Message}",
                new SourceLocation(fileName, (int)ex.Start.Line, (int)ex.Start.Column));
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet's scanner fails this way on some malformed flow collections, without a position.
            throw new RuleLoadException($"YAML syntax error in {fileName}: {ex.Message}", null);
        }

        foreach (var document in stream.Documents)
        {
            if (document.RootNode is YamlScalarNode { Value: null or "" })
            {
                continue;
            }

            if (document.RootNode is not YamlSequenceNode items)
            {
                throw new RuleLoadException("a rules file is a YAML list of rule, macro and list items", Loc(fileName, document.RootNode));
            }

            foreach (var item in items)
            {
                if (item is not YamlMappingNode map)
                {
                    throw new RuleLoadException("each item must be a mapping (rule, macro or list)", Loc(fileName, item));
                }

                var file = new FileContext(fileName, lines);
                if (Has(map, "rule"))
                {
                    LoadRule(map, file);
                }
                else if (Has(map, "macro"))
                {
                    LoadMacro(map, file);
                }
                else if (Has(map, "list"))
                {
                    LoadList(map, file);
                }
                else if (Has(map, "required_engine_version") || Has(map, "required_plugin_versions"))
                {
                    // Versions of Falco's engine and plugins; this engine implements the language they require.
                }
                else
                {
                    _warnings.Add(new("unknown item ignored (expected rule, macro or list)", Loc(fileName, map)));
                }
            }
        }

        return this;
    }

    /// <summary>Resolves lists and macros and compiles every enabled rule.</summary>
    public RuleSet Build(RuleEngineOptions? options = null) =>
        RuleSetBuilder.Build(_rules, _macros, _lists, _warnings, _files, options ?? new RuleEngineOptions());

    /// <summary>The same definitions for <see cref="ReferenceInterpreter"/>, which evaluates them without compiling.</summary>
    public ReferenceInterpreter BuildReferenceInterpreter() => new(_rules.Where(r => r.Enabled).ToList(), _macros, _lists);

    private void LoadList(YamlMappingNode map, FileContext file)
    {
        var name = RequiredScalar(map, "list", file);
        var items = Get(map, "items") is { } node ? Strings(node, file, "items") : null;
        var mode = OverrideMode(map, file, "items", allowed: ["items"], appendable: ["items"]);
        var location = Loc(file.Name, map);
        if (_lists.TryGetValue(name, out var existing) && mode != null)
        {
            existing.Items = mode == "append" ? [.. existing.Items, .. items ?? []] : items ?? [];
            return;
        }

        if (mode is "append" && !_lists.ContainsKey(name))
        {
            throw new RuleLoadException($"list '{name}' is appended to but was not defined before", location);
        }

        if (items is null)
        {
            throw new RuleLoadException($"list '{name}' has no items", location);
        }

        _lists[name] = new ListDefinition { Name = name, Items = items, Location = location };
    }

    private void LoadMacro(YamlMappingNode map, FileContext file)
    {
        var name = RequiredScalar(map, "macro", file);
        var location = Loc(file.Name, map);
        var conditionNode = Get(map, "condition") as YamlScalarNode
            ?? throw new RuleLoadException($"macro '{name}' has no condition", location);
        var condition = file.Source(conditionNode);
        var mode = OverrideMode(map, file, "condition", allowed: ["condition"], appendable: ["condition"]);
        if (mode is not null)
        {
            if (!_macros.TryGetValue(name, out var existing))
            {
                throw new RuleLoadException($"macro '{name}' is overridden but was not defined before", location);
            }

            existing.Condition = mode == "append" ? existing.Condition.Append(condition) : condition;
            existing.Ast = Parse(existing.Condition, $"macro '{name}'");
            return;
        }

        _macros[name] = new MacroDefinition { Name = name, Condition = condition, Ast = Parse(condition, $"macro '{name}'"), Location = location };
    }

    private void LoadRule(YamlMappingNode map, FileContext file)
    {
        var name = RequiredScalar(map, "rule", file);
        var location = Loc(file.Name, map);
        foreach (var key in map.Children.Keys.OfType<YamlScalarNode>())
        {
            if (!RuleKeys.Contains(key.Value!))
            {
                _warnings.Add(new($"rule '{name}': unknown key '{key.Value}' ignored", Loc(file.Name, key)));
            }
        }

        _ruleIndex.TryGetValue(name, out var index);
        var existing = _ruleIndex.ContainsKey(name) ? _rules[index] : null;

        if (Get(map, "override") is not null)
        {
            if (existing is null)
            {
                throw new RuleLoadException($"rule '{name}' is overridden but was not defined before", location);
            }

            var overrides = (YamlMappingNode)Get(map, "override")!;
            foreach (var (keyNode, modeNode) in overrides.Children)
            {
                var key = ((YamlScalarNode)keyNode).Value!;
                var mode = (modeNode as YamlScalarNode)?.Value;
                if (mode is not ("append" or "replace") || !(mode == "append" ? RuleAppendable : RuleReplaceable).Contains(key))
                {
                    throw new RuleLoadException($"rule '{name}': cannot override '{key}' with '{mode}'", Loc(file.Name, keyNode));
                }

                if (Get(map, key) is null)
                {
                    throw new RuleLoadException($"rule '{name}': override of '{key}' but no '{key}' given", Loc(file.Name, keyNode));
                }

                ApplyRuleKey(existing, map, key, mode == "append", file);
            }

            return;
        }

        if (IsTrue(map, "append"))
        {
            _warnings.Add(new($"rule '{name}': 'append: true' is deprecated, use 'override'", location));
            if (existing is null)
            {
                throw new RuleLoadException($"rule '{name}' is appended to but was not defined before", location);
            }

            foreach (var key in RuleAppendable.Where(k => Get(map, k) is not null))
            {
                ApplyRuleKey(existing, map, key, append: true, file);
            }

            return;
        }

        var keys = map.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value!).ToHashSet(StringComparer.Ordinal);
        if (existing is not null && keys.SetEquals(["rule", "enabled"]))
        {
            // Falco's older way to switch a rule on or off from a later file.
            ApplyRuleKey(existing, map, "enabled", append: false, file);
            return;
        }

        foreach (var required in new[] { "condition", "output", "priority" })
        {
            if (Get(map, required) is null)
            {
                throw new RuleLoadException($"rule '{name}' has no '{required}'", location);
            }
        }

        var conditionNode = Get(map, "condition") as YamlScalarNode
            ?? throw new RuleLoadException($"rule '{name}': condition must be a string", location);
        var rule = new RuleDefinition { Name = name, Condition = file.Source(conditionNode), Location = location };
        Parse(rule.Condition, $"rule '{name}'");
        foreach (var key in RuleReplaceable.Where(k => k != "condition" && Get(map, k) is not null))
        {
            ApplyRuleKey(rule, map, key, append: false, file);
        }

        if (Get(map, "source") is YamlScalarNode { Value: { } source })
        {
            rule.Source = source;
        }

        if (existing is not null)
        {
            _rules[index] = rule;
        }
        else
        {
            _ruleIndex[name] = _rules.Count;
            _rules.Add(rule);
        }
    }

    private static void ApplyRuleKey(RuleDefinition rule, YamlMappingNode map, string key, bool append, FileContext file)
    {
        var node = Get(map, key)!;
        switch (key)
        {
            case "condition":
                var condition = file.Source((YamlScalarNode)node);
                rule.Condition = append ? rule.Condition.Append(condition) : condition;
                Parse(rule.Condition, $"rule '{rule.Name}'");
                break;
            case "output":
                rule.Output = append ? $"{rule.Output} {Scalar(node, file, key)}" : Scalar(node, file, key);
                break;
            case "desc":
                rule.Description = append ? $"{rule.Description} {Scalar(node, file, key)}" : Scalar(node, file, key);
                break;
            case "tags":
                var tags = Strings(node, file, key);
                rule.Tags = append ? [.. rule.Tags, .. tags.Where(t => !rule.Tags.Contains(t))] : tags;
                break;
            case "priority":
                var text = Scalar(node, file, key);
                if (!AlertPriorities.TryParse(text, out var priority))
                {
                    throw new RuleLoadException($"rule '{rule.Name}': unknown priority '{text}'", Loc(file.Name, node));
                }

                rule.Priority = priority;
                break;
            case "enabled":
                rule.Enabled = ParseBool(node, file, key);
                break;
            case "skip-if-unknown-filter":
                rule.SkipIfUnknownFilter = ParseBool(node, file, key);
                break;
            case "runbook":
                rule.Runbook = Scalar(node, file, key);
                break;
            case "warn_evttypes":
                break;
            case "exceptions":
                var exceptions = ParseExceptions(rule.Name, node, file);
                foreach (var exception in exceptions.Where(e => e.Fields.Count == 0))
                {
                    // Values appended to an exception defined earlier follow that exception's fields.
                    var known = append ? rule.Exceptions.Find(e => e.Name == exception.Name) : null;
                    if (known is null)
                    {
                        throw new RuleLoadException(
                            $"rule '{rule.Name}', exception '{exception.Name}' has no fields", exception.Location);
                    }

                    known.Values.AddRange(ReshapeValues(exception.RawValues, known, file));
                }

                if (!append)
                {
                    rule.Exceptions = exceptions;
                    break;
                }

                foreach (var exception in exceptions.Where(e => e.Fields.Count > 0))
                {
                    var same = rule.Exceptions.Find(e => e.Name == exception.Name);
                    if (same is null)
                    {
                        rule.Exceptions.Add(exception);
                    }
                    else
                    {
                        same.Values.AddRange(exception.Values);
                    }
                }

                break;
        }
    }

    private static List<ExceptionDefinition> ParseExceptions(string ruleName, YamlNode node, FileContext file)
    {
        var result = new List<ExceptionDefinition>();
        if (node is not YamlSequenceNode sequence)
        {
            throw new RuleLoadException($"rule '{ruleName}': exceptions must be a list", Loc(file.Name, node));
        }

        foreach (var item in sequence)
        {
            if (item is not YamlMappingNode map)
            {
                throw new RuleLoadException($"rule '{ruleName}': each exception is a mapping", Loc(file.Name, item));
            }

            var name = RequiredScalar(map, "name", file);
            var fieldsNode = Get(map, "fields");
            var single = fieldsNode is YamlScalarNode;
            var fields = fieldsNode is null ? [] : single ? [Scalar(fieldsNode, file, "fields")] : Strings(fieldsNode, file, "fields");
            var compsNode = Get(map, "comps");
            var comps = compsNode is null
                ? fields.ConvertAll(_ => single ? "in" : "=")
                : compsNode is YamlScalarNode ? [Scalar(compsNode, file, "comps")] : Strings(compsNode, file, "comps");
            if (comps.Count != fields.Count)
            {
                throw new RuleLoadException($"rule '{ruleName}', exception '{name}': {fields.Count} fields but {comps.Count} comps",
                    Loc(file.Name, map));
            }

            var exception = new ExceptionDefinition
            {
                Name = name, Fields = fields, Comps = comps, SingleField = single, Location = Loc(file.Name, map),
                RawValues = Get(map, "values") as YamlSequenceNode,
            };
            if (fields.Count > 0)
            {
                exception.Values.AddRange(ReshapeValues(exception.RawValues, exception, file));
            }

            result.Add(exception);
        }

        return result;
    }

    private static List<List<List<string>>> ReshapeValues(YamlSequenceNode? values, ExceptionDefinition exception, FileContext file)
    {
        var result = new List<List<List<string>>>();
        if (values is null)
        {
            return result;
        }

        if (exception.SingleField)
        {
            result.Add([values.Select(v => Scalar(v, file, "values")).ToList()]);
            return result;
        }

        foreach (var tuple in values)
        {
            if (tuple is not YamlSequenceNode entries || entries.Children.Count != exception.Fields.Count)
            {
                throw new RuleLoadException(
                    $"exception '{exception.Name}': each value must be a list of {exception.Fields.Count} items",
                    Loc(file.Name, tuple));
            }

            result.Add(entries.Select(e => e is YamlSequenceNode seq
                ? seq.Select(x => Scalar(x, file, "values")).ToList()
                : [Scalar(e, file, "values")]).ToList());
        }

        return result;
    }

    private static string? OverrideMode(YamlMappingNode map, FileContext file, string key, string[] allowed, string[] appendable)
    {
        if (Get(map, "override") is YamlMappingNode overrides)
        {
            foreach (var (keyNode, modeNode) in overrides.Children)
            {
                var name = ((YamlScalarNode)keyNode).Value!;
                var mode = (modeNode as YamlScalarNode)?.Value;
                if (!allowed.Contains(name) || mode is not ("append" or "replace") || (mode == "append" && !appendable.Contains(name)))
                {
                    throw new RuleLoadException($"cannot override '{name}' with '{mode}'", Loc(file.Name, keyNode));
                }
            }

            return (Get(overrides, key) as YamlScalarNode)?.Value;
        }

        return IsTrue(map, "append") ? "append" : null;
    }

    private static ConditionNode Parse(SourceText condition, string owner)
    {
        try
        {
            return ConditionParser.Parse(condition.Text);
        }
        catch (ConditionSyntaxException ex)
        {
            throw new RuleLoadException($"{owner}: condition syntax error: {ex.Message}", condition.Locate(ex.Offset));
        }
    }

    private static Exception Inner(Exception ex) => ex.InnerException is YamlException inner ? Inner(inner) : ex;

    private static bool Has(YamlMappingNode map, string key) => map.Children.ContainsKey(new YamlScalarNode(key));

    private static YamlNode? Get(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static bool IsTrue(YamlMappingNode map, string key) =>
        Get(map, key) is YamlScalarNode { Value: { } v } && bool.TryParse(v, out var b) && b;

    private static bool ParseBool(YamlNode node, FileContext file, string key) =>
        node is YamlScalarNode { Value: { } v } && bool.TryParse(v, out var b)
            ? b
            : throw new RuleLoadException($"'{key}' must be true or false", Loc(file.Name, node));

    private static string RequiredScalar(YamlMappingNode map, string key, FileContext file) =>
        Get(map, key) is YamlScalarNode { Value: { Length: > 0 } value }
            ? value
            : throw new RuleLoadException($"'{key}' must be a non-empty string", Loc(file.Name, map));

    private static string Scalar(YamlNode node, FileContext file, string key) =>
        node is YamlScalarNode scalar
            ? scalar.Value ?? ""
            : throw new RuleLoadException($"'{key}' must be a string", Loc(file.Name, node));

    private static List<string> Strings(YamlNode node, FileContext file, string key) =>
        node is YamlSequenceNode sequence
            ? sequence.Select(n => Scalar(n, file, key)).ToList()
            : throw new RuleLoadException($"'{key}' must be a list", Loc(file.Name, node));

    private static SourceLocation Loc(string file, YamlNode node) => new(file, (int)node.Start.Line, (int)node.Start.Column);

    /// <summary>The raw lines of one file, to map offsets in folded scalars back to lines and columns.</summary>
    private sealed record FileContext(string Name, string[] Lines)
    {
        public SourceText Source(YamlScalarNode node)
        {
            var text = node.Value ?? "";
            var segments = Segments(node);
            return new SourceText(text, offset =>
            {
                foreach (var (line, column, length) in segments)
                {
                    if (offset <= length)
                    {
                        return new SourceLocation(Name, line, column + offset);
                    }

                    offset -= length + 1;
                }

                var last = segments[^1];
                return new SourceLocation(Name, last.Line, last.Column + last.Length);
            });
        }

        /// <summary>Where each folded line of a scalar's value starts in the file (line, column, length).</summary>
        private List<(int Line, int Column, int Length)> Segments(YamlScalarNode node)
        {
            var startLine = (int)node.Start.Line;
            var startColumn = (int)node.Start.Column;
            var quoted = node.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted ? 1 : 0;
            var segments = new List<(int, int, int)>();
            if (node.Style is ScalarStyle.Literal or ScalarStyle.Folded)
            {
                var indent = -1;
                for (var line = startLine + 1; line <= Math.Min((int)node.End.Line, Lines.Length); line++)
                {
                    var raw = Lines[line - 1].TrimEnd('\r');
                    if (raw.Trim().Length == 0)
                    {
                        continue;
                    }

                    var leading = raw.Length - raw.TrimStart().Length;
                    if (indent < 0)
                    {
                        indent = leading;
                    }

                    if (leading < indent)
                    {
                        break;
                    }

                    segments.Add((line, indent + 1, raw.Length - indent));
                }
            }
            else if (node.Start.Line == node.End.Line)
            {
                segments.Add((startLine, startColumn + quoted, (node.Value ?? "").Length));
            }
            else
            {
                for (var line = startLine; line <= Math.Min((int)node.End.Line, Lines.Length); line++)
                {
                    var raw = Lines[line - 1].TrimEnd('\r');
                    if (line == startLine)
                    {
                        segments.Add((line, startColumn + quoted, raw.Length - (startColumn - 1) - quoted));
                        continue;
                    }

                    var leading = raw.Length - raw.TrimStart().Length;
                    segments.Add((line, leading + 1, raw.Trim().Length));
                }
            }

            if (segments.Count == 0)
            {
                segments.Add((startLine, startColumn, 0));
            }

            return segments;
        }
    }
}
