using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Triage.Bot.Delivery;
using Triage.Bot.Slack;
using Triage.Bot.Teams;
using Triage.Bot.Tests.Support;

namespace Triage.Bot.Tests.Delivery;

/// <summary>
/// Every chat call maps "no answer at all" the same way (one helper): a retryable ChatDeliveryException naming the
/// call, never a bare HttpRequestException that the outbox would not recognise. Real sockets on 127.0.0.1.
/// </summary>
public sealed class ChatHttpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A loopback URL nobody listens on: bind port 0, note the port, close it.</summary>
    private static Uri ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}/");
    }

    [Fact]
    public async Task SlackApiAndResponseUrl_ConnectionRefused_RetryableChatDeliveryException()
    {
        using var http = new HttpClient();
        var closed = ClosedPort();
        var client = new SlackWebApiClient(http, new SlackClientOptions { BaseUrl = closed, BotToken = "xoxb-test" }, TimeProvider.System,
            NullLogger<SlackWebApiClient>.Instance);

        var api = await Assert.ThrowsAsync<ChatDeliveryException>(() => client.PostMessageAsync("C0X", new JsonObject { ["text"] = "t" }, null, Ct));
        var responseUrl = await Assert.ThrowsAsync<ChatDeliveryException>(() => client.PostToResponseUrlAsync(new Uri(closed, "commands/1"), new JsonObject { ["text"] = "t" }, Ct));

        Assert.True(api.Retryable);
        Assert.StartsWith("Slack chat.postMessage:", api.Message, StringComparison.Ordinal);
        Assert.True(responseUrl.Retryable);
        Assert.StartsWith("Slack response_url:", responseUrl.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TeamsTokenEndpointAndWorkflowsWebhook_ConnectionRefused_RetryableChatDeliveryException()
    {
        using var http = new HttpClient();
        var closed = ClosedPort();
        using var connector = new BotConnectorClient(http, new BotFrameworkOptions
        {
            AppId = "app", AppSecret = "secret", TokenEndpoint = new Uri(closed, "tenant/oauth2/v2.0/token"),
        }, TimeProvider.System, NullLogger<BotConnectorClient>.Instance);
        var workflows = new WorkflowsWebhookClient(http);

        var token = await Assert.ThrowsAsync<ChatDeliveryException>(() => connector.GetTokenAsync(Ct));
        var webhook = await Assert.ThrowsAsync<ChatDeliveryException>(() => workflows.PostAsync(new Uri(closed, "workflows/1"), SampleCards.Imds(), Ct));

        Assert.True(token.Retryable);
        Assert.StartsWith("Teams token endpoint:", token.Message, StringComparison.Ordinal);
        Assert.True(webhook.Retryable);
        Assert.StartsWith("Workflows webhook:", webhook.Message, StringComparison.Ordinal);
    }
}
