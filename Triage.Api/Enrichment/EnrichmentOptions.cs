using Triage.Api.Configuration;

namespace Triage.Api.Enrichment;

/// <summary>
/// The <c>enrichment</c> section: how owners are found, how the Kubernetes API is reached and cached, where runbooks
/// live.
/// </summary>
internal sealed class EnrichmentOptions
{
    public OwnershipOptions Ownership { get; set; } = new();
    public KubernetesOptions Kubernetes { get; set; } = new();
    public RunbookOptions Runbooks { get; set; } = new();

    /// <summary>Rollouts shown per workload, newest first. Default 5.</summary>
    public int MaxRollouts { get; set; } = 5;

    /// <summary>
    /// A rollout this long or less before the alert is "fresh" (fact <c>fresh_rollout</c>, which the routing matrix and
    /// suppression can match). Default 1 hour.
    /// </summary>
    public TimeSpan FreshRolloutWindow { get; set; } = TimeSpan.FromHours(1);

    public void Validate(ConfigValidationContext context, string path, IReadOnlyCollection<TeamOptions> teams)
    {
        Ownership.Validate(context, $"{path}.ownership", teams);
        Kubernetes.Validate(context, $"{path}.kubernetes");
        Runbooks.Validate(context, $"{path}.runbooks");
        if (MaxRollouts is < 1 or > 50)
        {
            context.Error($"{path}.max_rollouts", "must be between 1 and 50");
        }

        if (FreshRolloutWindow <= TimeSpan.Zero || FreshRolloutWindow > TimeSpan.FromDays(7))
        {
            context.Error($"{path}.fresh_rollout_window", "must be more than 0 and at most 7d");
        }
    }
}

/// <summary>Where the owning team comes from, in order: workload, pod, namespace, mappings, fallback.</summary>
internal sealed class OwnershipOptions
{
    /// <summary>Label keys read on the workload, its pod and its namespace, in order. Default <c>team</c>, <c>owner</c>.</summary>
    public List<string> LabelKeys { get; set; } = ["team", "owner"];

    /// <summary>Annotation keys read the same way, after the labels of the same object. Default <c>team</c>, <c>owner</c>.</summary>
    public List<string> AnnotationKeys { get; set; } = ["team", "owner"];

    /// <summary>Namespace glob (<c>*</c>, <c>?</c>) → team, first match wins.</summary>
    public List<NamespaceMapping> Namespaces { get; set; } = [];

    /// <summary>Image repository glob (without tag or digest, e.g. <c>registry.example.com/payments/*</c>) → team.</summary>
    public List<ImageMapping> Images { get; set; } = [];

    /// <summary>The team when nothing else decides. Unset: the incident stays without owner (routing decides).</summary>
    public string? FallbackTeam { get; set; }

    public void Validate(ConfigValidationContext context, string path, IReadOnlyCollection<TeamOptions> teams)
    {
        var known = teams.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        void CheckTeam(string field, string? team)
        {
            if (string.IsNullOrWhiteSpace(team))
            {
                context.Error(field, "is required");
            }
            else if (!known.Contains(team))
            {
                context.Error(field, $"'{team}' is not a team; expected one of {string.Join(", ", known.Order(StringComparer.Ordinal))}");
            }
        }

        for (var i = 0; i < LabelKeys.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(LabelKeys[i]))
            {
                context.Error($"{path}.label_keys[{i}]", "must not be empty");
            }
        }

        for (var i = 0; i < AnnotationKeys.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(AnnotationKeys[i]))
            {
                context.Error($"{path}.annotation_keys[{i}]", "must not be empty");
            }
        }

        for (var i = 0; i < Namespaces.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(Namespaces[i].Namespace))
            {
                context.Error($"{path}.namespaces[{i}].namespace", "is required (a glob such as payments-*)");
            }
            else if (Suppression.Glob.Validate(Namespaces[i].Namespace) is { } problem)
            {
                context.Error($"{path}.namespaces[{i}].namespace", problem);
            }

            CheckTeam($"{path}.namespaces[{i}].team", Namespaces[i].Team);
        }

        for (var i = 0; i < Images.Count; i++)
        {
            var repository = Images[i].Repository;
            if (string.IsNullOrWhiteSpace(repository))
            {
                context.Error($"{path}.images[{i}].repository", "is required (a glob such as registry.example.com/payments/*)");
            }
            else if (repository.Contains('@', StringComparison.Ordinal))
            {
                context.Error($"{path}.images[{i}].repository", "is a repository: leave out the tag and digest");
            }
            else if (Suppression.Glob.Validate(repository) is { } problem)
            {
                context.Error($"{path}.images[{i}].repository", problem);
            }

            CheckTeam($"{path}.images[{i}].team", Images[i].Team);
        }

        if (FallbackTeam is not null)
        {
            CheckTeam($"{path}.fallback_team", FallbackTeam);
        }
    }
}

