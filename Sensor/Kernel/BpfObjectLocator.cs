namespace Sensor.Kernel;

/// <summary>Finds sensor.bpf.o: next to the binary (copied by the build), else in the source tree's bpf/.output.</summary>
internal static class BpfObjectLocator
{
    public static string Find(string? configured = null)
    {
        if (!string.IsNullOrEmpty(configured))
            return configured;
        var beside = Path.Combine(AppContext.BaseDirectory, "bpf", "sensor.bpf.o");
        if (File.Exists(beside))
            return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "bpf", ".output", "sensor.bpf.o");
            if (File.Exists(candidate))
                return candidate;
        }
        return beside;
    }
}
