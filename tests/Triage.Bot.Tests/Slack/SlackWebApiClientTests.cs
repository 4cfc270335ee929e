using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Triage.Bot.Cards;
using Triage.Bot.Delivery;
using Triage.Bot.Slack;
using Triage.Bot.Tests.Support;
using Triage.Fakes.Slack;

namespace Triage.Bot.Tests.Slack;

public sealed class SlackWebApiClientTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = Support.Time.Fake();
    private readonly HttpClient _http = new();
    private FakeSlackWebApi _slack = null!;

    public async ValueTask InitializeAsync()
    {
        _slack = (await FakeSlackWebApi.StartAsync(time: _time)).AddChannel("C0PAYMENTS").AddUser("U0ALICE");
    }

    public async ValueTask DisposeAsync()
    {
        await _slack.DisposeAsync();
        _http.Dispose();
    }

    private SlackWebApiClient Client(string? token = null, TimeSpan? maxInline = null) => new(_http,
        new SlackClientOptions { BaseUrl = _slack.BaseUrl, BotToken = token ?? _slack.Token, MaxInlineRetryAfter = maxInline ?? TimeSpan.FromSeconds(30) },
        _time, NullLogger<SlackWebApiClient>.Instance);

    [Fact]
    public async Task PostThenUpdateThenReply_StoresOneCardEditedInPlaceWithThread()
    {
        var client = Client();
        var ct = TestContext.Current.CancellationToken;

        var posted = await client.PostMessageAsync("C0PAYMENTS", SlackCardBuilder.Build(SampleCards.Imds()), null, ct);
        await client.UpdateMessageAsync(posted, SlackCardBuilder.Build(SampleCards.Imds(status: "acknowledged")), ct);
        await client.PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "acknowledged by alice" }, posted.Ts, ct);

        var messages = _slack.Messages;
        Assert.Equal(2, messages.Count);
        Assert.Equal(1, messages[0].Edits);
        Assert.Contains("acknowledged", messages[0].Text, StringComparison.Ordinal);
        Assert.Equal(posted.Ts, messages[1].ThreadTs);
        Assert.All(_slack.Calls, c => Assert.Null(c.Error));
    }

    [Fact]
    public async Task FindBotMessage_ReadsHistoryPageByPage_MatchesEventTypeAndPayload_NotBeforeSince()
    {
        var client = Client();
        var ct = TestContext.Current.CancellationToken;
        _slack.ChannelBurstLimit = 1000;
        var since = _time.GetUtcNow();
        var card = await client.PostMessageAsync("C0PAYMENTS", Message("card of #7", "triage_incident_card", 7), null, ct);
        await client.PostMessageAsync("C0PAYMENTS", Message("card of #8", "triage_incident_card", 8), null, ct);
        await client.PostMessageAsync("C0PAYMENTS", Message("other app's #7", "deploy_finished", 7), null, ct);

        // 250 later messages (posted straight to the fake, past the client's pace) put the card on the second page.
        for (var i = 0; i < 250; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_slack.BaseUrl, "chat.postMessage"))
            {
                Content = new StringContent($$"""{"channel":"C0PAYMENTS","text":"chatter {{i}}"}""", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", _slack.Token);
            (await _http.SendAsync(request, ct)).EnsureSuccessStatusCode();
        }

        var found = await client.FindBotMessageAsync("C0PAYMENTS", Metadata("triage_incident_card", 7), since, ct);
        var pages = _slack.Calls.Count(c => c.Method == "conversations.history");
        var missing = await client.FindBotMessageAsync("C0PAYMENTS", Metadata("triage_incident_card", 9), since, ct);
        var later = await client.FindBotMessageAsync("C0PAYMENTS", Metadata("triage_incident_card", 7), since.AddMinutes(1), ct);

        Assert.Equal(card, found);
        Assert.Equal(2, pages);
        Assert.Null(missing);
        Assert.Null(later);
        Assert.All(_slack.Calls, c => Assert.Null(c.Error));
    }

    [Fact]
    public async Task FindBotMessage_WithoutHistoryScope_ThrowsWithSlacksCode()
    {
        _slack.HistoryError = "missing_scope";

        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() => Client().FindBotMessageAsync(
            "C0PAYMENTS", Metadata("triage_incident_card", 7), _time.GetUtcNow(), TestContext.Current.CancellationToken));

        Assert.Equal("missing_scope", error.ErrorCode);
        Assert.False(error.Retryable);
    }

    private static JsonObject Message(string text, string eventType, long incidentId) => new()
    {
        ["text"] = text,
        ["metadata"] = Metadata(eventType, incidentId),
    };

    private static JsonObject Metadata(string eventType, long incidentId) =>
        new() { ["event_type"] = eventType, ["event_payload"] = new JsonObject { ["incident_id"] = incidentId } };

    [Fact]
    public async Task PostDirectMessage_OpensConversationThenPosts()
    {
        var sent = await Client().PostDirectMessageAsync("U0ALICE", new JsonObject { ["text"] = "You are paged" }, TestContext.Current.CancellationToken);

        Assert.StartsWith("D", sent.Channel, StringComparison.Ordinal);
        Assert.Equal(["conversations.open", "chat.postMessage"], _slack.Calls.Select(c => c.Method));
    }

    [Fact]
    public async Task PostDirectMessage_TwiceToOnePerson_OpensTheConversationOnce()
    {
        var client = Client();
        var first = await client.PostDirectMessageAsync("U0ALICE", new JsonObject { ["text"] = "Paged for #1" }, TestContext.Current.CancellationToken);
        var second = await client.PostDirectMessageAsync("U0ALICE", new JsonObject { ["text"] = "Paged for #2" }, TestContext.Current.CancellationToken);

        Assert.Equal(first.Channel, second.Channel);
        Assert.Equal(["conversations.open", "chat.postMessage", "chat.postMessage"], _slack.Calls.Select(c => c.Method));
    }

    [Fact]
    public async Task Post_OneMessageEachToManyChannels_NotHeldByAWorkspaceWidePace()
    {
        // chat.postMessage is paced per channel only: twelve channels, one post each, go out without waiting, where a
        // per-method pace (1.2 s after a burst of 10) would hold the last two.
        var channels = Enumerable.Range(0, 12).Select(i => $"C0TEAM{i:00}").ToList();
        foreach (var channel in channels)
        {
            _slack.AddChannel(channel);
        }

        var client = Client();
        var posts = Task.WhenAll(channels.Select(c => client.PostMessageAsync(c, new JsonObject { ["text"] = "card" }, null, TestContext.Current.CancellationToken)));

        await posts.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(12, _slack.Calls.Count(c => c.Status == 200));
    }

    [Fact]
    public async Task BackgroundReplies_DeferredWhenOnlyTheUrgentShareOfTheBurstIsLeft_ACardStillGoesAtOnce()
    {
        // Bursts of 4 per channel, 2 kept for cards: two replies go, the third is deferred without a call to Slack.
        var client = Client();
        var ct = TestContext.Current.CancellationToken;
        var card = await client.PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "card #1" }, null, ct);
        await client.PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "reply 1" }, card.Ts, ct, background: true);
        var deferred = await Assert.ThrowsAsync<ChatDeferredException>(() =>
            client.PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "reply 2" }, card.Ts, ct, background: true));
        var secondCard = client.PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "card #2" }, null, ct);

        await secondCard.WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.InRange(deferred.RetryAfter!.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(1));
        Assert.Equal(["card #1", "reply 1", "card #2"], _slack.Messages.Select(m => m.Text));

        _time.Advance(TimeSpan.FromSeconds(2));
        await client.PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "reply 2" }, card.Ts, ct, background: true);
        Assert.Equal(4, _slack.Calls.Count);
    }

    [Fact]
    public async Task Post_UnknownChannel_PermanentFailureWithSlacksCode()
    {
        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            Client().PostMessageAsync("C0NOWHERE", new JsonObject { ["text"] = "x" }, null, TestContext.Current.CancellationToken));

        Assert.Equal("channel_not_found", error.ErrorCode);
        Assert.False(error.Retryable);
    }

    [Fact]
    public async Task Post_WrongToken_InvalidAuth()
    {
        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            Client(token: "xoxb-wrong").PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "x" }, null, TestContext.Current.CancellationToken));

        Assert.Equal("invalid_auth", error.ErrorCode);
    }

    [Fact]
    public async Task Post_InvalidBlocks_RefusedWithPointer()
    {
        var message = new JsonObject
        {
            ["text"] = "x",
            ["blocks"] = new JsonArray(new JsonObject { ["type"] = "header", ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = new string('h', 200) } }),
        };

        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            Client().PostMessageAsync("C0PAYMENTS", message, null, TestContext.Current.CancellationToken));

        Assert.Equal("invalid_blocks", error.ErrorCode);
        Assert.Contains("json-pointer:/blocks/0/text/text", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_UnknownTs_MessageNotFound()
    {
        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            Client().UpdateMessageAsync(new SlackMessageRef("C0PAYMENTS", "1.000001"), new JsonObject { ["text"] = "x" }, TestContext.Current.CancellationToken));

        Assert.Equal("message_not_found", error.ErrorCode);
    }

    [Fact]
    public async Task Post_RateLimited_WaitsRetryAfterThenSucceeds()
    {
        _slack.RateLimitNext("chat.postMessage", 1, retryAfterSeconds: 3);
        var start = _time.GetUtcNow();

        var posted = await Support.Time.RunAsync(_time,
            Client().PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "x" }, null, TestContext.Current.CancellationToken),
            TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

        Assert.NotNull(posted.Ts);
        var calls = _slack.Calls;
        Assert.Equal([429, 200], calls.Select(c => c.Status));
        Assert.True(calls[1].At - start >= TimeSpan.FromSeconds(3), $"retried after {calls[1].At - start}, before Retry-After");
    }

    [Fact]
    public async Task Post_RateLimitedLongerThanInlineMax_ThrowsRetryableWithRetryAfter()
    {
        _slack.RateLimitNext("chat.postMessage", 1, retryAfterSeconds: 120);

        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            Client().PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = "x" }, null, TestContext.Current.CancellationToken));

        Assert.True(error.Retryable);
        Assert.Equal(TimeSpan.FromSeconds(120), error.RetryAfter);
    }

    [Fact]
    public async Task Post_BurstToOneChannel_PacedSoSlackNeverAnswers429()
    {
        // The fake answers 429 beyond 8 posts per second per channel; the client's pace (1/s, bursts of 4) stays under it.
        var client = Client();
        var start = _time.GetUtcNow();
        var posts = Enumerable.Range(0, 10)
            .Select(i => client.PostMessageAsync("C0PAYMENTS", new JsonObject { ["text"] = $"m{i}" }, null, TestContext.Current.CancellationToken))
            .ToList();

        await Support.Time.RunAsync(_time, Task.WhenAll(posts), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(30));

        var calls = _slack.Calls;
        Assert.Equal(10, calls.Count);
        Assert.All(calls, c => Assert.Equal(200, c.Status));
        // From the reservations (made at once, at start): the first HTTP round trip may take long in real time while
        // the fake clock runs, so the span between calls is not what pacing guarantees; the last call's time is.
        var span = calls.Max(c => c.At) - start;
        Assert.True(span >= TimeSpan.FromSeconds(6), $"10 posts with bursts of 4 at 1/s take at least 6 s of pacing, took {span}");
    }
}
