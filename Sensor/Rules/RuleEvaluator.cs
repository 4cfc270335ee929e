using Sensor.Events;

namespace Sensor.Rules;

/// <summary>
/// Evaluates events against a <see cref="RuleSet"/>. Not thread-safe: one per evaluating thread (it reuses its
/// <see cref="EventView"/> and result list so that a non-matching event allocates nothing).
/// </summary>
internal sealed class RuleEvaluator(RuleSet rules)
{
    private readonly EventView _view = new();
    private readonly List<CompiledRule> _matches = [];

    public RuleSet Rules { get; } = rules;

    /// <summary>
    /// The rules <paramref name="sensorEvent"/> fires, in load order (only the first under
    /// <see cref="RuleMatching.First"/>). The list is reused by the next call: copy it to keep it.
    /// </summary>
    public IReadOnlyList<CompiledRule> Evaluate(SensorEvent sensorEvent)
    {
        _matches.Clear();
        _view.Reset(sensorEvent);
        var first = Rules.Options.Matching == RuleMatching.First;
        foreach (var (rule, condition) in Rules.PlanFor(sensorEvent.Type))
        {
            if (condition(_view))
            {
                _matches.Add(rule);
                if (first)
                {
                    break;
                }
            }
        }

        return _matches;
    }

    /// <summary>Formats the alert for a rule that fired on <paramref name="sensorEvent"/>.</summary>
    public RuleMatch Match(CompiledRule rule, SensorEvent sensorEvent)
    {
        _view.Reset(sensorEvent);
        var (output, fields) = rule.Output.Format(_view);
        return new RuleMatch(rule, sensorEvent, output, fields);
    }
}
