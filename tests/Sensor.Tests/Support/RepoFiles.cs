namespace Sensor.Tests.Support;

/// <summary>Files of the repository the tests read.</summary>
internal static class RepoFiles
{
    public static string Root { get; } = FindUp(AppContext.BaseDirectory, "Triage.sln")
        ?? throw new InvalidOperationException("Triage.sln not found above the test binaries");

    /// <summary>Falco's stable rules, unmodified (Apache-2.0), kept in the repository under tests/Sensor.Tests/Rules/Falco/.</summary>
    public static string FalcoStableRules => Path.Combine(Root, "tests", "Sensor.Tests", "Rules", "Falco", "falco_rules.yaml");

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
