using System.Text.Json;
using Triage.Api.Persistence;
using Triage.Contracts;

namespace Triage.Api.Incidents;

/// <summary>An incident in lists.</summary>
internal record IncidentSummary
{
    public long Id { get; init; }
    public IncidentStatus Status { get; init; }
    public string Rule { get; init; } = "";
    public string Title { get; init; } = "";
    public string Priority { get; init; } = "";
    public int AlertCount { get; init; }
    public DateTimeOffset FirstSeen { get; init; }
    public DateTimeOffset LastSeen { get; init; }
    public string? Namespace { get; init; }
    public string? WorkloadKind { get; init; }
    public string? WorkloadName { get; init; }
    public string? Pod { get; init; }
    public string? Image { get; init; }
    public string Node { get; init; } = "";
    public string Source { get; init; } = "";
    public string? OwnerTeam { get; init; }

    /// <summary>The suppression covering every alert of this incident; such an incident does not page.</summary>
    public long? SuppressionId { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
    public string? AcknowledgedBy { get; init; }
    public DateTimeOffset? AcknowledgedAt { get; init; }
    public string? ResolvedBy { get; init; }
    public DateTimeOffset? ResolvedAt { get; init; }

    public IncidentSummary(Incident incident)
    {
        Id = incident.Id;
        Status = incident.Status;
        Rule = incident.Rule;
        Title = incident.Title;
        Priority = incident.Priority.ToFalcoName();
        AlertCount = incident.AlertCount;
        FirstSeen = incident.FirstSeen;
        LastSeen = incident.LastSeen;
        Namespace = incident.Namespace;
        WorkloadKind = incident.WorkloadKind;
        WorkloadName = incident.WorkloadName;
        Pod = incident.Pod;
        Image = incident.Image;
        Node = incident.Node;
        Source = incident.Source;
        OwnerTeam = incident.OwnerTeam;
        SuppressionId = incident.SuppressionId;
        Tags = incident.Tags;
        AcknowledgedBy = incident.AcknowledgedBy;
        AcknowledgedAt = incident.AcknowledgedAt;
        ResolvedBy = incident.ResolvedBy;
        ResolvedAt = incident.ResolvedAt;
    }
}

/// <summary>One incident with its alerts and timeline. Features add their own sections (enrichment, route, ...).</summary>
internal sealed record IncidentDetail : IncidentSummary
{
    /// <summary>The most recent alerts, newest first (at most <see cref="IncidentEndpoints.MaxAlertsInDetail"/>).</summary>
    public IReadOnlyList<JsonElement> Alerts { get; init; } = [];

    public IReadOnlyList<TimelineItem> Timeline { get; init; } = [];

    /// <summary>Owner (and which source decided), workload, deployment history and runbook; null until enriched.</summary>
    public Enrichment.EnrichmentDocument? Enrichment { get; init; }
    /// <summary>The incident's suppression proposal or suppression with its live tally; null when there is none.</summary>
    public Suppression.SuppressionDto? Suppression { get; init; }

    /// <summary>Matched routing row and why, primary and informed teams, urgency, policy, escalation; null until routed.</summary>
    public Routing.IncidentRouteView? Route { get; init; }

    public IncidentDetail(Incident incident, IEnumerable<StoredAlert> alerts, IEnumerable<TimelineEntry> timeline)
        : base(incident)
    {
        Alerts = [.. alerts.Select(a => JsonDocument.Parse(a.Payload).RootElement)];
        Timeline = [.. timeline.Select(TimelineItem.From)];
    }
}

/// <summary>A timeline entry on the wire.</summary>
internal sealed record TimelineItem(DateTimeOffset At, string Actor, string Channel, string Kind, string Detail)
{
    public static TimelineItem From(TimelineEntry e) => new(e.At, e.Actor, e.Channel, e.Kind, e.Detail);
}

/// <summary>A page of incidents; pass <see cref="NextCursor"/> as <c>cursor</c> for the next page.</summary>
internal sealed record IncidentPage(IReadOnlyList<IncidentSummary> Items, string? NextCursor);

/// <summary>Body of <c>POST /api/v1/incidents/{id}/actions/{action}</c>.</summary>
/// <param name="Actor">The configured person taking the action.</param>
/// <param name="Arguments">Action-specific arguments (a reason, a scope, ...).</param>
internal sealed record ActionRequest(string? Actor, JsonElement? Arguments);

/// <summary>Answer to an action.</summary>
internal sealed record ActionResponse(long IncidentId, string Action, bool Changed, string Message, IncidentStatus Status);
