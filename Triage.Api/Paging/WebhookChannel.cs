using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Triage.Api.Delivery;

namespace Triage.Api.Paging;

/// <summary>
/// Sends outbox messages of channel <c>webhook</c>: the payload <c>{"webhook": name, "body": {…}}</c> is POSTed to the
/// named webhook's URL with <c>X-Triage-Timestamp</c> (Unix seconds), <c>X-Triage-Signature: sha256=HEX</c> where HEX is
/// HMAC-SHA256 over <c>"{timestamp}.{body}"</c> with the shared secret (the receiver recomputes it and rejects old
/// timestamps against replay), and <c>Idempotency-Key</c> for receivers that deduplicate.
/// 2xx → delivered; 429 → retry after <c>Retry-After</c>; 408 and 5xx → retry; other 4xx → failed.
/// </summary>
internal sealed class WebhookChannel(HttpClient http, PagingOptions options, TimeProvider time) : IDeliveryChannel
{
    public const string ChannelName = "webhook";

    public string Name => ChannelName;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        var envelope = JsonNode.Parse(message.Payload)?.AsObject();
        var name = (string?)envelope?["webhook"];
        var webhook = options.Webhooks.FirstOrDefault(w => w.Name == name);
        if (webhook?.Url is null || envelope?["body"] is not JsonObject body)
        {
            return DeliveryResult.Failed($"no webhook named '{name}' is configured");
        }

        var json = body.ToJsonString();
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url)
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Triage-Timestamp", timestamp);
        request.Headers.Add("X-Triage-Signature", Sign(webhook.ResolveSecret() ?? "", timestamp, json));
        request.Headers.Add("Idempotency-Key", message.IdempotencyKey);
        using var timeout = new CancellationTokenSource(webhook.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var response = await http.SendAsync(request, linked.Token);
        var status = (int)response.StatusCode;
        return response.StatusCode switch
        {
            _ when response.IsSuccessStatusCode => DeliveryResult.Delivered(response.Headers.TryGetValues("X-Request-Id", out var ids) ? ids.First() : null),
            HttpStatusCode.TooManyRequests => DeliveryResult.Retry("HTTP 429", PagerDutyChannel.RetryAfter(response.Headers.RetryAfter, time), mayHaveArrived: false),
            HttpStatusCode.RequestTimeout or >= HttpStatusCode.InternalServerError => DeliveryResult.Retry($"HTTP {status}"),
            _ => DeliveryResult.Failed($"HTTP {status}: {Shorten(await response.Content.ReadAsStringAsync(cancellationToken))}"),
        };
    }

    /// <summary><c>sha256=</c> and the lower-case hex HMAC-SHA256 of <c>"{timestamp}.{body}"</c>.</summary>
    public static string Sign(string secret, string timestamp, string body)
    {
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{body}"));
        return "sha256=" + Convert.ToHexStringLower(mac);
    }

    private static string Shorten(string text) => text.Length > 300 ? text[..300] : text;
}
