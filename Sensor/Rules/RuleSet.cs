using System.Collections.Frozen;
using Triage.Contracts;

namespace Sensor.Rules;

/// <summary>What to do with a rule that uses a field the sensor does not provide.</summary>
internal enum UnknownFieldPolicy
{
    /// <summary>Report the rule with the field and load the rest (default).</summary>
    Skip,

    /// <summary>Refuse to load the rules at all.</summary>
    Refuse,
}

/// <summary>Falco's <c>rule_matching</c>: report every matching rule, or only the first in load order.</summary>
internal enum RuleMatching
{
    All,
    First,
}

/// <summary>How rules are loaded and evaluated.</summary>
internal sealed record RuleEngineOptions
{
    public UnknownFieldPolicy UnknownFields { get; init; } = UnknownFieldPolicy.Skip;

    /// <summary>Default <see cref="RuleMatching.All"/>: enforcement and triage want every rule an event fires.</summary>
    public RuleMatching Matching { get; init; } = RuleMatching.All;
}

/// <summary>A rule that was not loaded, and why.</summary>
internal sealed record SkippedRule(string Name, string Reason, SourceLocation Location);

/// <summary>A loaded rule, compiled.</summary>
internal sealed class CompiledRule
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    public required AlertPriority Priority { get; init; }
    public required IReadOnlyList<string> Tags { get; init; }
    public string? Runbook { get; init; }
    public required OutputTemplate Output { get; init; }
    public required Func<EventView, bool> Condition { get; init; }
    public required EventTypeSet EventTypes { get; init; }

    /// <summary>The open paths this rule can match (see <see cref="OpenPathAnalysis"/>); every path unless derived.</summary>
    public PathPatterns OpenPaths { get; init; } = PathPatterns.Everything;

    /// <summary>Per indexed event type, the condition with evt.type tests folded away; null when it can never match.</summary>
    public IReadOnlyDictionary<string, Func<EventView, bool>?> SpecializedConditions { get; init; } =
        new Dictionary<string, Func<EventView, bool>?>();
    public required SourceLocation Location { get; init; }

    /// <summary>Load order; rules are evaluated in this order.</summary>
    public int Index { get; init; }

    /// <summary>MITRE ATT&amp;CK technique ids (T1552.005) and tactic ids (TA0003) among the tags.</summary>
    public IReadOnlyList<string> MitreIds => Tags.Where(IsMitreId).ToList();

    private static bool IsMitreId(string tag) =>
        tag.Length >= 5 && tag[0] == 'T' && (char.IsDigit(tag[1]) || (tag[1] == 'A' && char.IsDigit(tag[2])));
}

/// <summary>
/// Loaded, compiled rules indexed by event type: evaluating an event runs only the rules that can match its type.
/// Immutable and safe to share between threads; evaluate through a <see cref="RuleEvaluator"/> per thread.
/// </summary>
internal sealed class RuleSet
{
    private readonly FrozenDictionary<string, CompiledRule[]> _byType;
    private readonly CompiledRule[] _otherTypes;
    private readonly FrozenDictionary<string, (CompiledRule Rule, Func<EventView, bool> Condition)[]> _plans;
    private readonly (CompiledRule Rule, Func<EventView, bool> Condition)[] _otherPlan;

    public RuleSet(
        IReadOnlyList<CompiledRule> rules,
        IReadOnlyList<SkippedRule> skipped,
        IReadOnlyList<LoadWarning> warnings,
        IReadOnlyList<string> files,
        RuleEngineOptions options)
    {
        Rules = rules;
        Skipped = skipped;
        Warnings = warnings;
        Files = files;
        Options = options;

        var required = rules.Aggregate(EventTypeSet.Of([]), (acc, r) => acc.Union(r.EventTypes));
        RequiredEventTypes = required;
        OpenPaths = rules
            .Where(r => OpenPathAnalysis.OpenTypes.Any(r.EventTypes.Contains))
            .Aggregate(PathPatterns.Nothing, (acc, r) => acc.Union(r.OpenPaths));

        // Types named by any rule get their own bucket (specific rules plus the rules that match "all except ...");
        // any other type only reaches the complement rules.
        var named = rules.SelectMany(r => r.EventTypes.Types).ToHashSet(StringComparer.Ordinal);
        _byType = named.ToFrozenDictionary(
            t => t,
            t => rules.Where(r => r.EventTypes.Contains(t)).OrderBy(r => r.Index).ToArray(),
            StringComparer.Ordinal);
        _otherTypes = rules.Where(r => r.EventTypes.Complement).OrderBy(r => r.Index).ToArray();
        _plans = _byType.ToFrozenDictionary(
            kv => kv.Key,
            kv => kv.Value
                .Select(r => (Rule: r, Condition: r.SpecializedConditions.TryGetValue(kv.Key, out var typed) ? typed : r.Condition))
                .Where(p => p.Condition is not null)
                .Select(p => (p.Rule, p.Condition!))
                .ToArray(),
            StringComparer.Ordinal);
        _otherPlan = _otherTypes.Select(r => (r, r.Condition)).ToArray();
    }

    /// <summary>What the evaluator runs for an event of <paramref name="type"/>: rules in load order, each with its
    /// condition specialised for the type.</summary>
    internal (CompiledRule Rule, Func<EventView, bool> Condition)[] PlanFor(string type) =>
        _plans.TryGetValue(type, out var plan) ? plan : _otherPlan;

    public IReadOnlyList<CompiledRule> Rules { get; }
    public IReadOnlyList<SkippedRule> Skipped { get; }
    public IReadOnlyList<LoadWarning> Warnings { get; }
    public IReadOnlyList<string> Files { get; }
    public RuleEngineOptions Options { get; }

    /// <summary>
    /// The syscalls the loaded rules can match, for the sensor's in-kernel interest table. When
    /// <see cref="EventTypeSet.Complement"/> is set some rule matches "every type except ...", and the sensor must
    /// report all syscalls but those listed.
    /// </summary>
    public EventTypeSet RequiredEventTypes { get; }

    /// <summary>The paths of opens some loaded rule can match: the kernel's watched open paths by default.</summary>
    public PathPatterns OpenPaths { get; }

    /// <summary>The rules that can match an event of <paramref name="type"/>, in load order.</summary>
    public CompiledRule[] RulesFor(string type) => _byType.TryGetValue(type, out var rules) ? rules : _otherTypes;

    public CompiledRule? Find(string name) => Rules.FirstOrDefault(r => r.Name == name);
}
