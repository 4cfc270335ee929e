using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using Sensor.Delivery;
using Sensor.Hosting;
using Triage.Contracts;

namespace Sensor.Tests.Delivery;

public sealed class AlertShipperTests
{
    /// <summary>
    /// A local stand-in for POST /api/v1/alerts with the real contract: bearer token required (401 otherwise), body one
    /// alert or an array, stored idempotently by id. It can answer 503 after storing, as a service does when it
    /// commits and then fails to answer.
    /// </summary>
    private sealed class FakeIngest : IAsyncDisposable
    {
        public ConcurrentDictionary<string, NativeAlert> Stored { get; } = new();
        public int Posts;
        public int FailAfterStoreRemaining;
        private readonly WebApplication _app;

        public FakeIngest(int port, string token)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
            builder.Logging.ClearProviders();
            _app = builder.Build();
            _app.MapPost("/api/v1/alerts", async (HttpRequest request) =>
            {
                Interlocked.Increment(ref Posts);
                if (request.Headers.Authorization != $"Bearer {token}")
                    return Results.Unauthorized();
                using var doc = await JsonDocument.ParseAsync(request.Body);
                var items = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.EnumerateArray().ToList() : [doc.RootElement];
                foreach (var item in items)
                {
                    var alert = item.Deserialize<NativeAlert>(AlertSpool.Json)!;
                    if (string.IsNullOrEmpty(alert.Id))
                        return Results.BadRequest();
                    Stored.TryAdd(alert.Id, alert);
                }
                if (Interlocked.Decrement(ref FailAfterStoreRemaining) >= 0)
                    return Results.StatusCode(503);
                return Results.Accepted();
            });
        }

        public Task StartAsync() => _app.StartAsync();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static NativeAlert Alert(int i) => new()
    {
        Id = $"sen-test-{i:D4}-{Guid.NewGuid():N}",
        Time = DateTimeOffset.UtcNow,
        Node = "node-1",
        Rule = "Test rule",
        Priority = "Warning",
        Output = $"alert {i}",
    };

