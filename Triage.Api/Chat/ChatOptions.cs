using Triage.Api.Configuration;
using Triage.Bot.Slack;
using Triage.Bot.Teams;

namespace Triage.Api.Chat;

/// <summary>
/// The <c>chat</c> section: Slack and Microsoft Teams delivery and their inbound endpoints. With neither configured,
/// cards go to the local sink (<see cref="ChatOptions.SinkPath"/>) so that a trial run still shows them.
/// </summary>
internal sealed class ChatOptions
{
    public SlackChatOptions? Slack { get; set; }

    public TeamsChatOptions? Teams { get; set; }

    /// <summary>
    /// Folder of the local card page (<c>index.html</c>), used when no chat is configured. Unset means no local page;
    /// the example configuration sets <c>data/cards</c> so that the quick start shows cards.
    /// </summary>
    public string? SinkPath { get; set; }

    /// <summary>Write cards to the sink even when Slack or Teams is configured. Default false.</summary>
    public bool AlwaysSink { get; set; }

    /// <summary>Base URL people reach this service at, for "Details" links on cards (e.g. https://triage.example). Optional.</summary>
    public string? PublicBaseUrl { get; set; }

    public bool UseSink => SinkPath is not null && (AlwaysSink || (Slack is null && Teams is null));

    public void Validate(ConfigValidationContext context, string path, IReadOnlyList<TeamOptions> teams)
    {
        if (SinkPath is not null && string.IsNullOrWhiteSpace(SinkPath))
        {
            context.Error($"{path}.sink_path", "must not be empty");
        }

        if (AlwaysSink && SinkPath is null)
        {
            context.Error($"{path}.always_sink", "needs sink_path");
        }

        if (PublicBaseUrl is not null && !Uri.TryCreate(PublicBaseUrl, UriKind.Absolute, out _))
        {
            context.Error($"{path}.public_base_url", "must be an absolute URL");
        }

        Slack?.Validate(context, $"{path}.slack", teams);
        Teams?.Validate(context, $"{path}.teams", teams);
    }

    internal static void ValidateSecret(ConfigValidationContext context, string field, string? value, string? env, bool required)
    {
        if (value is not null && env is not null)
        {
            context.Error(field, $"set {field.Split('.')[^1]} or {field.Split('.')[^1]}_env, not both");
        }
        else if (env is not null && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
        {
            context.Error(field + "_env", $"environment variable {env} is not set");
        }
        else if (required && value is null && env is null)
        {
            context.Error(field + "_env", "is required (name of the environment variable holding it)");
        }
    }

    internal static void ValidateChannels(ConfigValidationContext context, string path, string? defaultChannel,
        Dictionary<string, string> teamChannels, IReadOnlyList<TeamOptions> teams)
    {
        if (string.IsNullOrWhiteSpace(defaultChannel) && teamChannels.Count == 0)
        {
            context.Error($"{path}.default_channel", "set default_channel or team_channels, or cards have nowhere to go");
        }

        foreach (var team in teamChannels.Keys)
        {
            if (!teams.Any(t => t.Name == team))
            {
                context.Error($"{path}.team_channels.{team}", $"unknown team '{team}'");
            }
        }
    }

    internal static void ValidateUrl(ConfigValidationContext context, string field, string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
        {
            context.Error(field, "must be an absolute http(s) URL");
        }
    }
}

/// <summary>Slack: a bot token for the Web API and the signing secret that verifies Slack's requests.</summary>
internal sealed class SlackChatOptions
{
    /// <summary>Bot token (xoxb-…). Prefer <see cref="BotTokenEnv"/>.</summary>
    public string? BotToken { get; set; }

    public string? BotTokenEnv { get; set; }

    public string? SigningSecret { get; set; }

    public string? SigningSecretEnv { get; set; }

    /// <summary>Web API base URL. Default <c>https://slack.com/api/</c>; a proxy or a test fake can stand in.</summary>
    public string ApiBaseUrl { get; set; } = "https://slack.com/api/";

    /// <summary>Channel id (C…) for incidents whose team has no channel of its own.</summary>
    public string? DefaultChannel { get; set; }

    /// <summary>Channel id per team name.</summary>
    public Dictionary<string, string> TeamChannels { get; set; } = [];

