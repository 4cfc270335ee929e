using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Api.Operations;
using Triage.Contracts;

namespace Triage.Api.Ingest;

/// <summary>The answer to an ingest request, sent only after every alert in it is durably stored.</summary>
internal sealed record IngestResponse(int Accepted, int Duplicates, IReadOnlyList<AlertReceipt> Alerts);

/// <summary><c>POST /api/v1/alerts</c> (native) and <c>POST /api/v1/ingest/falco</c> (Falco, Falcosidekick).</summary>
internal static class IngestEndpoints
{
    public static IEndpointRouteBuilder MapIngestEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/alerts", PostNativeAsync)
            .RequireScope(ApiScopes.Ingest)
            .WithName("PostAlerts")
            .WithSummary("Ingest native alerts (one object or an array); idempotent by alert id")
            .Accepts<NativeAlert>("application/json")
            .Produces<IngestResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        app.MapPost("/api/v1/ingest/falco", PostFalcoAsync)
            .RequireScope(ApiScopes.Ingest)
            .WithName("PostFalcoAlerts")
            .WithSummary("Ingest Falco http_output JSON or Falcosidekick webhook bodies (one object or an array)")
            .Accepts<FalcoAlert>("application/json")
            .Produces<IngestResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        return app;
    }

    private static async Task<IngestResponse> PostNativeAsync(
        HttpContext http, TriageConfig config, AlertWriter writer, IngestMetrics metrics, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var alerts = await ReadAlertsAsync<NativeAlert>(http.Request, config.Ingest, metrics, cancellationToken);
        return await StoreAsync(http, alerts, "native", writer, metrics, started, cancellationToken);
    }

    private static async Task<IngestResponse> PostFalcoAsync(
        HttpContext http, TriageConfig config, AlertWriter writer, IngestMetrics metrics, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var falco = await ReadAlertsAsync<FalcoAlert>(http.Request, config.Ingest, metrics, cancellationToken);
        var alerts = falco.Select(FalcoAlertMapper.ToNative).ToList();
        return await StoreAsync(http, alerts, "falco", writer, metrics, started, cancellationToken);
    }

    private static async Task<IngestResponse> StoreAsync(HttpContext http, List<NativeAlert> alerts, string format,
        AlertWriter writer, IngestMetrics metrics, long started, CancellationToken cancellationToken)
    {
        var errors = alerts.SelectMany((a, i) => NativeAlertValidator.Validate(a, alerts.Count == 1 ? "" : $"[{i}]")).ToList();
        if (errors.Count > 0)
        {
            metrics.RequestsRejected.WithLabels("invalid").Inc();
            throw new RequestValidationException(errors);
        }

        var source = http.ApiToken().Name;
        metrics.AlertsReceived.WithLabels(source, format).Inc(alerts.Count);
        var receipts = await writer.WriteAsync(alerts, source, cancellationToken);
        metrics.IngestDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        var duplicates = receipts.Count(r => r.Duplicate);
        return new IngestResponse(receipts.Count - duplicates, duplicates, receipts);
    }

    /// <summary>
    /// Reads one JSON object or an array of them, refusing bodies over the limit (413) and naming the exact
    /// place of any malformed or mistyped value (400). Nothing is stored unless the whole body is valid.
    /// </summary>
    private static async Task<List<T>> ReadAlertsAsync<T>(
        HttpRequest request, IngestOptions options, IngestMetrics metrics, CancellationToken cancellationToken)
        where T : class
    {
        var body = await ReadLimitedAsync(request, options.MaxBodyBytes, metrics, cancellationToken);
        return TryReadWellFormed<T>(body.Span, options) ?? ReadExplainingErrors<T>(body, options, metrics);
    }

    /// <summary>
    /// The common case, a well-formed body within the limits, read straight from the bytes; null for anything else
    /// (malformed, mistyped, empty, not objects, too many alerts), which <see cref="ReadExplainingErrors{T}"/> then reads
    /// again to name the exact place of each error. Reading every body through a <see cref="JsonDocument"/> first
    /// parsed it twice.
    /// </summary>
    private static List<T>? TryReadWellFormed<T>(ReadOnlySpan<byte> body, IngestOptions options)
        where T : class
    {
        var start = body.TrimStart(" \t\r\n"u8);
        try
        {
            if (start.Length > 0 && start[0] == (byte)'[')
            {
                // Elements are null only where the body has a literal null, which the explaining read refuses.
                var items = JsonSerializer.Deserialize<List<T>>(body, TriageJson.Options);
                return items is { Count: > 0 } && items.Count <= options.MaxAlertsPerRequest && !items.Contains(null!) ? items : null;
            }

            return start.Length > 0 && start[0] == (byte)'{' && JsonSerializer.Deserialize<T>(body, TriageJson.Options) is { } item ? [item] : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static List<T> ReadExplainingErrors<T>(ReadOnlyMemory<byte> body, IngestOptions options, IngestMetrics metrics)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException ex)
        {
            metrics.RequestsRejected.WithLabels("malformed").Inc();
            throw new RequestValidationException([new FieldError(ex.Path ?? "$",
                $"malformed JSON at line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}")]);
        }

        using (document)
        {
            var root = document.RootElement;
            var elements = root.ValueKind switch
            {
                JsonValueKind.Object => [root],
                JsonValueKind.Array => root.EnumerateArray().ToList(),
                _ => throw new RequestValidationException([new FieldError("$", "expected a JSON object or an array of objects")]),
            };
            if (elements.Count == 0)
            {
                throw new RequestValidationException([new FieldError("$", "the array is empty")]);
            }

            if (elements.Count > options.MaxAlertsPerRequest)
            {
                metrics.RequestsRejected.WithLabels("too_many").Inc();
                throw new BadHttpRequestException(
                    $"{elements.Count} alerts in one request; at most {options.MaxAlertsPerRequest} are accepted",
                    StatusCodes.Status413PayloadTooLarge);
            }

            var items = new List<T>(elements.Count);
            var errors = new List<FieldError>();
            for (var i = 0; i < elements.Count; i++)
            {
                var prefix = root.ValueKind == JsonValueKind.Array ? $"[{i}]" : "";
                if (elements[i].ValueKind != JsonValueKind.Object)
                {
                    errors.Add(new FieldError(prefix.Length == 0 ? "$" : prefix, "expected a JSON object"));
                    continue;
                }

                try
                {
                    items.Add(elements[i].Deserialize<T>(TriageJson.Options)!);
                }
                catch (JsonException ex)
                {
                    var field = (ex.Path ?? "$").TrimStart('$').TrimStart('.');
                    errors.Add(new FieldError(prefix.Length == 0 ? field : $"{prefix}.{field}", "has the wrong type or format"));
                }
            }

            if (errors.Count > 0)
            {
                metrics.RequestsRejected.WithLabels("invalid").Inc();
                throw new RequestValidationException(errors);
            }

            return items;
        }
    }

    private static async Task<ReadOnlyMemory<byte>> ReadLimitedAsync(
        HttpRequest request, long limit, IngestMetrics metrics, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            metrics.RequestsRejected.WithLabels("too_large").Inc();
            throw new BadHttpRequestException($"Body of {request.ContentLength} bytes exceeds the limit of {limit}",
                StatusCodes.Status413PayloadTooLarge);
        }

        // With a Content-Length the body fits the first buffer (one spare byte to read the end into); asking for more
        // room on each read would copy every request into a second, larger buffer.
        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(request.ContentLength ?? 16 * 1024, limit) + 1);
        while (true)
        {
            var memory = buffer.GetMemory();
            var read = await request.Body.ReadAsync(memory, cancellationToken);
            if (read == 0)
            {
                return buffer.WrittenMemory;
            }

            buffer.Advance(read);
            if (buffer.WrittenCount > limit)
            {
                metrics.RequestsRejected.WithLabels("too_large").Inc();
                throw new BadHttpRequestException($"Body exceeds the limit of {limit} bytes", StatusCodes.Status413PayloadTooLarge);
            }
        }
    }
}
