namespace Triage.Contracts;

/// <summary>A problem with one field of a request body; <see cref="Field"/> is a JSON path such as <c>[3].rule</c>.</summary>
public sealed record FieldError(string Field, string Message);

/// <summary>Checks a <see cref="NativeAlert"/> and names every field that is missing or wrong.</summary>
public static class NativeAlertValidator
{
    /// <summary>Longest accepted alert id, so ids stay usable as database keys.</summary>
    public const int MaxIdLength = 200;

    /// <summary>Validates <paramref name="alert"/>; <paramref name="path"/> prefixes every field name.</summary>
    public static IReadOnlyList<FieldError> Validate(NativeAlert alert, string path = "")
    {
        var errors = new List<FieldError>();
        string At(string field) => path.Length == 0 ? field : $"{path}.{field}";

        if (string.IsNullOrWhiteSpace(alert.Id))
        {
            errors.Add(new(At("id"), "is required"));
        }
        else if (alert.Id.Length > MaxIdLength)
        {
            errors.Add(new(At("id"), $"is longer than {MaxIdLength} characters"));
        }

        if (alert.Time is null)
        {
            errors.Add(new(At("time"), "is required (RFC 3339 timestamp)"));
        }

        if (string.IsNullOrWhiteSpace(alert.Node))
        {
            errors.Add(new(At("node"), "is required"));
        }

        if (string.IsNullOrWhiteSpace(alert.Rule))
        {
            errors.Add(new(At("rule"), "is required"));
        }

        if (string.IsNullOrWhiteSpace(alert.Priority))
        {
            errors.Add(new(At("priority"), "is required"));
        }
        else if (!AlertPriorities.TryParse(alert.Priority, out _))
        {
            errors.Add(new(At("priority"),
                $"'{alert.Priority}' is not a priority; expected one of {string.Join(", ", AlertPriorities.Names)}"));
        }

        if (string.IsNullOrWhiteSpace(alert.Output))
        {
            errors.Add(new(At("output"), "is required"));
        }

        return errors;
    }
}