    [Fact]
    public async Task RunAsync_ServiceDownThenBack_EveryAlertArrivesExactlyOnce()
    {
        var dir = Directory.CreateTempSubdirectory("spool-");
        var port = FreePort();
        var token = Guid.NewGuid().ToString("N");
        var spool = new AlertSpool(dir.FullName, capacity: 1000);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var shipper = new AlertShipper(spool, http,
            new ShipperOptions
            {
                ServiceUrl = new Uri($"http://127.0.0.1:{port}/"), Token = token, BatchSize = 7,
                InitialBackoff = TimeSpan.FromMilliseconds(20), MaxBackoff = TimeSpan.FromMilliseconds(100),
            },
            TimeProvider.System, NullLogger<AlertShipper>.Instance);
        using var cts = new CancellationTokenSource();
        var run = shipper.RunAsync(cts.Token);

        // Service down: alerts are raised and must wait in the spool.
        var sent = Enumerable.Range(0, 50).Select(Alert).ToList();
        foreach (var a in sent)
            Assert.True(spool.Enqueue(a));
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.Equal(50, spool.Count);
        Assert.Equal(0, shipper.Shipped);

        // A new shipper over the same directory (sensor restart) still sees them.
        Assert.Equal(50, new AlertSpool(dir.FullName).Count);

        // Back up, and the first answer is lost after the store: that batch is resent, stored once.
        await using var ingest = new FakeIngest(port, token) { FailAfterStoreRemaining = 1 };
        await ingest.StartAsync();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (spool.Count > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(50, TestContext.Current.CancellationToken);

        await cts.CancelAsync();
        await run;
        Assert.Equal(0, spool.Count);
        Assert.Equal(sent.Select(a => a.Id).Order(), ingest.Stored.Keys.Order());
        Assert.Equal(50, shipper.Shipped);
        Assert.True(ingest.Posts > 50 / 7, "the failed batch was sent again");
        Assert.Empty(Directory.GetFiles(dir.FullName));
        dir.Delete(true);
    }

    [Fact]
    public async Task RunAsync_BatchRetried_DetectionLatencyObservedOncePerAlertAtFirstHandOver()
    {
        var dir = Directory.CreateTempSubdirectory("spool-");
        var port = FreePort();
        var token = Guid.NewGuid().ToString("N");
        var spool = new AlertSpool(dir.FullName, capacity: 1000);
        var metrics = new SensorMetrics(Metrics.NewCustomRegistry());
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await using var ingest = new FakeIngest(port, token) { FailAfterStoreRemaining = 2 };
        await ingest.StartAsync();
        var shipper = new AlertShipper(spool, http,
            new ShipperOptions { ServiceUrl = new Uri($"http://127.0.0.1:{port}/"), Token = token, InitialBackoff = TimeSpan.FromMilliseconds(20) },
            TimeProvider.System, NullLogger<AlertShipper>.Instance, metrics);
        using var cts = new CancellationTokenSource();
        var run = shipper.RunAsync(cts.Token);

        // Raised 300 ms ago: the histogram must say so, and count each alert once although its batch was sent three times.
        var raised = DateTimeOffset.UtcNow.AddMilliseconds(-300);
        for (var i = 0; i < 5; i++)
            Assert.True(spool.Enqueue(Alert(i) with { Time = raised }));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (shipper.Shipped < 5 && DateTime.UtcNow < deadline)
            await Task.Delay(20, TestContext.Current.CancellationToken);
        await cts.CancelAsync();
        await run;

        Assert.Equal(5, shipper.Shipped);
        Assert.True(ingest.Posts >= 3, $"only {ingest.Posts} posts");
        Assert.Equal(5, metrics.DetectionLatency.Count);
        Assert.InRange(metrics.DetectionLatency.Sum / 5, 0.3, 10);
        dir.Delete(true);
    }

    [Fact]
    public void Peek_NewSpoolOverSameDirectory_OldestFirstAndFilesOnDiskUntilRemoved()
    {
        var dir = Directory.CreateTempSubdirectory("spool-");
        var spool = new AlertSpool(dir.FullName);
        var sent = Enumerable.Range(0, 12).Select(Alert).ToList();
        foreach (var a in sent)
            spool.Enqueue(a);

        // Served from memory, but every alert the shipper sees is already a file (a crash right now loses nothing).
        var head = spool.Peek(5);
        Assert.Equal(sent.Take(5).Select(a => a.Id), head.Select(h => h.Alert.Id));
        Assert.All(head, h => Assert.True(File.Exists(h.File)));
        spool.Remove(head[0].File);
        Assert.False(File.Exists(head[0].File));
        Assert.Equal(11, spool.Count);

        // A restarted sensor reads the same order back from disk and keeps numbering after it.
        var restarted = new AlertSpool(dir.FullName);
        Assert.Equal(11, restarted.Count);
        Assert.True(restarted.Enqueue(Alert(99)));
        var all = restarted.Peek(100);
        Assert.Equal(sent.Skip(1).Select(a => a.Id).Append(all[^1].Alert.Id), all.Select(h => h.Alert.Id));
        Assert.StartsWith("sen-test-0099-", all[^1].Alert.Id, StringComparison.Ordinal);
        foreach (var (file, _) in all)
            restarted.Remove(file);
        Assert.Equal(0, restarted.Count);
        Assert.Empty(Directory.GetFiles(dir.FullName));
        dir.Delete(true);
    }

    [Fact]
    public async Task RunAsync_StoppedWhilePostInFlight_EndsCleanlyAndKeepsTheBatch()
    {
        var dir = Directory.CreateTempSubdirectory("spool-");
        // A service that accepts the connection and never answers: the POST is in flight when the sensor stops.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = silent.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
        var spool = new AlertSpool(dir.FullName);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var shipper = new AlertShipper(spool, http,
            new ShipperOptions { ServiceUrl = new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}/"), Token = "t" },
            TimeProvider.System, NullLogger<AlertShipper>.Instance);
        spool.Enqueue(Alert(1));
        using var cts = new CancellationTokenSource();
        var run = shipper.RunAsync(cts.Token);
        using var connection = await accepted;
        await Task.Delay(200, TestContext.Current.CancellationToken);

        await cts.CancelAsync();
        await run;

        Assert.Equal(1, new AlertSpool(dir.FullName).Count);
        dir.Delete(true);
    }

    [Fact]
    public void Enqueue_SpoolFull_RefusesAndCountsDrops()
    {
        var dir = Directory.CreateTempSubdirectory("spool-");
        var spool = new AlertSpool(dir.FullName, capacity: 3);
        for (var i = 0; i < 5; i++)
            spool.Enqueue(Alert(i));
        Assert.Equal(3, spool.Count);
        Assert.Equal(2, spool.Dropped);
        Assert.Equal(3, spool.Peek(10).Count);
        dir.Delete(true);
    }
}
