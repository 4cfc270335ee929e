using Triage.Api.Delivery;
using Triage.Api.OnCall;
using Triage.Api.Paging;
using Triage.Api.Routing;
using YamlDotNet.Serialization;

namespace Triage.Api.Configuration;

/// <summary>
/// The whole configuration file. Each feature owns its section type (in its own folder) and validates it;
/// this class only lists the sections. Field names are snake_case in YAML.
/// </summary>
internal sealed class TriageConfig
{
    public DatabaseOptions Database { get; set; } = new();
    public AuthOptions Auth { get; set; } = new();
    public IngestOptions Ingest { get; set; } = new();
    public IncidentOptions Incidents { get; set; } = new();
    public List<TeamOptions> Teams { get; set; } = [];
    public List<PersonOptions> People { get; set; } = [];
    public DeliveryOptions Delivery { get; set; } = new();
    public Suppression.SuppressionOptions Suppression { get; set; } = new();
    public Response.ResponseOptions Response { get; set; } = new();
    public Evidence.EvidenceOptions Evidence { get; set; } = new();
    public Enrichment.EnrichmentOptions Enrichment { get; set; } = new();
    public RoutingOptions Routing { get; set; } = new();
    public List<ScheduleOptions> Schedules { get; set; } = [];
    public List<EscalationPolicyOptions> EscalationPolicies { get; set; } = [];
    public PagingOptions Paging { get; set; } = new();
    public Chat.ChatOptions Chat { get; set; } = new();
    public Sensors.SensorsOptions Sensors { get; set; } = new();

    /// <summary>Absolute path of the file this was read from (not a YAML field).</summary>
    [YamlIgnore]
    public string SourceFile { get; set; } = "";

    public void Validate(ConfigValidationContext context)
    {
        Database.Validate(context, "database");
        Auth.Validate(context, "auth");
        Ingest.Validate(context, "ingest");
        Incidents.Validate(context, "incidents");
        TeamsAndPeopleValidation.Validate(Teams, People, context);
        Delivery.Validate(context, "delivery");
        Suppression.Validate(context, "suppression", Teams);
        Response.Validate(context, "response");
        Evidence.Validate(context, "evidence");
        Enrichment.Validate(context, "enrichment", Teams);
        OnCallValidation.Validate(this, context);
        Routing.Validate(context, "routing", this);
        Paging.Validate(context, "paging", this);
        Chat.Validate(context, "chat", Teams);
        Sensors.Validate(context, "sensors");
    }
}

/// <summary>Where incidents and alerts are stored.</summary>
internal sealed class DatabaseOptions
{
    /// <summary><c>sqlite</c> (default, a file under <c>./data/</c>) or <c>postgres</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>ADO.NET connection string. Default for SQLite: <c>Data Source=data/triage.db</c>.</summary>
    public string? ConnectionString { get; set; }

    public void Validate(ConfigValidationContext context, string path)
    {
        if (Provider is not ("sqlite" or "postgres"))
        {
            context.Error($"{path}.provider", $"'{Provider}' is not a provider; expected sqlite or postgres");
        }

        if (Provider == "postgres" && string.IsNullOrWhiteSpace(ConnectionString))
        {
            context.Error($"{path}.connection_string", "is required for postgres");
        }
    }
}

/// <summary>Bearer tokens accepted by the API, each with the scopes it grants.</summary>
internal sealed class AuthOptions
{
    public List<ApiToken> Tokens { get; set; } = [];

