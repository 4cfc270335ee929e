using Triage.Api.Configuration;
using Triage.Api.Suppression;
using Triage.Contracts;

namespace Triage.Tests.Suppression;

public sealed class QuorumTests
{
    internal static TriageConfig Config(Action<SuppressionOptions>? configure = null)
    {
        var config = new TriageConfig
        {
            Teams =
            [
                new TeamOptions { Name = "payments", Kind = "platform" },
                new TeamOptions { Name = "platform", Kind = "platform" },
                new TeamOptions { Name = "soc", Kind = "soc" },
            ],
            People =
            [
                new PersonOptions { Name = "alice", Teams = ["payments"], Roles = ["responder"] },
                new PersonOptions { Name = "bob", Teams = ["payments"], Roles = ["responder"] },
                new PersonOptions { Name = "erin", Teams = ["payments"], Roles = ["responder"] },
                new PersonOptions { Name = "carol", Teams = ["soc"], Roles = ["responder"] },
                new PersonOptions { Name = "sam", Teams = ["soc"], Roles = ["responder"] },
                new PersonOptions { Name = "dual", Teams = ["payments", "soc"], Roles = ["responder"] },
                new PersonOptions { Name = "dave", Teams = ["platform"], Roles = ["responder"] },
                new PersonOptions { Name = "viewer", Teams = ["payments"], Roles = [] },
            ],
        };
        config.Suppression.Policies =
        [
            new QuorumPolicyOptions { Name = "default", MinPriority = "Debug", OwningTeam = 2 },
            new QuorumPolicyOptions { Name = "high", MinPriority = "Error", OwningTeam = 1, Soc = 1, ProposerCounts = false },
        ];
        config.Suppression.NeverWithoutSoc = ["Container escape attempt"];
        configure?.Invoke(config.Suppression);
        return config;
    }

    private static Tally Count(TriageConfig config, AlertPriority priority, string? owner, params (string Voter, VoteKind Kind)[] votes) =>
        Count(config, priority, owner, "Drop and execute new binary in container", votes);

    private static Tally Count(TriageConfig config, AlertPriority priority, string? owner, string rule, params (string Voter, VoteKind Kind)[] votes)
    {
        var directory = new VoterDirectory(config);
        var requirement = QuorumRequirement.Resolve(config.Suppression, priority, rule, owner);
        return requirement.Count(
            votes.Select((v, i) => new Ballot(v.Voter, v.Kind, i == 0)),
            person => directory.Standing(person, owner));
    }

    private const VoteKind B = VoteKind.Benign;
    private const VoteKind N = VoteKind.NotBenign;

    [Fact]
    public void Count_TwoOfOwningTeam_ReachedOnlyAtTheSecondVote()
    {
        var config = Config();

        Assert.Equal(TallyOutcome.Pending, Count(config, AlertPriority.Warning, "payments", ("alice", B)).Outcome);
        var tally = Count(config, AlertPriority.Warning, "payments", ("alice", B), ("bob", B));

        Assert.Equal(TallyOutcome.Reached, tally.Outcome);
        Assert.Equal(2, tally.OwningTeamVotes);
        Assert.Equal("default", tally.Policy);
    }

    [Fact]
    public void Count_SocVotesDoNotStandInForTheOwningTeam()
    {
        var tally = Count(Config(), AlertPriority.Warning, "payments", ("alice", B), ("carol", B));

        Assert.Equal(TallyOutcome.Pending, tally.Outcome);
        Assert.Equal(1, tally.OwningTeamVotes);
    }

    [Fact]
    public void Count_HighPriority_NeedsOwnerAndSoc_AndProposerDoesNotCount()
    {
        var config = Config();

        // alice proposes (does not count under "high"), bob is the owner vote, still no SOC.
        Assert.Equal(TallyOutcome.Pending, Count(config, AlertPriority.Critical, "payments", ("alice", B), ("bob", B)).Outcome);
        // carol proposes: her SOC vote does not count, so bob alone is not enough.
        Assert.Equal(TallyOutcome.Pending, Count(config, AlertPriority.Critical, "payments", ("carol", B), ("bob", B)).Outcome);

        var tally = Count(config, AlertPriority.Critical, "payments", ("alice", B), ("bob", B), ("carol", B));
        Assert.Equal(TallyOutcome.Reached, tally.Outcome);
        Assert.Equal("high", tally.Policy);
        Assert.Equal((1, 1, 1, 1), (tally.OwningTeamVotes, tally.OwningTeamNeeded, tally.SocVotes, tally.SocNeeded));
    }