    /// <summary>Post timeline events (acknowledged, resolved …) as replies in the card's thread. Default true.</summary>
    public bool ThreadReplies { get; set; } = true;

    public string? ResolveBotToken() => BotToken ?? (BotTokenEnv is null ? null : Environment.GetEnvironmentVariable(BotTokenEnv));

    public string? ResolveSigningSecret() => SigningSecret ?? (SigningSecretEnv is null ? null : Environment.GetEnvironmentVariable(SigningSecretEnv));

    public SlackClientOptions ClientOptions() => new()
    {
        BaseUrl = new Uri(ApiBaseUrl.EndsWith('/') ? ApiBaseUrl : ApiBaseUrl + "/"),
        BotToken = ResolveBotToken() ?? "",
    };

    public void Validate(ConfigValidationContext context, string path, IReadOnlyList<TeamOptions> teams)
    {
        ChatOptions.ValidateSecret(context, $"{path}.bot_token", BotToken, BotTokenEnv, required: true);
        ChatOptions.ValidateSecret(context, $"{path}.signing_secret", SigningSecret, SigningSecretEnv, required: true);
        ChatOptions.ValidateUrl(context, $"{path}.api_base_url", ApiBaseUrl);
        ChatOptions.ValidateChannels(context, path, DefaultChannel, TeamChannels, teams);
    }
}

/// <summary>Teams: a Bot Framework bot (app id and secret) that posts cards and receives button presses.</summary>
internal sealed class TeamsChatOptions
{
    public string AppId { get; set; } = "";

    public string? AppSecret { get; set; }

    public string? AppSecretEnv { get; set; }

    /// <summary>The Azure AD tenant of the Teams channels (channelData.tenant.id on proactive posts).</summary>
    public string TenantId { get; set; } = "";

    public string TokenEndpoint { get; set; } = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token";

    public string OpenIdMetadataUrl { get; set; } = "https://login.botframework.com/v1/.well-known/openidconfiguration";

    /// <summary>Connector service URL for proactive posts. Default <c>https://smba.trafficmanager.net/teams/</c>.</summary>
    public string ServiceUrl { get; set; } = "https://smba.trafficmanager.net/teams/";

    /// <summary>Channel id (19:…@thread.tacv2) for incidents whose team has no channel of its own.</summary>
    public string? DefaultChannel { get; set; }

    public Dictionary<string, string> TeamChannels { get; set; } = [];

    /// <summary>
    /// Optional notify-only Workflows webhook URL (env var name): cards go there too, without buttons, for teams that
    /// have not installed the bot.
    /// </summary>
    public string? WorkflowsWebhookUrlEnv { get; set; }

    public string? ResolveAppSecret() => AppSecret ?? (AppSecretEnv is null ? null : Environment.GetEnvironmentVariable(AppSecretEnv));

    public BotFrameworkOptions ClientOptions() => new()
    {
        AppId = AppId,
        AppSecret = ResolveAppSecret(),
        TokenEndpoint = new Uri(TokenEndpoint),
        OpenIdMetadataUrl = new Uri(OpenIdMetadataUrl),
    };

    public void Validate(ConfigValidationContext context, string path, IReadOnlyList<TeamOptions> teams)
    {
        if (string.IsNullOrWhiteSpace(AppId))
        {
            context.Error($"{path}.app_id", "is required (the bot's Microsoft App ID)");
        }

        if (string.IsNullOrWhiteSpace(TenantId))
        {
            context.Error($"{path}.tenant_id", "is required");
        }

        ChatOptions.ValidateSecret(context, $"{path}.app_secret", AppSecret, AppSecretEnv, required: true);
        ChatOptions.ValidateUrl(context, $"{path}.token_endpoint", TokenEndpoint);
        ChatOptions.ValidateUrl(context, $"{path}.open_id_metadata_url", OpenIdMetadataUrl);
        ChatOptions.ValidateUrl(context, $"{path}.service_url", ServiceUrl);
        ChatOptions.ValidateChannels(context, path, DefaultChannel, TeamChannels, teams);
        if (WorkflowsWebhookUrlEnv is { } env && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
        {
            context.Error($"{path}.workflows_webhook_url_env", $"environment variable {env} is not set");
        }
    }
}
