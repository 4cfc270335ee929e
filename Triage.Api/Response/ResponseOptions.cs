using System.Text.RegularExpressions;
using Triage.Api.Configuration;

namespace Triage.Api.Response;

/// <summary>The <c>response</c> section: how response actions reach the sensors and the Kubernetes API.</summary>
internal sealed partial class ResponseOptions
{
    /// <summary>The actions this service offers, as named in the API path and on the chat buttons.</summary>
    public static readonly IReadOnlyList<string> ActionNames = ["kill_process", "isolate_pod", "unisolate_pod", "capture_evidence"];

    /// <summary>How the Kubernetes API is reached for isolate_pod and unisolate_pod.</summary>
    public ResponseKubernetesOptions Kubernetes { get; set; } = new();

    /// <summary>
    /// Label put on a quarantined pod; the deny-all NetworkPolicy selects pods by it. Default
    /// <c>triage.security/quarantine</c>.
    /// </summary>
    public string QuarantineLabel { get; set; } = "triage.security/quarantine";

    /// <summary>A sensor command nobody fetched or answered within this time is marked expired. Default 5 minutes.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A delivered command without a result is handed out again after this time. Default 30 seconds.</summary>
    public TimeSpan CommandLease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest time one sensor poll is held open when there is nothing to do. Default 25 seconds.</summary>
    public TimeSpan LongPoll { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>Actions taken without a person, when an incident of the named rule opens.</summary>
    public List<AutomaticResponse> Automatic { get; set; } = [];

    public void Validate(ConfigValidationContext context, string path)
    {
        Kubernetes.Validate(context, $"{path}.kubernetes");
        if (!LabelKey().IsMatch(QuarantineLabel))
        {
            context.Error($"{path}.quarantine_label", "is not a Kubernetes label key (prefix/name, name at most 63 characters)");
        }

        if (CommandTimeout < TimeSpan.FromSeconds(10) || CommandTimeout > TimeSpan.FromDays(1))
        {
            context.Error($"{path}.command_timeout", "must be between 10s and 1d");
        }

        if (CommandLease < TimeSpan.FromSeconds(5) || CommandLease > CommandTimeout)
        {
            context.Error($"{path}.command_lease", "must be at least 5s and at most command_timeout");
        }

        if (LongPoll < TimeSpan.FromSeconds(1) || LongPoll > TimeSpan.FromMinutes(2))
        {
            context.Error($"{path}.long_poll", "must be between 1s and 2m");
        }

        for (var i = 0; i < Automatic.Count; i++)
        {
            var at = $"{path}.automatic[{i}]";
            if (string.IsNullOrWhiteSpace(Automatic[i].Rule))
            {
                context.Error($"{at}.rule", "is required");
            }

            if (Automatic[i].Actions.Count == 0)
            {
                context.Error($"{at}.actions", "list at least one action");
            }

            for (var a = 0; a < Automatic[i].Actions.Count; a++)
            {
                var action = Automatic[i].Actions[a];
                if (!ActionNames.Contains(action) || action == "unisolate_pod")
                {
                    context.Error($"{at}.actions[{a}]", $"'{action}' is not an automatic action; expected kill_process, isolate_pod or capture_evidence");
                }
            }
        }
    }

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex LabelKey();
}

/// <summary>Actions to take automatically for incidents of one rule.</summary>
internal sealed class AutomaticResponse
{
    /// <summary>Rule name, exactly as the alert names it.</summary>
    public string Rule { get; set; } = "";

    /// <summary>kill_process, isolate_pod and/or capture_evidence.</summary>
    public List<string> Actions { get; set; } = [];
}

/// <summary>Connection to the Kubernetes API server.</summary>
internal sealed class ResponseKubernetesOptions
{
    /// <summary>
    /// API server URL. When unset: the in-cluster service account if running in a pod, else the kubeconfig file.
    /// </summary>
    public string? ApiServer { get; set; }

    /// <summary>Bearer token for <see cref="ApiServer"/>, or the name of an environment variable holding it.</summary>
    public string? Token { get; set; }

    public string? TokenEnv { get; set; }

    /// <summary>Path of a kubeconfig file; default <c>~/.kube/config</c>.</summary>
    public string? Kubeconfig { get; set; }

    public void Validate(ConfigValidationContext context, string path)
    {
        if (ApiServer is not null && !Uri.TryCreate(ApiServer, UriKind.Absolute, out _))
        {
            context.Error($"{path}.api_server", $"'{ApiServer}' is not an absolute URL");
        }

        if (Token is not null && TokenEnv is not null)
        {
            context.Error($"{path}.token", "set at most one of token or token_env");
        }

        if (Kubeconfig is not null && ApiServer is not null)
        {
            context.Error($"{path}.kubeconfig", "set either api_server or kubeconfig");
        }
    }
}
