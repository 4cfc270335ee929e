namespace Sensor.Tests.Support;

/// <summary>Files of the repository and of shared/ beside it (CI clones main next to a copy of shared/).</summary>
internal static class RepoFiles
{
    public static string Root { get; } = FindUp(AppContext.BaseDirectory, "Triage.sln")
        ?? throw new InvalidOperationException("Triage.sln not found above the test binaries");

    /// <summary>Falco's stable rules, unmodified: shared/reference/falco/falco_rules.yaml beside the repository.</summary>
    public static string FalcoStableRules { get; } = FindUp(Root, Path.Combine("shared", "reference", "falco", "falco_rules.yaml"))
        ?? throw new InvalidOperationException($"shared/reference/falco/falco_rules.yaml not found above {Root}");

    public static string DefaultRules => Path.Combine(Root, "Sensor", "rules", "default-rules.yaml");

    private static string? FindUp(string start, string relative)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return relative == "Triage.sln" ? dir.FullName : candidate;
            }
        }

        return null;
    }
}
