using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Triage.Fakes.Teams;

/// <summary>An activity the fake Connector holds.</summary>
public sealed record FakeTeamsActivity(string ConversationId, string Id, JsonObject Body, DateTimeOffset ReceivedAt)
{
    /// <summary>How many PUTs replaced it.</summary>
    public int Updates { get; init; }

    public string? ReplyToId => Body["replyToId"]?.GetValue<string>();
}

/// <summary>A conversation created through <c>POST /v3/conversations</c>.</summary>
public sealed record FakeTeamsConversation(string Id, bool IsGroup, string? ChannelId, IReadOnlyList<string> Members, string TenantId);

/// <summary>What a signed inbound token says; each field can be made wrong to test refusal.</summary>
public sealed record InboundTokenSpec(string Audience, string ServiceUrl)
{
    public string Issuer { get; init; } = "https://api.botframework.com";
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromHours(1);
    public DateTimeOffset? IssuedAt { get; init; }

    /// <summary>Sign with the key endorsed for msteams (default) or the one endorsed only for another channel.</summary>
    public bool EndorsedForTeams { get; init; } = true;

    /// <summary>Sign with a key that the metadata does not publish.</summary>
    public bool UnknownKey { get; init; }
}

/// <summary>
/// A strict fake of the Bot Framework services a Teams bot talks to, on 127.0.0.1:
/// <list type="bullet">
/// <item>the AAD token endpoint (<c>POST /botframework.com/oauth2/v2.0/token</c>, client-credentials form, AAD error bodies);</item>
/// <item>OpenID metadata and a JWKS whose keys carry Bot Framework's <c>endorsements</c>, with local RSA keys that
/// sign inbound Connector → bot tokens (<see cref="CreateInboundToken"/>);</item>
/// <item>the Connector REST API under <c>/teams/v3/conversations</c>: Bearer tokens it issued, ErrorResponse bodies,
/// 404 for unknown conversations or activities, 413 over 100 KB, and 429 with Retry-After beyond Teams' per-thread
/// limit (7 sends per second) or when injected.</item>
/// </list>
/// </summary>
public sealed class FakeBotFramework : IAsyncDisposable
{
    public const string BotScope = "https://api.botframework.com/.default";
    private const int MaxActivityBytes = 100 * 1024;

    private readonly ConcurrentDictionary<string, DateTimeOffset> _issued = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FakeTeamsConversation> _conversations = new(StringComparer.Ordinal);
    private readonly List<FakeTeamsActivity> _activities = [];
    private readonly List<(Func<FakeTeamsActivity, bool> Match, TaskCompletionSource<FakeTeamsActivity> Done)> _waiters = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly FakeAdmission _admission;

    /// <summary>Injected failures apply to every Connector call, whatever the conversation.</summary>
    private const string AnyCall = "*";

    /// <summary>Sends per thread per second before the Connector throttles (Teams' documented 7 per second per thread).</summary>
    private const int ThreadSendsPerSecond = 7;
    private RsaSecurityKey _teamsKey;
    private readonly RsaSecurityKey _otherChannelKey;
    private readonly RsaSecurityKey _unpublishedKey;
    private WebApplication? _app;
    private long _counter;

    private FakeBotFramework(string appId, string appSecret, string tenantId, TimeProvider time)
    {
        AppId = appId;
        AppSecret = appSecret;
        TenantId = tenantId;
        _time = time;
        _admission = new FakeAdmission(time);
        _teamsKey = NewKey("teams-key-1");
        _otherChannelKey = NewKey("webchat-key-1");
        _unpublishedKey = NewKey("unpublished-key");
    }

    public string AppId { get; }
    public string AppSecret { get; }
    public string TenantId { get; }
    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The AAD token endpoint (multi-tenant form).</summary>
    public Uri TokenEndpoint => new(BaseUrl, "botframework.com/oauth2/v2.0/token");

    public Uri OpenIdMetadataUrl => new(BaseUrl, "v1/.well-known/openidconfiguration");

    /// <summary>The Connector's service URL, as Teams puts it in activities (ends with a slash).</summary>
    public string ServiceUrl => new Uri(BaseUrl, "teams/").AbsoluteUri;

    private int _tokenRequests;
    private int _metadataRequests;
    private int _keySetRequests;

    /// <summary>Requests to the token endpoint (to check that the bot caches its token).</summary>
    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    public int MetadataRequests => Volatile.Read(ref _metadataRequests);

    /// <summary>Requests for the JWKS (to check that the bot caches and refreshes keys).</summary>
    public int KeySetRequests => Volatile.Read(ref _keySetRequests);

