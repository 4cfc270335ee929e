using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Triage.Api;
using Triage.Bot.Slack;
using Triage.Fakes.Slack;
using Triage.Fakes.Teams;
using Triage.Tests.Support;

namespace Triage.Tests.Chat;

/// <summary>The real service wired to a fake Slack Web API and a fake Bot Framework, with helpers that speak as Slack and Teams do.</summary>
internal sealed class ChatHarness : IAsyncDisposable
{
    public const string SigningSecret = "8f742231b10e8888abcd99yyyzzz85a5";
    public const string Channel = "C0PAYMENTS";
    public const string SocChannel = "C0SOC";
    public const string TeamsChannel = "19:payments@thread.tacv2";

    private ChatHarness(TriageTestHost host, FakeSlackWebApi slack, FakeBotFramework teams)
    {
        Host = host;
        Slack = slack;
        Teams = teams;
    }

    public TriageTestHost Host { get; }
    public FakeSlackWebApi Slack { get; }
    public FakeBotFramework Teams { get; }

    /// <param name="database">SQLite or PostgreSQL.</param>
    /// <param name="extraYaml">More top-level configuration sections (enrichment, routing …).</param>
    /// <param name="publicBaseUrl">chat.public_base_url: links on cards are absolute only with it.</param>
    /// <param name="baseYaml">Tokens, teams and people; default <see cref="TriageTestHost.BaseYaml"/>.</param>
    /// <param name="slackTeamChannels">chat.slack.team_channels as a YAML flow mapping, e.g. <c>{ soc: C0SOC }</c>.</param>
    public static async Task<ChatHarness> StartAsync(DatabaseKind database = DatabaseKind.Sqlite, string extraYaml = "", string? publicBaseUrl = null,
        string baseYaml = TriageTestHost.BaseYaml, string slackTeamChannels = "{}")
    {
        var slack = (await FakeSlackWebApi.StartAsync()).AddChannel(Channel).AddChannel(SocChannel).AddUser("U0ALICE").AddUser("U0CAROL").AddUser("U0NOBODY");
        var teams = (await FakeBotFramework.StartAsync()).AddChannel(TeamsChannel);
        var yaml = $"""
            chat:
              {(publicBaseUrl is null ? "" : "public_base_url: " + publicBaseUrl)}
              slack:
                bot_token: {slack.Token}
                signing_secret: {SigningSecret}
                api_base_url: {slack.BaseUrl}
                default_channel: {Channel}
                team_channels: {slackTeamChannels}
              teams:
                app_id: {teams.AppId}
                app_secret: {teams.AppSecret}
                tenant_id: {teams.TenantId}
                token_endpoint: {teams.TokenEndpoint}
                open_id_metadata_url: {teams.OpenIdMetadataUrl}
                service_url: {teams.ServiceUrl}
                default_channel: "{TeamsChannel}"
            delivery:
              poll_interval: 1s
            {extraYaml}
            """;
        var host = await TriageTestHost.StartAsync(database, extraYaml: yaml, baseYaml: baseYaml);
        return new ChatHarness(host, slack, teams);
    }

    /// <summary>POSTs alerts to the native ingest endpoint and expects them stored.</summary>
    public async Task PostAlertsAsync(CancellationToken ct, params Triage.Contracts.NativeAlert[] alerts)
    {
        var response = await Host.Ingest.PostAsync("/api/v1/alerts",
            new StringContent(System.Text.Json.JsonSerializer.Serialize(alerts, TriageJson.Options), Encoding.UTF8, "application/json"), ct);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Ingests an alert and waits for its card in Slack; returns the incident id and the message.</summary>
    public async Task<(long Id, FakeSlackMessage Card)> IncidentAsync(CancellationToken ct, Triage.Contracts.NativeAlert? alert = null)
    {
        var response = await Host.Ingest.PostAsync("/api/v1/alerts",
            new StringContent(System.Text.Json.JsonSerializer.Serialize(alert ?? Some.Alert(), TriageJson.Options), Encoding.UTF8, "application/json"), ct);
        response.EnsureSuccessStatusCode();
        var incidents = await TriageTestHost.ReadJsonAsync(await Host.Operator.GetAsync("/api/v1/incidents", ct));
        var id = incidents.GetProperty("items")[0].GetProperty("id").GetInt64();
        var card = await Slack.WaitForMessageAsync(m => m.ThreadTs is null && m.EphemeralUser is null
            && m.Text?.Contains($"incident #{id}", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(20));
        return (id, card);
    }

    /// <summary>POSTs a form body to a Slack endpoint, signed as Slack signs (or with a given timestamp / secret).</summary>
    public Task<HttpResponseMessage> SlackPostAsync(string path, string formBody, CancellationToken ct,
        DateTimeOffset? at = null, string secret = SigningSecret)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var bytes = Encoding.UTF8.GetBytes(formBody);
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-www-form-urlencoded");
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.Add("X-Slack-Request-Timestamp", timestamp);
        request.Headers.Add("X-Slack-Signature", SlackSignature.Sign(secret, timestamp, bytes));
        return Host.Anonymous.SendAsync(request, ct);
    }

    /// <summary>A block_actions payload for a press of <paramref name="actionId"/> carrying <paramref name="value"/>.</summary>
    public static string Press(string userId, string actionId, string value, string messageTs, string? actionTs = null, bool select = false)
    {
        var action = new JsonObject
        {
            ["action_id"] = actionId,
            ["block_id"] = "triage",
            ["type"] = select ? "static_select" : "button",
            ["action_ts"] = actionTs ?? $"{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.{Random.Shared.Next(100000, 999999)}",
        };
        if (select)
        {
            action["selected_option"] = new JsonObject { ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = "x" }, ["value"] = value };
        }
        else
        {
            action["value"] = value;
        }

        var payload = new JsonObject
        {
            ["type"] = "block_actions",
            ["user"] = new JsonObject { ["id"] = userId, ["username"] = userId.ToLowerInvariant(), ["team_id"] = "T0TEAM" },
            ["api_app_id"] = "A0APP",
            ["token"] = "legacy-verification-token",
            ["container"] = new JsonObject { ["type"] = "message", ["message_ts"] = messageTs, ["channel_id"] = Channel, ["is_ephemeral"] = false },
            ["trigger_id"] = "1.2.3",
            ["team"] = new JsonObject { ["id"] = "T0TEAM", ["domain"] = "example" },
            ["channel"] = new JsonObject { ["id"] = Channel, ["name"] = "payments" },
            ["message"] = new JsonObject { ["type"] = "message", ["ts"] = messageTs, ["text"] = "card" },
            ["response_url"] = "https://hooks.slack.com/actions/T0TEAM/1/abc",
            ["actions"] = new JsonArray(action),
        };
        return "payload=" + Uri.EscapeDataString(payload.ToJsonString());
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Slack.DisposeAsync();
        await Teams.DisposeAsync();
    }
}