    [Fact]
    public void Count_PersonInBothTeams_CountsOnceWhereNeeded()
    {
        var config = Config(s => s.Policies = [new QuorumPolicyOptions { Name = "p", OwningTeam = 1, Soc = 1 }]);

        Assert.Equal(TallyOutcome.Pending, Count(config, AlertPriority.Warning, "payments", ("dual", B)).Outcome);
        Assert.Equal(TallyOutcome.Reached, Count(config, AlertPriority.Warning, "payments", ("dual", B), ("alice", B)).Outcome);
        Assert.Equal(TallyOutcome.Reached, Count(config, AlertPriority.Warning, "payments", ("dual", B), ("carol", B)).Outcome);
    }

    [Fact]
    public void Count_NeverWithoutSocRule_RequiresSocEvenUnderOwnerOnlyPolicy()
    {
        var config = Config();

        var owners = Count(config, AlertPriority.Warning, "payments", "Container escape attempt", ("alice", B), ("bob", B));
        Assert.Equal(TallyOutcome.Pending, owners.Outcome);
        Assert.Equal(1, owners.SocNeeded);
        Assert.Contains("required for this rule", owners.Summary, StringComparison.Ordinal);

        var withSoc = Count(config, AlertPriority.Warning, "payments", "Container escape attempt", ("alice", B), ("bob", B), ("carol", B));
        Assert.Equal(TallyOutcome.Reached, withSoc.Outcome);
    }

    [Fact]
    public void Count_NotBenignVote_BlocksEvenWithQuorum()
    {
        var tally = Count(Config(), AlertPriority.Warning, "payments", ("alice", B), ("bob", B), ("erin", N));

        Assert.Equal(TallyOutcome.Blocked, tally.Outcome);
        Assert.Equal(["erin"], tally.NotBenignVoters);
        Assert.Contains("blocked by erin", tally.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Count_UnknownOwner_SocCastsTheOwnersShare()
    {
        var config = Config();

        Assert.Equal(TallyOutcome.Pending, Count(config, AlertPriority.Warning, null, ("alice", B), ("bob", B)).Outcome);
        Assert.Equal(TallyOutcome.Reached, Count(config, AlertPriority.Warning, null, ("carol", B), ("sam", B)).Outcome);
    }

    [Fact]
    public void Count_UnknownOwnerWithRefusePolicy_IsRefused()
    {
        var config = Config(s => s.UnknownOwner = "refuse");

        Assert.Equal(TallyOutcome.Refused, Count(config, AlertPriority.Warning, null, ("carol", B), ("sam", B)).Outcome);
    }

    [Fact]
    public void Count_VoterWhoLeftTheTeam_NoLongerCounts()
    {
        var config = Config();
        config.People.Single(p => p.Name == "bob").Teams = ["platform"];

        Assert.Equal(TallyOutcome.Pending, Count(config, AlertPriority.Warning, "payments", ("alice", B), ("bob", B)).Outcome);
    }

    [Theory]
    [InlineData("alice", true)]
    [InlineData("carol", true)]
    [InlineData("dave", false)]
    [InlineData("viewer", false)]
    [InlineData("mallory", false)]
    public void Standing_OnlyResponderOfOwningTeamOrSocMayVote(string person, bool mayVote) =>
        Assert.Equal(mayVote, new VoterDirectory(Config()).Standing(person, "payments").MayVote);

    [Fact]
    public void Resolve_PolicyMaxDuration_NeverExceedsSectionMax()
    {
        var config = Config(s =>
        {
            s.MaxDuration = TimeSpan.FromDays(10);
            s.Policies = [new QuorumPolicyOptions { Name = "p", MaxDuration = TimeSpan.FromDays(20) }, new QuorumPolicyOptions { Name = "q", MinPriority = "Error", MaxDuration = TimeSpan.FromDays(2) }];
        });

        Assert.Equal(TimeSpan.FromDays(10), QuorumRequirement.Resolve(config.Suppression, AlertPriority.Notice, "r", "payments").MaxDuration);
        Assert.Equal(TimeSpan.FromDays(2), QuorumRequirement.Resolve(config.Suppression, AlertPriority.Critical, "r", "payments").MaxDuration);
    }
}
