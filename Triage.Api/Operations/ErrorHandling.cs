using Microsoft.AspNetCore.Diagnostics;
using Triage.Api.Incidents;
using Triage.Api.Ingest;
using Triage.Contracts;

namespace Triage.Api.Operations;

/// <summary>A request body that is well-formed but wrong; each error names the field (a JSON path).</summary>
internal sealed class RequestValidationException(IReadOnlyList<FieldError> errors)
    : Exception(string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}")))
{
    public IReadOnlyList<FieldError> Errors { get; } = errors;
}

/// <summary>The one mapping from exceptions to ProblemDetails responses.</summary>
internal sealed class ProblemExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, errors) = exception switch
        {
            RequestValidationException v => (StatusCodes.Status400BadRequest, "Invalid request", v.Errors),
            BadHttpRequestException b => (b.StatusCode, "Bad request", null),
            NotFoundException => (StatusCodes.Status404NotFound, "Not found", null),
            ActionRefusedException r => (r.StatusCode, "Refused", null),
            StoreUnavailableException => (StatusCodes.Status503ServiceUnavailable, "Store unavailable", null),
            _ => (0, "", (IReadOnlyList<FieldError>?)null),
        };
        if (status == 0)
        {
            return false;
        }

        httpContext.Response.StatusCode = status;
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            httpContext.Response.Headers.RetryAfter = "5";
        }

        var context = new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = exception.Message },
        };
        if (errors is not null)
        {
            context.ProblemDetails.Extensions["errors"] = errors.GroupBy(e => e.Field)
                .ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray());
        }

        return await problems.TryWriteAsync(context);
    }
}
