using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Triage.Bot.Delivery;

namespace Triage.Bot.Teams;

/// <summary>A message the bot posted: where (service URL, conversation) and which activity, for later PUT updates.</summary>
public sealed record TeamsMessageRef(string ServiceUrl, string ConversationId, string ActivityId);

/// <summary>
/// Outbound Bot Connector REST (v3): proactive conversations, posts and updates, authenticated with a cached
/// client-credentials token. Retries 429, 412, 502 and 504 with exponential backoff and jitter (Teams' guidance),
/// honouring Retry-After when given; a 401 drops the cached token and retries once.
/// </summary>
public sealed partial class BotConnectorClient(HttpClient http, BotFrameworkOptions options, TimeProvider time, ILogger<BotConnectorClient> logger)
    : IDisposable
{
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private string? _token;
    private DateTimeOffset _tokenExpires;

    public void Dispose() => _tokenLock.Dispose();

    /// <summary>
    /// Creates a conversation (a 1:1 chat with <c>members</c>, or a new thread in a channel via <c>channelData.channel</c>)
    /// with <paramref name="activity"/> as its first message.
    /// </summary>
    public async Task<TeamsMessageRef> CreateConversationAsync(string serviceUrl, JsonObject parameters, JsonObject activity, CancellationToken ct)
    {
        var body = (JsonObject)parameters.DeepClone();
        body["activity"] = activity.DeepClone();
        var response = await SendAsync(HttpMethod.Post, serviceUrl, "v3/conversations", body, ct);
        var conversationId = response.GetProperty("id").GetString()!;
        var effectiveUrl = response.TryGetProperty("serviceUrl", out var su) && su.GetString() is { Length: > 0 } s ? s : serviceUrl;
        if (response.TryGetProperty("activityId", out var aid) && aid.GetString() is { Length: > 0 } activityId)
        {
            return new TeamsMessageRef(effectiveUrl, conversationId, activityId);
        }

        // A 1:1 conversation is created without the message on some channels: send it now.
        return await SendToConversationAsync(effectiveUrl, conversationId, activity, ct);
    }

    /// <summary>POST an activity into an existing conversation.</summary>
    public async Task<TeamsMessageRef> SendToConversationAsync(string serviceUrl, string conversationId, JsonObject activity, CancellationToken ct)
    {
        var response = await SendAsync(HttpMethod.Post, serviceUrl, $"v3/conversations/{Uri.EscapeDataString(conversationId)}/activities", activity, ct);
        return new TeamsMessageRef(serviceUrl, conversationId, response.GetProperty("id").GetString()!);
    }

    /// <summary>A reply in the thread of <paramref name="replyTo"/>.</summary>
    public async Task<TeamsMessageRef> ReplyToActivityAsync(TeamsMessageRef replyTo, JsonObject activity, CancellationToken ct)
    {
        var body = (JsonObject)activity.DeepClone();
        body["replyToId"] = replyTo.ActivityId;
        var response = await SendAsync(HttpMethod.Post, replyTo.ServiceUrl,
            $"v3/conversations/{Uri.EscapeDataString(replyTo.ConversationId)}/activities/{Uri.EscapeDataString(replyTo.ActivityId)}", body, ct);
        return new TeamsMessageRef(replyTo.ServiceUrl, replyTo.ConversationId, response.GetProperty("id").GetString()!);
    }

    /// <summary>PUT the whole activity in place of the one posted before (Teams updates single-attachment messages).</summary>
    public async Task UpdateActivityAsync(TeamsMessageRef target, JsonObject activity, CancellationToken ct)
    {
        var body = (JsonObject)activity.DeepClone();
        body["id"] = target.ActivityId;
        await SendAsync(HttpMethod.Put, target.ServiceUrl,
            $"v3/conversations/{Uri.EscapeDataString(target.ConversationId)}/activities/{Uri.EscapeDataString(target.ActivityId)}", body, ct);
    }

    /// <summary>The bearer token for Connector calls, from the cache while it has more than five minutes left.</summary>
    public async Task<string> GetTokenAsync(CancellationToken ct)
    {
        if (_token is { } cached && time.GetUtcNow() < _tokenExpires - TimeSpan.FromMinutes(5))
        {
            return cached;
        }

        await _tokenLock.WaitAsync(ct);
        try
        {
            if (_token is { } again && time.GetUtcNow() < _tokenExpires - TimeSpan.FromMinutes(5))
            {
                return again;
            }

            if (string.IsNullOrEmpty(options.AppSecret))
            {
                throw new ChatDeliveryException("Teams: no app secret configured, so the bot cannot send", retryable: false);
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, options.TokenEndpoint)
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["grant_type"] = "client_credentials",
                    ["client_id"] = options.AppId,
                    ["client_secret"] = options.AppSecret,
                    ["scope"] = options.Scope,
                }),
            };
            using var response = await ChatHttp.SendAsync(http, request, "Teams token endpoint", ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                // AAD answers {"error":"invalid_client","error_description":"…"}: a configuration problem, not transient.
                var transient = (int)response.StatusCode is 429 or >= 500;
                throw new ChatDeliveryException($"Teams token endpoint answered {(int)response.StatusCode}: {ChatHttp.Shorten(text)}", transient, ChatHttp.RetryAfterOf(response, time));
            }

            var json = JsonSerializer.Deserialize<JsonElement>(text);
            _token = json.GetProperty("access_token").GetString();
            _tokenExpires = time.GetUtcNow() + TimeSpan.FromSeconds(json.GetProperty("expires_in").GetInt32());
            Log.TokenAcquired(logger, _tokenExpires);
            return _token!;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    private async Task<JsonElement> SendAsync(HttpMethod method, string serviceUrl, string path, JsonObject body, CancellationToken ct)
    {
        var uri = new Uri(new Uri(serviceUrl.EndsWith('/') ? serviceUrl : serviceUrl + "/"), path);
        var payload = body.ToJsonString();
        var refreshedToken = false;

        // A 502 or 504 retried here may have been carried out before a later try was refused.
        var mayHaveArrived = false;
        for (var attempt = 1; ; attempt++)
        {
            var token = await GetTokenAsync(ct);
            using var request = new HttpRequestMessage(method, uri) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using (var response = await ChatHttp.SendAsync(http, request, $"Teams {method} {path}", ct))
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                if (response.IsSuccessStatusCode)
                {
                    return text.Length == 0 ? default : JsonSerializer.Deserialize<JsonElement>(text);
                }

                var status = (int)response.StatusCode;
                if (response.StatusCode == HttpStatusCode.Unauthorized && !refreshedToken)
                {
                    // The token may have been revoked or rotated early; one fresh token, then give up.
                    refreshedToken = true;
                    _token = null;
                    continue;
                }

                mayHaveArrived |= status >= 500;
                if (status is 429 or 412 or 502 or 504)
                {
                    var backoff = options.BaseBackoff * Math.Pow(2, attempt - 1);
                    var wait = ChatHttp.RetryAfterOf(response, time) is { } retryAfter && retryAfter > backoff
                        ? retryAfter
                        : backoff + backoff * (Random.Shared.NextDouble() * 0.5);
                    Log.Throttled(logger, status, method.Method, path, wait.TotalMilliseconds, attempt);
                    if (attempt >= options.MaxAttempts || wait > options.MaxInlineWait)
                    {
                        throw new ChatDeliveryException($"Teams {method} {path} answered {status} after {attempt} attempts: {ChatHttp.Shorten(text)}",
                            retryable: true, wait) { ErrorCode = ErrorCodeOf(text), MayHaveArrived = mayHaveArrived };
                    }

                    await Task.Delay(wait, time, ct);
                    continue;
                }

                throw new ChatDeliveryException($"Teams {method} {path} answered {status}: {ChatHttp.Shorten(text)}", retryable: status >= 500)
                {
                    ErrorCode = ErrorCodeOf(text),
                    MayHaveArrived = mayHaveArrived,
                };
            }
        }
    }

    private static string? ErrorCodeOf(string text)
    {
        try
        {
            var json = JsonSerializer.Deserialize<JsonElement>(text);
            return json.ValueKind == JsonValueKind.Object && json.TryGetProperty("error", out var error)
                && error.ValueKind == JsonValueKind.Object && error.TryGetProperty("code", out var code) ? code.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "Teams: Bot Connector token acquired, valid until {Expires}")]
        public static partial void TokenAcquired(ILogger logger, DateTimeOffset expires);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Teams: {Status} on {Method} {Path}; waiting {WaitMs} ms (attempt {Attempt})")]
        public static partial void Throttled(ILogger logger, int status, string method, string path, double waitMs, int attempt);
    }
}
