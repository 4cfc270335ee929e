using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Triage.Api.OnCall;
using Triage.Fakes.Teams;
using Triage.Tests.Support;

namespace Triage.Tests.Chat;

/// <summary>
/// <c>/triage oncall</c> answers from the schedules (the resolver behind GET /api/v1/oncall) and
/// <c>/triage override</c> creates an override through the same service as POST /api/v1/oncall/overrides, with
/// authorization: members of the team, or the operator role for any team; unknown chat users and outsiders are refused.
/// </summary>
public sealed class ChatCommandsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>payments has a schedule with alice always on call; dan (soc, no operator role) has a Slack id.</summary>
    private static readonly string BaseYaml = TriageTestHost.BaseYaml
        .Replace("    kind: platform\n", "    kind: platform\n    schedule: payments-primary\n", StringComparison.Ordinal)
        + """

          - name: dan
            slack_user_id: U0DAN
            teams_user_id: "29:dan"
            teams: [soc]
            roles: [responder]
        """;

    private const string Schedules = """
        schedules:
          - name: payments-primary
            time_zone: UTC
            layers:
              - { name: weekly, users: [alice], start: 2026-11-02 }
        """;

    private static string SlashCommand(string user, string text) =>
        $"token=x&team_id=T0TEAM&channel_id={ChatHarness.Channel}&user_id={user}&user_name=x&command=%2Ftriage&text={Uri.EscapeDataString(text)}"
        + $"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id={Guid.NewGuid():N}";

    private static async Task<string> SlackAsync(ChatHarness chat, string user, string text)
    {
        var answer = await TriageTestHost.ReadJsonAsync(await chat.SlackPostAsync("/slack/commands", SlashCommand(user, text), Ct));
        Assert.Equal("ephemeral", answer.GetProperty("response_type").GetString());
        return answer.GetProperty("text").GetString()!;
    }

    private static async Task<string?> OnCallApiAsync(ChatHarness chat) =>
        (await TriageTestHost.ReadJsonAsync(await chat.Host.Operator.GetAsync("/api/v1/oncall?team=payments", Ct)))
            .GetProperty("on_call").GetProperty("person").GetString();

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Slack_OncallFromSchedule_OverrideByMember_ShowsInChatAndApi(DatabaseKind database)
    {
        await using var chat = await ChatHarness.StartAsync(database, Schedules, baseYaml: BaseYaml);

        var before = await SlackAsync(chat, "U0ALICE", "oncall payments");
        var created = await SlackAsync(chat, "U0ALICE", "override payments mallory 4h covering the night");
        var after = await SlackAsync(chat, "U0ALICE", "oncall");

        Assert.Contains("payments (platform): <@U0ALICE> until", before, StringComparison.Ordinal);
        Assert.Contains("schedule payments-primary", before, StringComparison.Ordinal);
        Assert.Contains("mallory is on call for payments (schedule payments-primary) until", created, StringComparison.Ordinal);
        Assert.Contains("payments (platform): mallory until", after, StringComparison.Ordinal);
        Assert.Contains("soc (soc): no schedule configured", after, StringComparison.Ordinal);
        Assert.Equal("mallory", await OnCallApiAsync(chat));
        var stored = await chat.Host.QueryAsync(db => db.Set<OnCallOverride>().SingleAsync(Ct));
        Assert.Equal(("payments-primary", "mallory", "alice (slack)", "covering the night"), (stored.Schedule, stored.Person, stored.CreatedBy, stored.Reason));
        Assert.Equal(TimeSpan.FromHours(4), stored.End - stored.Start);
    }

    [Fact]
    public async Task Slack_Override_RefusedForUnknownUserAndOutsider_AllowedForOperator()
    {
        await using var chat = await ChatHarness.StartAsync(extraYaml: Schedules, baseYaml: BaseYaml);

        var stranger = await SlackAsync(chat, "U0NOBODY", "override payments mallory 1h");
        var outsider = await SlackAsync(chat, "U0DAN", "override payments mallory 1h");
        var notMember = await SlackAsync(chat, "U0CAROL", "override payments dan 1h");
        var badDuration = await SlackAsync(chat, "U0ALICE", "override payments mallory 30d");
        var noSchedule = await SlackAsync(chat, "U0CAROL", "override soc carol 1h");
        var overrides = await chat.Host.QueryAsync(db => db.Set<OnCallOverride>().CountAsync(Ct));
        var operatorOverride = await SlackAsync(chat, "U0CAROL", "override payments mallory 90m");

        Assert.StartsWith("Refused: 'slack:U0NOBODY' is not a configured person", stranger, StringComparison.Ordinal);
        Assert.StartsWith("Refused: dan is not in team payments and lacks the 'operator' role", outsider, StringComparison.Ordinal);
        Assert.Equal("'dan' is not a configured member of team payments.", notMember);
        Assert.StartsWith("'30d' is not a duration", badDuration, StringComparison.Ordinal);
        Assert.Equal("Team soc has no on-call schedule to override.", noSchedule);
        Assert.Equal(0, overrides);
        Assert.Contains("mallory is on call for payments", operatorOverride, StringComparison.Ordinal);
        Assert.Equal("mallory", await OnCallApiAsync(chat));
    }

    [Fact]
    public async Task Teams_MessageToBot_OncallAndOverride_AnsweredInThread()
    {
        await using var chat = await ChatHarness.StartAsync(extraYaml: Schedules, baseYaml: BaseYaml);

        await SendMessageAsync(chat, "<at>Triage</at> oncall payments", "29:alice", "m1");
        var oncall = await chat.Teams.WaitForActivityAsync(a => Text(a).Contains("On call at", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        await SendMessageAsync(chat, "<at>Triage</at>&nbsp;/triage override payments mallory 2h", "29:alice", "m2");
        var created = await chat.Teams.WaitForActivityAsync(a => Text(a).Contains("is on call for payments", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        await SendMessageAsync(chat, "override payments mallory 2h", "29:dan", "m3");
        var refused = await chat.Teams.WaitForActivityAsync(a => Text(a).StartsWith("Refused", StringComparison.Ordinal), TimeSpan.FromSeconds(20));

        Assert.Contains("payments (platform): alice until", Text(oncall), StringComparison.Ordinal);
        Assert.Equal(ChatHarness.TeamsChannel, oncall.ConversationId);
        Assert.StartsWith("mallory is on call for payments", Text(created), StringComparison.Ordinal);
        Assert.Contains("dan is not in team payments", Text(refused), StringComparison.Ordinal);
        Assert.Equal(1, await chat.Host.QueryAsync(db => db.Set<OnCallOverride>().CountAsync(Ct)));
    }

    private static string Text(FakeTeamsActivity activity) => activity.Body["text"]?.GetValue<string>() ?? "";

    private static async Task SendMessageAsync(ChatHarness chat, string text, string userId, string activityId)
    {
        var activity = new JsonObject
        {
            ["type"] = "message",
            ["id"] = activityId,
            ["text"] = text,
            ["channelId"] = "msteams",
            ["serviceUrl"] = chat.Teams.ServiceUrl,
            ["from"] = new JsonObject { ["id"] = userId, ["name"] = userId },
            ["conversation"] = new JsonObject { ["id"] = ChatHarness.TeamsChannel, ["conversationType"] = "channel", ["tenantId"] = chat.Teams.TenantId },
            ["recipient"] = new JsonObject { ["id"] = "28:" + chat.Teams.AppId },
        };
        var token = chat.Teams.CreateInboundToken(new InboundTokenSpec(chat.Teams.AppId, chat.Teams.ServiceUrl));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages")
        {
            Content = new StringContent(activity.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await chat.Host.Anonymous.SendAsync(request, Ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
    }

    private const string VotingPolicy = """
        suppression:
          policies:
            - { name: default, min_priority: Debug, owning_team: 1, soc: 1, proposer_counts: true }
        """;

    [Fact]
    public async Task Slack_BenignCommand_VotesWithTheReason_WithoutReasonSaysHow()
    {
        await using var chat = await ChatHarness.StartAsync(extraYaml: Schedules + "\n" + VotingPolicy, baseYaml: BaseYaml);
        var (id, card) = await chat.IncidentAsync(Ct);
        await chat.Host.QueryAsync(db => db.Incidents.Where(i => i.Id == id)
            .ExecuteUpdateAsync(s => s.SetProperty(i => i.OwnerTeam, "payments"), Ct));

        var missing = await SlackAsync(chat, "U0ALICE", $"benign {id}");
        var voted = await SlackAsync(chat, "U0ALICE", $"benign {id} release 1.4 runs its migration");

        Assert.Contains("arguments.reason", missing, StringComparison.Ordinal);
        Assert.Contains($"/triage benign {id} <reason>", missing, StringComparison.Ordinal);
        Assert.Contains("alice voted benign", voted, StringComparison.Ordinal);
        Assert.Contains("SOC 0/1", voted, StringComparison.Ordinal);
        var vote = await chat.Host.QueryAsync(db => db.Timeline.SingleAsync(t => t.IncidentId == id && t.Kind == "vote_benign", Ct));
        Assert.Equal(("alice", "slack"), (vote.Actor, vote.Channel));
        Assert.Contains("release 1.4 runs its migration", vote.Detail, StringComparison.Ordinal);

        // The card shows the live tally.
        var updated = await chat.Slack.WaitForMessageAsync(
            m => m.Ts == card.Ts && m.Blocks!.ToJsonString().Contains("Not benign 0 (needs 2)", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        Assert.Contains("SOC 0/1", updated.Blocks!.ToJsonString(), StringComparison.Ordinal);
    }
}
