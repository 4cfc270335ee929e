using System.Text.Json.Nodes;
using Triage.Bot.Cards;
using Triage.Bot.Tests.Support;

namespace Triage.Bot.Tests.Cards;

public sealed class CardSectionsTests
{
    [Fact]
    public void Context_FullCard_OwnerWithSourceRouteWithRowEscalationAndVotes()
    {
        var facts = CardSections.Context(SampleCards.Full()).ToDictionary(f => f.Title, f => f.Value);

        Assert.Equal("payments (from label app.kubernetes.io/team: label team=payments on Deployment payments/checkout), #payments-oncall", facts["Owner"]);
        Assert.Equal("payments + soc — row imds-both: credential access on a platform workload goes to both", facts["Route"]);
        Assert.Equal("level 2, paged carol, next escalation 2026-11-25 19:15:00 UTC", facts["Escalation"]);
        Assert.Equal("Benign 1 · Not benign 0 (needs 2)", facts["Suppression votes"]);
    }

    [Fact]
    public void Context_PlainCard_IsEmpty()
    {
        Assert.Empty(CardSections.Context(SampleCards.Imds()));
    }

    [Fact]
    public void Lists_FullCard_RolloutsWithFactsThenRunbookStepsThenEvidence()
    {
        var lists = CardSections.Lists(SampleCards.Full());

        Assert.Equal(["Recent rollouts", "Runbook: IMDS credential access — first steps", "Evidence"], lists.Select(l => l.Heading));
        Assert.Equal("rolled out 30 minutes before the alert", lists[0].Lines[0].Text);
        Assert.Contains("(bump checkout to 1.4.2)", lists[0].Lines[^1].Text, StringComparison.Ordinal);
        Assert.True(lists[1].Numbered);
        Assert.Equal(2, lists[1].Lines.Count);
        Assert.All(lists[2].Lines, l => Assert.NotNull(l.Link));
    }

    [Fact]
    public void LinkOrText_RelativeUrl_BecomesTextNotALink()
    {
        Assert.Null(CardSections.LinkOrText(new CardLink("pcap", "/api/v1/evidence/3/content")).Link);
        Assert.Equal("pcap — /api/v1/evidence/3/content", CardSections.LinkOrText(new CardLink("pcap", "/api/v1/evidence/3/content")).Text);
        Assert.NotNull(CardSections.LinkOrText(new CardLink("pcap", "https://triage.example/api/v1/evidence/3/content")).Link);
    }

    [Fact]
    public void SlackAndTeams_ShowTheSameFactsAndLists()
    {
        var card = SampleCards.Full();
        var slack = JsonText.Of(SlackCardBuilder.Build(card));
        var teams = JsonText.Of(TeamsCardBuilder.Build(card));

        foreach (var fact in CardSections.Summary(card).Concat(CardSections.Context(card)))
        {
            Assert.Contains(fact.Title, slack, StringComparison.Ordinal);
            Assert.Contains(fact.Title, teams, StringComparison.Ordinal);
            Assert.Contains(fact.Value, slack, StringComparison.Ordinal);
            Assert.Contains(fact.Value, teams, StringComparison.Ordinal);
        }

        foreach (var list in CardSections.Lists(card))
        {
            Assert.Contains(list.Heading, slack, StringComparison.Ordinal);
            Assert.Contains(list.Heading, teams, StringComparison.Ordinal);
            foreach (var line in list.Lines)
            {
                var shown = line.Link?.Title ?? line.Text;
                Assert.Contains(shown, slack, StringComparison.Ordinal);
                Assert.Contains(shown, teams, StringComparison.Ordinal);
            }
        }

        Assert.Contains("1. Is the pod expected to call the metadata service?", slack, StringComparison.Ordinal);
        Assert.Contains("1. Is the pod expected to call the metadata service?", teams, StringComparison.Ordinal);
        Assert.Contains("<https://runbooks.example/imds|📘 Runbook: IMDS credential access>", slack, StringComparison.Ordinal);
        Assert.Contains("[📘 Runbook: IMDS credential access](https://runbooks.example/imds)", teams, StringComparison.Ordinal);
    }

    [Fact]
    public void Teams_RunbookWithoutPublicUrl_HasNoOpenUrlButton()
    {
        var card = SampleCards.Full() with { Runbook = new CardRunbook("IMDS credential access", null) { FirstSteps = ["check"] } };

        var actions = TeamsCardBuilder.Build(card)["actions"]!.AsArray();

        Assert.DoesNotContain(actions, a => (string?)a!["title"] == "Runbook");
        Assert.Contains("📘 Runbook: IMDS credential access", JsonText.Of(TeamsCardBuilder.Build(card)), StringComparison.Ordinal);
        Assert.DoesNotContain("|📘 Runbook", JsonText.Of(SlackCardBuilder.Build(card)), StringComparison.Ordinal);
    }
}