    public void Validate(ConfigValidationContext context, string path)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Tokens.Count; i++)
        {
            var token = Tokens[i];
            var at = $"{path}.tokens[{i}]";
            if (string.IsNullOrWhiteSpace(token.Name))
            {
                context.Error($"{at}.name", "is required");
            }
            else if (!seen.Add(token.Name))
            {
                context.Error($"{at}.name", $"'{token.Name}' is used by another token");
            }

            if (string.IsNullOrEmpty(token.Token) == string.IsNullOrEmpty(token.TokenEnv))
            {
                context.Error($"{at}.token", "set exactly one of token or token_env");
            }
            else if (token.TokenEnv is { Length: > 0 } env && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
            {
                context.Error($"{at}.token_env", $"environment variable {env} is not set");
            }
            else if (token.Resolve() is { Length: < 16 })
            {
                context.Error($"{at}.token", "is shorter than 16 characters");
            }

            if (token.Scopes.Count == 0)
            {
                context.Error($"{at}.scopes", $"list at least one of {string.Join(", ", ApiScopes.All)}");
            }

            for (var s = 0; s < token.Scopes.Count; s++)
            {
                if (!ApiScopes.All.Contains(token.Scopes[s]))
                {
                    context.Error($"{at}.scopes[{s}]",
                        $"'{token.Scopes[s]}' is not a scope; expected one of {string.Join(", ", ApiScopes.All)}");
                }
            }
        }
    }
}

/// <summary>One accepted bearer token.</summary>
internal sealed class ApiToken
{
    /// <summary>Who holds the token (a sensor fleet, Falco, an operator tool); recorded as the alert source.</summary>
    public string Name { get; set; } = "";

    /// <summary>The token itself. Prefer <see cref="TokenEnv"/> outside local trials.</summary>
    public string? Token { get; set; }

    /// <summary>Name of an environment variable holding the token.</summary>
    public string? TokenEnv { get; set; }

    public List<string> Scopes { get; set; } = [];

    public string? Resolve() => Token ?? (TokenEnv is null ? null : Environment.GetEnvironmentVariable(TokenEnv));
}

/// <summary>What a token may do.</summary>
internal static class ApiScopes
{
    /// <summary>Post alerts (sensors, Falco).</summary>
    public const string Ingest = "ingest";

    /// <summary>Read incidents and configuration-derived answers.</summary>
    public const string Read = "read";

    /// <summary>Take actions on incidents.</summary>
    public const string Act = "act";

    /// <summary>Fetch response commands for a node, report their results and upload evidence (sensors).</summary>
    public const string Sensor = "sensor";

    public static readonly IReadOnlySet<string> All = new HashSet<string>([Ingest, Read, Act, Sensor], StringComparer.Ordinal);
}

/// <summary>Limits for alert ingest.</summary>
internal sealed class IngestOptions
{
    /// <summary>Largest accepted request body in bytes. Default 1 MiB.</summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest number of alerts in one request. Default 1,000.</summary>
    public int MaxAlertsPerRequest { get; set; } = 1000;

    /// <summary>
    /// How often at most an incident's observers (chat card, enrichment refresh) hear of alerts that only raised its
    /// count and last-seen time. A new incident, a higher priority, new tags or a lifted suppression are announced at
    /// once. Default 30 s.
    /// </summary>
    public TimeSpan CountRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    public void Validate(ConfigValidationContext context, string path)
    {
        if (CountRefreshInterval < TimeSpan.FromSeconds(1) || CountRefreshInterval > TimeSpan.FromHours(1))
        {
            context.Error($"{path}.count_refresh_interval", "must be between 1s and 1h");
        }

        if (MaxBodyBytes is < 1024 or > 64 * 1024 * 1024)
        {
            context.Error($"{path}.max_body_bytes", "must be between 1024 and 67108864");
        }

        if (MaxAlertsPerRequest is < 1 or > 100_000)
        {
            context.Error($"{path}.max_alerts_per_request", "must be between 1 and 100000");
        }
    }
}

/// <summary>How alerts group into incidents.</summary>
internal sealed class IncidentOptions
{
    /// <summary>
    /// An alert joins the open incident with the same fingerprint when that incident saw an alert within this window;
    /// otherwise it opens a new incident. Default 1 hour.
    /// </summary>
    public TimeSpan GroupingWindow { get; set; } = TimeSpan.FromHours(1);

    public void Validate(ConfigValidationContext context, string path)
    {
        if (GroupingWindow <= TimeSpan.Zero || GroupingWindow > TimeSpan.FromDays(30))
        {
            context.Error($"{path}.grouping_window", "must be more than 0 and at most 30d");
        }
    }
}
