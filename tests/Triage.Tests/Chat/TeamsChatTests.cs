using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Triage.Fakes.Teams;
using Triage.Tests.Support;

namespace Triage.Tests.Chat;

public sealed class TeamsChatTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<HttpResponseMessage> SendActivityAsync(ChatHarness chat, JsonObject activity, InboundTokenSpec? spec = null)
    {
        var token = chat.Teams.CreateInboundToken(spec ?? new InboundTokenSpec(chat.Teams.AppId, chat.Teams.ServiceUrl));
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages")
        {
            Content = new StringContent(activity.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return chat.Host.Anonymous.SendAsync(request, Ct);
    }

    private static JsonObject Invoke(ChatHarness chat, long incidentId, string verb, string userId = "29:alice", string? target = null)
    {
        var data = new JsonObject { ["incident_id"] = incidentId, ["action"] = verb };
        if (target is not null)
        {
            data["target"] = target;
        }

        return new JsonObject
        {
            ["type"] = "invoke",
            ["name"] = "adaptiveCard/action",
            ["id"] = "f:1234",
            ["channelId"] = "msteams",
            ["serviceUrl"] = chat.Teams.ServiceUrl,
            ["from"] = new JsonObject { ["id"] = userId, ["name"] = "Alice", ["aadObjectId"] = "00000000-aaaa-0000-0000-000000000001" },
            ["conversation"] = new JsonObject { ["id"] = ChatHarness.TeamsChannel, ["conversationType"] = "channel", ["tenantId"] = chat.Teams.TenantId },
            ["recipient"] = new JsonObject { ["id"] = "28:" + chat.Teams.AppId },
            ["value"] = new JsonObject
            {
                ["action"] = new JsonObject { ["type"] = "Action.Execute", ["id"] = "", ["verb"] = verb, ["data"] = data },
                ["trigger"] = "manual",
            },
        };
    }

    [Fact]
    public async Task NewIncident_CardPostedToChannelThread_AndExactBodyServed()
    {
        await using var chat = await ChatHarness.StartAsync();
        var (id, _) = await chat.IncidentAsync(Ct);

        var posted = await chat.Teams.WaitForActivityAsync(a => a.ConversationId.StartsWith(ChatHarness.TeamsChannel, StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        var exact = await TriageTestHost.ReadJsonAsync(await chat.Host.Operator.GetAsync($"/api/v1/incidents/{id}/cards/teams", Ct));

        Assert.Equal("AdaptiveCard", posted.Body["attachments"]![0]!["content"]!["type"]!.GetValue<string>());
        Assert.Equal("message", exact.GetProperty("type").GetString());
        Assert.Equal("1.5", exact.GetProperty("attachments")[0].GetProperty("content").GetProperty("version").GetString());
    }

    [Fact]
    public async Task Invoke_AckByMappedPerson_AnsweredWithRefreshedCard_AndCardPutForEveryone()
    {
        await using var chat = await ChatHarness.StartAsync();
        var (id, _) = await chat.IncidentAsync(Ct);
        var posted = await chat.Teams.WaitForActivityAsync(a => a.ConversationId.StartsWith(ChatHarness.TeamsChannel, StringComparison.Ordinal), TimeSpan.FromSeconds(20));

        var response = await SendActivityAsync(chat, Invoke(chat, id, "ack"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await TriageTestHost.ReadJsonAsync(response);
        Assert.Equal(200, body.GetProperty("statusCode").GetInt32());
        Assert.Equal("application/vnd.microsoft.card.adaptive", body.GetProperty("type").GetString());
        Assert.Contains("Acknowledged", body.GetProperty("value").GetRawText(), StringComparison.Ordinal);
        var updated = await chat.Teams.WaitForActivityAsync(a => a.Id == posted.Id && a.Updates > 0, TimeSpan.FromSeconds(20));
        Assert.Contains("Acknowledged", updated.Body.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invoke_UnmappedUser_RefusedWithMessage()
    {
        await using var chat = await ChatHarness.StartAsync();
        var (id, _) = await chat.IncidentAsync(Ct);

        var body = await TriageTestHost.ReadJsonAsync(await SendActivityAsync(chat, Invoke(chat, id, "ack", userId: "29:stranger")));

        Assert.Equal("application/vnd.microsoft.activity.message", body.GetProperty("type").GetString());
        Assert.Contains("Refused", body.GetProperty("value").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_WrongAudienceOrIssuerOrExpired_401_NotEndorsed_403()
    {
        await using var chat = await ChatHarness.StartAsync();
        var activity = Invoke(chat, 1, "refresh");
        var spec = new InboundTokenSpec(chat.Teams.AppId, chat.Teams.ServiceUrl);

        Assert.Equal(HttpStatusCode.Unauthorized, (await SendActivityAsync(chat, activity, spec with { Audience = "other-bot" })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendActivityAsync(chat, activity, spec with { Issuer = "https://evil.example" })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendActivityAsync(chat, activity, spec with { IssuedAt = DateTimeOffset.UtcNow.AddHours(-2) })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendActivityAsync(chat, activity, spec with { EndorsedForTeams = false })).StatusCode);
    }
}
