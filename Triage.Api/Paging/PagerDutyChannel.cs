using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Triage.Api.Delivery;

namespace Triage.Api.Paging;

/// <summary>
/// Sends outbox messages of channel <c>pagerduty</c> to the Events API v2. Answers: 202 → delivered (remote id = the
/// dedup key PagerDuty echoes); 400 → failed for good with PagerDuty's error list (the docs say not to retry);
/// 429 → retry after <c>Retry-After</c>, or 30 s as PagerDuty suggests; 5xx and network errors → retry with backoff.
/// </summary>
internal sealed class PagerDutyChannel(HttpClient http, PagerDutyOptions options, TimeProvider time) : IDeliveryChannel
{
    /// <summary>PagerDuty's suggested wait after a 429 when it sends no <c>Retry-After</c>.</summary>
    internal static readonly TimeSpan DefaultRateLimitWait = TimeSpan.FromSeconds(30);

    public string Name => PagerDutyEvents.Channel;

    public async Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        var envelope = JsonNode.Parse(message.Payload)?.AsObject();
        var team = (string?)envelope?["team"];
        if (envelope?["event"] is not JsonObject body || team is null)
        {
            return DeliveryResult.Failed("payload is not {\"team\": …, \"event\": {…}}");
        }

        var routingKey = options.RoutingKeyFor(team);
        if (routingKey is null)
        {
            return DeliveryResult.Failed($"no PagerDuty routing key for team '{team}'");
        }

        body = (JsonObject)body.DeepClone();
        body["routing_key"] = routingKey;
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(options.Url, content, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.StatusCode switch
        {
            HttpStatusCode.Accepted or HttpStatusCode.OK => DeliveryResult.Delivered(ReadDedupKey(text) ?? (string?)body["dedup_key"]),
            HttpStatusCode.BadRequest => DeliveryResult.Failed($"HTTP 400: {Describe(text)}"),
            HttpStatusCode.TooManyRequests => DeliveryResult.Retry($"HTTP 429: {Describe(text)}", RetryAfter(response.Headers.RetryAfter, time) ?? DefaultRateLimitWait,
                mayHaveArrived: false),
            >= HttpStatusCode.InternalServerError => DeliveryResult.Retry($"HTTP {(int)response.StatusCode}: {Describe(text)}"),
            _ => DeliveryResult.Failed($"HTTP {(int)response.StatusCode}: {Describe(text)}"),
        };
    }

    /// <summary>The wait a <c>Retry-After</c> header asks for, as seconds or as an HTTP date.</summary>
    internal static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, TimeProvider time) =>
        header?.Delta ?? (header?.Date is { } date ? date - time.GetUtcNow() : null);

    private static string? ReadDedupKey(string text)
    {
        try
        {
            return (string?)JsonNode.Parse(text)?["dedup_key"];
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>PagerDuty's message and errors, e.g. "Event object is invalid: Length of 'routing_key' is incorrect".</summary>
    private static string Describe(string text)
    {
        try
        {
            var node = JsonNode.Parse(text);
            var message = (string?)node?["message"] ?? (string?)node?["status"] ?? text;
            var errors = node?["errors"] is JsonArray list ? string.Join("; ", list.Select(e => (string?)e)) : null;
            return string.IsNullOrEmpty(errors) ? message : $"{message}: {errors}";
        }
        catch (System.Text.Json.JsonException)
        {
            return text.Length > 500 ? text[..500] : text;
        }
    }
}
