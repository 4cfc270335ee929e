namespace Triage.Api.OnCall;

/// <summary>Where an incident's escalation stands.</summary>
public enum EscalationState
{
    /// <summary>Waiting for <see cref="Escalation.NextFireAt"/> to page the next level.</summary>
    Active = 0,

    /// <summary>Acknowledged or resolved (or replaced by a new route): nobody else is paged.</summary>
    Stopped = 1,

    /// <summary>Every level and repeat paged without an acknowledgement.</summary>
    Exhausted = 2,
}

/// <summary>
/// The escalation of one incident through its policy. The Quartz trigger only says "look at incident N at step S";
/// this row is the truth, so a stale or duplicate firing (wrong step) does nothing.
/// </summary>
internal sealed class Escalation
{
    public long IncidentId { get; set; }

    public string Policy { get; set; } = "";

    /// <summary>The team whose incident this is (the route's primary team).</summary>
    public string Team { get; set; } = "";

    public string Urgency { get; set; } = "high";

    /// <summary>The level paged at the next firing (0-based).</summary>
    public int Level { get; set; }

    /// <summary>How many times the policy has started over.</summary>
    public int Loop { get; set; }

    /// <summary>Incremented by every firing; the Quartz trigger carries the step it was scheduled for.</summary>
    public int Step { get; set; }

    public EscalationState State { get; set; }

    public DateTimeOffset NextFireAt { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset? StoppedAt { get; set; }

    public string? StopReason { get; set; }

    /// <summary>Who was paged last, for the incident view and cards.</summary>
    public string? LastPaged { get; set; }
}

/// <summary>A temporary on-call replacement in a schedule, created through the API or chat.</summary>
internal sealed class OnCallOverride
{
    public long Id { get; set; }
    public string Schedule { get; set; } = "";
    public string Person { get; set; } = "";
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset End { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public string? Reason { get; set; }
}
