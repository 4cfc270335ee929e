namespace Sensor.Rules;

/// <summary>
/// <c>sensor rules check [--refuse-unknown-fields] &lt;file-or-dir&gt;...</c>: loads rules files as the sensor would
/// and prints each rule that loaded, each that was skipped and why, warnings, the syscalls the rules need, and a last
/// line <c>&lt;n&gt; loaded, &lt;m&gt; skipped</c>. Exit code 0 when the files load, 1 when they do not, 2 on usage errors.
/// </summary>
internal static class RulesCheckCommand
{
    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        var refuse = args.Contains("--refuse-unknown-fields");
        var paths = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
        if (paths.Count == 0)
        {
            output.WriteLine("usage: sensor rules check [--refuse-unknown-fields] <rules-file-or-dir>...");
            return 2;
        }

        RuleSet rules;
        try
        {
            var loader = new RuleLoader();
            foreach (var path in paths)
            {
                loader.LoadPath(path);
            }

            rules = loader.Build(new RuleEngineOptions { UnknownFields = refuse ? UnknownFieldPolicy.Refuse : UnknownFieldPolicy.Skip });
        }
        catch (RuleLoadException ex)
        {
            output.WriteLine($"error: {ex.Message}");
            output.WriteLine("0 loaded, 0 skipped");
            return 1;
        }

        foreach (var rule in rules.Rules)
        {
            output.WriteLine($"loaded   {rule.Name} [{rule.Priority.ToString().ToUpperInvariant()}] evt.type: {rule.EventTypes}");
        }

        foreach (var skipped in rules.Skipped)
        {
            output.WriteLine($"skipped  {skipped.Name}: {skipped.Reason} (rule at {skipped.Location})");
        }

        foreach (var warning in rules.Warnings)
        {
            output.WriteLine($"warning  {warning}");
        }

        output.WriteLine($"syscalls needed: {rules.RequiredEventTypes}");
        output.WriteLine($"{rules.Rules.Count} loaded, {rules.Skipped.Count} skipped");
        return 0;
    }
}
