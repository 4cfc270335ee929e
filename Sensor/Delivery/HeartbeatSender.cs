using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Extensions.Logging;
using Triage.Contracts;

namespace Sensor.Delivery;

/// <summary>
/// Sends <c>POST /api/v1/sensors/{node}/heartbeat</c> once per interval (the first at start) with the same client,
/// service URL and bearer token as alert delivery, so a heartbeat arriving also says the delivery path works. A failed
/// heartbeat is not retried or spooled: the next one, one interval later, carries fresher figures; the service flags
/// the node silent only after several intervals without one.
/// </summary>
internal sealed partial class HeartbeatSender(
    HttpClient http,
    ShipperOptions options,
    string node,
    Func<SensorHeartbeat> snapshot,
    TimeSpan interval,
    TimeProvider time,
    ILogger<HeartbeatSender> log)
{
    private long _sent;
    private long _failed;
    private bool _failing;

    public long Sent => Interlocked.Read(ref _sent);
    public long Failed => Interlocked.Read(ref _failed);

    public async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                await SendOnceAsync(ct);
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Sends one heartbeat; true when the service acknowledged it.</summary>
    public async Task<bool> SendOnceAsync(CancellationToken ct)
    {
        var heartbeat = snapshot();
        string? problem;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post,
                new Uri(options.ServiceUrl, $"api/v1/sensors/{Uri.EscapeDataString(node)}/heartbeat"))
            {
                Content = JsonContent.Create(heartbeat, options: AlertSpool.Json),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
            using var response = await http.SendAsync(request, ct);
            problem = response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            problem = e.Message;
        }

        if (problem is null)
        {
            Interlocked.Increment(ref _sent);
            if (_failing)
            {
                _failing = false;
                LogRecovered(log, options.ServiceUrl);
            }

            return true;
        }

        Interlocked.Increment(ref _failed);
        if (!_failing)
        {
            // Once per failing stretch: an outage of the service must not flood the sensor's log.
            _failing = true;
            LogFailed(log, options.ServiceUrl, problem);
        }

        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat to {Url} failed ({Problem}); the service will flag this sensor silent if this goes on")]
    private static partial void LogFailed(ILogger logger, Uri url, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Heartbeat to {Url} delivered again")]
    private static partial void LogRecovered(ILogger logger, Uri url);
}
