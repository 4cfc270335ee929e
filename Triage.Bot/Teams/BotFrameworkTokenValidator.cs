using System.Security.Claims;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Triage.Bot.Teams;

/// <summary>Outcome of validating an inbound Bot Framework request: 200 accepted, 401 unauthenticated, 403 not endorsed.</summary>
public sealed record BotAuthResult(int Status, string? Reason, ClaimsIdentity? Identity = null)
{
    public bool IsValid => Status == 200;
}

/// <summary>
/// Validates the JWT on requests from the Bot Connector, as the Bot Framework authentication spec requires: Bearer
/// scheme; issuer <c>https://api.botframework.com</c>; audience = the bot's app id; lifetime with 5 minutes' skew;
/// RS256/384/512 signature by a key from the OpenID metadata's JWKS; the <c>serviceurl</c> claim equal to the
/// activity's serviceUrl; and the signing key endorsed for the activity's channel (<c>msteams</c>), else 403.
/// Keys are cached and re-read every <see cref="BotFrameworkOptions.KeyRefreshInterval"/>, and at once (at most every
/// 5 minutes) when a token names an unknown key id. There is deliberately no switch to turn any check off.
/// </summary>
public sealed partial class BotFrameworkTokenValidator : IDisposable
{
    private static readonly TimeSpan MinimumRefresh = TimeSpan.FromMinutes(5);

    private static readonly string[] AllowedAlgorithms =
        [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512];

    private readonly HttpClient _http;
    private readonly BotFrameworkOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly SemaphoreSlim _refreshLock = new(1, 1);
    private volatile SigningKeys? _keys;
    private DateTimeOffset? _lastForcedRefresh;

    public BotFrameworkTokenValidator(HttpClient http, BotFrameworkOptions options, TimeProvider time, ILogger<BotFrameworkTokenValidator> logger)
    {
        _http = http;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Keys of the JWKS with the channels each is endorsed for, and when they were read.</summary>
    private sealed record SigningKeys(IReadOnlyList<JsonWebKey> Keys, IReadOnlyDictionary<string, string[]> Endorsements, DateTimeOffset ReadAt);

    public void Dispose() => _refreshLock.Dispose();

    /// <param name="authorization">The Authorization header.</param>
    /// <param name="serviceUrl">The activity's <c>serviceUrl</c>.</param>
    /// <param name="channelId">The activity's <c>channelId</c> (<c>msteams</c>).</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<BotAuthResult> ValidateAsync(string? authorization, string? serviceUrl, string? channelId, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(authorization) || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return new BotAuthResult(401, "no Bearer token");
        }

        var token = authorization["Bearer ".Length..].Trim();
        SigningKeys keys;
        try
        {
            keys = await GetKeysAsync(forceRefresh: false, ct);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or InvalidOperationException or KeyNotFoundException or ArgumentException)
        {
            Log.MetadataFailed(_logger, e.Message);
            return new BotAuthResult(401, "OpenID metadata unavailable");
        }

        string? kid;
        try
        {
            kid = new JsonWebToken(token).Kid;
        }
        catch (ArgumentException)
        {
            return new BotAuthResult(401, "malformed token");
        }

        if (kid is not null && !keys.Endorsements.ContainsKey(kid))
        {
            // An unknown key id: keys may have rotated. Read them again (a forced read at most every 5 minutes, so junk
            // tokens cannot hammer the metadata service).
            keys = await GetKeysAsync(forceRefresh: true, ct);
        }

        var result = await _handler.ValidateTokenAsync(token, Parameters(keys));
        if (!result.IsValid)
        {
            var reason = Reason(result.Exception);
            Log.Rejected(_logger, reason);
            return new BotAuthResult(401, reason);
        }

        var jwt = (JsonWebToken)result.SecurityToken;
        // The serviceurl claim binds the token to where replies go: otherwise a stolen token could aim the bot elsewhere.
        var claimed = jwt.TryGetPayloadValue<string>("serviceurl", out var s) ? s : null;
        if (string.IsNullOrEmpty(serviceUrl) || !string.Equals(claimed, serviceUrl, StringComparison.OrdinalIgnoreCase))
        {
            return new BotAuthResult(401, "serviceurl claim does not match the activity's serviceUrl");
        }

        if (!string.IsNullOrEmpty(channelId))
        {
            if (jwt.Kid is null || !keys.Endorsements.TryGetValue(jwt.Kid, out var endorsements)
                || !endorsements.Contains(channelId, StringComparer.Ordinal))
            {
                return new BotAuthResult(403, $"signing key is not endorsed for channel '{channelId}'");
            }
        }

