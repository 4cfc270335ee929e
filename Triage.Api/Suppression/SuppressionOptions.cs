using Triage.Api.Configuration;
using Triage.Contracts;

namespace Triage.Api.Suppression;

/// <summary>
/// The <c>suppression</c> section: how many votes of whom turn "benign deployment artifact" into a suppression,
/// how wide its scope may be, and how long it lives.
/// </summary>
internal sealed class SuppressionOptions
{
    /// <summary>Lifetime of a new suppression when the proposer names none. Default 7 days.</summary>
    public TimeSpan DefaultDuration { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Longest lifetime a proposer may ask for (and the longest one renewal period). Default 30 days.</summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long before expiry the team is asked whether to renew. Default 1 day.</summary>
    public TimeSpan RenewalNotice { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// What to do while the owning team is unknown (enrichment found no owner): <c>soc</c> (default) lets SOC
    /// members cast the owning team's share as well, <c>refuse</c> allows no suppression at all.
    /// </summary>
    public string UnknownOwner { get; set; } = "soc";

    /// <summary>
    /// Rules (exact names) that are never suppressed without at least one SOC vote, whatever the policy says:
    /// container escape, credential access through the instance metadata service, and the like.
    /// </summary>
    public List<string> NeverWithoutSoc { get; set; } = [];

    /// <summary>
    /// Quorum policies. The one that applies is the policy with the highest <c>min_priority</c> at or below the
    /// incident's priority. When empty, one built-in policy applies: two votes of the owning team, proposer counts.
    /// </summary>
    public List<QuorumPolicyOptions> Policies { get; set; } = [];

    public QuorumPolicyOptions PolicyFor(AlertPriority priority)
    {
        QuorumPolicyOptions? best = null;
        foreach (var policy in Policies)
        {
            if (policy.Priority <= priority && (best is null || policy.Priority > best.Priority))
            {
                best = policy;
            }
        }

        return best ?? QuorumPolicyOptions.BuiltIn;
    }

    public void Validate(ConfigValidationContext context, string path, IReadOnlyList<TeamOptions> teams)
    {
        if (DefaultDuration <= TimeSpan.Zero)
        {
            context.Error($"{path}.default_duration", "must be more than 0");
        }

        if (MaxDuration <= TimeSpan.Zero || MaxDuration > TimeSpan.FromDays(365))
        {
            context.Error($"{path}.max_duration", "must be more than 0 and at most 365d");
        }
        else if (DefaultDuration > MaxDuration)
        {
            context.Error($"{path}.default_duration", $"must not exceed max_duration ({MaxDuration})");
        }

        if (RenewalNotice < TimeSpan.Zero || RenewalNotice >= MaxDuration)
        {
            context.Error($"{path}.renewal_notice", "must be at least 0 and less than max_duration");
        }

        if (UnknownOwner is not ("soc" or "refuse"))
        {
            context.Error($"{path}.unknown_owner", $"'{UnknownOwner}' is not allowed; expected soc or refuse");
        }

        for (var i = 0; i < NeverWithoutSoc.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(NeverWithoutSoc[i]))
            {
                context.Error($"{path}.never_without_soc[{i}]", "is empty; name a rule");
            }
        }

        var socTeams = teams.Count(t => t.Kind == "soc");
        if (NeverWithoutSoc.Count > 0 && socTeams == 0)
        {
            context.Error($"{path}.never_without_soc", "needs a team of kind soc in teams");
        }

        var seenPriorities = new HashSet<AlertPriority>();
        for (var i = 0; i < Policies.Count; i++)
        {
            Policies[i].Validate(context, $"{path}.policies[{i}]", socTeams > 0);
            if (AlertPriorities.TryParse(Policies[i].MinPriority, out var priority) && !seenPriorities.Add(priority))
            {
                context.Error($"{path}.policies[{i}].min_priority", $"another policy already starts at {priority}");
            }
        }
    }
}

/// <summary>One quorum policy: who has to agree before a proposal becomes a suppression.</summary>
internal sealed class QuorumPolicyOptions
{
    /// <summary>Two votes of the owning team, proposer counts, workload and image may not be widened.</summary>
    public static readonly QuorumPolicyOptions BuiltIn = new() { Name = "default", OwningTeam = 2 };

    /// <summary>Name shown in the tally, e.g. <c>default</c> or <c>high priority</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Lowest incident priority (Falco's names) this policy applies to. Default Debug (all).</summary>
    public string MinPriority { get; set; } = "Debug";

    /// <summary>Benign votes needed from members of the team that owns the workload. Default 2.</summary>
    public int OwningTeam { get; set; } = 2;

    /// <summary>Benign votes needed from members of SOC teams. Default 0.</summary>
    public int Soc { get; set; }

    /// <summary>Whether the proposer's own benign vote counts towards the quorum. Default true.</summary>
    public bool ProposerCounts { get; set; } = true;

    /// <summary>
    /// Parts of the derived scope the proposer may drop to widen it: <c>workload</c>, <c>image_repository</c>,
    /// <c>namespace</c>. The rule is always part of the scope. Default none.
    /// </summary>
    public List<string> MayWiden { get; set; } = [];

    /// <summary>Longest lifetime under this policy; null means the section's <c>max_duration</c>.</summary>
    public TimeSpan? MaxDuration { get; set; }

    internal AlertPriority Priority =>
        AlertPriorities.TryParse(MinPriority, out var priority) ? priority : AlertPriority.Debug;

    internal void Validate(ConfigValidationContext context, string path, bool haveSocTeam)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            context.Error($"{path}.name", "is required");
        }

        if (!AlertPriorities.TryParse(MinPriority, out _))
        {
            context.Error($"{path}.min_priority",
                $"'{MinPriority}' is not a priority; expected one of {string.Join(", ", AlertPriorities.Names)}");
        }

        if (OwningTeam < 0 || Soc < 0 || OwningTeam + Soc == 0)
        {
            context.Error($"{path}.owning_team", "owning_team and soc must be 0 or more and need at least one vote together");
        }

        if (Soc > 0 && !haveSocTeam)
        {
            context.Error($"{path}.soc", "needs a team of kind soc in teams");
        }

        for (var i = 0; i < MayWiden.Count; i++)
        {
            if (!ScopeField.Widenable.Contains(MayWiden[i]))
            {
                context.Error($"{path}.may_widen[{i}]",
                    $"'{MayWiden[i]}' cannot be widened; expected one of {string.Join(", ", ScopeField.Widenable)}");
            }
        }

        if (MaxDuration is { } max && max <= TimeSpan.Zero)
        {
            context.Error($"{path}.max_duration", "must be more than 0");
        }
    }
}
