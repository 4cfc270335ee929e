namespace Triage.Contracts;

/// <summary>Falco's priority levels, lowest to highest, so that comparisons order by severity.</summary>
public enum AlertPriority
{
    Debug = 0,
    Informational = 1,
    Notice = 2,
    Warning = 3,
    Error = 4,
    Critical = 5,
    Alert = 6,
    Emergency = 7,
}

/// <summary>Parsing and naming of <see cref="AlertPriority"/> exactly as Falco writes them.</summary>
public static class AlertPriorities
{
    /// <summary>The names accepted on the wire, in Falco's spelling.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];

    /// <summary>Parses a Falco priority name, case-insensitively; Falco also writes "Info" for Informational.</summary>
    public static bool TryParse(string? text, out AlertPriority priority)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case "EMERGENCY": priority = AlertPriority.Emergency; return true;
            case "ALERT": priority = AlertPriority.Alert; return true;
            case "CRITICAL": priority = AlertPriority.Critical; return true;
            case "ERROR": priority = AlertPriority.Error; return true;
            case "WARNING": priority = AlertPriority.Warning; return true;
            case "NOTICE": priority = AlertPriority.Notice; return true;
            case "INFORMATIONAL" or "INFO": priority = AlertPriority.Informational; return true;
            case "DEBUG": priority = AlertPriority.Debug; return true;
            default: priority = default; return false;
        }
    }

    /// <summary>Parses a priority that was already validated; throws <see cref="FormatException"/> otherwise.</summary>
    public static AlertPriority Parse(string? text) =>
        TryParse(text, out var priority) ? priority : throw new FormatException($"'{text}' is not a Falco priority");

    /// <summary>The name Falco uses for <paramref name="priority"/>.</summary>
    public static string ToFalcoName(this AlertPriority priority) => priority.ToString();
}
