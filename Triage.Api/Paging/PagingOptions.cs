using Triage.Api.Configuration;

namespace Triage.Api.Paging;

/// <summary>The <c>paging</c> section: where pages go besides chat.</summary>
internal sealed class PagingOptions
{
    /// <summary>PagerDuty Events API v2. Null: not used.</summary>
    public PagerDutyOptions? Pagerduty { get; set; }

    /// <summary>Generic webhooks, each signed with HMAC-SHA256.</summary>
    public List<WebhookOptions> Webhooks { get; set; } = [];

    /// <summary>Base URL of this service as people reach it, for links in pages (e.g. <c>https://triage.example.com</c>).</summary>
    public Uri? PublicUrl { get; set; }

    /// <summary>
    /// Page each person an escalation level reaches (a person target, or whoever is on call in a schedule target) by
    /// direct message in Slack (their <c>slack_user_id</c>, when <c>chat.slack</c> is configured) and Teams (their
    /// <c>teams_user_id</c>, when <c>chat.teams</c> is configured). Default true.
    /// </summary>
    public bool DirectMessages { get; set; } = true;

    public void Validate(ConfigValidationContext context, string path, TriageConfig config)
    {
        Pagerduty?.Validate(context, $"{path}.pagerduty", config);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Webhooks.Count; i++)
        {
            Webhooks[i].Validate(context, $"{path}.webhooks[{i}]", names);
        }

        if (PublicUrl is { IsAbsoluteUri: false })
        {
            context.Error($"{path}.public_url", "must be an absolute URL");
        }

        // The id goes unchanged into the Bot Connector's members[] when a Teams page opens the 1:1 conversation.
        var teamsPages = DirectMessages && config.Chat.Teams is not null;
        for (var i = 0; i < config.People.Count; i++)
        {
            if (config.People[i].TeamsUserId is { } id && TeamsUserIds.Problem(id, teamsPages) is { } problem)
            {
                context.Error($"people[{i}].teams_user_id", problem);
            }
        }
    }
}

/// <summary>
/// The two shapes of a Teams user id a person may be configured with: the Bot Framework user id (<c>29:…</c>, the
/// <c>from.id</c> of their messages to the bot, the only id a proactive 1:1 conversation accepts as a member) and the
/// AAD object id (a GUID, <c>from.aadObjectId</c>), which recognises them in chat but cannot open a conversation.
/// </summary>
internal static class TeamsUserIds
{
    public static bool IsBotFrameworkUserId(string id) =>
        id.Length > 3 && id.StartsWith("29:", StringComparison.Ordinal) && !id.Any(char.IsWhiteSpace);

    public static bool IsAadObjectId(string id) => Guid.TryParseExact(id, "D", out _);

    /// <summary>What is wrong with <paramref name="id"/>, or null; <paramref name="directMessages"/>: Teams pages are on.</summary>
    public static string? Problem(string id, bool directMessages)
    {
        if (IsBotFrameworkUserId(id))
        {
            return null;
        }

        if (IsAadObjectId(id))
        {
            return directMessages
                ? $"'{id}' is an AAD object id: it recognises the person in Teams, but a Teams page (a proactive 1:1 message, "
                  + "paging.direct_messages with chat.teams) needs their Bot Framework user id 29:… (the from.id of their "
                  + "messages to the bot); write that, or set paging.direct_messages: false"
                : null;
        }

        var hint = id.StartsWith("28:", StringComparison.Ordinal) ? " (28:… is a bot's id, not a person's)"
            : id.StartsWith("8:orgid:", StringComparison.OrdinalIgnoreCase) ? " (8:orgid:… is a Skype MRI; the GUID after it is the AAD object id)"
            : id.Contains('@', StringComparison.Ordinal) ? " (an email address or UPN is not an id)"
            : "";
        return $"'{id}' is not a Teams user id{hint}; expected the Bot Framework user id 29:… (the from.id of the person's "
            + "messages to the bot) or their AAD object id (a GUID)";
    }
}

/// <summary>PagerDuty Events API v2: one integration (routing) key per team, as each team has its own PagerDuty service.</summary>
internal sealed class PagerDutyOptions
{
    /// <summary>Events API endpoint. Default <c>https://events.pagerduty.com/v2/enqueue</c>.</summary>
    public Uri Url { get; set; } = new("https://events.pagerduty.com/v2/enqueue");

    /// <summary>Team name → 32-character integration key, or <c>env:NAME</c> to read it from an environment variable.</summary>
    public Dictionary<string, string> RoutingKeys { get; set; } = [];

    /// <summary>Per-attempt timeout. Default 10 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The key for <paramref name="team"/>, resolved from the environment when written as <c>env:NAME</c>.</summary>
    public string? RoutingKeyFor(string team) =>
        RoutingKeys.TryGetValue(team, out var value) ? Resolve(value) : null;

    internal static string? Resolve(string value) =>
        value.StartsWith("env:", StringComparison.Ordinal) ? Environment.GetEnvironmentVariable(value[4..]) : value;

    public void Validate(ConfigValidationContext context, string path, TriageConfig config)
    {
        if (!Url.IsAbsoluteUri || Url.Scheme is not ("https" or "http"))
        {
            context.Error($"{path}.url", "must be an absolute http(s) URL");
        }

        foreach (var (team, value) in RoutingKeys)
        {
            if (!config.Teams.Any(t => t.Name == team))
            {
                context.Error($"{path}.routing_keys.{team}", $"unknown team '{team}'");
            }

            var key = Resolve(value);
            if (key is null)
            {
                context.Error($"{path}.routing_keys.{team}", $"environment variable {value[4..]} is not set");
            }
            else if (key.Length != 32)
            {
                context.Error($"{path}.routing_keys.{team}", "an integration key has 32 characters");
            }
        }
    }
}

/// <summary>A generic webhook: JSON POSTed with an <c>X-Triage-Signature: sha256=…</c> HMAC of <c>timestamp.body</c>.</summary>
internal sealed class WebhookOptions
{
    public string Name { get; set; } = "";

    public Uri? Url { get; set; }

    /// <summary>The shared secret, or <c>env:NAME</c>.</summary>
    public string Secret { get; set; } = "";

    /// <summary>Which events: <c>page</c>, <c>acknowledge</c>, <c>resolve</c>. Default all.</summary>
    public List<string> Events { get; set; } = [];

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public string? ResolveSecret() => PagerDutyOptions.Resolve(Secret);

    public bool Wants(string @event) => Events.Count == 0 || Events.Contains(@event, StringComparer.Ordinal);

    public void Validate(ConfigValidationContext context, string path, HashSet<string> names)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            context.Error($"{path}.name", "is required");
        }
        else if (!names.Add(Name))
        {
            context.Error($"{path}.name", $"'{Name}' is used by another webhook");
        }

        if (Url is not { IsAbsoluteUri: true } || Url.Scheme is not ("https" or "http"))
        {
            context.Error($"{path}.url", "must be an absolute http(s) URL");
        }

        if (ResolveSecret() is not { Length: >= 16 })
        {
            context.Error($"{path}.secret", "must be set (or its environment variable) and at least 16 characters");
        }

        for (var i = 0; i < Events.Count; i++)
        {
            if (Events[i] is not ("page" or "acknowledge" or "resolve"))
            {
                context.Error($"{path}.events[{i}]", $"'{Events[i]}' is not an event; expected page, acknowledge or resolve");
            }
        }
    }
}
