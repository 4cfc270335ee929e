using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;
using Triage.Api;
using Triage.Fakes.Slack;
using Triage.Fakes.Teams;
using Triage.Tests.Support;

namespace Triage.Tests.Paging;

/// <summary>
/// Escalation levels page people by Slack and Teams direct message through the outbox: real HTTP to the strict fakes
/// (Slack conversations.open + chat.postMessage, Bot Connector proactive 1:1), timers on a fake clock.
/// </summary>
public sealed class DirectMessagePageTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 10, 0, TimeSpan.Zero);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60); // a guard against a hang only, long enough for a busy machine
    private readonly FakeTimeProvider _clock = new(Now);
    private FakeSlackWebApi _slack = null!;
    private FakeBotFramework _teams = null!;
    private TriageTestHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // carol is in the configuration but not in this Slack workspace: her page must fail visibly, not silently.
        _slack = (await FakeSlackWebApi.StartAsync()).AddChannel("C0PAYMENTS").AddUser("U0ALICE");
        _teams = (await FakeBotFramework.StartAsync()).AddChannel("19:payments@thread.tacv2");
        _host = await TriageTestHost.StartAsync(clock: _clock, extraYaml: $$"""
            chat:
              slack:
                bot_token: {{_slack.Token}}
                signing_secret: 8f742231b10e8888abcd99yyyzzz85a5
                api_base_url: {{_slack.BaseUrl}}
                default_channel: C0PAYMENTS
              teams:
                app_id: {{_teams.AppId}}
                app_secret: {{_teams.AppSecret}}
                tenant_id: {{_teams.TenantId}}
                token_endpoint: {{_teams.TokenEndpoint}}
                open_id_metadata_url: {{_teams.OpenIdMetadataUrl}}
                service_url: {{_teams.ServiceUrl}}
                default_channel: "19:payments@thread.tacv2"
            paging:
              public_url: https://triage.example.com/
            escalation_policies:
              - name: pager
                levels:
                  - timeout: 5m
                    targets: [{ person: alice }, { person: mallory }]
                  - timeout: 5m
                    targets: [{ person: carol }]
            routing:
              default:
                route: soc
                escalation_policy: pager
            """);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _slack.DisposeAsync();
        await _teams.DisposeAsync();
    }

    private async Task<long> OpenIncidentAsync()
    {
        var response = await _host.Ingest.PostAsJsonAsync("/api/v1/alerts", Some.Alert(time: Now), TriageJson.Options, Ct);
        response.EnsureSuccessStatusCode();
        await _host.WaitForPipelineAsync();
        return await _host.QueryAsync(db => db.Incidents.Select(i => i.Id).SingleAsync(Ct));
    }

    private Task<List<(string Channel, string Kind, string Detail)>> TimelineAsync(long id) =>
        _host.QueryAsync(async db => (await db.Timeline.Where(t => t.IncidentId == id).OrderBy(t => t.Id)
            .Select(t => new { t.Channel, t.Kind, t.Detail }).ToListAsync(Ct)).Select(t => (t.Channel, t.Kind, t.Detail)).ToList());

    private async Task<List<(string Channel, string Kind, string Detail)>> WaitForTimelineAsync(long id, Func<(string Channel, string Kind, string Detail), bool> match)
    {
        var deadline = DateTime.UtcNow + Wait; // wall-clock guard only; escalation runs on the fake clock
        while (true)
        {
            var timeline = await TimelineAsync(id);
            if (timeline.Any(match))
            {
                return timeline;
            }

            Assert.True(DateTime.UtcNow < deadline, "timeline entry did not appear:\n" + string.Join("\n", timeline));
            await Task.Delay(20, Ct);
        }
    }

    [Fact]
    public async Task FirstLevel_PagesAliceInSlackAndTeams_SaysMalloryHasNoChatId_ThenCarolsSlackFailureIsRecorded()
    {
        var id = await OpenIncidentAsync();

        var slackPage = await _slack.WaitForMessageAsync(m => m.Channel == "D0ALICE", Wait);
        var teamsPage = await _teams.WaitForActivityAsync(a => a.ConversationId.StartsWith("a:", StringComparison.Ordinal), Wait);
        var first = await WaitForTimelineAsync(id, t => t is { Channel: "teams_page", Kind: "delivery_delivered" });
        await WaitForTimelineAsync(id, t => t is { Channel: "slack_page", Kind: "delivery_delivered" });

        var expected = $"Page: incident #{id} [Critical] ";
        Assert.StartsWith(expected, slackPage.Text, StringComparison.Ordinal);
        Assert.Contains($"(policy pager, level 1/2). Acknowledge with the card's Acknowledge button or /triage ack {id}. https://triage.example.com/api/v1/incidents/{id}",
            slackPage.Text, StringComparison.Ordinal);
        Assert.Equal(slackPage.Text, teamsPage.Body["text"]?.GetValue<string>());
        var conversation = Assert.Single(_teams.Conversations, c => c.Id == teamsPage.ConversationId);
        Assert.Equal((false, "29:alice"), (conversation.IsGroup, conversation.Members.Single()));
        // The documented order: open the DM channel, then post into it.
        var calls = _slack.Calls.Select(c => c.Method).ToList();
        Assert.True(calls.IndexOf("conversations.open") >= 0 && calls.IndexOf("conversations.open") < calls.LastIndexOf("chat.postMessage"));
        var paged = Assert.Single(first, t => t.Kind == "paged");
        Assert.Equal("Paged level 1/2: alice, mallory; alice by Slack and Teams direct message; "
            + "no direct message to mallory (no chat user id for a configured chat); next level at 2026-11-25 12:15:00Z unless acknowledged", paged.Detail);

        _clock.Advance(TimeSpan.FromMinutes(5));
        var second = await WaitForTimelineAsync(id, t => t is { Channel: "slack_page", Kind: "delivery_failed" });

        Assert.Contains(second, t => t.Kind == "paged" && t.Detail.StartsWith("Paged level 2/2: carol; carol by Slack direct message", StringComparison.Ordinal));
        Assert.Contains(second, t => t.Channel == "slack_page" && t.Kind == "delivery_failed" && t.Detail.Contains("user_not_found", StringComparison.Ordinal));
        Assert.Contains(_slack.Calls, c => c.Method == "conversations.open" && c.Error == "user_not_found");
    }

    /// <summary>Slack posted alice's page but the answer was lost: the retry finds the page in her DM and does not page her twice.</summary>
    [Fact]
    public async Task SlackPageAnswerLost_RetryFindsItInTheDm_AlicePagedOnce()
    {
        _slack.LoseNextAnswer("chat.postMessage", "D0ALICE");
        var id = await OpenIncidentAsync();

        var page = await _slack.WaitForMessageAsync(m => m.Channel == "D0ALICE", Wait);
        await WaitForTimelineAsync(id, t => t is { Channel: "slack_page", Kind: "delivery_retrying" });
        _clock.Advance(TimeSpan.FromSeconds(5)); // past the first retry's backoff (1–2 s), far from the next level (5 min)
        var timeline = await WaitForTimelineAsync(id, t => t is { Channel: "slack_page", Kind: "delivery_delivered" });

        Assert.Single(_slack.Messages, m => m.Channel == "D0ALICE");
        Assert.Equal("triage_page", page.Metadata?["event_type"]?.GetValue<string>());
        Assert.Contains(_slack.Calls, c => c.Method == "conversations.history" && c.Error is null);
        Assert.Contains(timeline, t => t.Channel == "slack_page" && t.Kind == "delivery_delivered" && t.Detail.Contains(page.Ts, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Acknowledged_BeforeTheNextLevel_NobodyElseIsMessaged()
    {
        var id = await OpenIncidentAsync();
        await _slack.WaitForMessageAsync(m => m.Channel == "D0ALICE", Wait);

        var ack = await _host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/ack", new { actor = "alice" }, Ct);
        ack.EnsureSuccessStatusCode();
        await _host.WaitForPipelineAsync();
        _clock.Advance(TimeSpan.FromMinutes(10));
        await _host.WaitForPipelineAsync();

        var pages = await _host.QueryAsync(db => db.Set<Triage.Api.Delivery.OutboxMessage>()
            .Where(m => m.IncidentId == id && (m.Channel == "slack_page" || m.Channel == "teams_page"))
            .Select(m => m.IdempotencyKey).ToListAsync(Ct));
        Assert.All(pages, k => Assert.Equal($"incident-{id}/page/alice/0", k));
        Assert.Equal(2, pages.Count);
        var route = (await TriageTestHost.ReadJsonAsync(await _host.Operator.GetAsync($"/api/v1/incidents/{id}", Ct))).GetProperty("route");
        Assert.Equal("stopped", route.GetProperty("escalation").GetProperty("state").GetString());
        Assert.Equal("acknowledged by alice", route.GetProperty("escalation").GetProperty("stop_reason").GetString());
    }
}
