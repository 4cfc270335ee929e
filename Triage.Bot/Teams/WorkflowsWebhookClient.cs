using System.Text;
using System.Text.Json.Nodes;
using Triage.Bot.Cards;
using Triage.Bot.Delivery;

namespace Triage.Bot.Teams;

/// <summary>
/// Notify-only Teams delivery through a Workflows ("When a Teams webhook request is received") URL, the successor of
/// Office 365 connectors. No button presses come back this way, so the card carries links only. Workflows answers
/// 202 Accepted; 429 and 5xx are retryable.
/// </summary>
public sealed class WorkflowsWebhookClient(HttpClient http)
{
    /// <summary>The webhook body: a message with the card as its single attachment.</summary>
    public static JsonObject Payload(IncidentCard card) => new()
    {
        ["type"] = "message",
        ["attachments"] = new JsonArray(new JsonObject
        {
            ["contentType"] = TeamsCardBuilder.ContentType,
            ["contentUrl"] = null,
            ["content"] = TeamsCardBuilder.Build(card, interactive: false),
        }),
    };

    public async Task PostAsync(Uri webhookUrl, IncidentCard card, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, webhookUrl)
        {
            Content = new StringContent(Payload(card).ToJsonString(), Encoding.UTF8, "application/json"),
        };
        using var response = await ChatHttp.SendAsync(http, request, "Workflows webhook", ct);
        if (!response.IsSuccessStatusCode)
        {
            var status = (int)response.StatusCode;
            throw new ChatDeliveryException($"Workflows webhook answered {status}", retryable: status is 429 or 408 or >= 500, ChatHttp.RetryAfterOf(response, TimeProvider.System));
        }
    }
}
