namespace Triage.Api.Suppression;

/// <summary>Lifecycle: proposed (collecting votes) → active → expired or revoked. A proposal can be revoked too.</summary>
internal enum SuppressionStatus
{
    Proposed = 0,
    Active = 1,
    Expired = 2,
    Revoked = 3,
}

/// <summary>
/// A proposal to suppress a benign deployment artifact and, once the quorum agrees, the suppression itself.
/// Stored rows are never deleted: ended ones keep their votes and hits as the audit trail.
/// </summary>
internal sealed class SuppressionRecord
{
    public long Id { get; set; }

    /// <summary>The incident the vote started on; renewal questions and announcements go to its thread.</summary>
    public long IncidentId { get; set; }

    /// <summary>
    /// Equal to <see cref="IncidentId"/> while proposed or active, null once ended. A unique index on it means an
    /// incident has at most one open proposal or suppression, however many votes arrive at once.
    /// </summary>
    public long? OpenIncidentId { get; set; }

    public SuppressionStatus Status { get; set; }

    // The scope (see SuppressionScope): null = any value, "" = the alert had none.
    public string Rule { get; set; } = "";
    public string? Namespace { get; set; }
    public string? WorkloadKind { get; set; }
    public string? WorkloadName { get; set; }
    public string? ImageRepository { get; set; }
    public string? ImageDigest { get; set; }
    public string? ProcessExe { get; set; }
    public string? CmdlinePattern { get; set; }

    /// <summary>SHA-256 of the scope while active, null otherwise; unique, so one scope has one active suppression.</summary>
    public string? ActiveScopeKey { get; set; }

    /// <summary>The first person to vote benign; only they set scope and duration.</summary>
    public string? ProposedBy { get; set; }

    public string? Reason { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The lifetime voted on, and of each renewal.</summary>
    public TimeSpan Duration { get; set; }

    public DateTimeOffset? ActivatedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>When the team was asked whether to renew; null while not asked in the current period.</summary>
    public DateTimeOffset? RenewalRequestedAt { get; set; }

    /// <summary>0 for the first vote; each renewal vote is a new round with its own ballots.</summary>
    public int Round { get; set; }

    public DateTimeOffset? EndedAt { get; set; }
    public string? EndedBy { get; set; }
    public string? EndReason { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>Optimistic concurrency between voters, the expiry sweep and replicas.</summary>
    public int Version { get; set; }

    public List<SuppressionVote> Votes { get; set; } = [];

    public SuppressionScope Scope =>
        new(Rule, Namespace, WorkloadKind, WorkloadName, ImageRepository, ImageDigest, ProcessExe, CmdlinePattern);

    public void SetScope(SuppressionScope scope)
    {
        Rule = scope.Rule;
        Namespace = scope.Namespace;
        WorkloadKind = scope.WorkloadKind;
        WorkloadName = scope.WorkloadName;
        ImageRepository = scope.ImageRepository;
        ImageDigest = scope.ImageDigest;
        ProcessExe = scope.ProcessExe;
        CmdlinePattern = scope.CmdlinePattern;
    }
}

/// <summary>One person's vote in one round; a later vote by the same person in the same round replaces it.</summary>
internal sealed class SuppressionVote
{
    public long Id { get; set; }
    public long SuppressionId { get; set; }
    public int Round { get; set; }
    public string Voter { get; set; } = "";
    public VoteKind Kind { get; set; }
    public string? Reason { get; set; }

    /// <summary><c>api</c>, <c>slack</c> or <c>teams</c>.</summary>
    public string Channel { get; set; } = "";

    public DateTimeOffset At { get; set; }
}