internal sealed class NamespaceMapping
{
    public string Namespace { get; set; } = "";
    public string Team { get; set; } = "";
}

internal sealed class ImageMapping
{
    public string Repository { get; set; } = "";
    public string Team { get; set; } = "";
}

/// <summary>How the Kubernetes API is reached.</summary>
internal sealed class KubernetesOptions
{
    /// <summary>
    /// <c>auto</c> (default: in-cluster when running in a pod, else the kubeconfig when one exists, else none),
    /// <c>in_cluster</c>, <c>kubeconfig</c>, <c>api_server</c> (a URL, e.g. <c>kubectl proxy</c> or a test server),
    /// or <c>none</c> (no Kubernetes lookups; ownership from mappings and fallback only).
    /// </summary>
    public string Mode { get; set; } = "auto";

    /// <summary>Kubeconfig path for <c>kubeconfig</c> mode. Default: <c>$KUBECONFIG</c>, else <c>~/.kube/config</c>.</summary>
    public string? Kubeconfig { get; set; }

    /// <summary>Kubeconfig context. Default: the file's current context.</summary>
    public string? Context { get; set; }

    /// <summary>API server URL for <c>api_server</c> mode.</summary>
    public string? ApiServer { get; set; }

    /// <summary>Environment variable holding a bearer token for <c>api_server</c> mode (none when unset).</summary>
    public string? TokenEnv { get; set; }

    /// <summary>Longest wait for one API request before the enrichment is marked unavailable. Default 2s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Bound on staleness: objects read from the API are reused for this long, then read again. Default 30s.
    /// </summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most objects kept in the cache. Default 20,000.</summary>
    public int CacheMaxEntries { get; set; } = 20_000;

    /// <summary>While the API is unavailable, enrichment is tried again this often. Default 30s.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(30);

    public static readonly IReadOnlySet<string> Modes =
        new HashSet<string>(["auto", "in_cluster", "kubeconfig", "api_server", "none"], StringComparer.Ordinal);

    public void Validate(ConfigValidationContext context, string path)
    {
        if (!Modes.Contains(Mode))
        {
            context.Error($"{path}.mode", $"'{Mode}' is not a mode; expected one of {string.Join(", ", Modes)}");
        }

        if (Mode == "api_server" && !Uri.TryCreate(ApiServer, UriKind.Absolute, out _))
        {
            context.Error($"{path}.api_server", "is required for mode api_server (an absolute http or https URL)");
        }

        if (Mode == "kubeconfig" && Kubeconfig is { Length: > 0 } file && !File.Exists(file))
        {
            context.Error($"{path}.kubeconfig", $"file '{file}' does not exist");
        }

        if (TokenEnv is { Length: > 0 } env && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
        {
            context.Error($"{path}.token_env", $"environment variable {env} is not set");
        }

        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > TimeSpan.FromMinutes(1))
        {
            context.Error($"{path}.request_timeout", "must be more than 0 and at most 1m");
        }

        if (CacheTtl < TimeSpan.Zero || CacheTtl > TimeSpan.FromHours(1))
        {
            context.Error($"{path}.cache_ttl", "must be between 0s and 1h");
        }

        if (CacheMaxEntries is < 100 or > 1_000_000)
        {
            context.Error($"{path}.cache_max_entries", "must be between 100 and 1000000");
        }

        if (RetryInterval < TimeSpan.FromSeconds(1) || RetryInterval > TimeSpan.FromHours(1))
        {
            context.Error($"{path}.retry_interval", "must be between 1s and 1h");
        }
    }
}

/// <summary>Where runbooks are read from and how they are linked.</summary>
internal sealed class RunbookOptions
{
    /// <summary>Folder of Markdown runbooks, relative to the configuration file. Default <c>runbooks</c>, then the
    /// copy next to the service binary.</summary>
    public string Directory { get; set; } = "runbooks";

    /// <summary>
    /// Base of the link put on incidents, e.g. <c>https://git.example.com/triage/blob/main/runbooks/</c>; the file name
    /// is appended. Default: the service's own <c>/runbooks/{name}</c> (relative).
    /// </summary>
    public string? BaseUrl { get; set; }

    public void Validate(ConfigValidationContext context, string path)
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            context.Error($"{path}.directory", "must not be empty");
        }

        if (BaseUrl is not null && !Uri.TryCreate(BaseUrl, UriKind.Absolute, out _))
        {
            context.Error($"{path}.base_url", "must be an absolute URL");
        }
    }
}
