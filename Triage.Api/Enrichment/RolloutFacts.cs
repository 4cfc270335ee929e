using System.Globalization;
using Triage.Api.Enrichment.Kubernetes;

namespace Triage.Api.Enrichment;

/// <summary>
/// Derives what a person (and the routing matrix) wants from a rollout history: "rolled out 7 minutes before the
/// alert", "image changed in the last rollout", and which GitOps tool manages the workload.
/// </summary>
internal static class RolloutFacts
{
    public static DeploymentView Derive(string source, IReadOnlyList<RolloutRecord> rollouts, DateTimeOffset alertTime,
        TimeSpan freshWindow, ObjectMeta? workload)
    {
        var facts = new List<FactView>();
        double? minutes = null;
        if (rollouts.Count > 0)
        {
            var latest = rollouts[0];
            var gap = alertTime - latest.At;
            minutes = Math.Floor(gap.TotalMinutes);
            if (gap >= TimeSpan.Zero && gap <= freshWindow)
            {
                facts.Add(new FactView(FactKinds.FreshRollout,
                    $"rolled out {Ago(gap)} before the alert (revision {latest.Revision})"));
            }
            else if (gap < TimeSpan.Zero)
            {
                facts.Add(new FactView(FactKinds.RolloutAfterAlert,
                    $"rolled out {Ago(-gap)} after the alert (revision {latest.Revision}); the alert came from an older revision"));
            }

            if (rollouts.Count >= 2)
            {
                var changes = ImageChanges(rollouts[1].Images, latest.Images);
                if (changes.Count > 0)
                {
                    facts.Add(new FactView(FactKinds.ImageChanged,
                        $"image changed in the last rollout: {string.Join("; ", changes)}"));
                }
            }
            else if (gap >= TimeSpan.Zero && gap <= freshWindow)
            {
                facts.Add(new FactView(FactKinds.FirstRollout, "first rollout of this workload"));
            }
        }

        var gitOps = GitOps(workload);
        if (gitOps is not null)
        {
            facts.Add(new FactView(gitOps.Tool == "argocd" ? FactKinds.GitOpsArgoCd : FactKinds.GitOpsFlux,
                gitOps.Tool == "argocd"
                    ? $"managed by Argo CD application {gitOps.Application ?? "(unknown)"}"
                    : $"managed by Flux {gitOps.Application ?? "(unknown)"}"));
        }

        return new DeploymentView(source,
            rollouts.Select(r => new RolloutView(r.Revision, r.At, r.Images, r.ChangeCause, r.RecordedBy)).ToList(),
            facts, minutes, gitOps);
    }

    /// <summary>"7 minutes", "2 hours 5 minutes", "45 seconds".</summary>
    public static string Ago(TimeSpan span)
    {
        if (span < TimeSpan.FromMinutes(1))
        {
            return Plural((int)span.TotalSeconds, "second");
        }

        if (span < TimeSpan.FromHours(1))
        {
            return Plural((int)span.TotalMinutes, "minute");
        }

        if (span < TimeSpan.FromDays(1))
        {
            return span.Minutes == 0
                ? Plural((int)span.TotalHours, "hour")
                : $"{Plural((int)span.TotalHours, "hour")} {Plural(span.Minutes, "minute")}";
        }

        return Plural((int)span.TotalDays, "day");
    }

    private static string Plural(int n, string unit) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {unit}{(n == 1 ? "" : "s")}");

    /// <summary>Per repository: <c>registry/cart: 1.0 → 1.1</c>; added and removed images too.</summary>
    private static List<string> ImageChanges(IReadOnlyList<string> before, IReadOnlyList<string> after)
    {
        if (before.Order(StringComparer.Ordinal).SequenceEqual(after.Order(StringComparer.Ordinal), StringComparer.Ordinal))
        {
            return [];
        }

        var changes = new List<string>();
        var old = before.ToDictionary(i => Suppression.ImageReference.Parse(i).Repository ?? i, StringComparer.Ordinal);
        foreach (var image in after)
        {
            var repository = Suppression.ImageReference.Parse(image).Repository ?? image;
            if (!old.Remove(repository, out var previous))
            {
                changes.Add($"{image} added");
            }
            else if (previous != image)
            {
                changes.Add($"{previous} → {image}");
            }
        }

        changes.AddRange(old.Values.Select(i => $"{i} removed"));
        return changes;
    }

    private static GitOpsView? GitOps(ObjectMeta? workload)
    {
        if (workload is null)
        {
            return null;
        }

        var all = workload.Labels.Concat(workload.Annotations)
            .GroupBy(kv => kv.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().Value, StringComparer.Ordinal);
        var argo = all.Where(kv => kv.Key.StartsWith("argocd.argoproj.io/", StringComparison.Ordinal))
            .ToDictionary(StringComparer.Ordinal);
        if (argo.Count > 0)
        {
            // tracking-id is "<app>:<group>/<kind>:<namespace>/<name>"; the instance label is the older default.
            var application = argo.TryGetValue("argocd.argoproj.io/tracking-id", out var tracking)
                ? tracking.Split(':')[0]
                : argo.GetValueOrDefault("argocd.argoproj.io/instance") ?? all.GetValueOrDefault("app.kubernetes.io/instance");
            return new GitOpsView("argocd", application, argo);
        }

        var flux = all.Where(kv => kv.Key.Contains("fluxcd.io/", StringComparison.Ordinal)).ToDictionary(StringComparer.Ordinal);
        if (flux.Count > 0)
        {
            string? application = null;
            if (flux.TryGetValue("kustomize.toolkit.fluxcd.io/name", out var kustomization))
            {
                application = $"Kustomization {flux.GetValueOrDefault("kustomize.toolkit.fluxcd.io/namespace") ?? "?"}/{kustomization}";
            }
            else if (flux.TryGetValue("helm.toolkit.fluxcd.io/name", out var release))
            {
                application = $"HelmRelease {flux.GetValueOrDefault("helm.toolkit.fluxcd.io/namespace") ?? "?"}/{release}";
            }

            return new GitOpsView("flux", application, flux);
        }

        return null;
    }
}
