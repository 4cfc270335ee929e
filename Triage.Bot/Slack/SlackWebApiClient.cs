using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Triage.Bot.Delivery;

namespace Triage.Bot.Slack;

/// <summary>Settings of the Slack Web API client.</summary>
public sealed record SlackClientOptions
{
    /// <summary>Base URL of the Web API, ending in a slash. Default <c>https://slack.com/api/</c>.</summary>
    public Uri BaseUrl { get; init; } = new("https://slack.com/api/");

    /// <summary>Bot token (xoxb-…), sent as a Bearer header, never in the body.</summary>
    public required string BotToken { get; init; }

    /// <summary>
    /// chat.postMessage pace per channel. Slack allows about one message per second per channel with short bursts.
    /// Default one per second, bursts of 4.
    /// </summary>
    public TimeSpan ChannelInterval { get; init; } = TimeSpan.FromSeconds(1);

    public int ChannelBurst { get; init; } = 4;

    /// <summary>Pace of the other methods per workspace (Tier 3: 50+ per minute). Default one per 1.2 s, bursts of 10.</summary>
    public TimeSpan MethodInterval { get; init; } = TimeSpan.FromSeconds(1.2);

    public int MethodBurst { get; init; } = 10;

    /// <summary>
    /// A 429 whose Retry-After is at most this long is waited out and the call retried here; a longer one is thrown
    /// as retryable so that the outbox reschedules it. Default 30 s.
    /// </summary>
    public TimeSpan MaxInlineRetryAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per call, including the first, for rate-limited calls. Default 3.</summary>
    public int MaxAttempts { get; init; } = 3;
}

/// <summary>A posted message: its channel and timestamp, which together identify it for chat.update and threads.</summary>
public sealed record SlackMessageRef(string Channel, string Ts);

/// <summary>
/// The Slack Web API methods the bot needs, spoken directly: JSON bodies with <c>charset=utf-8</c>, the token as a
/// Bearer header, <c>{ok:false,error}</c> turned into <see cref="ChatDeliveryException"/>, pacing per channel and
/// per method, and 429 <c>Retry-After</c> honoured.
/// </summary>
public sealed partial class SlackWebApiClient
{
    private static readonly HashSet<string> RetryableErrors = new(StringComparer.Ordinal)
    {
        "ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error", "request_timeout",
    };

    private readonly HttpClient _http;
    private readonly SlackClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RatePacer _channelPacer;
    private readonly RatePacer _methodPacer;
    private readonly ConcurrentDictionary<string, string> _directMessageChannels = new(StringComparer.Ordinal);
    private string? _botId;

    /// <summary>How far before an earlier attempt the history is read: Slack's clock and ours may differ a little.</summary>
    private static readonly TimeSpan HistoryClockMargin = TimeSpan.FromMinutes(5);

    /// <summary>Calls of a pace's burst that background messages leave free, so a new card goes out at once.</summary>
    private const int KeptForUrgent = 2;

    public SlackWebApiClient(HttpClient http, SlackClientOptions options, TimeProvider time, ILogger<SlackWebApiClient> logger)
    {
        _http = http;
        _options = options;
        _time = time;
        _logger = logger;
        _channelPacer = new RatePacer(time, options.ChannelInterval, options.ChannelBurst);
        _methodPacer = new RatePacer(time, options.MethodInterval, options.MethodBurst);
    }

    /// <summary>chat.postMessage: <paramref name="message"/> holds text and blocks; a thread reply when <paramref name="threadTs"/> is set.</summary>
    /// <param name="background">
    /// A message that may wait (a thread reply): when the channel's pace has no room beyond what is kept for urgent
    /// posts, it is not sent and <see cref="ChatDeferredException"/> says when to try again.
    /// </param>
    public async Task<SlackMessageRef> PostMessageAsync(string channel, JsonObject message, string? threadTs, CancellationToken ct, bool background = false)
    {
        var body = (JsonObject)message.DeepClone();
        body["channel"] = channel;
        if (threadTs is not null)
        {
            body["thread_ts"] = threadTs;
        }

        var response = await CallAsync("chat.postMessage", channel, body, ct, background);
        return new SlackMessageRef(response.GetProperty("channel").GetString()!, response.GetProperty("ts").GetString()!);
    }

