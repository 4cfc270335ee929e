namespace Triage.Bot.Teams;

/// <summary>Settings of the Bot Framework (Teams) side. Defaults are the public Azure endpoints.</summary>
public sealed record BotFrameworkOptions
{
    /// <summary>The bot's Microsoft App ID: the audience of inbound tokens and the client id of outbound ones.</summary>
    public required string AppId { get; init; }

    /// <summary>Client secret for the client-credentials grant; without it the bot can validate but not send.</summary>
    public string? AppSecret { get; init; }

    /// <summary>
    /// Token endpoint for outbound calls. Default the multi-tenant one,
    /// <c>https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token</c>; single-tenant bots use their tenant id
    /// in place of <c>botframework.com</c>.
    /// </summary>
    public Uri TokenEndpoint { get; init; } = new("https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token");

    /// <summary>Scope asked for outbound tokens. Default <c>https://api.botframework.com/.default</c>.</summary>
    public string Scope { get; init; } = "https://api.botframework.com/.default";

    /// <summary>OpenID metadata of the Bot Connector, which names the signing keys of inbound tokens.</summary>
    public Uri OpenIdMetadataUrl { get; init; } = new("https://login.botframework.com/v1/.well-known/openidconfiguration");

    /// <summary>Issuer of inbound (Connector → bot) tokens. Default <c>https://api.botframework.com</c>.</summary>
    public string Issuer { get; init; } = "https://api.botframework.com";

    /// <summary>Clock skew allowed on inbound token lifetimes. Default 5 minutes, as Bot Framework does.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often signing keys are re-read even without an unknown key id. Default 24 h (the documented maximum).</summary>
    public TimeSpan KeyRefreshInterval { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Attempts per Connector call on 429/412/502/504, including the first. Default 4.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>First backoff of the exponential series (doubled per attempt, plus up to 50% jitter). Default 1 s.</summary>
    public TimeSpan BaseBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A Retry-After (or backoff) longer than this is thrown as retryable for the outbox instead. Default 30 s.</summary>
    public TimeSpan MaxInlineWait { get; init; } = TimeSpan.FromSeconds(30);
}
