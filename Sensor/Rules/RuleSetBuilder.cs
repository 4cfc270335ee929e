using System.Text;
using Sensor.Rules.Syntax;

namespace Sensor.Rules;

/// <summary>Resolves lists and macros and compiles the loaded rule definitions into a <see cref="RuleSet"/>.</summary>
internal static class RuleSetBuilder
{
    public static RuleSet Build(
        IReadOnlyList<RuleDefinition> definitions,
        IReadOnlyDictionary<string, MacroDefinition> macros,
        IReadOnlyDictionary<string, ListDefinition> lists,
        IReadOnlyList<LoadWarning> loadWarnings,
        IReadOnlyList<string> files,
        RuleEngineOptions options)
    {
        var warnings = new List<LoadWarning>(loadWarnings);
        var resolvedLists = ResolveLists(lists);
        var compiler = new ConditionCompiler(macros, resolvedLists);
        var openPaths = new OpenPathAnalysis(macros, resolvedLists);
        var rules = new List<CompiledRule>();
        var skipped = new List<SkippedRule>();
        var refused = new List<string>();

        foreach (var definition in definitions)
        {
            if (!definition.Enabled)
            {
                skipped.Add(new(definition.Name, "disabled (enabled: false)", definition.Location));
                continue;
            }

            if (definition.Source != "syscall")
            {
                skipped.Add(new(definition.Name, $"source '{definition.Source}' is not supported (only syscall)", definition.Location));
                continue;
            }

            var issues = new List<CompileIssue>();
            var ast = ConditionParser.Parse(definition.Condition.Text);
            var condition = compiler.Compile(ast, definition.Condition, issues);
            var exceptions = CompileExceptions(definition, compiler, issues);

            var invalid = issues.FirstOrDefault(i => i.UnknownField is null);
            if (invalid is not null)
            {
                throw new RuleLoadException($"rule '{definition.Name}': {invalid.Message}", invalid.Location);
            }

            var unknown = issues.Select(i => i.UnknownField!).Distinct().ToList();
            if (unknown.Count > 0)
            {
                var where = issues[0].Location is { } l ? $" at {l}" : "";
                var reason = $"uses field{(unknown.Count > 1 ? "s" : "")} not provided by the sensor: {string.Join(", ", unknown)}{where}";
                if (options.UnknownFields == UnknownFieldPolicy.Refuse && !definition.SkipIfUnknownFilter)
                {
                    refused.Add($"rule '{definition.Name}' {reason}");
                }

                skipped.Add(new(definition.Name, reason, definition.Location));
                continue;
            }

            var output = OutputTemplate.Parse(definition.Output);
            foreach (var field in output.UnknownFields.Distinct())
            {
                warnings.Add(new($"rule '{definition.Name}': output field '{field}' is not provided by the sensor and prints <NA>",
                    definition.Location));
            }

            if (condition.Types.IsAll)
            {
                warnings.Add(new($"rule '{definition.Name}' does not restrict evt.type and is evaluated for every event",
                    definition.Location));
            }

            var eval = condition.Eval;
            if (exceptions is { } exception)
            {
                var baseEval = eval;
                eval = v => baseEval(v) && !exception(v);
            }

            // One closure per indexed type with evt.type tests folded away; a rule whose condition folds to false for a
            // type is simply not listed under it.
            var specialized = new Dictionary<string, Func<EventView, bool>?>(StringComparer.Ordinal);
            if (!condition.Types.Complement)
            {
                foreach (var type in condition.Types.Types)
                {
                    compiler.KnownType = type;
                    var forType = compiler.Compile(ConditionParser.Parse(definition.Condition.Text), definition.Condition, []);
                    compiler.KnownType = null;
                    var typed = forType.Constant == false ? null : forType.Eval;
                    if (typed is not null && exceptions is { } typedException)
                    {
                        var baseTyped = typed;
                        typed = v => baseTyped(v) && !typedException(v);
                    }

                    specialized[type] = typed;
                }
            }

            rules.Add(new CompiledRule
            {
                SpecializedConditions = specialized,
                Name = definition.Name,
                Description = definition.Description.Trim(),
                Priority = definition.Priority,
                Tags = definition.Tags,
                Runbook = definition.Runbook,
                Output = output,
                Condition = eval,
                EventTypes = condition.Types,
                // Exceptions only narrow a rule further, so the condition alone bounds the paths it can match.
                OpenPaths = OpenPathAnalysis.OpenTypes.Any(condition.Types.Contains) ? openPaths.Analyze(ast) : PathPatterns.Nothing,
                Location = definition.Location,
                Index = rules.Count,
            });
        }

        if (refused.Count > 0)
        {
            throw new RuleLoadException(
                $"refusing to load rules (unknown_fields: refuse):{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", refused)}",
                null);
        }

        return new RuleSet(rules, skipped, warnings, files, options);
    }

    /// <summary>
    /// Falco's exceptions: <c>not ((f1 c1 v1 and f2 c2 v2) or ...)</c> over the value tuples; an exception without
    /// values excludes nothing.
    /// </summary>
    private static Func<EventView, bool>? CompileExceptions(RuleDefinition rule, ConditionCompiler compiler, List<CompileIssue> issues)
    {
        var tuples = new List<ConditionNode>();
        foreach (var exception in rule.Exceptions)
        {
            foreach (var tuple in exception.Values)
            {
                ConditionNode? conjunction = null;
                for (var i = 0; i < exception.Fields.Count; i++)
                {
                    var fieldText = exception.Fields[i];
                    var bracket = fieldText.IndexOf('[', StringComparison.Ordinal);
                    var field = bracket > 0 && fieldText.EndsWith(']')
                        ? new FieldRef(fieldText[..bracket], fieldText[(bracket + 1)..^1], 0)
                        : new FieldRef(fieldText, null, 0);
                    if (!CompareOps.ByName.TryGetValue(exception.Comps[i], out var op))
                    {
                        issues.Add(new($"exception '{exception.Name}': unknown comparison '{exception.Comps[i]}'", exception.Location, null));
                        return null;
                    }

                    var values = tuple[i].Select(v => new ValueToken(v, false, 0)).ToList();
                    var compare = new CompareNode(field, op, values, op.TakesList() || values.Count > 1, 0);
                    conjunction = conjunction is null ? compare : new AndNode(conjunction, compare, 0);
                }

                if (conjunction is not null)
                {
                    tuples.Add(conjunction);
                }
            }
        }

        if (tuples.Count == 0)
        {
            return null;
        }

        var any = tuples.Aggregate((a, b) => new OrNode(a, b, 0));
        var location = rule.Exceptions[0].Location;
        var source = SourceText.Plain("", location.File, location.Line, location.Column);
        return compiler.Compile(any, source, issues).Eval;
    }

    /// <summary>Expands list references inside lists and strips Falco's inner quotes ('"75-system-updat"').</summary>
    private static Dictionary<string, IReadOnlyList<string>> ResolveLists(IReadOnlyDictionary<string, ListDefinition> lists)
    {
        var resolved = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var visiting = new HashSet<string>(StringComparer.Ordinal);

        IReadOnlyList<string> Resolve(ListDefinition list)
        {
            if (resolved.TryGetValue(list.Name, out var done))
            {
                return done;
            }

            if (!visiting.Add(list.Name))
            {
                throw new RuleLoadException($"list '{list.Name}' refers to itself", list.Location);
            }

            var items = new List<string>();
            foreach (var item in list.Items)
            {
                if (Unquote(item) is { } unquoted)
                {
                    items.Add(unquoted);
                }
                else if (lists.TryGetValue(item, out var nested))
                {
                    items.AddRange(Resolve(nested));
                }
                else
                {
                    items.Add(item);
                }
            }

            visiting.Remove(list.Name);
            resolved[list.Name] = items;
            return items;
        }

        foreach (var list in lists.Values)
        {
            Resolve(list);
        }

        return resolved;
    }

    private static string? Unquote(string item)
    {
        if (item.Length < 2 || item[0] is not ('"' or '\'') || item[^1] != item[0])
        {
            return null;
        }

        var quote = item[0];
        var sb = new StringBuilder();
        for (var i = 1; i < item.Length - 1; i++)
        {
            if (item[i] == '\\' && i + 1 < item.Length - 1 && (item[i + 1] == quote || item[i + 1] == '\\'))
            {
                i++;
            }

            sb.Append(item[i]);
        }

        return sb.ToString();
    }
}