    /// <summary>chat.update of a message posted before, replacing its text and blocks.</summary>
    /// <param name="background">Deferred (<see cref="ChatDeferredException"/>) rather than paced when the method's pace is short.</param>
    public async Task<SlackMessageRef> UpdateMessageAsync(SlackMessageRef target, JsonObject message, CancellationToken ct, bool background = false)
    {
        var body = (JsonObject)message.DeepClone();
        body["channel"] = target.Channel;
        body["ts"] = target.Ts;
        var response = await CallAsync("chat.update", null, body, ct, background);
        return new SlackMessageRef(response.GetProperty("channel").GetString()!, response.GetProperty("ts").GetString()!);
    }

    /// <summary>
    /// chat.postMessage of a message that carries message metadata naming it, unless an earlier attempt posted it
    /// already. chat.postMessage takes no idempotency key, so when <paramref name="mayHaveArrivedSince"/> is set (an
    /// attempt since then may have arrived although it failed: no answer, a 5xx, a stop or a crash mid-call) the
    /// channel's history is read first (<see cref="FindBotMessageAsync"/>) and a post with the same metadata is returned
    /// instead of posting again. When the history cannot be read at all (no history scope; a channel given by name,
    /// which chat.postMessage takes but conversations.history does not) the message is posted again: a second copy,
    /// never none. A passing failure (rate limit, 5xx) is thrown, so the attempt is retried later without posting.
    /// </summary>
    public async Task<SlackMessageRef> PostMessageOnceAsync(string channel, JsonObject message, DateTimeOffset? mayHaveArrivedSince, CancellationToken ct)
    {
        if (mayHaveArrivedSince is { } since && message["metadata"] is JsonObject metadata)
        {
            try
            {
                if (await FindBotMessageAsync(channel, metadata, since - HistoryClockMargin, ct) is { } posted)
                {
                    return posted;
                }
            }
            catch (ChatDeliveryException e) when (!e.Retryable)
            {
                Log.HistoryUnreadable(_logger, channel, e.ErrorCode ?? e.Message, metadata.ToJsonString());
            }
        }

        return await PostMessageAsync(channel, message, null, ct);
    }

    /// <summary>
    /// The newest message this bot posted to <paramref name="channel"/> since <paramref name="since"/> whose message
    /// metadata equals <paramref name="metadata"/> (<c>event_type</c> and <c>event_payload</c>); null when there is none
    /// among the newest <paramref name="maxMessages"/>. Reads conversations.history (scope <c>channels:history</c>, or
    /// <c>groups:history</c> for a private channel) page by page.
    /// </summary>
    public async Task<SlackMessageRef?> FindBotMessageAsync(string channel, JsonObject metadata, DateTimeOffset since, CancellationToken ct,
        int maxMessages = 1000)
    {
        _botId ??= (await CallAsync("auth.test", null, new JsonObject(), ct)).GetProperty("bot_id").GetString();
        var query = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["channel"] = channel,
            ["oldest"] = since.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            ["limit"] = "200",
            ["include_all_metadata"] = "true",
        };
        for (var read = 0; read < maxMessages;)
        {
            var page = await CallAsync("conversations.history", null, null, ct, query: query);
            foreach (var message in page.GetProperty("messages").EnumerateArray())
            {
                read++;
                if (message.TryGetProperty("bot_id", out var bot) && bot.GetString() == _botId
                    && message.TryGetProperty("metadata", out var found) && JsonNode.Parse(found.GetRawText()) is JsonObject other
                    && JsonNode.DeepEquals(other["event_type"], metadata["event_type"])
                    && JsonNode.DeepEquals(other["event_payload"], metadata["event_payload"]))
                {
                    return new SlackMessageRef(channel, message.GetProperty("ts").GetString()!);
                }
            }

            if (!page.TryGetProperty("response_metadata", out var next) || !next.TryGetProperty("next_cursor", out var cursor)
                || cursor.GetString() is not { Length: > 0 } nextCursor)
            {
                break;
            }

            query["cursor"] = nextCursor;
        }

