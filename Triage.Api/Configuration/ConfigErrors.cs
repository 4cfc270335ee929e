namespace Triage.Api.Configuration;

/// <summary>One problem in the configuration file, located by file, line, column and field path.</summary>
internal sealed record ConfigError(string File, int Line, int Column, string Field, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Field}: {Message}";
}

/// <summary>Thrown at start-up with every configuration problem found, not just the first.</summary>
internal sealed class ConfigException(IReadOnlyList<ConfigError> errors)
    : Exception(FormatMessage(errors))
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;

    private static string FormatMessage(IReadOnlyList<ConfigError> errors) =>
        $"Invalid configuration ({errors.Count} error{(errors.Count == 1 ? "" : "s")}):{Environment.NewLine}  "
        + string.Join(Environment.NewLine + "  ", errors);
}
