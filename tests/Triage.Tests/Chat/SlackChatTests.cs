using System.Diagnostics;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Triage.Api.Delivery;
using Triage.Fakes.Slack;
using Triage.Tests.Support;

namespace Triage.Tests.Chat;

public sealed class SlackChatTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task NewIncident_CardPostedWithinLimits_WithContextAndButtons()
    {
        await using var chat = await ChatHarness.StartAsync();

        var (id, card) = await chat.IncidentAsync(Ct);

        Assert.Equal(ChatHarness.Channel, card.Channel);
        Assert.Empty(BlockKitValidator.Default.Validate(card.Blocks));
        var json = card.Blocks!.ToJsonString();
        foreach (var expected in new[] { "payments", "checkout", "node-1", "curl", "connect(addr=169.254.169.254:80) = 0", "\"action_id\":\"ack\"", "\"action_id\":\"kill_process\"" })
        {
            Assert.Contains(expected, json, StringComparison.Ordinal);
        }

        var exact = await TriageTestHost.ReadJsonAsync(await chat.Host.Operator.GetAsync($"/api/v1/incidents/{id}/cards/slack", Ct));
        Assert.Equal(ChatHarness.Channel, exact.GetProperty("channel").GetString());
        Assert.Equal(card.Text, exact.GetProperty("text").GetString());
    }

    [Fact]
    public async Task NewIncident_CardGoesToTheRoutedTeamsChannels()
    {
        await using var chat = await ChatHarness.StartAsync(extraYaml: """
            routing:
              fallback_platform_team: payments
              soc_team: soc
              rules:
                - name: metadata-credential-theft
                  match:
                    tags: [T1552.005]
                  route: soc
              default:
                route: both
                primary: platform
            """, slackTeamChannels: $"{{ payments: {ChatHarness.Channel}, soc: {ChatHarness.SocChannel} }}");

        // Metadata credential theft is routed to the SOC alone: its card goes to the SOC's channel, not the owner's.
        var (theft, theftCard) = await chat.IncidentAsync(Ct);
        Assert.Equal(ChatHarness.SocChannel, theftCard.Channel);

        // Anything else goes to the platform team with the SOC informed: one card in each team's channel.
        await chat.PostAlertsAsync(Ct, Some.Alert(rule: "Terminal shell in container") with { Tags = ["shell"] });
        var shell = theft + 1;
        var inPayments = await chat.Slack.WaitForMessageAsync(m => m.ThreadTs is null && m.Channel == ChatHarness.Channel
            && m.Text?.Contains($"incident #{shell}", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(20));
        var inSoc = await chat.Slack.WaitForMessageAsync(m => m.ThreadTs is null && m.Channel == ChatHarness.SocChannel
            && m.Text?.Contains($"incident #{shell}", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(20));
        Assert.NotEqual(inPayments.Ts, inSoc.Ts);
    }

    [Fact]
    public async Task AlertsWhileAnUpdateWaits_OneUpdateShowsThemAll()
    {
        await using var chat = await ChatHarness.StartAsync(extraYaml: "ingest:\n  count_refresh_interval: 1s\n");
        var (id, card) = await chat.IncidentAsync(Ct);
        await chat.Host.WaitForPipelineAsync();

        // The outbox must have recorded the card before the stop; otherwise the stop hands the post back and the
        // restarted dispatcher has to find it again (CardPostAnswerLost_… covers that).
        await CardMessageAsync(chat, id, "card", m => m.Status == OutboxStatus.Delivered);
        var dispatcher = Dispatcher(chat);
        await dispatcher.StopAsync(Ct);

        // Three more alerts of the incident while nothing is sent. They only raise the count, so ingest announces
        // them once the count refresh interval has passed (not per alert), and the pipeline queues the card update.
        for (var i = 0; i < 3; i++)
        {
            await chat.PostAlertsAsync(Ct, Some.Alert());
        }

        var waiting = (await CardUpdatesAsync(chat, id)).Select(m => m.Status).ToList();
        await dispatcher.StartAsync(Ct);
        var updated = await chat.Slack.WaitForMessageAsync(m => m.Ts == card.Ts && m.Edits > 0, TimeSpan.FromSeconds(20));

        Assert.Equal([OutboxStatus.Pending], waiting);
        Assert.Contains("4 alerts", updated.Blocks!.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(1, chat.Slack.Calls.Count(c => c.Method == "chat.update"));
    }

    /// <summary>
    /// In an alert storm hundreds of cards wait for count refreshes behind Slack's chat.update pace. A state change must
    /// not wait behind them: its update is urgent, and a count refresh still waiting is made urgent (one update, which
    /// renders the newest state) instead of a second update being queued.
    /// </summary>
    [Fact]
    public async Task CardUpdates_StateChangeUrgent_CountRefreshRoutine_WaitingRefreshPromoted()
    {
        await using var chat = await ChatHarness.StartAsync(extraYaml: "ingest:\n  count_refresh_interval: 1s\n");
        var (id, card) = await chat.IncidentAsync(Ct);
        await CardMessageAsync(chat, id, "card", m => m.Status == OutboxStatus.Delivered);
        var dispatcher = Dispatcher(chat);
        await dispatcher.StopAsync(Ct);

        await chat.PostAlertsAsync(Ct, Some.Alert());
        var refresh = Assert.Single(await CardUpdatesAsync(chat, id));
        Assert.Equal(OutboxPriority.Routine, refresh.Priority);

        await AssertOkAsync(chat, id, "ack");
        await chat.Host.WaitForPipelineAsync();
        var promoted = Assert.Single(await CardUpdatesAsync(chat, id));
        Assert.Equal((refresh.Id, OutboxPriority.Urgent), (promoted.Id, promoted.Priority));

        await dispatcher.StartAsync(Ct);
        await CardMessageAsync(chat, id, "card_update", m => m.Status == OutboxStatus.Delivered);
        var acknowledged = await chat.Slack.WaitForMessageAsync(m => m.Ts == card.Ts && m.Edits > 0, TimeSpan.FromSeconds(20));
        Assert.Contains("acknowledged", acknowledged.Text, StringComparison.OrdinalIgnoreCase);

        // Nothing waits now: the next state change queues an urgent update of its own.
        await AssertOkAsync(chat, id, "resolve");
        await chat.Host.WaitForPipelineAsync();
        var resolved = await CardMessageAsync(chat, id, "card_update", m => m.Id != refresh.Id);
        Assert.Equal(OutboxPriority.Urgent, resolved.Priority);
    }

    private static OutboxDispatcher Dispatcher(ChatHarness chat) =>
        chat.Host.App.Services.GetServices<IHostedService>().OfType<OutboxDispatcher>().Single();

    private static async Task AssertOkAsync(ChatHarness chat, long id, string action)
    {
        var response = await chat.Host.Operator.PostAsync($"/api/v1/incidents/{id}/actions/{action}",
            new StringContent("""{"actor":"alice"}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>The incident's newest Slack message of <paramref name="kind"/> once it matches (a 30 s guard against a hang).</summary>
    private static async Task<OutboxMessage> CardMessageAsync(ChatHarness chat, long id, string kind, Func<OutboxMessage, bool> match)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(30); ; await Task.Delay(20, Ct))
        {
            var newest = await chat.Host.QueryAsync(db => db.Set<OutboxMessage>().AsNoTracking()
                .Where(m => m.IncidentId == id && m.Channel == "slack" && m.Kind == kind).OrderByDescending(m => m.Id).FirstOrDefaultAsync(Ct));
            if (newest is not null && match(newest))
            {
                return newest;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no {kind} message of incident {id} matched in time");
        }
    }

    /// <summary>The incident's Slack card updates, once the pipeline has queued at least one (a 20 s guard).</summary>
    private static async Task<List<OutboxMessage>> CardUpdatesAsync(ChatHarness chat, long id)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(20); ; await Task.Delay(50, Ct))
        {
            await chat.Host.WaitForPipelineAsync();
            var updates = await chat.Host.QueryAsync(db => db.Set<OutboxMessage>().AsNoTracking()
                .Where(m => m.IncidentId == id && m.Channel == "slack" && m.Kind == "card_update").OrderBy(m => m.Id).ToListAsync(Ct));
            if (updates.Count > 0 || DateTime.UtcNow >= deadline)
            {
                return updates;
            }
        }
    }

    /// <summary>
    /// Slack carried out the card's chat.postMessage but its answer was lost (a dropped connection; a timeout, a stop or a
    /// crash mid-call look the same). The retry finds the card in the channel's history by its message metadata and
    /// adopts it, so later updates edit it. When the history cannot be read (no history scope; a channel configured by
    /// name, which conversations.history does not take) it posts again: a second card, never none.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("missing_scope")]
    [InlineData("channel_not_found")]
    public async Task CardPostAnswerLost_RetryFindsThePostedCardInHistory_OrPostsAgainWhenHistoryUnreadable(string? historyError)
    {
        var historyReadable = historyError is null;
        await using var chat = await ChatHarness.StartAsync();
        chat.Slack.HistoryError = historyError;
        chat.Slack.LoseNextAnswer("chat.postMessage");

        var (id, first) = await chat.IncidentAsync(Ct);
        var card = await CardMessageAsync(chat, id, "card", m => m.Status == OutboxStatus.Delivered);

        var cards = chat.Slack.Messages.Where(m => m.ThreadTs is null && m.Channel == ChatHarness.Channel
            && m.Text?.Contains($"incident #{id}", StringComparison.Ordinal) == true).ToList();
        Assert.Equal(2, card.Attempts);
        Assert.Equal("triage_incident_card", first.Metadata?["event_type"]?.GetValue<string>());
        Assert.Equal(id, first.Metadata?["event_payload"]?["incident_id"]?.GetValue<long>());
        Assert.Contains(chat.Slack.Calls, c => c.Method == "conversations.history" && c.Error == historyError);
        Assert.Equal(historyReadable ? [first.Ts] : [first.Ts, cards[^1].Ts], cards.Select(m => m.Ts));
        Assert.Equal($"{ChatHarness.Channel}|{cards[^1].Ts}", card.RemoteId);

        // Updates edit the card the outbox recorded.
        await AssertOkAsync(chat, id, "ack");
        await chat.Slack.WaitForMessageAsync(m => m.Ts == cards[^1].Ts && m.Edits > 0, TimeSpan.FromSeconds(20));
    }

    /// <summary>
    /// Slack refused the card's post outright (429): nothing was posted, so the retry posts without reading the channel's
    /// history, a Tier 3 call that a rate-limited workspace can spare least. A 5xx may have come after the post was
    /// carried out: the retry reads the history first, finds nothing, and posts. One card either way.
    /// </summary>
    [Theory]
    [InlineData(429, false)]
    [InlineData(500, true)]
    public async Task CardPostFailed_RetryReadsHistoryOnlyWhenThePostMayHaveArrived(int status, bool historyRead)
    {
        await using var chat = await ChatHarness.StartAsync();

        // The client waits out a short 429 itself and tries again; refusing all three of its tries fails the attempt.
        chat.Slack.FailNext("chat.postMessage", status == 429 ? 3 : 1, status, status == 429 ? 1 : null);
        var (id, first) = await chat.IncidentAsync(Ct);
        var card = await CardMessageAsync(chat, id, "card", m => m.Status == OutboxStatus.Delivered);

        var cards = chat.Slack.Messages.Where(m => m.ThreadTs is null && m.Channel == ChatHarness.Channel
            && m.Text?.Contains($"incident #{id}", StringComparison.Ordinal) == true).ToList();
        Assert.Equal(2, card.Attempts);
        Assert.Equal([first.Ts], cards.Select(m => m.Ts));
        Assert.Equal(historyRead, chat.Slack.Calls.Any(c => c.Method == "conversations.history"));
        Assert.Equal(historyRead, card.MayHaveArrivedSince is not null);
    }

    [Theory]
    [InlineData("ack", null, "Acknowledged")]
    [InlineData("resolve", null, "Resolved")]
    public async Task Button_ByResponder_AnsweredAtOnce_CardUpdatedInPlace_ThreadReply(string action, string? target, string shown)
    {
        await using var chat = await ChatHarness.StartAsync();
        var (id, card) = await chat.IncidentAsync(Ct);

        var watch = Stopwatch.StartNew();
        var response = await chat.SlackPostAsync("/slack/interactions",
            ChatHarness.Press("U0ALICE", action, target is null ? $"{id}|{action}" : $"{id}|{action}|{target}", card.Ts), Ct);
        watch.Stop();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"answered in {watch.Elapsed}");
        var updated = await chat.Slack.WaitForMessageAsync(m => m.Ts == card.Ts && m.Edits > 0 && m.Blocks!.ToJsonString().Contains(shown, StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        Assert.Empty(BlockKitValidator.Default.Validate(updated.Blocks));
        // Other pipeline steps (routing, escalation) reply in the thread too; the action's own reply names the person.
        var reply = await chat.Slack.WaitForMessageAsync(
            m => m.ThreadTs == card.Ts && (m.Text ?? "").Contains("by alice", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        Assert.Contains("by alice", reply.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("escalate", "soc", true)]
    [InlineData("escalate", "next", true)]
    [InlineData("escalate", "platform", true)]
    [InlineData("vote_benign", null, false)]
    [InlineData("vote_not_benign", null, false)]
    [InlineData("kill_process", null, false)]
    [InlineData("isolate_pod", null, false)]
    [InlineData("capture_evidence", null, false)]
    public async Task Button_OtherFeaturesAction_RunsOrIsRefusedWithClearMessage(string action, string? target, bool select)
    {
        await using var chat = await ChatHarness.StartAsync();
        var (id, card) = await chat.IncidentAsync(Ct);
        var registered = chat.Host.App.Services.GetServices<Triage.Api.Incidents.IIncidentAction>().Any(a => a.Name == action);

        var response = await chat.SlackPostAsync("/slack/interactions",
            ChatHarness.Press("U0CAROL", action, target is null ? $"{id}|{action}" : $"{id}|{action}|{target}", card.Ts, select: select), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (!registered)
        {
            var told = await chat.Slack.WaitForMessageAsync(m => m.EphemeralUser == "U0CAROL", TimeSpan.FromSeconds(20));
            Assert.Contains("not available", told.Text, StringComparison.Ordinal);
            Assert.Contains(action, told.Text, StringComparison.Ordinal);
        }
        else
        {
            // Registered by its feature by now: the press reached it. Either it changed the incident (a timeline entry by
            // carol through slack) or the feature refused it in this state and carol was told why.
            await WaitUntilAsync(async () =>
                chat.Slack.Messages.Any(m => m.EphemeralUser == "U0CAROL")
                || await chat.Host.QueryAsync(db => db.Timeline.AnyAsync(t => t.IncidentId == id && t.Channel == "slack" && t.Actor == "carol", Ct)));
        }
    }

    [Fact]
    public async Task Button_UnknownSlackUser_RefusedToldAndRecordedOnce_EvenWhenSlackRetries()
    {
        await using var chat = await ChatHarness.StartAsync();
        var (id, card) = await chat.IncidentAsync(Ct);
        var press = ChatHarness.Press("U0NOBODY", "ack", $"{id}|ack", card.Ts, actionTs: "1700000000.000001");

        Assert.Equal(HttpStatusCode.OK, (await chat.SlackPostAsync("/slack/interactions", press, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await chat.SlackPostAsync("/slack/interactions", press, Ct)).StatusCode);

        var told = await chat.Slack.WaitForMessageAsync(m => m.EphemeralUser == "U0NOBODY", TimeSpan.FromSeconds(20));
        Assert.Contains("Refused", told.Text, StringComparison.Ordinal);
        await chat.Host.WaitForPipelineAsync();
        var refusals = await chat.Host.QueryAsync(db => db.Timeline.Where(t => t.IncidentId == id && t.Kind == "action_refused").ToListAsync(Ct));
        var refusal = Assert.Single(refusals);
        Assert.Equal("slack", refusal.Channel);
        Assert.Equal("Triggered", (await chat.Host.QueryAsync(db => db.Incidents.SingleAsync(i => i.Id == id, Ct))).Status.ToString());
    }

    [Fact]
    public async Task Requests_BadOrStaleSignature_401()
    {
        await using var chat = await ChatHarness.StartAsync();
        var press = ChatHarness.Press("U0ALICE", "ack", "1|ack", "1.1");

        var wrongSecret = await chat.SlackPostAsync("/slack/interactions", press, Ct, secret: "not-the-secret");
        var stale = await chat.SlackPostAsync("/slack/interactions", press, Ct, at: DateTimeOffset.UtcNow.AddMinutes(-6));
        var unsigned = await chat.Host.Anonymous.PostAsync("/slack/commands", new StringContent("command=%2Ftriage&text=oncall&user_id=U0ALICE"), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, wrongSecret.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, stale.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unsigned.StatusCode);
    }

    [Fact]
    public async Task Commands_AckStatusOncall_AnswerEphemerally()
    {
        await using var chat = await ChatHarness.StartAsync();
        var (id, _) = await chat.IncidentAsync(Ct);
        static string Command(string text, string trigger) =>
            $"token=x&team_id=T0TEAM&channel_id={ChatHarness.Channel}&user_id=U0ALICE&user_name=alice&command=%2Ftriage&text={Uri.EscapeDataString(text)}&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id={trigger}";

        var ack = await TriageTestHost.ReadJsonAsync(await chat.SlackPostAsync("/slack/commands", Command($"ack {id}", "t1"), Ct));
        var status = await TriageTestHost.ReadJsonAsync(await chat.SlackPostAsync("/slack/commands", Command($"status {id}", "t2"), Ct));
        var oncall = await TriageTestHost.ReadJsonAsync(await chat.SlackPostAsync("/slack/commands", Command("oncall", "t3"), Ct));

        Assert.Equal("ephemeral", ack.GetProperty("response_type").GetString());
        Assert.Contains("acknowledged by alice", ack.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Contains("Acknowledged", status.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Contains("payments", oncall.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_UrlVerification_EchoesChallenge()
    {
        await using var chat = await ChatHarness.StartAsync();

        var response = await chat.SlackPostAsync("/slack/events", """{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}""", Ct);

        Assert.Equal("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", (await TriageTestHost.ReadJsonAsync(response)).GetProperty("challenge").GetString());
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(20, Ct);
        }
    }
}
