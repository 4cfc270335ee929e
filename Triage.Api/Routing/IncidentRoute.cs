namespace Triage.Api.Routing;

/// <summary>The route recorded for an incident: which matrix row matched and why. One row per incident.</summary>
internal sealed class IncidentRoute
{
    public long IncidentId { get; set; }

    /// <summary>The matching row's name, or <c>default</c>.</summary>
    public string Row { get; set; } = "";

    public int? RowIndex { get; set; }

    /// <summary><c>platform</c>, <c>soc</c> or <c>both</c>.</summary>
    public string Route { get; set; } = "";

    public string PrimaryTeam { get; set; } = "";

    public string? InformedTeam { get; set; }

    public string Urgency { get; set; } = "high";

    public string? EscalationPolicy { get; set; }

    /// <summary>The explanation lines, newline-separated.</summary>
    public string Why { get; set; } = "";

    public DateTimeOffset DecidedAt { get; set; }

    /// <summary>
    /// The status of the enrichment facts the decision saw: complete, partial, unavailable, not_applicable or
    /// not_enriched. An incident routed while they were unavailable is routed again once they are known.
    /// </summary>
    public string Enrichment { get; set; } = "";
}