    public static async Task<FakeBotFramework> StartAsync(string appId = "00000000-0000-0000-0000-00000000b07a",
        string appSecret = "fake-bot-secret", string tenantId = "72f988bf-0000-0000-0000-000000000000", TimeProvider? time = null)
    {
        var fake = new FakeBotFramework(appId, appSecret, tenantId, time ?? TimeProvider.System);
        var (app, baseUrl) = await FakeServer.StartAsync(fake.Map);
        fake._app = app;
        fake.BaseUrl = baseUrl;
        return fake;
    }

    public IReadOnlyList<FakeTeamsActivity> Activities
    {
        get
        {
            lock (_lock)
            {
                return [.. _activities];
            }
        }
    }

    public IReadOnlyCollection<FakeTeamsConversation> Conversations => [.. _conversations.Values];

    /// <summary>Registers a Teams channel (19:…@thread.tacv2) the bot is installed in.</summary>
    public FakeBotFramework AddChannel(string channelId)
    {
        _conversations[channelId] = new FakeTeamsConversation(channelId, true, channelId, [], TenantId);
        return this;
    }

    /// <summary>The next <paramref name="count"/> Connector calls answer <paramref name="status"/> (429, 412, 502, 504).</summary>
    public void FailNext(int count, int status = 429, int? retryAfterSeconds = null)
    {
        _admission.FailNext(AnyCall, count, status, retryAfterSeconds);
    }

