using System.Security.Cryptography;
using System.Text;
using Triage.Contracts;

namespace Triage.Api.Suppression;

/// <summary>Names of the scope's parts, as they appear in vote arguments, configuration and the API.</summary>
internal static class ScopeField
{
    public const string Namespace = "namespace";
    public const string Workload = "workload";
    public const string ImageRepository = "image_repository";
    public const string ImageDigest = "image_digest";
    public const string ProcessExe = "process_exe";
    public const string CmdlinePattern = "cmdline_pattern";

    /// <summary>Parts of the derived scope a policy may let the proposer drop.</summary>
    public static readonly IReadOnlySet<string> Widenable =
        new HashSet<string>([Namespace, Workload, ImageRepository], StringComparer.Ordinal);

    /// <summary>Parts the proposer may add to make the scope narrower than the derived one.</summary>
    public static readonly IReadOnlySet<string> Narrowing =
        new HashSet<string>([ImageDigest, ProcessExe, CmdlinePattern], StringComparer.Ordinal);
}

/// <summary>What an alert says about itself, flattened to the parts a scope can match on.</summary>
internal sealed record AlertFacts(
    string Rule,
    string? Namespace,
    string? WorkloadKind,
    string? WorkloadName,
    string? ImageRepository,
    string? ImageDigest,
    string? ProcessExe,
    string? Cmdline)
{
    public static AlertFacts From(NativeAlert alert)
    {
        var image = ImageReference.Parse(alert.Container?.Image);
        return new AlertFacts(
            alert.Rule ?? "",
            Blank(alert.K8s?.Namespace),
            Blank(alert.K8s?.WorkloadKind),
            Blank(alert.K8s?.WorkloadName),
            image.Repository,
            Blank(alert.Container?.ImageDigest) ?? image.Digest,
            Blank(alert.Process?.Exe),
            Blank(alert.Process?.Cmdline));
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>
/// What a suppression covers. The rule always; each other part is either null (any value) or a value the alert
/// must have. An empty string means "absent": a scope derived from a host alert without Kubernetes context must not
/// turn into "any namespace". <see cref="CmdlinePattern"/> is a glob (see <see cref="Glob"/>).
/// </summary>
internal sealed record SuppressionScope(
    string Rule,
    string? Namespace,
    string? WorkloadKind,
    string? WorkloadName,
    string? ImageRepository,
    string? ImageDigest,
    string? ProcessExe,
    string? CmdlinePattern)
{
    public bool Matches(AlertFacts alert) =>
        string.Equals(Rule, alert.Rule, StringComparison.Ordinal)
        && Same(Namespace, alert.Namespace)
        && Same(WorkloadKind, alert.WorkloadKind)
        && Same(WorkloadName, alert.WorkloadName)
        && Same(ImageRepository, alert.ImageRepository)
        && Same(ImageDigest, alert.ImageDigest)
        && Same(ProcessExe, alert.ProcessExe)
        && (CmdlinePattern is null || Glob.IsMatch(CmdlinePattern, alert.Cmdline ?? ""));

    /// <summary>The parts of the derived scope this one leaves out (wider than derived).</summary>
    public IReadOnlyList<string> Widened()
    {
        var widened = new List<string>(3);
        if (Namespace is null)
        {
            widened.Add(ScopeField.Namespace);
        }

        if (WorkloadName is null)
        {
            widened.Add(ScopeField.Workload);
        }

        if (ImageRepository is null)
        {
            widened.Add(ScopeField.ImageRepository);
        }

        return widened;
    }

    /// <summary>The parts added beyond the derived scope (narrower than derived).</summary>
    public IReadOnlyList<string> Narrowed()
    {
        var narrowed = new List<string>(3);
        if (ImageDigest is not null)
        {
            narrowed.Add(ScopeField.ImageDigest);
        }

        if (ProcessExe is not null)
        {
            narrowed.Add(ScopeField.ProcessExe);
        }

        if (CmdlinePattern is not null)
        {
            narrowed.Add(ScopeField.CmdlinePattern);
        }

        return narrowed;
    }

    /// <summary>A stable digest of the scope; two active suppressions never share one (a unique index says so).</summary>
    public string Key()
    {
        var text = string.Join('\u001f', Rule, Part(Namespace), Part(WorkloadKind), Part(WorkloadName),
            Part(ImageRepository), Part(ImageDigest), Part(ProcessExe), Part(CmdlinePattern));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

        // A null part (any) must differ from every value, the empty one (absent) included.
        static string Part(string? value) => value is null ? "\u0000" : "=" + value;
    }

    /// <summary>One human line, e.g. <c>Drop and execute new binary in payments/Deployment api, image ghcr.io/acme/api</c>.</summary>
    public string Describe()
    {
        var parts = new List<string>
        {
            $"rule '{Rule}'",
            Namespace switch { null => "any namespace", "" => "no namespace", _ => $"namespace {Namespace}" },
            WorkloadName switch { null => "any workload", "" => "no workload", _ => $"workload {WorkloadKind}/{WorkloadName}" },
            ImageRepository switch { null => "any image", "" => "no image", _ => $"image {ImageRepository}" },
        };
        if (ImageDigest is not null)
        {
            parts.Add($"digest {ImageDigest}");
        }

        if (ProcessExe is not null)
        {
            parts.Add($"exe {ProcessExe}");
        }

        if (CmdlinePattern is not null)
        {
            parts.Add($"cmdline '{CmdlinePattern}'");
        }

        return string.Join(", ", parts);
    }

    private static bool Same(string? scope, string? fact) =>
        scope is null || string.Equals(scope, fact ?? "", StringComparison.Ordinal);

    /// <summary>
    /// The scope a proposal gets: derived from the alert (rule + namespace + workload + image repository), then
    /// narrowed or widened as the proposer asked, within <paramref name="policy"/>'s limits. Every refusal is
    /// reported, not only the first.
    /// </summary>
    public static ScopeResult Derive(AlertFacts alert, ScopeRequest? request, QuorumPolicyOptions policy)
    {
        request ??= ScopeRequest.Derived;
        var errors = new List<string>();

        string? Base(bool keep, string field, string? fact)
        {
            if (keep)
            {
                return fact ?? "";
            }

            if (!policy.MayWiden.Contains(field))
            {
                errors.Add($"{field}: the '{policy.Name}' policy does not allow widening it");
            }

            return null;
        }

        string? Narrow(bool add, string field, string? fact)
        {
            if (!add)
            {
                return null;
            }

            if (fact is null)
            {
                errors.Add($"{field}: the alert has none to narrow to");
            }

            return fact;
        }

        var ns = Base(request.Namespace, ScopeField.Namespace, alert.Namespace);
        var workloadName = Base(request.Workload, ScopeField.Workload, alert.WorkloadName);
        var workloadKind = workloadName is null ? null : alert.WorkloadKind ?? "";
        var repository = Base(request.ImageRepository, ScopeField.ImageRepository, alert.ImageRepository);
        var digest = Narrow(request.ImageDigest, ScopeField.ImageDigest, alert.ImageDigest);
        var exe = Narrow(request.ProcessExe, ScopeField.ProcessExe, alert.ProcessExe);

        string? pattern = null;
        if (request.CmdlinePattern is { } asked)
        {
            if (alert.Cmdline is null)
            {
                errors.Add($"{ScopeField.CmdlinePattern}: the alert has no command line");
            }
            else if (asked.Length == 0)
            {
                pattern = Glob.Escape(alert.Cmdline);
            }
            else if (Glob.Validate(asked) is { } problem)
            {
                errors.Add($"{ScopeField.CmdlinePattern}: {problem}");
            }
            else if (!Glob.IsMatch(asked, alert.Cmdline))
            {
                // A suppression that does not cover the very alert it was voted on is a mistake, not a scope.
                errors.Add($"{ScopeField.CmdlinePattern}: '{asked}' does not match the alert's command line");
            }
            else
            {
                pattern = asked;
            }
        }

        return errors.Count > 0
            ? new ScopeResult(null, errors)
            : new ScopeResult(new SuppressionScope(alert.Rule, ns, workloadKind, workloadName, repository, digest, exe, pattern), []);
    }
}

/// <summary>The outcome of <see cref="SuppressionScope.Derive"/>: a scope, or why not.</summary>
internal sealed record ScopeResult(SuppressionScope? Scope, IReadOnlyList<string> Errors);

/// <summary>
/// How the proposer adjusts the derived scope. Base parts default to kept (false widens); narrowing parts default
/// to off (true narrows to the alert's value). <see cref="CmdlinePattern"/>: null leaves the command line out, an
/// empty string narrows to the exact command line, a glob narrows to it (it must match the alert).
/// </summary>
internal sealed record ScopeRequest(
    bool Namespace = true,
    bool Workload = true,
    bool ImageRepository = true,
    bool ImageDigest = false,
    bool ProcessExe = false,
    string? CmdlinePattern = null)
{
    public static readonly ScopeRequest Derived = new();
}

/// <summary>An image reference split into repository, tag and digest (<c>registry:5000/team/app:1.4@sha256:…</c>).</summary>
internal readonly record struct ImageReference(string? Repository, string? Tag, string? Digest)
{
    public static ImageReference Parse(string? image)
    {
        if (string.IsNullOrWhiteSpace(image))
        {
            return default;
        }

        string? digest = null;
        var at = image.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = image[(at + 1)..];
            image = image[..at];
        }

        // A colon after the last slash is a tag; one before it belongs to the registry's port.
        string? tag = null;
        var colon = image.LastIndexOf(':');
        if (colon > image.LastIndexOf('/'))
        {
            tag = image[(colon + 1)..];
            image = image[..colon];
        }

        return new ImageReference(image.Length == 0 ? null : image, tag, string.IsNullOrEmpty(digest) ? null : digest);
    }
}
