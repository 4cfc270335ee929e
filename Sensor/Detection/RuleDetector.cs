using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Sensor.Events;
using Sensor.Kernel;
using Sensor.Pipeline;
using Sensor.Rules;
using Sensor.Rules.Enforcement;
using Triage.Contracts;

namespace Sensor.Detection;

/// <summary>
/// The one seam between events and alerts: the Falco-compatible rule engine over the loaded rule pack (by default
/// Sensor/rules/default-rules.yaml next to the binary). It also decides which syscalls the kernel must report, and
/// hands every event to the <see cref="EnforcementPolicy"/> (when one is configured) so that denies follow containers
/// as their namespaces become known and fired rules are enforced before the alert leaves.
/// </summary>
internal sealed class RuleDetector(RuleSet rules, string node, EnforcementPolicy? enforcement = null)
{
    private readonly RuleEvaluator _evaluator = new(rules);

    public RuleSet Rules => rules;

    public static RuleDetector Load(IReadOnlyList<string> paths, string node, EnforcementPolicy? enforcement = null)
    {
        var loader = new RuleLoader();
        foreach (var p in paths)
            loader.LoadPath(p);
        return new RuleDetector(loader.Build(), node, enforcement);
    }

    /// <summary>Default rule files: rules/*.yaml beside the binary.</summary>
    public static IReadOnlyList<string> DefaultPaths() =>
        [Path.Combine(AppContext.BaseDirectory, "rules")];

    /// <summary>Kernel event kinds the rules need (all the sensor has when a rule matches "any type but ...").</summary>
    public IReadOnlySet<EventKind> RequiredKinds()
    {
        var required = rules.RequiredEventTypes;
        return EventBuilder.KindsByType
            .Where(kv => required.Contains(kv.Key))
            .Select(kv => kv.Value)
            .ToHashSet();
    }

    /// <summary>
    /// The open paths the kernel should report: those some loaded rule can match, widened to fit the kernel's tables.
    /// </summary>
    public static PathPatterns WatchedOpenPaths(RuleSet rules) =>
        rules.OpenPaths.Fit(KernelProbe.MaxPathPatterns, KernelProbe.MaxPathPatternBytes);

    /// <summary>Alerts for the rules that fire on <paramref name="e"/> (not thread-safe: one pipeline thread).</summary>
    public IReadOnlyList<NativeAlert> Detect(SensorEvent e)
    {
        enforcement?.Observe(e);
        var fired = _evaluator.Evaluate(e);
        if (fired.Count == 0)
            return [];
        var alerts = new List<NativeAlert>(fired.Count);
        foreach (var rule in fired.ToArray())
        {
            var enforced = enforcement?.Enforce(rule, e);
            alerts.Add(_evaluator.Match(rule, e).ToNativeAlert(AlertId(node, rule.Name, e), node, enforced));
        }
        return alerts;
    }

    /// <summary>
    /// Deterministic id: the same rule on the same syscall of the same process gives the same id, so a re-delivery
    /// (after a crash between send and spool delete) is stored once by the service.
    /// </summary>
    internal static string AlertId(string node, string rule, SensorEvent e)
    {
        var key = string.Join('|', node, rule, e.TimestampNs.ToString(CultureInfo.InvariantCulture),
            e.Process.Pid.ToString(CultureInfo.InvariantCulture), e.Process.StartTimeNs.ToString(CultureInfo.InvariantCulture));
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        return "sen-" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }
}
