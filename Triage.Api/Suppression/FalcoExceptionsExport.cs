using System.Globalization;
using YamlDotNet.Core.Events;
using YamlDotNet.Core;

namespace Triage.Api.Suppression;

/// <summary>One active suppression to export.</summary>
internal sealed record FalcoExportItem(long Id, SuppressionScope Scope, DateTimeOffset ExpiresAt);

/// <summary>
/// Writes active suppressions as a Falco rules file that appends <c>exceptions:</c> to the rules they silence
/// (<c>override: exceptions: append</c>, Falco 0.36 and later), for teams that also run Falco. Load it after the
/// rules it extends. Field mapping: namespace → <c>k8s.ns.name</c>; workload → <c>k8s.pod.name</c> (Falco has no
/// workload field without the k8smeta plugin, so a controller-made pod is matched by its name prefix
/// <c>&lt;workload&gt;-</c>; a bare Pod by its name); image repository → <c>container.image.repository</c>; digest →
/// <c>container.image.digest</c>; executable → <c>proc.exepath</c>; command line → <c>proc.cmdline glob</c>.
/// </summary>
internal static class FalcoExceptionsExport
{
    public const string ContentType = "application/yaml";

    public static string Render(IEnumerable<FalcoExportItem> items, DateTimeOffset generatedAt)
    {
        var writer = new StringWriter(CultureInfo.InvariantCulture);
        writer.WriteLine("# Active triage suppressions as Falco rule exceptions.");
        writer.WriteLine($"# Generated {generatedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}. Each suppression expires in triage; export again");
        writer.WriteLine("# to keep this file in step. Load it after the rules files it extends.");

        var skipped = new List<string>();
        var byRule = new SortedDictionary<string, List<(FalcoExportItem Item, List<(string Field, string Comp, string Value)> Parts)>>(StringComparer.Ordinal);
        foreach (var item in items.OrderBy(i => i.Id))
        {
            var parts = Parts(item.Scope);
            if (parts.FirstOrDefault(p => p.Value.Contains('"', StringComparison.Ordinal)) is { Field: not null } bad)
            {
                // Falco quotes exception values by wrapping them in double quotes without escaping; a value that
                // holds one would change the condition's meaning, so it is left out and said so.
                skipped.Add($"# suppression {item.Id} not exported: its {bad.Field} value contains a double quote");
                continue;
            }

            if (!byRule.TryGetValue(item.Scope.Rule, out var list))
            {
                byRule[item.Scope.Rule] = list = [];
            }

            list.Add((item, parts));
        }

        foreach (var line in skipped)
        {
            writer.WriteLine(line);
        }

        if (byRule.Count == 0)
        {
            writer.WriteLine("[]");
            return writer.ToString();
        }

        var emitter = new Emitter(writer);
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart(null, null, true));
        emitter.Emit(new SequenceStart(null, null, false, SequenceStyle.Block));
        foreach (var (rule, entries) in byRule)
        {
            emitter.Emit(new MappingStart());
            Scalar(emitter, "rule");
            Scalar(emitter, rule);
            Scalar(emitter, "exceptions");
            emitter.Emit(new SequenceStart(null, null, false, SequenceStyle.Block));
            foreach (var (item, parts) in entries)
            {
                emitter.Emit(new Comment($"triage suppression {item.Id}, expires {item.ExpiresAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}", false));
                emitter.Emit(new MappingStart());
                Scalar(emitter, "name");
                Scalar(emitter, $"triage_suppression_{item.Id}");
                Scalar(emitter, "fields");
                FlowList(emitter, parts.Select(p => p.Field));
                Scalar(emitter, "comps");
                FlowList(emitter, parts.Select(p => p.Comp));
                Scalar(emitter, "values");
                emitter.Emit(new SequenceStart(null, null, false, SequenceStyle.Block));
                FlowList(emitter, parts.Select(p => p.Value), quoted: true);
                emitter.Emit(new SequenceEnd());
                emitter.Emit(new MappingEnd());
            }

            emitter.Emit(new SequenceEnd());
            Scalar(emitter, "override");
            emitter.Emit(new MappingStart());
            Scalar(emitter, "exceptions");
            Scalar(emitter, "append");
            emitter.Emit(new MappingEnd());
            emitter.Emit(new MappingEnd());
        }

        emitter.Emit(new SequenceEnd());
        emitter.Emit(new DocumentEnd(true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    /// <summary>
    /// The Falco fields, comparison operators and values for a scope. An absent part ("" in the scope) is exported as
    /// an empty value: Falco then never matches it, which errs towards alerting, never towards silence.
    /// </summary>
    internal static List<(string Field, string Comp, string Value)> Parts(SuppressionScope scope)
    {
        var parts = new List<(string, string, string)>(6);
        if (scope.Namespace is not null)
        {
            parts.Add(("k8s.ns.name", "=", scope.Namespace));
        }

        if (scope.WorkloadName is not null)
        {
            parts.Add(scope.WorkloadKind is "Pod" or "" || scope.WorkloadName.Length == 0
                ? ("k8s.pod.name", "=", scope.WorkloadName)
                : ("k8s.pod.name", "startswith", scope.WorkloadName + "-"));
        }

        if (scope.ImageRepository is not null)
        {
            parts.Add(("container.image.repository", "=", scope.ImageRepository));
        }

        if (scope.ImageDigest is not null)
        {
            parts.Add(("container.image.digest", "=", scope.ImageDigest));
        }

        if (scope.ProcessExe is not null)
        {
            parts.Add(("proc.exepath", "=", scope.ProcessExe));
        }

        if (scope.CmdlinePattern is not null)
        {
            parts.Add(("proc.cmdline", "glob", scope.CmdlinePattern));
        }

        if (parts.Count == 0)
        {
            // A rule-wide suppression: Falco needs at least one field, and every event has a rule-independent one.
            parts.Add(("evt.num", ">=", "0"));
        }

        return parts;
    }

    private static void Scalar(Emitter emitter, string value, bool quoted = false) =>
        emitter.Emit(new YamlDotNet.Core.Events.Scalar(null, null, value,
            quoted ? ScalarStyle.DoubleQuoted : ScalarStyle.Any, true, quoted));

    private static void FlowList(Emitter emitter, IEnumerable<string> values, bool quoted = false)
    {
        emitter.Emit(new SequenceStart(null, null, true, SequenceStyle.Flow));
        foreach (var value in values)
        {
            Scalar(emitter, value, quoted);
        }

        emitter.Emit(new SequenceEnd());
    }
}
