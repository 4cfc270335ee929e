using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Triage.Fakes.PagerDuty;

/// <summary>One event the fake accepted (202), in arrival order.</summary>
public sealed record PagerDutyEvent(string RoutingKey, string EventAction, string DedupKey, JsonObject Body);

/// <summary>The state of one alert as PagerDuty keeps it per routing key and dedup key.</summary>
public enum PagerDutyAlertStatus
{
    Triggered,
    Acknowledged,
    Resolved,
}

/// <summary>
/// A local PagerDuty Events API v2 endpoint (<c>POST /v2/enqueue</c>, Kestrel on 127.0.0.1, a free port) that enforces
/// the documented contract: 202 <c>{"status":"success","message":"Event processed","dedup_key":…}</c>; 400
/// <c>{"status":"invalid event","message":"Event object is invalid","errors":[…]}</c> for a missing or malformed
/// <c>routing_key</c> (32 characters), <c>event_action</c>, <c>dedup_key</c> (≤ 255, required for acknowledge and
/// resolve), <c>payload.summary</c> (≤ 1024), <c>payload.source</c>, <c>payload.severity</c>
/// (critical|error|warning|info), non-HTTPS image sources, or a body over 512 KB; and 429 once a routing key sends more
/// than <see cref="RateLimitPerMinute"/> events within 60 s (the event is not ingested).
/// </summary>
/// <remarks>
/// Alert semantics as documented: a trigger without <c>dedup_key</c> gets a new one; events with the same key apply to the
/// open alert; after resolve a trigger opens a new alert and acknowledge/resolve are dropped (still 202).
/// </remarks>
public sealed class FakePagerDuty : IAsyncDisposable
{
    private const int MaxBodyBytes = 512 * 1024;
    private static readonly string[] Severities = ["critical", "error", "warning", "info"];
    private static readonly string[] Actions = ["trigger", "acknowledge", "resolve"];

    private readonly WebApplication _app;
    private readonly TimeProvider _time;
    private readonly ConcurrentQueue<PagerDutyEvent> _accepted = new();
    private readonly ConcurrentDictionary<(string RoutingKey, string DedupKey), PagerDutyAlertStatus> _alerts = new();
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _windows = new();
    private int _requests;

    private FakePagerDuty(WebApplication app, TimeProvider time)
    {
        _app = app;
        _time = time;
    }

    /// <summary>Base address; the endpoint is <c>{BaseAddress}v2/enqueue</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public Uri EnqueueUrl => new(BaseAddress, "v2/enqueue");

    /// <summary>Events accepted per routing key within a rolling 60 s window. Default 120, as documented.</summary>
    public int RateLimitPerMinute { get; set; } = 120;

    /// <summary>Accepted events, in order.</summary>
    public IReadOnlyList<PagerDutyEvent> Accepted => [.. _accepted];

    /// <summary>Every request received, accepted or not.</summary>
    public int Requests => _requests;

    /// <summary>The alert's state, or null when PagerDuty never saw that key.</summary>
    public PagerDutyAlertStatus? AlertStatus(string routingKey, string dedupKey) =>
        _alerts.TryGetValue((routingKey, dedupKey), out var status) ? status : null;

    public static async Task<FakePagerDuty> StartAsync(TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        var fake = new FakePagerDuty(app, time ?? TimeProvider.System);
        app.MapPost("/v2/enqueue", fake.EnqueueAsync);
        await app.StartAsync(cancellationToken);
        var address = app.Urls.First();
        fake.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return fake;
    }

    private async Task<IResult> EnqueueAsync(HttpRequest request)
    {
        Interlocked.Increment(ref _requests);
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        if (buffer.Length > MaxBodyBytes)
        {
            return Invalid("Event object is invalid", "Event payload exceeds 512 KB");
        }

        JsonObject? body;
        try
        {
            body = JsonNode.Parse(buffer.ToArray()) as JsonObject;
        }
        catch (JsonException)
        {
            return Invalid("Event object is invalid", "Request body is not valid JSON");
        }

        if (body is null)
        {
            return Invalid("Event object is invalid", "Request body must be a JSON object");
        }

        var errors = Validate(body);
        if (errors.Count > 0)
        {
            return Invalid("Event object is invalid", [.. errors]);
        }

        var routingKey = (string)body["routing_key"]!;
        if (!TakeRateToken(routingKey))
        {
            return Results.Json(new JsonObject
            {
                ["status"] = "throttle event",
                ["message"] = "Requests for this service are arriving too quickly.  Please retry later.",
            }, statusCode: StatusCodes.Status429TooManyRequests);
        }

        var action = (string)body["event_action"]!;
        var dedupKey = (string?)body["dedup_key"] ?? Guid.NewGuid().ToString("N");
        var key = (routingKey, dedupKey);
        switch (action)
        {
            case "trigger":
                _alerts.AddOrUpdate(key, PagerDutyAlertStatus.Triggered,
                    (_, old) => old == PagerDutyAlertStatus.Acknowledged ? old : PagerDutyAlertStatus.Triggered);
                break;
            case "acknowledge" when _alerts.TryGetValue(key, out var status) && status != PagerDutyAlertStatus.Resolved:
                _alerts[key] = PagerDutyAlertStatus.Acknowledged;
                break;
            case "resolve" when _alerts.TryGetValue(key, out var status) && status != PagerDutyAlertStatus.Resolved:
                _alerts[key] = PagerDutyAlertStatus.Resolved;
                break;
        }

        _accepted.Enqueue(new PagerDutyEvent(routingKey, action, dedupKey, body));
        return Results.Json(new JsonObject
        {
            ["status"] = "success",
            ["message"] = "Event processed",
            ["dedup_key"] = dedupKey,
        }, statusCode: StatusCodes.Status202Accepted);
    }

