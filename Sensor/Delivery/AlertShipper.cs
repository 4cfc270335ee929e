using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Extensions.Logging;
using Sensor.Hosting;
using Triage.Contracts;

namespace Sensor.Delivery;

/// <summary>Where and how alerts are delivered.</summary>
internal sealed record ShipperOptions
{
    /// <summary>Base URL of the triage service, e.g. http://127.0.0.1:5080.</summary>
    public required Uri ServiceUrl { get; init; }

    /// <summary>Bearer token for POST /api/v1/alerts.</summary>
    public required string Token { get; init; }

    /// <summary>Alerts per POST. Default 100.</summary>
    public int BatchSize { get; init; } = 100;

    /// <summary>First retry delay; doubles up to <see cref="MaxBackoff"/>. Defaults 500 ms and 30 s.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Drains the spool to <c>POST /api/v1/alerts</c> in batches. An alert leaves the spool only when the service
/// acknowledged it (2xx) or refused it as invalid (400/422, logged and counted: resending cannot help); anything else
/// (connection refused, 5xx, 429, 401) is retried with exponential backoff, so an outage or restart of the service
/// loses nothing. Alert ids make the retries idempotent on the service side. There is no batching delay: a batch is
/// whatever is spooled when the previous POST ended, so a lone alert leaves the moment it is on disk.
/// </summary>
internal sealed partial class AlertShipper(
    AlertSpool spool, HttpClient http, ShipperOptions options, TimeProvider time, ILogger<AlertShipper> log, SensorMetrics? metrics = null)
{
    private long _shipped;
    private long _rejected;
    // Alerts handed to HTTP and not yet acknowledged: their detection latency is counted once, at the first attempt.
    private readonly HashSet<string> _attempted = new(StringComparer.Ordinal);

    public long Shipped => Interlocked.Read(ref _shipped);
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Seconds between the newest shipped alert's syscall and its acknowledgement.</summary>
    public double LastShipLagSeconds { get; private set; }

    /// <summary>Raised after each acknowledged batch with the alerts in it (metrics, latency measurement).</summary>
    public event Action<IReadOnlyList<NativeAlert>>? Delivered;

    public async Task RunAsync(CancellationToken ct)
    {
        using var wake = new SemaphoreSlim(0);
        spool.Added += () =>
        {
            if (wake.CurrentCount == 0)
                wake.Release();
        };
        var backoff = options.InitialBackoff;
        while (!ct.IsCancellationRequested)
        {
            var batch = spool.Peek(options.BatchSize);
            if (batch.Count == 0)
            {
                try
                {
                    // Woken by the spool at once; the timeout only re-checks files another process may have left.
                    await wake.WaitAsync(TimeSpan.FromSeconds(1), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            Outcome outcome;
            try
            {
                outcome = await SendAsync(batch, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Stopped mid-POST (SIGTERM): the batch is still spooled and goes out after the restart.
                return;
            }
            if (outcome == Outcome.Retry)
            {
                try
                {
                    await Task.Delay(backoff, time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.MaxBackoff.Ticks));
                continue;
            }
            backoff = options.InitialBackoff;
        }
    }

    private enum Outcome
    {
        Delivered,
        Retry,
    }

    private async Task<Outcome> SendAsync(IReadOnlyList<(string File, NativeAlert Alert)> batch, CancellationToken ct)
    {
        var alerts = batch.Select(b => b.Alert).ToList();
        ObserveFirstAttempt(alerts);
        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(options.ServiceUrl, "api/v1/alerts"))
            {
                Content = JsonContent.Create(alerts, options: AlertSpool.Json),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
            response = await http.SendAsync(request, ct);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            LogUnreachable(log, options.ServiceUrl, batch.Count, e.Message);
            return Outcome.Retry;
        }
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                Forget(batch);
                Interlocked.Add(ref _shipped, batch.Count);
                var newest = alerts.Max(a => a.Time ?? time.GetUtcNow());
                LastShipLagSeconds = Math.Max(0, (time.GetUtcNow() - newest).TotalSeconds);
                Delivered?.Invoke(alerts);
                return Outcome.Delivered;
            }
            if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity)
            {
                var body = await response.Content.ReadAsStringAsync(ct);
                LogRejected(log, (int)response.StatusCode, batch.Count, body.Length > 500 ? body[..500] : body);
                Forget(batch);
                Interlocked.Add(ref _rejected, batch.Count);
                return Outcome.Delivered;
            }
            LogRetry(log, (int)response.StatusCode, batch.Count);
            return Outcome.Retry;
        }
    }

    /// <summary>
    /// Detection latency: from the syscall (the alert's time, which the sensor derived from the kernel's timestamp) to
    /// the moment the alert is handed to HTTP for the first time. Retries after an outage are ship lag, not detection.
    /// </summary>
    private void ObserveFirstAttempt(List<NativeAlert> alerts)
    {
        if (metrics is null)
            return;
        var now = time.GetUtcNow();
        foreach (var alert in alerts)
        {
            if (alert.Id is null || !_attempted.Add(alert.Id))
                continue;
            if (alert.Time is { } at)
                metrics.DetectionLatency.Observe(Math.Max(0, (now - at).TotalSeconds));
        }
    }

    private void Forget(IReadOnlyList<(string File, NativeAlert Alert)> batch)
    {
        foreach (var (file, alert) in batch)
        {
            spool.Remove(file);
            if (alert.Id is not null)
                _attempted.Remove(alert.Id);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Triage service {Url} unreachable; {Count} alerts stay spooled: {Reason}")]
    private static partial void LogUnreachable(ILogger logger, Uri url, int count, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Triage service refused {Count} alerts as invalid ({Status}); dropped: {Body}")]
    private static partial void LogRejected(ILogger logger, int status, int count, string body);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Triage service answered {Status}; {Count} alerts retried later")]
    private static partial void LogRetry(ILogger logger, int status, int count);
}
