using System.Text.Json;
using Triage.Api.Configuration;
using Triage.Api.Operations;
using Triage.Contracts;

namespace Triage.Api.Suppression;

/// <summary>
/// Arguments of <c>vote_benign</c> / <c>vote_not_benign</c>:
/// <code>
/// { "reason": "release 1.4 runs its migration binary",
///   "duration": "3d",                    // proposer only; default and maximum from the policy
///   "alert_id": "...",                   // which alert of the incident the scope is derived from; default the latest
///   "scope": { "workload": false,        // widen: drop a part (only where the policy allows)
///              "image_digest": true,     // narrow: add the alert's digest / executable
///              "process_exe": true,
///              "cmdline_pattern": "/app/migrate *" } }   // or true for the exact command line
/// </code>
/// </summary>
internal sealed record VoteArguments(string? Reason, TimeSpan? Duration, string? AlertId, ScopeRequest? Scope)
{
    private const int MaxReasonLength = 1000;

    /// <summary>Reads and checks the arguments; every problem is reported at once (400 naming the field).</summary>
    public static VoteArguments Parse(JsonElement? arguments, bool reasonRequired)
    {
        var errors = new List<FieldError>();
        string? reason = null, alertId = null;
        TimeSpan? duration = null;
        ScopeRequest? scope = null;
        if (arguments is { ValueKind: JsonValueKind.Object } args)
        {
            reason = String(args, "reason", errors)?.Trim();
            alertId = String(args, "alert_id", errors);
            if (String(args, "duration", errors) is { } text)
            {
                if (DurationConverter.TryParse(text, out var parsed))
                {
                    duration = parsed;
                }
                else
                {
                    errors.Add(new FieldError("arguments.duration", $"'{text}' is not a duration; write e.g. 12h, 3d"));
                }
            }

            if (args.TryGetProperty("scope", out var scopeElement) && scopeElement.ValueKind != JsonValueKind.Null)
            {
                scope = ParseScope(scopeElement, errors);
            }
        }
        else if (arguments is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) })
        {
            errors.Add(new FieldError("arguments", "must be an object"));
        }

        if (reasonRequired && string.IsNullOrWhiteSpace(reason))
        {
            errors.Add(new FieldError("arguments.reason", "is required: say why this is a benign deployment artifact"));
        }
        else if (reason is { Length: > MaxReasonLength })
        {
            errors.Add(new FieldError("arguments.reason", $"is longer than {MaxReasonLength} characters"));
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        return new VoteArguments(string.IsNullOrWhiteSpace(reason) ? null : reason, duration, alertId, scope);
    }

    private static ScopeRequest? ParseScope(JsonElement element, List<FieldError> errors)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new FieldError("arguments.scope", "must be an object"));
            return null;
        }

        var request = ScopeRequest.Derived;
        foreach (var property in element.EnumerateObject())
        {
            var field = $"arguments.scope.{property.Name}";
            bool? flag = property.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => null,
            };
            switch (property.Name)
            {
                case ScopeField.Namespace when flag is { } keep:
                    request = request with { Namespace = keep };
                    break;
                case ScopeField.Workload when flag is { } keep:
                    request = request with { Workload = keep };
                    break;
                case ScopeField.ImageRepository when flag is { } keep:
                    request = request with { ImageRepository = keep };
                    break;
                case ScopeField.ImageDigest when flag is { } add:
                    request = request with { ImageDigest = add };
                    break;
                case ScopeField.ProcessExe when flag is { } add:
                    request = request with { ProcessExe = add };
                    break;
                case ScopeField.CmdlinePattern when flag is { } add:
                    request = request with { CmdlinePattern = add ? "" : null };
                    break;
                case ScopeField.CmdlinePattern when property.Value.ValueKind == JsonValueKind.String:
                    var pattern = property.Value.GetString()!;
                    if (pattern.Length == 0)
                    {
                        errors.Add(new FieldError(field, "is empty; use true for the exact command line"));
                    }

                    request = request with { CmdlinePattern = pattern };
                    break;
                case ScopeField.Namespace or ScopeField.Workload or ScopeField.ImageRepository
                    or ScopeField.ImageDigest or ScopeField.ProcessExe:
                    errors.Add(new FieldError(field, "must be true or false"));
                    break;
                case ScopeField.CmdlinePattern:
                    errors.Add(new FieldError(field, "must be a glob pattern, true or false"));
                    break;
                default:
                    errors.Add(new FieldError(field,
                        $"is not a scope part; expected {string.Join(", ", ScopeField.Widenable.Concat(ScopeField.Narrowing))}"));
                    break;
            }
        }

        return request;
    }

    private static string? String(JsonElement args, string name, List<FieldError> errors)
    {
        if (!args.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new FieldError($"arguments.{name}", "must be a string"));
            return null;
        }

        return value.GetString();
    }
}
