using System.Globalization;
using Triage.Api.Enrichment;

namespace Triage.Api.Routing;

/// <summary>
/// What enrichment knows that the matrix can match on: the owning team, the newest rollout relative to the alert, and
/// whether that rollout changed the image. A fact that is null is unknown, and an unknown fact never satisfies a
/// condition on it; <see cref="Unknown"/> says why, for the explanation.
/// </summary>
/// <param name="Source">Where the facts come from: <c>enrichment</c> (stored enrichment of the incident),
/// <c>dry_run</c> (given with the request), or <c>none</c>.</param>
/// <param name="Status">The enrichment status (complete, partial, unavailable, not_applicable), <c>not_enriched</c>
/// when the incident has no enrichment yet, or <c>given</c> for a dry run.</param>
/// <param name="OwningTeam">The owning team, or null when unknown.</param>
/// <param name="OwnerEvidence">Where the owner was found, e.g. <c>label team=payments on Namespace shop</c>.</param>
/// <param name="RolloutHistoryKnown">True when the rollout history was read (it may be empty).</param>
/// <param name="RolloutBeforeAlert">From the newest rollout to the alert; negative when it came after; null without one.</param>
/// <param name="RolloutRevision">The newest rollout's revision, for the explanation.</param>
/// <param name="ImageChanged">Whether the newest rollout changed an image; null when unknown.</param>
/// <param name="ImageChange">The change in words (<c>cart:1.1 → cart:1.2</c>), when there was one.</param>
/// <param name="Unknown">Why the rollout facts are unknown, in words; null when they are known.</param>
internal sealed record RouteFacts(
    string Source,
    string Status,
    string? OwningTeam,
    string? OwnerEvidence,
    bool RolloutHistoryKnown,
    TimeSpan? RolloutBeforeAlert,
    long? RolloutRevision,
    bool? ImageChanged,
    string? ImageChange,
    string? Unknown)
{
    /// <summary>No enrichment at all (an incident before step 100 stored anything): only the owner on the incident.</summary>
    public static RouteFacts NotEnriched(string? incidentOwner) =>
        new("none", "not_enriched", incidentOwner, incidentOwner is null ? null : "owner recorded on the incident",
            false, null, null, null, null, "the incident has not been enriched");

    /// <summary>
    /// The facts of an incident's stored enrichment. <paramref name="alertTime"/> is the time enrichment compared the
    /// rollouts with (the incident's first alert).
    /// </summary>
    public static RouteFacts From(EnrichmentDocument? document, DateTimeOffset alertTime, string? incidentOwner)
    {
        if (document is null)
        {
            return NotEnriched(incidentOwner);
        }

        var status = document.Status switch
        {
            EnrichmentStatus.Complete => "complete",
            EnrichmentStatus.Partial => "partial",
            EnrichmentStatus.Unavailable => "unavailable",
            _ => "not_applicable",
        };
        var owner = document.Owner.Team ?? incidentOwner;
        var evidence = document.Owner.Team is not null ? document.Owner.Detail
            : incidentOwner is not null ? "owner recorded on the incident" : null;
        if (document.Deployments is not { } deployments)
        {
            var why = document.Status switch
            {
                EnrichmentStatus.Unavailable => $"Kubernetes enrichment unavailable: {document.Reason ?? "no reason given"}",
                EnrichmentStatus.NotApplicable => $"no Kubernetes context{(document.Reason is null ? "" : $": {document.Reason}")}",
                _ => $"no rollout history{(document.Reason is null ? "" : $": {document.Reason}")}",
            };
            return new RouteFacts("enrichment", status, owner, evidence, false, null, null, null, null, why);
        }

        if (deployments.Rollouts.Count == 0)
        {
            return new RouteFacts("enrichment", status, owner, evidence, true, null, null, false, null, null);
        }

        var latest = deployments.Rollouts[0];
        var change = deployments.Facts.FirstOrDefault(f => f.Kind == FactKinds.ImageChanged);
        return new RouteFacts("enrichment", status, owner, evidence, true, alertTime - latest.At, latest.Revision,
            change is not null, change?.Text, null);
    }

    /// <summary>Facts given with a dry run; what is not given is unknown.</summary>
    public static RouteFacts Given(string? owningTeam, TimeSpan? rolloutBeforeAlert, bool? imageChanged) =>
        new("dry_run", "given", owningTeam, owningTeam is null ? null : "given with the dry run",
            rolloutBeforeAlert is not null, rolloutBeforeAlert, null, imageChanged, null,
            rolloutBeforeAlert is null ? "not given with the dry run (rolled_out_before)" : null);

    /// <summary>One line for the explanation: what the matrix knew from enrichment.</summary>
    public string Describe()
    {
        var parts = new List<string>
        {
            Source switch
            {
                "enrichment" => $"enrichment {Status.Replace('_', ' ')}",
                "dry_run" => "facts given with the dry run",
                _ => "no enrichment yet",
            },
            OwningTeam is null ? "owning team unknown" : $"owning team '{OwningTeam}'" + (OwnerEvidence is null ? "" : $" ({OwnerEvidence})"),
        };
        if (Unknown is not null)
        {
            parts.Add($"rollout facts unknown ({Unknown})");
        }
        else if (RolloutBeforeAlert is not { } gap)
        {
            parts.Add("no rollout recorded");
        }
        else
        {
            parts.Add(gap >= TimeSpan.Zero
                ? $"newest rollout{Revision()} {RolloutFacts.Ago(gap)} before the alert"
                : $"newest rollout{Revision()} {RolloutFacts.Ago(-gap)} after the alert");
            if (ImageChanged is { } changed)
            {
                parts.Add(changed ? ImageChange ?? "image changed in the last rollout" : "image unchanged in the last rollout");
            }
        }

        return string.Join("; ", parts);
    }

    private string Revision() => RolloutRevision is { } r ? string.Create(CultureInfo.InvariantCulture, $" (revision {r})") : "";
}
