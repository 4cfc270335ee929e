using System.Net;

namespace Sensor.Rules.Enforcement;

/// <summary>
/// Enforcement settings (<c>rules.enforcement</c> in the sensor configuration). Off by default: with
/// <see cref="Enabled"/> false nothing is denied or killed whatever the other settings say.
/// </summary>
internal sealed record EnforcementOptions
{
    /// <summary>Master switch; default false.</summary>
    public bool Enabled { get; init; }

    public MetadataDenyOptions DenyMetadata { get; init; } = new();

    /// <summary>When to kill the process that fired a rule; empty by default.</summary>
    public IReadOnlyList<KillPolicy> Kill { get; init; } = [];

    /// <summary>Problems with the settings themselves (addresses that do not parse, kill entries that name nothing),
    /// and rule names that are not loaded, each prefixed with its path in the configuration.</summary>
    public IReadOnlyList<string> Validate(RuleSet? rules, string path = "rules.enforcement")
    {
        var errors = new List<string>();
        for (var i = 0; i < DenyMetadata.Addresses.Count; i++)
        {
            if (!IPAddress.TryParse(DenyMetadata.Addresses[i], out _))
            {
                errors.Add($"{path}.deny_metadata.addresses[{i}]: '{DenyMetadata.Addresses[i]}' is not an IP address");
            }
        }

        for (var i = 0; i < Kill.Count; i++)
        {
            var kill = Kill[i];
            if (kill.Rules.Count == 0 && kill.Namespaces.Count == 0)
            {
                errors.Add($"{path}.kill[{i}]: name at least one rule or namespace (an empty entry would kill on every alert)");
            }

            foreach (var rule in kill.Rules)
            {
                if (rules is not null && rules.Find(rule) is null)
                {
                    errors.Add($"{path}.kill[{i}].rules: rule '{rule}' is not loaded");
                }
            }
        }

        return errors;
    }
}

/// <summary>Deny connects to the cloud metadata service from the pods of chosen namespaces.</summary>
internal sealed record MetadataDenyOptions
{
    /// <summary>Kubernetes namespaces whose pods get EPERM on connect to <see cref="Addresses"/>; empty by default.</summary>
    public IReadOnlyList<string> Namespaces { get; init; } = [];

    /// <summary>Default: AWS/GCP/Azure 169.254.169.254, AWS IPv6 fd00:ec2::254, ECS 169.254.170.2.</summary>
    public IReadOnlyList<string> Addresses { get; init; } = ["169.254.169.254", "fd00:ec2::254", "169.254.170.2"];
}

/// <summary>
/// Kill the offending process when one of <see cref="Rules"/> fires (any rule when empty) in one of
/// <see cref="Namespaces"/> (any namespace when empty). Host processes are never killed unless
/// <see cref="IncludeHost"/>: killing a node daemon by mistake is worse than the alert.
/// </summary>
internal sealed record KillPolicy
{
    public IReadOnlyList<string> Rules { get; init; } = [];
    public IReadOnlyList<string> Namespaces { get; init; } = [];
    public bool IncludeHost { get; init; }
}
