using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Triage.Fakes.Slack;

/// <summary>A message as the fake Slack holds it.</summary>
public sealed record FakeSlackMessage(string Channel, string Ts, string? ThreadTs, string? Text, JsonNode? Blocks, DateTimeOffset ReceivedAt)
{
    /// <summary>How many chat.update calls replaced it.</summary>
    public int Edits { get; init; }

    /// <summary>When it was first posted; <see cref="ReceivedAt"/> moves with every chat.update.</summary>
    public DateTimeOffset PostedAt { get; init; }

    /// <summary>For chat.postEphemeral: the only user who sees it.</summary>
    public string? EphemeralUser { get; init; }

    /// <summary>The message metadata it was posted with (<c>event_type</c>, <c>event_payload</c>), if any.</summary>
    public JsonObject? Metadata { get; init; }
}

/// <summary>One Web API call the fake answered: method, HTTP status, Slack error code (null when ok).</summary>
public sealed record FakeSlackCall(string Method, int Status, string? Error, DateTimeOffset At);

/// <summary>
/// A strict fake of the Slack Web API (<c>POST /api/{method}</c>) on 127.0.0.1:
/// the bot token as a Bearer header (<c>not_authed</c> / <c>invalid_auth</c>), JSON bodies only with
/// <c>application/json</c> (<c>invalid_json</c>, <c>json_not_object</c>, <c>missing_charset</c> warning), form bodies
/// otherwise; errors as HTTP 200 <c>{ok:false,error}</c>; blocks checked against Block Kit limits
/// (<c>invalid_blocks</c> with json-pointer errors); unknown channels <c>channel_not_found</c>; chat.update of an unknown
/// message <c>message_not_found</c>; and rate limits as HTTP 429 with <c>Retry-After</c>: more than
/// <see cref="ChannelBurstLimit"/> chat.postMessage calls to one channel within a second, or whatever
/// <see cref="RateLimitNext"/> injects. Supported methods: chat.postMessage (with message metadata), chat.update,
/// chat.postEphemeral, conversations.open, auth.test, and conversations.history (also by GET with query arguments, its
/// documented verb; newest first, cursor pages, metadata only with <c>include_all_metadata</c>).
/// </summary>
public sealed class FakeSlackWebApi : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, byte> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _users = new(StringComparer.Ordinal);
    private readonly List<FakeSlackMessage> _messages = [];
    private readonly List<FakeSlackCall> _calls = [];
    private readonly List<(Func<FakeSlackMessage, bool> Match, TaskCompletionSource<FakeSlackMessage> Done)> _waiters = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly FakeAdmission _admission;
    private readonly List<(string Method, string? Channel)> _answersToLose = [];
    private WebApplication? _app;
    private long _tsCounter;

    /// <summary>The bot user's bot id, as auth.test answers and as history shows on the bot's messages.</summary>
    public const string BotId = "BFAKEBOT";

    private FakeSlackWebApi(string token, TimeProvider time)
    {
        Token = token;
        _time = time;
        _admission = new FakeAdmission(time);
    }

    /// <summary>The bot token requests must carry.</summary>
    public string Token { get; }

    /// <summary>Base of the Web API, e.g. <c>http://127.0.0.1:41234/api/</c>.</summary>
    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>More chat.postMessage calls than this to one channel within one second are answered 429. Default 8.</summary>
    public int ChannelBurstLimit { get; set; } = 8;

    /// <summary>
    /// When set, every conversations.history call answers this Slack error: <c>missing_scope</c> as for a bot installed
    /// without <c>channels:history</c> / <c>groups:history</c>, <c>channel_not_found</c> as for a channel given by name.
    /// </summary>
    public string? HistoryError { get; set; }

    /// <summary>Called for every stored message (post or update), on the request thread.</summary>
    public Action<FakeSlackMessage>? OnMessage { get; set; }

    public static async Task<FakeSlackWebApi> StartAsync(string token = "xoxb-fake-bot-token", TimeProvider? time = null)
    {
        var fake = new FakeSlackWebApi(token, time ?? TimeProvider.System);
        var (app, baseUrl) = await FakeServer.StartAsync(app =>
        {
            app.MapPost("/api/{method}", fake.HandleAsync);
            app.MapGet("/api/{method}", fake.HandleAsync);
        });
        fake._app = app;
        fake.BaseUrl = new Uri(baseUrl, "api/");
        return fake;
    }

    /// <summary>A channel the bot is a member of (C…); posts elsewhere fail with channel_not_found.</summary>
    public FakeSlackWebApi AddChannel(string id)
    {
        _channels[id] = 0;
        return this;
    }

    /// <summary>A workspace member (U…) for conversations.open and chat.postEphemeral.</summary>
    public FakeSlackWebApi AddUser(string id)
    {
        _users[id] = "D" + id.TrimStart('U', 'W');
        return this;
    }

    /// <summary>The next <paramref name="count"/> calls of <paramref name="method"/> get 429 with Retry-After.</summary>
    public void RateLimitNext(string method, int count, int retryAfterSeconds) => FailNext(method, count, 429, retryAfterSeconds);

    /// <summary>
    /// The next <paramref name="count"/> calls of <paramref name="method"/> are not carried out and answered with HTTP
    /// <paramref name="status"/> (429: <c>ratelimited</c>, with <paramref name="retryAfterSeconds"/>; 5xx: <c>fatal_error</c>).
    /// </summary>
    public void FailNext(string method, int count, int status, int? retryAfterSeconds = null) =>
        _admission.FailNext(method, count, status, retryAfterSeconds); // FakeAdmission locks for itself.

    /// <summary>
    /// The next successful call of <paramref name="method"/> (to <paramref name="channel"/>, when given) is carried out
    /// (a post is stored) but its answer never arrives: the connection is dropped, as when a network or a stopping
    /// client loses a response Slack already acted on.
    /// </summary>
    public void LoseNextAnswer(string method, string? channel = null)
    {
        lock (_lock)
        {
            _answersToLose.Add((method, channel));
        }
    }

    public IReadOnlyList<FakeSlackMessage> Messages
    {
        get
        {
            lock (_lock)
            {
                return [.. _messages];
            }
        }
    }

    public IReadOnlyList<FakeSlackCall> Calls
    {
        get
        {
            lock (_lock)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>Completes when a stored message (post, or a message after an update) matches.</summary>
    public Task<FakeSlackMessage> WaitForMessageAsync(Func<FakeSlackMessage, bool> match, TimeSpan timeout)
    {
        var done = new TaskCompletionSource<FakeSlackMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_messages.FirstOrDefault(match) is { } existing)
            {
                return Task.FromResult(existing);
            }

            _waiters.Add((match, done));
        }

        return done.Task.WaitAsync(timeout);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private async Task HandleAsync(HttpContext context, string method)
    {
        var (status, body, retryAfter) = await AnswerAsync(context.Request, method);
        bool lose;
        lock (_lock)
        {
            _calls.Add(new FakeSlackCall(method, status, body["ok"]?.GetValue<bool>() == true ? null : body["error"]?.GetValue<string>(), _time.GetUtcNow()));
            var answeredChannel = body["channel"] is JsonValue answered && answered.TryGetValue<string>(out var c) ? c : null;
            var index = body["ok"]?.GetValue<bool>() == true
                ? _answersToLose.FindIndex(l => l.Method == method && (l.Channel is null || l.Channel == answeredChannel))
                : -1;
            lose = index >= 0;
            if (lose)
            {
                _answersToLose.RemoveAt(index);
            }
        }

        if (lose)
        {
            context.Abort();
            return;
        }

        context.Response.StatusCode = status;
        if (retryAfter is { } seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(body.ToJsonString());
    }

    private async Task<(int Status, JsonObject Body, int? RetryAfter)> AnswerAsync(HttpRequest request, string method)
    {
        if (method is not ("chat.postMessage" or "chat.update" or "chat.postEphemeral" or "conversations.open" or "auth.test" or "conversations.history"))
        {
            return (404, Error("unknown_method"), null);
        }

        using var reader = new StreamReader(request.Body);
        var raw = await reader.ReadToEndAsync();
        var mediaType = request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        var warnings = new List<string>();
        JsonObject args;
        var token = FakeAdmission.BearerToken(request);

        if (HttpMethods.IsGet(request.Method))
        {
            // A read method's documented verb: the arguments in the query. The fake's write methods are POST only.
            if (method != "conversations.history")
            {
                return (404, Error("unknown_method"), null);
            }

            args = [];
            foreach (var (key, value) in request.Query)
            {
                args[key] = value.ToString();
            }
        }
        else if (mediaType == "application/json")
        {
            // JSON bodies must carry the token in the header; Slack never reads it from a JSON body.
            if (!request.ContentType!.Contains("charset", StringComparison.OrdinalIgnoreCase))
            {
                warnings.Add("missing_charset");
            }

            JsonNode? parsed;
            try
            {
                parsed = JsonNode.Parse(raw);
            }
            catch (JsonException)
            {
                return (200, Error("invalid_json"), null);
            }

            if (parsed is not JsonObject obj)
            {
                return (200, Error("json_not_object"), null);
            }

            args = obj;
        }
        else if (mediaType is "application/x-www-form-urlencoded" or null)
        {
            args = [];
            foreach (var (key, value) in QueryHelpers.ParseQuery(raw))
            {
                args[key] = value.ToString();
            }

            token ??= args["token"]?.GetValue<string>();
            if (args["blocks"] is JsonValue blocksText)
            {
                try
                {
                    args["blocks"] = JsonNode.Parse(blocksText.GetValue<string>());
                }
                catch (JsonException)
                {
                    return (200, Error("invalid_blocks_format"), null);
                }
            }
        }
        else
        {
            return (200, Error("invalid_form_data"), null);
        }

        if (string.IsNullOrEmpty(token))
        {
            return (200, Error("not_authed"), null);
        }

        if (token != Token)
        {
            return (200, Error("invalid_auth"), null);
        }

        var channel = Str(args, "channel");
        if (_admission.TakeInjected(method, out var injectedStatus, out var injectedRetryAfter))
        {
            return (injectedStatus, Error(injectedStatus == 429 ? "ratelimited" : "fatal_error"), injectedRetryAfter);
        }

        if (method == "chat.postMessage" && channel is not null && !_admission.WithinRate(channel, ChannelBurstLimit))
        {
            return (429, Error("ratelimited"), 1);
        }

        var result = method switch
        {
            "auth.test" => new JsonObject { ["ok"] = true, ["user_id"] = "UFAKEBOT", ["bot_id"] = BotId },
            "conversations.history" => History(args, channel),
            "conversations.open" => OpenConversation(args),
            "chat.postMessage" => PostMessage(args, channel, ephemeral: false),
            "chat.postEphemeral" => PostMessage(args, channel, ephemeral: true),
            _ => Update(args, channel),
        };

        if (warnings.Count > 0 && result["ok"]?.GetValue<bool>() == true)
        {
            result["warning"] = string.Join(',', warnings);
            result["response_metadata"] = new JsonObject { ["warnings"] = new JsonArray([.. warnings.Select(w => (JsonNode)w)]) };
        }

        return (200, result, null);
    }

    private JsonObject OpenConversation(JsonObject args)
    {
        if (Str(args, "users") is not { Length: > 0 } users)
        {
            return Str(args, "channel") is { } existing && IsChannel(existing)
                ? new JsonObject { ["ok"] = true, ["channel"] = new JsonObject { ["id"] = existing } }
                : Error("users_list_not_supplied");
        }

        var ids = users.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (ids.Length > 8)
        {
            return Error("too_many_users");
        }

        if (ids.Length > 1)
        {
            return Error("not_supported_in_fake");
        }

        if (!_users.TryGetValue(ids[0], out var dm))
        {
            return Error("user_not_found");
        }

        var alreadyOpen = !_channels.TryAdd(dm, 0);
        return new JsonObject { ["ok"] = true, ["already_open"] = alreadyOpen, ["channel"] = new JsonObject { ["id"] = dm } };
    }

    private JsonObject PostMessage(JsonObject args, string? channel, bool ephemeral)
    {
        if (channel is null || !IsChannel(channel))
        {
            return Error("channel_not_found");
        }

        var text = Str(args, "text");
        var blocks = args["blocks"];
        if (string.IsNullOrEmpty(text) && blocks is null)
        {
            return Error("no_text");
        }

        if (text is { Length: > 40_000 })
        {
            return Error("msg_too_long");
        }

        if (blocks is not null && Invalid(blocks) is { } invalid)
        {
            return invalid;
        }

        var metadata = ephemeral ? null : args["metadata"];
        if (metadata is JsonValue metadataText && metadataText.TryGetValue<string>(out var metadataJson))
        {
            // A form body carries the metadata as a JSON string.
            try
            {
                metadata = JsonNode.Parse(metadataJson);
            }
            catch (JsonException)
            {
                return Error("invalid_metadata_format");
            }
        }

        if (metadata is not null && (metadata is not JsonObject m || Str(m, "event_type") is not { Length: > 0 } || m["event_payload"] is not JsonObject))
        {
            return Error("invalid_metadata_schema");
        }

        string? user = null;
        if (ephemeral)
        {
            user = Str(args, "user");
            if (user is null || !_users.ContainsKey(user))
            {
                return Error("user_not_in_channel");
            }
        }

        var threadTs = Str(args, "thread_ts");
        FakeSlackMessage message;
        lock (_lock)
        {
            if (threadTs is not null && !_messages.Any(m => m.Channel == channel && m.Ts == threadTs))
            {
                return Error("invalid_thread_ts");
            }

            var ts = string.Create(CultureInfo.InvariantCulture, $"{_time.GetUtcNow().ToUnixTimeSeconds()}.{Interlocked.Increment(ref _tsCounter):D6}");
            var now = _time.GetUtcNow();
            message = new FakeSlackMessage(channel, ts, threadTs, text, blocks?.DeepClone(), now)
            {
                EphemeralUser = user, PostedAt = now, Metadata = (JsonObject?)metadata?.DeepClone(),
            };
            _messages.Add(message);
        }

        Notify(message);
        return ephemeral
            ? new JsonObject { ["ok"] = true, ["message_ts"] = message.Ts }
            : new JsonObject
            {
                ["ok"] = true,
                ["channel"] = channel,
                ["ts"] = message.Ts,
                ["message"] = new JsonObject { ["type"] = "message", ["bot_id"] = BotId, ["text"] = text, ["ts"] = message.Ts, ["blocks"] = blocks?.DeepClone() },
            };
    }

    /// <summary>
    /// conversations.history: the channel's messages (not thread replies, not ephemeral ones) after <c>oldest</c> and
    /// before <c>latest</c>, newest first, <c>limit</c> (default 100, at most 999) per page, the next page through
    /// <c>response_metadata.next_cursor</c>.
    /// </summary>
    private JsonObject History(JsonObject args, string? channel)
    {
        if (HistoryError is { } error)
        {
            var failed = Error(error);
            if (error == "missing_scope")
            {
                failed["needed"] = "channels:history,groups:history,mpim:history,im:history";
            }

            return failed;
        }

        if (channel is null || !IsChannel(channel))
        {
            return Error("channel_not_found");
        }

        if (!TryTs(Str(args, "oldest"), 0m, out var oldest))
        {
            return Error("invalid_ts_oldest");
        }

        if (!TryTs(Str(args, "latest"), decimal.MaxValue, out var latest))
        {
            return Error("invalid_ts_latest");
        }

        var limit = 100;
        if (Str(args, "limit") is { } limitText && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1))
        {
            return Error("invalid_limit");
        }

        limit = Math.Min(limit, 999);
        if (Str(args, "cursor") is { } cursor)
        {
            // The cursor is opaque to clients; here it holds the ts the next page starts below.
            try
            {
                var before = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(cursor));
                if (!before.StartsWith("next_ts:", StringComparison.Ordinal) || !TryTs(before["next_ts:".Length..], 0m, out latest))
                {
                    return Error("invalid_cursor");
                }
            }
            catch (FormatException)
            {
                return Error("invalid_cursor");
            }
        }

        var withMetadata = Str(args, "include_all_metadata") is "true" or "1" || args["include_all_metadata"] is JsonValue flag && flag.TryGetValue<bool>(out var on) && on;
        List<FakeSlackMessage> page;
        bool more;
        lock (_lock)
        {
            var matching = _messages
                .Where(m => m.Channel == channel && m.ThreadTs is null && m.EphemeralUser is null)
                .Select(m => (Message: m, Ts: decimal.Parse(m.Ts, CultureInfo.InvariantCulture)))
                .Where(m => m.Ts > oldest && m.Ts < latest)
                .OrderByDescending(m => m.Ts)
                .Select(m => m.Message)
                .ToList();
            page = [.. matching.Take(limit)];
            more = matching.Count > limit;
        }

        var messages = new JsonArray();
        foreach (var m in page)
        {
            var item = new JsonObject { ["type"] = "message", ["bot_id"] = BotId, ["text"] = m.Text, ["ts"] = m.Ts };
            if (withMetadata && m.Metadata is not null)
            {
                item["metadata"] = m.Metadata.DeepClone();
            }

            messages.Add(item);
        }

        var body = new JsonObject { ["ok"] = true, ["messages"] = messages, ["has_more"] = more };
        if (more)
        {
            body["response_metadata"] = new JsonObject
            {
                ["next_cursor"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("next_ts:" + page[^1].Ts)),
            };
        }

        return body;
    }

    private static bool TryTs(string? text, decimal absent, out decimal ts)
    {
        ts = absent;
        return string.IsNullOrEmpty(text) || decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out ts);
    }

    private JsonObject Update(JsonObject args, string? channel)
    {
        if (channel is null || !IsChannel(channel))
        {
            return Error("channel_not_found");
        }

        var ts = Str(args, "ts");
        var text = Str(args, "text");
        var blocks = args["blocks"];
        if (string.IsNullOrEmpty(text) && blocks is null)
        {
            return Error("no_text");
        }

        if (blocks is not null && Invalid(blocks) is { } invalid)
        {
            return invalid;
        }

        FakeSlackMessage updated;
        lock (_lock)
        {
            var index = _messages.FindIndex(m => m.Channel == channel && m.Ts == ts && m.EphemeralUser is null);
            if (index < 0)
            {
                return Error("message_not_found");
            }

            var old = _messages[index];
            // Omitting blocks keeps the previous ones, as Slack documents.
            updated = old with
            {
                Text = text ?? old.Text,
                Blocks = blocks?.DeepClone() ?? old.Blocks,
                Edits = old.Edits + 1,
                ReceivedAt = _time.GetUtcNow(),
            };
            _messages[index] = updated;
        }

        Notify(updated);
        return new JsonObject { ["ok"] = true, ["channel"] = channel, ["ts"] = ts, ["text"] = updated.Text };
    }

    private static JsonObject? Invalid(JsonNode blocks)
    {
        var errors = BlockKitValidator.Default.Validate(blocks);
        if (errors.Count == 0)
        {
            return null;
        }

        var error = Error("invalid_blocks");
        error["errors"] = new JsonArray([.. errors.Select(e => (JsonNode)e)]);
        error["response_metadata"] = new JsonObject { ["messages"] = new JsonArray([.. errors.Select(e => (JsonNode)("[ERROR] " + e))]) };
        return error;
    }

    private void Notify(FakeSlackMessage message)
    {
        OnMessage?.Invoke(message);
        List<TaskCompletionSource<FakeSlackMessage>> done = [];
        lock (_lock)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(message))
                {
                    done.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var tcs in done)
        {
            tcs.TrySetResult(message);
        }
    }

    private bool IsChannel(string id) => _channels.ContainsKey(id);

    private static string? Str(JsonObject args, string name) => args[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static JsonObject Error(string code) => new() { ["ok"] = false, ["error"] = code };
}
