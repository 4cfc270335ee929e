using Triage.Api.Configuration;
using Triage.Contracts;

namespace Triage.Api.Suppression;

/// <summary>A vote: the alert is a benign deployment artifact, or it is not.</summary>
internal enum VoteKind
{
    Benign = 0,
    NotBenign = 1,
}

/// <summary>Where the tally stands.</summary>
internal enum TallyOutcome
{
    /// <summary>Not enough benign votes yet.</summary>
    Pending = 0,

    /// <summary>Enough benign votes and no veto: the proposal becomes (or stays, or is renewed as) a suppression.</summary>
    Reached = 1,

    /// <summary>A "not benign" vote stands; no suppression while it does.</summary>
    Blocked = 2,

    /// <summary>The policy allows no suppression here (the owner is unknown and the policy says refuse).</summary>
    Refused = 3,
}

/// <summary>One recorded vote as the tally sees it.</summary>
internal sealed record Ballot(string Voter, VoteKind Kind, bool IsProposer);

/// <summary>What a person may do in one vote, given the owning team.</summary>
internal sealed record VoterStanding(string Person, bool Known, bool Responder, bool InOwningTeam, bool InSoc)
{
    /// <summary>Only responders of the owning team or of a SOC team vote; everyone else is refused.</summary>
    public bool MayVote => Known && Responder && (InOwningTeam || InSoc);
}

/// <summary>Who is in which team, from the <c>teams</c> and <c>people</c> sections.</summary>
internal sealed class VoterDirectory
{
    public const string ResponderRole = "responder";

    private readonly Dictionary<string, PersonOptions> _people;
    private readonly HashSet<string> _socTeams;

    public VoterDirectory(TriageConfig config)
    {
        _people = config.People.Where(p => p.Name.Length > 0).ToDictionary(p => p.Name, StringComparer.Ordinal);
        _socTeams = config.Teams.Where(t => t.Kind == "soc").Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
    }

    public VoterStanding Standing(string person, string? owningTeam)
    {
        if (!_people.TryGetValue(person, out var options))
        {
            return new VoterStanding(person, false, false, false, false);
        }

        return new VoterStanding(
            person,
            true,
            options.Roles.Contains(ResponderRole, StringComparer.Ordinal),
            owningTeam is not null && options.Teams.Contains(owningTeam, StringComparer.Ordinal),
            options.Teams.Any(_socTeams.Contains));
    }
}

/// <summary>
/// What a proposal needs, resolved from the policy for the incident's priority, the rule and the owning team.
/// </summary>
internal sealed record QuorumRequirement(
    string Policy,
    string? OwningTeam,
    int OwningTeamVotes,
    int SocVotes,
    bool ProposerCounts,
    bool SocRequiredByRule,
    bool Refused,
    TimeSpan MaxDuration,
    IReadOnlyList<string> MayWiden)
{
    /// <summary>While the owner is unknown, SOC members may cast the owning team's share (policy <c>soc</c>).</summary>
    public bool OwnerUnknown => OwningTeam is null;

    public static QuorumRequirement Resolve(SuppressionOptions options, AlertPriority priority, string rule, string? owningTeam)
    {
        var policy = options.PolicyFor(priority);
        var socRequired = options.NeverWithoutSoc.Contains(rule, StringComparer.Ordinal);
        var max = policy.MaxDuration is { } own && own < options.MaxDuration ? own : options.MaxDuration;
        return new QuorumRequirement(
            policy.Name,
            owningTeam,
            policy.OwningTeam,
            socRequired ? Math.Max(1, policy.Soc) : policy.Soc,
            policy.ProposerCounts,
            socRequired,
            owningTeam is null && options.UnknownOwner == "refuse",
            max,
            policy.MayWiden);
    }

    /// <summary>
    /// Counts the ballots. One person counts once, towards the owning team or SOC, whichever still lacks votes
    /// (someone in both teams fills the gap that remains after the single-team voters are placed). A standing
    /// "not benign" vote blocks whatever the count.
    /// </summary>
    public Tally Count(IEnumerable<Ballot> ballots, Func<string, VoterStanding> standing)
    {
        var vetoes = new List<string>();
        var benign = new List<string>();
        int ownerOnly = 0, socOnly = 0, both = 0;
        foreach (var ballot in ballots)
        {
            if (ballot.Kind == VoteKind.NotBenign)
            {
                vetoes.Add(ballot.Voter);
                continue;
            }

            benign.Add(ballot.Voter);
            if (ballot.IsProposer && !ProposerCounts)
            {
                continue;
            }

            // Eligibility is checked again at count time: someone who left the team no longer carries it.
            var voter = standing(ballot.Voter);
            if (!voter.Known || !voter.Responder)
            {
                continue;
            }

            var forOwner = OwnerUnknown ? voter.InSoc : voter.InOwningTeam;
            switch (forOwner, voter.InSoc)
            {
                case (true, true): both++; break;
                case (true, false): ownerOnly++; break;
                case (false, true): socOnly++; break;
            }
        }

        var owner = Math.Min(OwningTeamVotes, ownerOnly);
        var soc = Math.Min(SocVotes, socOnly);
        var fromBoth = Math.Min(both, OwningTeamVotes - owner);
        owner += fromBoth;
        soc += Math.Min(both - fromBoth, SocVotes - soc);

        var outcome = Refused ? TallyOutcome.Refused
            : vetoes.Count > 0 ? TallyOutcome.Blocked
            : owner >= OwningTeamVotes && soc >= SocVotes ? TallyOutcome.Reached
            : TallyOutcome.Pending;
        return new Tally(outcome, Policy, OwningTeam, owner, OwningTeamVotes, soc, SocVotes, benign, vetoes,
            Summarize(outcome, owner, soc, vetoes));
    }

    private string Summarize(TallyOutcome outcome, int owner, int soc, List<string> vetoes)
    {
        if (outcome == TallyOutcome.Refused)
        {
            return "no suppression: the owning team is unknown and the policy refuses";
        }

        var parts = new List<string>(4);
        if (OwningTeamVotes > 0)
        {
            parts.Add(OwnerUnknown ? $"owner unknown (SOC for owner) {owner}/{OwningTeamVotes}" : $"{OwningTeam} {owner}/{OwningTeamVotes}");
        }

        if (SocVotes > 0)
        {
            parts.Add($"SOC {soc}/{SocVotes}{(SocRequiredByRule ? " (required for this rule)" : "")}");
        }

        parts.Add(outcome switch
        {
            TallyOutcome.Blocked => $"blocked by {string.Join(", ", vetoes)}",
            TallyOutcome.Reached => "quorum reached",
            _ => "waiting",
        });
        return string.Join(" · ", parts);
    }
}

/// <summary>The live count shown on the card and in the API.</summary>
internal sealed record Tally(
    TallyOutcome Outcome,
    string Policy,
    string? OwningTeam,
    int OwningTeamVotes,
    int OwningTeamNeeded,
    int SocVotes,
    int SocNeeded,
    IReadOnlyList<string> BenignVoters,
    IReadOnlyList<string> NotBenignVoters,
    string Summary);