        return new BotAuthResult(200, null, result.ClaimsIdentity);
    }

    private async Task<SigningKeys> GetKeysAsync(bool forceRefresh, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        bool Fresh(SigningKeys? keys) => keys is not null && (forceRefresh
            ? _lastForcedRefresh is { } last && now - last < MinimumRefresh
            : now - keys.ReadAt < _options.KeyRefreshInterval);

        if (Fresh(_keys))
        {
            return _keys!;
        }

        await _refreshLock.WaitAsync(ct);
        try
        {
            if (Fresh(_keys))
            {
                return _keys!;
            }

            if (forceRefresh)
            {
                _lastForcedRefresh = now;
            }

            EnsureAllowed(_options.OpenIdMetadataUrl);
            var metadata = JsonSerializer.Deserialize<JsonElement>(await _http.GetStringAsync(_options.OpenIdMetadataUrl, ct));
            var jwksUri = new Uri(metadata.GetProperty("jwks_uri").GetString()!);
            EnsureAllowed(jwksUri);
            var jwksText = await _http.GetStringAsync(jwksUri, ct);
            var set = new JsonWebKeySet(jwksText);
            // Bot Framework adds an "endorsements" array per key; read it from the raw JSON rather than trust a library's
            // handling of unknown members.
            var endorsements = new Dictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var key in JsonSerializer.Deserialize<JsonElement>(jwksText).GetProperty("keys").EnumerateArray())
            {
                if (key.TryGetProperty("kid", out var kid) && kid.GetString() is { } id)
                {
                    endorsements[id] = key.TryGetProperty("endorsements", out var e) && e.ValueKind == JsonValueKind.Array
                        ? [.. e.EnumerateArray().Select(x => x.GetString() ?? "")]
                        : [];
                }
            }

            var fresh = new SigningKeys(set.Keys.ToList(), endorsements, now);
            _keys = fresh;
            Log.KeysRead(_logger, fresh.Keys.Count);
            return fresh;
        }
        finally
        {
            _refreshLock.Release();
        }
    }

    /// <summary>Plain HTTP only for a metadata service on this machine (tests, a local proxy); anything remote must be HTTPS.</summary>
    private static void EnsureAllowed(Uri uri)
    {
        if (uri.Scheme != Uri.UriSchemeHttps && !uri.IsLoopback)
        {
            throw new InvalidOperationException($"{uri} is neither HTTPS nor on this machine");
        }
    }

    private TokenValidationParameters Parameters(SigningKeys keys) => new()
    {
        ValidateIssuer = true,
        ValidIssuer = _options.Issuer,
        ValidateAudience = true,
        ValidAudience = _options.AppId,
        ValidateLifetime = true,
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        ValidateIssuerSigningKey = true,
        IssuerSigningKeys = keys.Keys,
        ValidAlgorithms = AllowedAlgorithms,
        ClockSkew = _options.ClockSkew,
        // Lifetime against the injected clock so that expiry is testable without waiting.
        LifetimeValidator = (notBefore, expires, _, parameters) =>
        {
            var now = _time.GetUtcNow().UtcDateTime;
            return expires is { } exp && now <= exp.ToUniversalTime() + parameters.ClockSkew
                && (notBefore is not { } nbf || now >= nbf.ToUniversalTime() - parameters.ClockSkew);
        },
    };

    private static string Reason(Exception? e) => e switch
    {
        SecurityTokenInvalidIssuerException => "wrong issuer",
        SecurityTokenInvalidAudienceException => "wrong audience",
        SecurityTokenExpiredException or SecurityTokenInvalidLifetimeException or SecurityTokenNotYetValidException => "token expired or not yet valid",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "bad signature",
        SecurityTokenInvalidAlgorithmException => "algorithm not allowed",
        _ => "invalid token",
    };

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "Teams: Bot Framework OpenID metadata could not be read: {Message}")]
        public static partial void MetadataFailed(ILogger logger, string message);

        [LoggerMessage(Level = LogLevel.Information, Message = "Teams: inbound token refused: {Reason}")]
        public static partial void Rejected(ILogger logger, string reason);

        [LoggerMessage(Level = LogLevel.Information, Message = "Teams: read {Count} Bot Framework signing keys")]
        public static partial void KeysRead(ILogger logger, int count);
    }
}