    private static List<string> Validate(JsonObject body)
    {
        var errors = new List<string>();
        if (body["routing_key"] is not JsonValue routingKey || routingKey.GetValueKind() != JsonValueKind.String)
        {
            errors.Add("'routing_key' is missing or blank");
        }
        else if (((string)routingKey!).Length != 32)
        {
            errors.Add("Length of 'routing_key' is incorrect (should be 32 characters)");
        }

        var action = body["event_action"] is JsonValue a && a.GetValueKind() == JsonValueKind.String ? (string)a! : null;
        if (action is null || !Actions.Contains(action))
        {
            errors.Add("'event_action' is missing or invalid (expected trigger, acknowledge or resolve)");
        }

        if (body["dedup_key"] is { } dedup)
        {
            if (dedup.GetValueKind() != JsonValueKind.String || ((string)dedup!).Length == 0)
            {
                errors.Add("'dedup_key' must be a non-empty string");
            }
            else if (((string)dedup!).Length > 255)
            {
                errors.Add("Length of 'dedup_key' is too long (maximum is 255 characters)");
            }
        }
        else if (action is "acknowledge" or "resolve")
        {
            errors.Add($"'dedup_key' is required for {action} events");
        }

        if (action == "trigger")
        {
            if (body["payload"] is not JsonObject payload)
            {
                errors.Add("'payload' is missing");
            }
            else
            {
                var summary = payload["summary"] is JsonValue s && s.GetValueKind() == JsonValueKind.String ? (string)s! : null;
                if (string.IsNullOrWhiteSpace(summary))
                {
                    errors.Add("'payload.summary' is missing or blank");
                }
                else if (summary.Length > 1024)
                {
                    errors.Add("Length of 'payload.summary' is too long (maximum is 1024 characters)");
                }

                if (payload["source"] is not JsonValue src || src.GetValueKind() != JsonValueKind.String || string.IsNullOrWhiteSpace((string)src!))
                {
                    errors.Add("'payload.source' is missing or blank");
                }

                if (payload["severity"] is not JsonValue sev || sev.GetValueKind() != JsonValueKind.String || !Severities.Contains((string)sev!))
                {
                    errors.Add("'payload.severity' is missing or invalid (expected critical, error, warning or info)");
                }

                if (payload["custom_details"] is { } details && details.GetValueKind() != JsonValueKind.Object
                    && details.GetValueKind() != JsonValueKind.String)
                {
                    errors.Add("'payload.custom_details' must be an object");
                }

                if (payload["timestamp"] is JsonValue ts && !DateTimeOffset.TryParse((string?)ts, System.Globalization.CultureInfo.InvariantCulture, out _))
                {
                    errors.Add("'payload.timestamp' is not a valid ISO 8601 timestamp");
                }
            }

            if (body["images"] is JsonArray images)
            {
                foreach (var image in images)
                {
                    if (image?["src"] is not JsonValue src || !((string?)src ?? "").StartsWith("https://", StringComparison.Ordinal))
                    {
                        errors.Add("'images[].src' must be an HTTPS URL");
                    }
                }
            }

            if (body["links"] is JsonArray links && links.Any(l => l?["href"] is not JsonValue))
            {
                errors.Add("'links[].href' is required");
            }
        }

        return errors;
    }

    private bool TakeRateToken(string routingKey)
    {
        var now = _time.GetUtcNow();
        var window = _windows.GetOrAdd(routingKey, _ => new Queue<DateTimeOffset>());
        lock (window)
        {
            while (window.Count > 0 && now - window.Peek() >= TimeSpan.FromSeconds(60))
            {
                window.Dequeue();
            }

            if (window.Count >= RateLimitPerMinute)
            {
                return false;
            }

            window.Enqueue(now);
            return true;
        }
    }

    private static IResult Invalid(string message, params string[] errors) => Results.Json(new JsonObject
    {
        ["status"] = "invalid event",
        ["message"] = message,
        ["errors"] = new JsonArray([.. errors.Select(e => (JsonNode)e)]),
    }, statusCode: StatusCodes.Status400BadRequest);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