    /// <summary>Replaces the msteams-endorsed signing key (old tokens stop validating once the bot refreshes its keys).</summary>
    public void RotateKeys()
    {
        lock (_lock)
        {
            _teamsKey = NewKey("teams-key-rotated-" + Interlocked.Increment(ref _counter).ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>A Connector → bot JWT, signed by a key published in the fake's JWKS.</summary>
    public string CreateInboundToken(InboundTokenSpec spec)
    {
        var issued = spec.IssuedAt ?? _time.GetUtcNow();
        var key = spec.UnknownKey ? _unpublishedKey : spec.EndorsedForTeams ? _teamsKey : _otherChannelKey;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = spec.Issuer,
            Audience = spec.Audience,
            IssuedAt = issued.UtcDateTime,
            NotBefore = issued.UtcDateTime,
            Expires = (issued + spec.Lifetime).UtcDateTime,
            Claims = new Dictionary<string, object> { ["serviceurl"] = spec.ServiceUrl },
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    /// <summary>Completes when a stored activity (a post, or the state after a PUT) matches.</summary>
    public Task<FakeTeamsActivity> WaitForActivityAsync(Func<FakeTeamsActivity, bool> match, TimeSpan timeout)
    {
        var done = new TaskCompletionSource<FakeTeamsActivity>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_activities.FirstOrDefault(match) is { } existing)
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

    private static RsaSecurityKey NewKey(string kid) => new(RSA.Create(2048)) { KeyId = kid };

    private void Map(WebApplication app)
    {
        app.MapPost("/{tenant}/oauth2/v2.0/token", (Delegate)Token);
        app.MapGet("/v1/.well-known/openidconfiguration", () =>
        {
            Interlocked.Increment(ref _metadataRequests);
            return Results.Json(new JsonObject
            {
                ["issuer"] = "https://api.botframework.com",
                ["authorization_endpoint"] = "https://invalid.botframework.com",
                ["jwks_uri"] = new Uri(BaseUrl, "v1/.well-known/keys").AbsoluteUri,
                ["id_token_signing_alg_values_supported"] = new JsonArray("RS256"),
                ["token_endpoint_auth_methods_supported"] = new JsonArray("private_key_jwt"),
            });
        });
        app.MapGet("/v1/.well-known/keys", () =>
        {
            Interlocked.Increment(ref _keySetRequests);
            lock (_lock)
            {
                return Results.Json(new JsonObject { ["keys"] = new JsonArray(Jwk(_teamsKey, "msteams"), Jwk(_otherChannelKey, "webchat")) });
            }
        });
        app.MapPost("/teams/v3/conversations", (Delegate)CreateConversationAsync);
        app.MapPost("/teams/v3/conversations/{conversationId}/activities", (HttpContext c, string conversationId) => SendAsync(c, conversationId, null));
        app.MapPost("/teams/v3/conversations/{conversationId}/activities/{activityId}", (HttpContext c, string conversationId, string activityId) => SendAsync(c, conversationId, activityId));
        app.MapPut("/teams/v3/conversations/{conversationId}/activities/{activityId}", (Delegate)UpdateAsync);
    }

    private static JsonObject Jwk(RsaSecurityKey key, string endorsement)
    {
        var p = key.Rsa.ExportParameters(false);
        return new JsonObject
        {
            ["kty"] = "RSA",
            ["use"] = "sig",
            ["kid"] = key.KeyId,
            ["n"] = Base64UrlEncoder.Encode(p.Modulus),
            ["e"] = Base64UrlEncoder.Encode(p.Exponent),
            ["endorsements"] = new JsonArray(endorsement),
        };
    }

    private async Task<IResult> Token(HttpContext context, string tenant)
    {
        Interlocked.Increment(ref _tokenRequests);
        if (!context.Request.HasFormContentType)
        {
            return AadError(400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.");
        }

        var form = await context.Request.ReadFormAsync();
        if (form["grant_type"] != "client_credentials")
        {
            return AadError(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
        }

        if (form["client_id"] != AppId)
        {
            return AadError(400, "unauthorized_client", $"AADSTS700016: Application with identifier '{form["client_id"]}' was not found in the directory.");
        }

        if (form["client_secret"] != AppSecret)
        {
            return AadError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
        }

        if (form["scope"] != BotScope)
        {
            return AadError(400, "invalid_scope", $"AADSTS70011: The provided value for the input parameter 'scope' is not valid. ({form["scope"]})");
        }

        var token = "fake-aad-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        _issued[token] = _time.GetUtcNow().AddHours(1);
        return Results.Json(new JsonObject { ["token_type"] = "Bearer", ["expires_in"] = 3600, ["ext_expires_in"] = 3600, ["access_token"] = token });
    }

    private static IResult AadError(int status, string error, string description) =>
        Results.Json(new JsonObject { ["error"] = error, ["error_description"] = description, ["error_codes"] = new JsonArray() }, statusCode: status);

    private static IResult ConnectorError(int status, string code, string message) =>
        Results.Json(new JsonObject { ["error"] = new JsonObject { ["code"] = code, ["message"] = message } }, statusCode: status);

    /// <summary>Auth, injected failures and the size limit, common to every Connector call; null when the call may proceed.</summary>
    private async Task<(IResult? Refusal, JsonObject? Body)> AdmitAsync(HttpContext context, string? thread)
    {
        if (FakeAdmission.BearerToken(context.Request) is not { } token
            || !_issued.TryGetValue(token, out var expires) || expires <= _time.GetUtcNow())
        {
            return (Results.Json(new JsonObject { ["message"] = "Authorization has been denied for this request." }, statusCode: 401), null);
        }

        if (_admission.TakeInjected(AnyCall, out var status, out var retryAfter))
        {
            if (retryAfter is { } seconds)
            {
                context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            }

            return (ConnectorError(status, status == 429 ? "Throttled" : "ServiceError", "Injected failure"), null);
        }

        if (thread is not null && !_admission.WithinRate(thread, ThreadSendsPerSecond))
        {
            context.Response.Headers.RetryAfter = "1";
            return (ConnectorError(429, "Throttled", "Too many requests for this thread"), null);
        }

        if (context.Request.ContentLength > MaxActivityBytes)
        {
            return (ConnectorError(413, "MessageSizeTooBig", "Message size too big"), null);
        }

        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body);
        }
        catch (JsonException)
        {
            return (ConnectorError(400, "BadSyntax", "Invalid JSON"), null);
        }

        return body is JsonObject o ? (null, o) : (ConnectorError(400, "BadArgument", "Body must be an object"), null);
    }

    private async Task<IResult> CreateConversationAsync(HttpContext context)
    {
        var (refusal, body) = await AdmitAsync(context, null);
        if (refusal is not null)
        {
            return refusal;
        }

        var tenant = body!["channelData"]?["tenant"]?["id"]?.GetValue<string>() ?? body["tenantId"]?.GetValue<string>();
        if (tenant != TenantId)
        {
            return ConnectorError(400, "BadArgument", "Tenant id is required");
        }

        var activity = body["activity"] as JsonObject;
        var channelId = body["channelData"]?["channel"]?["id"]?.GetValue<string>();
        if (channelId is not null)
        {
            // A new thread in a channel: the activity is its first message.
            if (!_conversations.ContainsKey(channelId))
            {
                return ConnectorError(404, "ConversationNotFound", "Conversation not found.");
            }

            if (activity is null)
            {
                return ConnectorError(400, "BadArgument", "Activity is required to start a channel thread");
            }

            if (ValidateActivity(activity) is { } bad)
            {
                return bad;
            }

            var id = NextId();
            var threadId = $"{channelId};messageid={id}";
            _conversations[threadId] = new FakeTeamsConversation(threadId, true, channelId, [], tenant!);
            Store(new FakeTeamsActivity(threadId, id, activity, _time.GetUtcNow()));
            return Results.Json(new JsonObject { ["id"] = threadId, ["activityId"] = id }, statusCode: 201);
        }

        if (body["members"] is not JsonArray { Count: 1 } members || members[0]?["id"]?.GetValue<string>() is not { } member
            || !member.StartsWith("29:", StringComparison.Ordinal))
        {
            return ConnectorError(400, "BadArgument", "Exactly one member with a 29: id is required for a 1:1 conversation");
        }

        // Teams gives the same 1:1 conversation back for the same user, and does not post the activity itself.
        var conversationId = "a:" + Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(member)))[..24];
        _conversations.TryAdd(conversationId, new FakeTeamsConversation(conversationId, false, null, [member], tenant!));
        return Results.Json(new JsonObject { ["id"] = conversationId }, statusCode: 201);
    }

    private async Task<IResult> SendAsync(HttpContext context, string conversationId, string? replyTo)
    {
        var (refusal, body) = await AdmitAsync(context, conversationId);
        if (refusal is not null)
        {
            return refusal;
        }

        if (!_conversations.ContainsKey(conversationId))
        {
            return ConnectorError(404, "ConversationNotFound", "Conversation not found.");
        }

        if (ValidateActivity(body!) is { } bad)
        {
            return bad;
        }

        var id = NextId();
        Store(new FakeTeamsActivity(conversationId, id, body!, _time.GetUtcNow()));
        return Results.Json(new JsonObject { ["id"] = id }, statusCode: 201);
    }

    private async Task<IResult> UpdateAsync(HttpContext context, string conversationId, string activityId)
    {
        var (refusal, body) = await AdmitAsync(context, conversationId);
        if (refusal is not null)
        {
            return refusal;
        }

        if (ValidateActivity(body!) is { } bad)
        {
            return bad;
        }

        FakeTeamsActivity updated;
        lock (_lock)
        {
            var index = _activities.FindIndex(a => a.ConversationId == conversationId && a.Id == activityId);
            if (index < 0)
            {
                return ConnectorError(404, "ActivityNotFound", "Activity not found.");
            }

            updated = _activities[index] with { Body = body!, Updates = _activities[index].Updates + 1, ReceivedAt = _time.GetUtcNow() };
            _activities[index] = updated;
        }

        Notify(updated);
        return Results.Json(new JsonObject { ["id"] = activityId });
    }

    private static IResult? ValidateActivity(JsonObject activity)
    {
        if (activity["type"]?.GetValue<string>() != "message")
        {
            return ConnectorError(400, "BadArgument", "Activity type must be message");
        }

        var attachments = activity["attachments"] as JsonArray;
        if (string.IsNullOrEmpty(activity["text"]?.GetValue<string>()) && attachments is not { Count: > 0 })
        {
            return ConnectorError(400, "BadArgument", "Activity has no text and no attachments");
        }

        foreach (var attachment in attachments ?? [])
        {
            if (attachment?["contentType"]?.GetValue<string>() == "application/vnd.microsoft.card.adaptive"
                && attachment["content"]?["type"]?.GetValue<string>() != "AdaptiveCard")
            {
                return ConnectorError(400, "BadArgument", "Adaptive card content must be an AdaptiveCard");
            }
        }

        return null;
    }

    private string NextId() =>
        string.Create(CultureInfo.InvariantCulture, $"1{_time.GetUtcNow().ToUnixTimeMilliseconds()}{Interlocked.Increment(ref _counter):D4}");

    private void Store(FakeTeamsActivity activity)
    {
        lock (_lock)
        {
            _activities.Add(activity);
        }

        Notify(activity);
    }

    private void Notify(FakeTeamsActivity activity)
    {
        List<TaskCompletionSource<FakeTeamsActivity>> done = [];
        lock (_lock)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(activity))
                {
                    done.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var tcs in done)
        {
            tcs.TrySetResult(activity);
        }
    }

    /// <summary>Claims of a token, for assertions.</summary>
    public static IReadOnlyDictionary<string, string> Claims(string jwt) =>
        new JsonWebToken(jwt).Claims.GroupBy(c => c.Type).ToDictionary(g => g.Key, g => g.First().Value);
}
