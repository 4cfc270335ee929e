namespace Triage.Bot.Cards;

/// <summary>
/// Everything an alert card shows, independent of Slack or Teams. Triage.Api maps an incident (with whatever
/// enrichment, routing, voting and response sections exist so far) into this record; the builders render it.
/// Optional sections are null or empty until the feature that produces them has something to say, and are then
/// rendered; nothing here is Slack- or Teams-specific.
/// </summary>
public sealed record IncidentCard
{
    public required long IncidentId { get; init; }

    /// <summary>Name of the rule that fired.</summary>
    public required string Rule { get; init; }

    /// <summary>Falco priority name (Emergency … Debug).</summary>
    public required string Severity { get; init; }

    /// <summary><c>triggered</c>, <c>acknowledged</c> or <c>resolved</c>.</summary>
    public required string Status { get; init; }

    /// <summary>The rule's one-line output with fields substituted.</summary>
    public string? Output { get; init; }

    public int AlertCount { get; init; } = 1;
    public DateTimeOffset FirstSeen { get; init; }
    public DateTimeOffset LastSeen { get; init; }

    public CardWorkload Workload { get; init; } = new();

    /// <summary>The alerting process first, then its ancestors (parent, grandparent, …).</summary>
    public IReadOnlyList<CardProcess> ProcessTree { get; init; } = [];

    public CardSyscall? Syscall { get; init; }

    /// <summary>Rule tags (MITRE ids among them).</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>Who acted and when: acknowledged, escalated, resolved … newest last.</summary>
    public IReadOnlyList<CardActivity> Activity { get; init; } = [];

    /// <summary>Enrichment: the matched runbook, its link and first steps.</summary>
    public CardRunbook? Runbook { get; init; }

    /// <summary>Link to the incident in the API (or a UI), shown as "Details".</summary>
    public string? DetailsUrl { get; init; }

    /// <summary>Enrichment: the owning team and how it was found.</summary>
    public CardOwner? Owner { get; init; }

    /// <summary>Routing: where the incident went and why; escalation state.</summary>
    public CardRoute? Route { get; init; }

    /// <summary>Enrichment: recent rollouts of the workload, newest first.</summary>
    public IReadOnlyList<CardRollout> Rollouts { get; init; } = [];

    /// <summary>Enrichment: facts derived from the rollouts, e.g. "rolled out 7 minutes before the alert".</summary>
    public IReadOnlyList<string> DeploymentFacts { get; init; } = [];

    /// <summary>Suppression voting: the benign / not benign tally.</summary>
    public CardVotes? Votes { get; init; }

    /// <summary>Evidence: captured bundles with their download links.</summary>
    public IReadOnlyList<CardLink> Evidence { get; init; } = [];

    /// <summary>
    /// Actions offered as buttons. Defaults to every action for the current status; Triage.Api may narrow the list
    /// (for instance without response actions when no sensor can carry them out).
    /// </summary>
    public IReadOnlyList<string>? OfferedActions { get; init; }

    public bool IsResolved => string.Equals(Status, "resolved", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Kubernetes and host context of the alerting container.</summary>
public sealed record CardWorkload
{
    public string? Namespace { get; init; }
    public string? Pod { get; init; }

    /// <summary>Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod.</summary>
    public string? WorkloadKind { get; init; }

    public string? WorkloadName { get; init; }
    public string? Node { get; init; }
    public string? Image { get; init; }
    public string? ContainerId { get; init; }
}

/// <summary>One process of the tree.</summary>
public sealed record CardProcess(int? Pid, string? Exe, string? Cmdline, string? User = null, bool ExeUpperLayer = false);

/// <summary>The syscall that fired the rule.</summary>
public sealed record CardSyscall(string Name, IReadOnlyDictionary<string, string>? Args, long? Return);

/// <summary>A state change and who made it, e.g. ("acknowledged", "alice", time, "slack").</summary>
public sealed record CardActivity(string Kind, string Actor, DateTimeOffset At, string? Detail = null);

/// <summary>A titled link.</summary>
public sealed record CardLink(string Title, string Url);

/// <summary>The owning team and the evidence for it (label, namespace annotation, ownership rule …).</summary>
/// <param name="Source">Which source decided, e.g. <c>workload_label</c>, <c>namespace_mapping</c>, <c>fallback</c>.</param>
public sealed record CardOwner(string Team, string Source, string? Contact = null)
{
    /// <summary>The evidence in one line, e.g. <c>label team=payments on Deployment shop/cart</c>.</summary>
    public string? Detail { get; init; }
}

/// <summary>The runbook matched for the rule: title, link (absolute, or null when no public URL is known), first steps.</summary>
public sealed record CardRunbook(string Title, string? Url)
{
    public IReadOnlyList<string> FirstSteps { get; init; } = [];
}

/// <summary>Where the incident was routed and why, and where escalation stands.</summary>
public sealed record CardRoute(IReadOnlyList<string> Teams, string Why)
{
    /// <summary>The routing matrix row that matched (<c>default</c> when none did).</summary>
    public string? Row { get; init; }

    /// <summary>Current escalation level (1 = first responder) when an escalation policy applies.</summary>
    public int? EscalationLevel { get; init; }

    /// <summary>Who is paged now.</summary>
    public string? Paged { get; init; }

    /// <summary>When the next level is paged unless someone acknowledges.</summary>
    public DateTimeOffset? NextEscalationAt { get; init; }
}

/// <summary>A rollout of the workload: revision or image, when, by whom.</summary>
public sealed record CardRollout(string Revision, DateTimeOffset At, string? Image = null, string? By = null)
{
    /// <summary>The recorded change cause (<c>kubernetes.io/change-cause</c>), if any.</summary>
    public string? Cause { get; init; }
}

/// <summary>The suppression vote tally.</summary>
public sealed record CardVotes(int Benign, int NotBenign)
{
    /// <summary>Votes needed to suppress, when a policy says so.</summary>
    public int? Needed { get; init; }

    /// <summary>E.g. "suppressed for 7d in payments/checkout" once decided.</summary>
    public string? Outcome { get; init; }
}
