using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using System.Text.Json.Nodes;
using Triage.Bot.Cards;
using Triage.Bot.Delivery;
using Triage.Bot.Teams;
using Triage.Bot.Tests.Support;
using Triage.Fakes.Teams;

namespace Triage.Bot.Tests.Teams;

public sealed class BotConnectorClientTests : IAsyncLifetime
{
    private const string Channel = "19:payments@thread.tacv2";
    private readonly FakeTimeProvider _time = Support.Time.Fake();
    private readonly HttpClient _http = new();
    private FakeBotFramework _teams = null!;

    public async ValueTask InitializeAsync()
    {
        _teams = (await FakeBotFramework.StartAsync(time: _time)).AddChannel(Channel);
    }

    public async ValueTask DisposeAsync()
    {
        await _teams.DisposeAsync();
        _http.Dispose();
    }

    private BotConnectorClient Client(string? secret = null, int maxAttempts = 4) => new(_http, new BotFrameworkOptions
    {
        AppId = _teams.AppId,
        AppSecret = secret ?? _teams.AppSecret,
        TokenEndpoint = _teams.TokenEndpoint,
        OpenIdMetadataUrl = _teams.OpenIdMetadataUrl,
        MaxAttempts = maxAttempts,
    }, _time, NullLogger<BotConnectorClient>.Instance);

    private JsonObject ChannelThread() => new()
    {
        ["isGroup"] = true,
        ["channelData"] = new JsonObject { ["channel"] = new JsonObject { ["id"] = Channel }, ["tenant"] = new JsonObject { ["id"] = _teams.TenantId } },
    };

    private static JsonObject CardActivity(string status = "triggered") => TeamsCardBuilder.Activity(TeamsCardBuilder.Build(SampleCards.Imds(status: status)));

    [Fact]
    public async Task CreateInChannel_ThenPut_UpdatesTheSameActivity()
    {
        using var client = Client();
        var ct = TestContext.Current.CancellationToken;

        var posted = await client.CreateConversationAsync(_teams.ServiceUrl, ChannelThread(), CardActivity(), ct);
        await client.UpdateActivityAsync(posted, CardActivity("acknowledged"), ct);

        var activity = Assert.Single(_teams.Activities);
        Assert.Equal(posted.ActivityId, activity.Id);
        Assert.Equal(1, activity.Updates);
        Assert.Contains("Acknowledged", activity.Body.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calls_ReuseOneCachedToken_UntilNearExpiry()
    {
        using var client = Client();
        var ct = TestContext.Current.CancellationToken;
        var posted = await client.CreateConversationAsync(_teams.ServiceUrl, ChannelThread(), CardActivity(), ct);
        await client.UpdateActivityAsync(posted, CardActivity(), ct);
        await client.ReplyToActivityAsync(posted, new JsonObject { ["type"] = "message", ["text"] = "acknowledged by alice" }, ct);
        Assert.Equal(1, _teams.TokenRequests);

        _time.Advance(TimeSpan.FromMinutes(56));
        await client.UpdateActivityAsync(posted, CardActivity(), ct);

        Assert.Equal(2, _teams.TokenRequests);
    }

    [Fact]
    public async Task CreatePersonal_PostsTheCardIntoTheNewChat()
    {
        using var client = Client();
        var parameters = new JsonObject
        {
            ["bot"] = new JsonObject { ["id"] = "28:" + _teams.AppId },
            ["members"] = new JsonArray(new JsonObject { ["id"] = "29:alice" }),
            ["channelData"] = new JsonObject { ["tenant"] = new JsonObject { ["id"] = _teams.TenantId } },
        };

        var posted = await client.CreateConversationAsync(_teams.ServiceUrl, parameters, CardActivity(), TestContext.Current.CancellationToken);

        Assert.StartsWith("a:", posted.ConversationId, StringComparison.Ordinal);
        Assert.Equal(posted.ActivityId, Assert.Single(_teams.Activities).Id);
    }

    [Fact]
    public async Task Throttled_BacksOffThenSucceeds()
    {
        using var client = Client();
        var ct = TestContext.Current.CancellationToken;
        var posted = await client.CreateConversationAsync(_teams.ServiceUrl, ChannelThread(), CardActivity(), ct);
        _teams.FailNext(2, 429, retryAfterSeconds: 2);
        var start = _time.GetUtcNow();

        await Support.Time.RunAsync(_time, client.UpdateActivityAsync(posted, CardActivity("acknowledged"), ct), TimeSpan.FromMilliseconds(250), TimeSpan.FromMinutes(1));

        Assert.Equal(1, _teams.Activities[0].Updates);
        Assert.True(_teams.Activities[0].ReceivedAt - start >= TimeSpan.FromSeconds(4), "two Retry-After: 2 waits");
    }

    [Fact]
    public async Task BadGatewayEveryTime_GivesUpRetryable()
    {
        using var client = Client(maxAttempts: 3);
        var ct = TestContext.Current.CancellationToken;
        var posted = await client.CreateConversationAsync(_teams.ServiceUrl, ChannelThread(), CardActivity(), ct);
        _teams.FailNext(5, 502);

        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            Support.Time.RunAsync(_time, client.UpdateActivityAsync(posted, CardActivity(), ct), TimeSpan.FromMilliseconds(250), TimeSpan.FromMinutes(1)));

        Assert.True(error.Retryable);
        Assert.Equal(0, _teams.Activities[0].Updates);
    }

    [Fact]
    public async Task WrongSecret_PermanentFailureNamingAadError()
    {
        using var client = Client(secret: "wrong");

        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            client.CreateConversationAsync(_teams.ServiceUrl, ChannelThread(), CardActivity(), TestContext.Current.CancellationToken));

        Assert.False(error.Retryable);
        Assert.Contains("invalid_client", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PutUnknownActivity_NotFoundIsPermanent()
    {
        using var client = Client();

        var error = await Assert.ThrowsAsync<ChatDeliveryException>(() =>
            client.UpdateActivityAsync(new TeamsMessageRef(_teams.ServiceUrl, Channel, "999"), CardActivity(), TestContext.Current.CancellationToken));

        Assert.False(error.Retryable);
        Assert.Equal("ActivityNotFound", error.ErrorCode);
    }
}
