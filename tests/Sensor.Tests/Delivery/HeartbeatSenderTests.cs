using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sensor.Delivery;
using Triage.Contracts;

namespace Sensor.Tests.Delivery;

public sealed class HeartbeatSenderTests : IAsyncLifetime
{
    private const string Token = "sensor-token-0123456789abcdef";

    /// <summary>
    /// A stand-in for <c>POST /api/v1/sensors/{node}/heartbeat</c> with the service's contract: bearer token (401),
    /// JSON body whose node matches the URL (400), 204 on success; it can be switched to answer 503.
    /// </summary>
    private WebApplication _service = null!;
    private readonly ConcurrentQueue<(string Node, SensorHeartbeat Beat, string Raw)> _received = new();
    private volatile bool _down;
    private Uri _url = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _service = builder.Build();
        _service.MapPost("/api/v1/sensors/{node}/heartbeat", async (string node, HttpRequest request) =>
        {
            if (request.Headers.Authorization != $"Bearer {Token}")
                return Results.Unauthorized();
            if (_down)
                return Results.StatusCode(503);
            using var reader = new StreamReader(request.Body);
            var raw = await reader.ReadToEndAsync();
            var beat = JsonSerializer.Deserialize<SensorHeartbeat>(raw, AlertSpool.Json)!;
            if (beat.Node != node)
                return Results.BadRequest();
            _received.Enqueue((node, beat, raw));
            return Results.NoContent();
        });
        await _service.StartAsync();
        _url = new Uri(_service.Urls.First() + "/");
    }

    public async ValueTask DisposeAsync()
    {
        await _service.StopAsync();
        await _service.DisposeAsync();
    }

    private HeartbeatSender Sender(HttpClient http, FakeTimeProvider time, Func<SensorHeartbeat> snapshot, string token = Token) =>
        new(http, new ShipperOptions { ServiceUrl = _url, Token = token }, "node-7", snapshot, TimeSpan.FromSeconds(30), time,
            NullLogger<HeartbeatSender>.Instance);

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "not within 10 s: " + what);
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Run_SendsAtStartThenEveryInterval_SnakeCaseBodyWithTheSensorToken()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 1, 0, 0, TimeSpan.Zero));
        using var http = new HttpClient();
        var n = 0;
        var sender = Sender(http, time, () => new SensorHeartbeat
        {
            Node = "node-7",
            RulesLoaded = 12,
            SpoolDepth = Interlocked.Increment(ref n),
            KernelDrops = new Dictionary<string, long> { ["exec"] = 2 },
            SentAt = time.GetUtcNow(),
        });
        using var stop = new CancellationTokenSource();
        var run = sender.RunAsync(stop.Token);

        await Until(() => _received.Count == 1, "the first heartbeat at start");
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Single(_received);
        time.Advance(TimeSpan.FromSeconds(1));
        await Until(() => sender.Sent == 2, "the second heartbeat one interval later");

        await stop.CancelAsync();
        await run;
        var (node, beat, raw) = _received.Last();
        Assert.Equal("node-7", node);
        Assert.Equal(2, beat.SpoolDepth);
        Assert.Equal(2, beat.KernelDrops!["exec"]);
        Assert.Contains("\"rules_loaded\":12", raw, StringComparison.Ordinal);
        Assert.Equal(2, sender.Sent);
    }

    [Fact]
    public async Task SendOnce_ServiceDownOrWrongToken_FailsQuietlyAndRecovers()
    {
        var time = new FakeTimeProvider();
        using var http = new HttpClient();
        var sender = Sender(http, time, () => new SensorHeartbeat { Node = "node-7" });
        var wrongToken = Sender(http, time, () => new SensorHeartbeat { Node = "node-7" }, token: "nope");

        _down = true;
        Assert.False(await sender.SendOnceAsync(TestContext.Current.CancellationToken));
        Assert.False(await wrongToken.SendOnceAsync(TestContext.Current.CancellationToken));
        _down = false;
        Assert.True(await sender.SendOnceAsync(TestContext.Current.CancellationToken));

        Assert.Equal((1, 1), (sender.Failed, sender.Sent));
        Assert.Single(_received);
    }
}
