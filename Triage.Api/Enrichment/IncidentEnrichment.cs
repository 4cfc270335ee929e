namespace Triage.Api.Enrichment;

/// <summary>
/// The stored enrichment of one incident: the full <see cref="EnrichmentDocument"/> as JSON, plus the columns other
/// features filter on (owner, fact kinds) and the retry bookkeeping while the Kubernetes API is unavailable.
/// </summary>
internal sealed class IncidentEnrichment
{
    public long IncidentId { get; set; }

    public EnrichmentStatus Status { get; set; }

    public string? Reason { get; set; }

    public string? OwnerTeam { get; set; }

    /// <summary>snake_case <see cref="OwnerSource"/>.</summary>
    public string OwnerSource { get; set; } = "";

    public string? RunbookName { get; set; }

    /// <summary>Kinds of the derived deployment facts (<see cref="FactKinds"/>), for the routing matrix.</summary>
    public List<string> Facts { get; set; } = [];

    /// <summary>Whole minutes from the newest rollout to the first alert; null without history.</summary>
    public double? MinutesSinceRollout { get; set; }

    /// <summary>What was looked up (namespace, pod, workload, container); a different subject means enrich again.</summary>
    public string SubjectKey { get; set; } = "";

    public DateTimeOffset EnrichedAt { get; set; }

    /// <summary>While <see cref="Status"/> is unavailable: when to ask the API again.</summary>
    public DateTimeOffset? NextAttemptAt { get; set; }

    /// <summary>Consecutive unavailable attempts.</summary>
    public int Attempts { get; set; }

    /// <summary>The <see cref="EnrichmentDocument"/> in the API's JSON convention.</summary>
    public string Document { get; set; } = "";
}