        return null;
    }

    /// <summary>conversations.open for one user: the id of the direct-message channel (D…).</summary>
    public async Task<string> OpenDirectMessageAsync(string userId, CancellationToken ct)
    {
        var response = await CallAsync("conversations.open", null, new JsonObject { ["users"] = userId }, ct);
        return response.GetProperty("channel").GetProperty("id").GetString()!;
    }

    /// <summary>
    /// A direct message to a person (a page): opens the DM once per person (a user's DM channel does not change, and
    /// conversations.open is a Tier 3 method a burst of pages would otherwise queue on), then posts, or with
    /// <paramref name="mayHaveArrivedSince"/> finds an earlier attempt's post first (<see cref="PostMessageOnceAsync"/>;
    /// reading a DM's history needs <c>im:history</c>).
    /// </summary>
    public async Task<SlackMessageRef> PostDirectMessageAsync(string userId, JsonObject message, CancellationToken ct, DateTimeOffset? mayHaveArrivedSince = null)
    {
        if (!_directMessageChannels.TryGetValue(userId, out var channel))
        {
            channel = _directMessageChannels[userId] = await OpenDirectMessageAsync(userId, ct);
        }

        try
        {
            return await PostMessageOnceAsync(channel, message, mayHaveArrivedSince, ct);
        }
        catch (ChatDeliveryException e) when (e.ErrorCode is "channel_not_found" or "is_archived" or "not_in_channel")
        {
            // The remembered DM is gone: open it again next time.
            _directMessageChannels.TryRemove(userId, out _);
            throw new ChatDeliveryException(e.Message, retryable: true, inner: e) { ErrorCode = e.ErrorCode };
        }
    }

    /// <summary>chat.postEphemeral: a message only <paramref name="user"/> sees, e.g. why their action was refused.</summary>
    public Task PostEphemeralAsync(string channel, string user, string text, CancellationToken ct) =>
        CallAsync("chat.postEphemeral", null, new JsonObject { ["channel"] = channel, ["user"] = user, ["text"] = text }, ct);

    /// <summary>
    /// POSTs to a <c>response_url</c> (replace the original message, or answer ephemerally). Those URLs are Slack's, not
    /// the Web API's, and take no token.
    /// </summary>
    public async Task PostToResponseUrlAsync(Uri responseUrl, JsonObject body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, responseUrl)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        using var response = await ChatHttp.SendAsync(_http, request, "Slack response_url", ct);
        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            throw new ChatDeliveryException($"response_url answered {(int)response.StatusCode}: {ChatHttp.Shorten(text)}",
                retryable: (int)response.StatusCode is 429 or >= 500, ChatHttp.RetryAfterOf(response, _time))
            {
                MayHaveArrived = (int)response.StatusCode >= 500,
            };
        }
    }

    /// <summary>
    /// One Web API call: a JSON body (write methods), or with <paramref name="query"/> a GET with query arguments (read
    /// methods, whose documented verb is GET).
    /// </summary>
    private async Task<JsonElement> CallAsync(string method, string? channel, JsonObject? body, CancellationToken ct, bool background = false,
        IReadOnlyDictionary<string, string>? query = null)
    {
        var payload = body?.ToJsonString();
        for (var attempt = 1; ; attempt++)
        {
            // chat.postMessage is rate-limited per channel (Slack's "Special" tier: about one message per second per
            // channel), the other methods per method and workspace (tiers). Pacing posts per method as well would hold
            // a new incident's card in one channel behind replies in another. A 429 blocks the whole method.
            // A method's own pace already holds its 429 block (BlockUntil moves it); a channel's pace does not.
            var perChannel = channel is not null && method == "chat.postMessage";
            var (pacer, key) = perChannel ? (_channelPacer, channel!) : (_methodPacer, method);
            if (background)
            {
                var blocked = perChannel ? _methodPacer.BlockedFor(method) : TimeSpan.Zero;
                if (blocked > TimeSpan.Zero || !pacer.TryReserveNow(key, KeptForUrgent, out blocked))
                {
                    throw new ChatDeferredException($"Slack {method} deferred {blocked.TotalSeconds:0.#}s: the pace is kept for new cards", blocked);
                }
            }
            else
            {
                await Task.WhenAll(pacer.WaitAsync(key, ct), perChannel ? _methodPacer.WaitUntilUnblockedAsync(method, ct) : Task.CompletedTask);
            }

            using var request = query is null
                ? new HttpRequestMessage(HttpMethod.Post, new Uri(_options.BaseUrl, method))
                : new HttpRequestMessage(HttpMethod.Get, new Uri(_options.BaseUrl, QueryHelpers.AddQueryString(method, query.Select(p => KeyValuePair.Create(p.Key, (string?)p.Value)))));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.BotToken);
            if (payload is not null)
            {
                request.Content = new StringContent(payload, Encoding.UTF8);
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");
            }

            using (var response = await ChatHttp.SendAsync(_http, request, $"Slack {method}", ct))
            {
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    var retryAfter = ChatHttp.RetryAfterOf(response, _time) ?? TimeSpan.FromSeconds(1);
                    // Slack limits per method per workspace: everything calling this method waits, not just us.
                    _methodPacer.BlockUntil(method, _time.GetUtcNow() + retryAfter);
                    Log.RateLimited(_logger, method, retryAfter.TotalSeconds, attempt);
                    if (attempt >= _options.MaxAttempts || retryAfter > _options.MaxInlineRetryAfter)
                    {
                        throw new ChatDeliveryException($"Slack {method} rate limited; retry after {retryAfter.TotalSeconds:0}s",
                            retryable: true, retryAfter) { ErrorCode = "ratelimited" };
                    }

                    continue;
                }

                if ((int)response.StatusCode >= 500)
                {
                    throw new ChatDeliveryException($"Slack {method} answered HTTP {(int)response.StatusCode}", retryable: true, ChatHttp.RetryAfterOf(response, _time))
                    {
                        MayHaveArrived = true,
                    };
                }

                var text = await response.Content.ReadAsStringAsync(ct);
                JsonElement json;
                try
                {
                    json = JsonSerializer.Deserialize<JsonElement>(text);
                }
                catch (JsonException e)
                {
                    throw new ChatDeliveryException($"Slack {method} answered HTTP {(int)response.StatusCode} with a body that is not JSON", retryable: false, inner: e);
                }

                if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True)
                {
                    if (json.TryGetProperty("warning", out var warning) && warning.GetString() is { } warningText)
                    {
                        Log.Warning(_logger, method, warningText);
                    }

                    return json;
                }

                var error = json.ValueKind == JsonValueKind.Object && json.TryGetProperty("error", out var e2) ? e2.GetString() ?? "unknown" : "unknown";
                var detail = json.ValueKind == JsonValueKind.Object && json.TryGetProperty("errors", out var errors) ? " " + errors.GetRawText() : "";
                throw new ChatDeliveryException($"Slack {method} failed: {error}{detail}", RetryableErrors.Contains(error)) { ErrorCode = error };
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "Slack {Method} rate limited; waiting {Seconds} s (attempt {Attempt})")]
        public static partial void RateLimited(ILogger logger, string method, double seconds, int attempt);

        [LoggerMessage(Level = LogLevel.Information, Message = "Slack {Method} warned: {Warning}")]
        public static partial void Warning(ILogger logger, string method, string warning);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot read the history of Slack channel {Channel} ({Error}: the bot needs "
            + "channels:history, groups:history for a private channel, im:history for a DM, and the channel must be given by its id), so a "
            + "message an earlier attempt may have posted ({Metadata}) is posted again")]
        public static partial void HistoryUnreadable(ILogger logger, string channel, string error, string metadata);
    }
}
