using Triage.Api.Incidents;

namespace Triage.Api.Suppression;

/// <summary>"This is a benign deployment artifact": proposes, supports or renews a suppression. Needs a reason.</summary>
internal sealed class VoteBenignAction(SuppressionVoting voting) : IIncidentAction
{
    public string Name => "vote_benign";

    public string RequiredRole => VoterDirectory.ResponderRole;

    public Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken) =>
        voting.VoteAsync(context, VoteKind.Benign, cancellationToken);
}

/// <summary>"This is not benign": blocks the proposal (or the renewal) while the vote stands.</summary>
internal sealed class VoteNotBenignAction(SuppressionVoting voting) : IIncidentAction
{
    public string Name => "vote_not_benign";

    public string RequiredRole => VoterDirectory.ResponderRole;

    public Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken) =>
        voting.VoteAsync(context, VoteKind.NotBenign, cancellationToken);
}

/// <summary>Ends a suppression or withdraws a proposal at once; one eligible person suffices (the safe direction).</summary>
internal sealed class RevokeSuppressionAction(SuppressionVoting voting) : IIncidentAction
{
    public const string ActionName = "revoke_suppression";

    public string Name => ActionName;

    public string RequiredRole => VoterDirectory.ResponderRole;

    public Task<IncidentActionOutcome> ExecuteAsync(IncidentActionContext context, CancellationToken cancellationToken) =>
        voting.RevokeAsync(context, cancellationToken);
}
