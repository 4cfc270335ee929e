using Triage.Api.Configuration;
using Triage.Api.Suppression;

namespace Triage.Api.Enrichment;

/// <summary>Where the owning team was found.</summary>
internal enum OwnerSource
{
    None,
    WorkloadLabel,
    WorkloadAnnotation,
    PodLabel,
    PodAnnotation,
    NamespaceLabel,
    NamespaceAnnotation,
    NamespaceMapping,
    ImageMapping,
    Fallback,
}

/// <summary>Labels and annotations of one Kubernetes object, with how to name it in an explanation.</summary>
internal sealed record ObjectMeta(string Description, IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations);

/// <summary>What the resolver looks at; any part may be missing (no Kubernetes, pod gone, API down).</summary>
internal sealed record OwnershipInput(string? Namespace, string? Image, ObjectMeta? Workload, ObjectMeta? Pod,
    ObjectMeta? NamespaceObject);

/// <summary>The owning team, which source decided, the evidence, and candidates passed over (unknown team names).</summary>
internal sealed record OwnershipResult(string? Team, OwnerSource Source, string Detail, IReadOnlyList<string> Skipped);

/// <summary>
/// Resolves the owning team in the order the issue asks for: workload labels, then annotations (the pod's count as the
/// workload's), namespace labels and annotations, namespace-glob mappings, image-repository mappings, the fallback.
/// A value that names no configured team is passed over (and reported), so a typo in a label cannot swallow the page.
/// </summary>
internal sealed class OwnershipResolver
{
    private readonly OwnershipOptions _options;
    private readonly HashSet<string> _teams;

    public OwnershipResolver(OwnershipOptions options, IEnumerable<TeamOptions> teams)
    {
        _options = options;
        _teams = teams.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
    }

    public OwnershipResult Resolve(OwnershipInput input)
    {
        var skipped = new List<string>();

        foreach (var (meta, labelSource, annotationSource) in new[]
                 {
                     (input.Workload, OwnerSource.WorkloadLabel, OwnerSource.WorkloadAnnotation),
                     (input.Pod, OwnerSource.PodLabel, OwnerSource.PodAnnotation),
                     (input.NamespaceObject, OwnerSource.NamespaceLabel, OwnerSource.NamespaceAnnotation),
                 })
        {
            if (meta is null)
            {
                continue;
            }

            if (FromKeys(meta, meta.Labels, _options.LabelKeys, "label", labelSource, skipped) is { } byLabel)
            {
                return byLabel with { Skipped = skipped };
            }

            if (FromKeys(meta, meta.Annotations, _options.AnnotationKeys, "annotation", annotationSource, skipped) is { } byAnnotation)
            {
                return byAnnotation with { Skipped = skipped };
            }
        }

        if (input.Namespace is { Length: > 0 } ns)
        {
            foreach (var mapping in _options.Namespaces)
            {
                if (Glob.IsMatch(mapping.Namespace, ns))
                {
                    return new OwnershipResult(mapping.Team, OwnerSource.NamespaceMapping,
                        $"namespace {ns} matches mapping '{mapping.Namespace}'", skipped);
                }
            }
        }

        if (ImageReference.Parse(input.Image).Repository is { } repository)
        {
            foreach (var mapping in _options.Images)
            {
                if (Glob.IsMatch(mapping.Repository, repository))
                {
                    return new OwnershipResult(mapping.Team, OwnerSource.ImageMapping,
                        $"image repository {repository} matches mapping '{mapping.Repository}'", skipped);
                }
            }
        }

        return _options.FallbackTeam is { } fallback
            ? new OwnershipResult(fallback, OwnerSource.Fallback, "no label, annotation or mapping matched; configured fallback", skipped)
            : new OwnershipResult(null, OwnerSource.None, "no label, annotation or mapping matched and no fallback is configured", skipped);
    }

    private OwnershipResult? FromKeys(ObjectMeta meta, IReadOnlyDictionary<string, string> values,
        IEnumerable<string> keys, string what, OwnerSource source, List<string> skipped)
    {
        foreach (var key in keys)
        {
            if (!values.TryGetValue(key, out var team) || string.IsNullOrWhiteSpace(team))
            {
                continue;
            }

            if (_teams.Contains(team))
            {
                return new OwnershipResult(team, source, $"{what} {key}={team} on {meta.Description}", []);
            }

            skipped.Add($"{what} {key}={team} on {meta.Description} names no configured team");
        }

        return null;
    }
}
