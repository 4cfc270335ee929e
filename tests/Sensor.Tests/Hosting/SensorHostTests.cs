using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sensor.Delivery;
using Sensor.Evidence;
using Sensor.Hosting;
using Sensor.Tests.Evidence;
using Sensor.Tests.Support;
using Triage.Contracts;

namespace Sensor.Tests.Hosting;

/// <summary>
/// The sensor as its binary runs it (<see cref="SensorHost.RunAsync"/>): real kernel programs and a real container,
/// against a small stand-in for the triage service's sensor endpoints (alerts, command long poll, results, evidence)
/// that checks the bearer token.
/// </summary>
public sealed class SensorHostTests
{
    private const string Token = "sensor-host-test-token";
    private const string DriftRule = "Container drift binary executed";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RunAsync_DriftInContainer_CapturesEvidenceAtDetectionAndCarriesOutAKillCommand()
    {
        Requires.Ebpf();
        TestContainer.Require();
        Environment.SetEnvironmentVariable("CONTAINERS_CONF", TestContainer.ConfigFile);
        await using var service = await SensorEndpoints.StartAsync();
        var node = $"sensorhost-test-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40];
        var spool = Directory.CreateTempSubdirectory("sensorhost-spool-");
        var metricsPort = FreeLoopbackPort();
        using var stop = new CancellationTokenSource();
        var sensor = Task.Run(() => SensorHost.RunAsync(
        [
            $"--Sensor:ServiceUrl={service.Url}", $"--Sensor:Token={Token}", $"--Sensor:Node={node}",
            $"--Sensor:SpoolDir={spool.FullName}", $"--Sensor:MetricsUrl=http://127.0.0.1:{metricsPort}",
            $"--Sensor:ContainersConf={TestContainer.ConfigFile}", "--Sensor:CommandPollSeconds=1",
            "--Sensor:Evidence:CaptureRules:0=" + DriftRule, "--Sensor:Evidence:CaptureMinPriority=none",
            // This sensor sees every container on the machine: it must never pause another test's container.
            "--Sensor:Evidence:PausedExport=false",
            "--Logging:LogLevel:Default=Warning",
        ], stop.Token), Ct);
        try
        {
            // The first poll of the command channel says the host composed and started everything.
            await service.WaitAsync(() => service.Polls > 0, "the sensor's first command poll", sensor);
            // The heartbeat at start, with the same token as the alerts, says who and how the sensor is.
            var beat = await service.WaitAsync(() => service.Heartbeats is [var first, ..] ? first : null, "the first heartbeat", sensor);
            Assert.Equal(node, beat.Node);
            Assert.True(beat.RulesLoaded > 0);
            Assert.Contains("exec", beat.KernelDrops!.Keys);
            Assert.NotNull(beat.SpoolDepth);
            Assert.NotNull(beat.SensorVersion);

            // A binary copied into the container after start, then executed: drift, and the process stays alive.
            await using var container = await TestContainer.StartAsync(
                "cp /bin/busybox /tmp/sleep && chmod 755 /tmp/sleep && touch /tmp/ready && exec /tmp/sleep 300", "/tmp/ready");
            var alert = await service.WaitAsync(() => service.Alerts.FirstOrDefault(a => a.Rule == DriftRule && a.Container?.Id == container.Id[..12]),
                "the drift alert", sensor);
            Assert.Equal("/tmp/sleep", alert.Process!.Exe);

            // Captured by the sensor on its own (no command asked for it), linked to the alert.
            var kinds = new[] { EvidenceKinds.ProcessTree, EvidenceKinds.ExecutableInfo, EvidenceKinds.Executable, EvidenceKinds.FilesystemDiff, EvidenceKinds.FilesystemExport, EvidenceKinds.Checkpoint };
            await service.WaitAsync(() => kinds.All(k => service.Evidence.Any(e => e.AlertId == alert.Id && e.Kind == k)) ? service : null,
                "evidence of every kind for the alert", sensor);
            var uploads = service.Evidence.Where(e => e.AlertId == alert.Id).ToList();
            Assert.All(uploads, e => Assert.Null(e.CommandId));
            Assert.All(uploads, e => Assert.Equal(container.Id, e.ContainerId));
            Assert.Equal(await File.ReadAllBytesAsync("/bin/busybox", Ct), uploads.Single(e => e.Kind == EvidenceKinds.Executable).Body);
            var tree = JsonDocument.Parse(uploads.Single(e => e.Kind == EvidenceKinds.ProcessTree).Body).RootElement;
            Assert.Contains(tree.GetProperty("processes").EnumerateArray(), p => p.GetProperty("cmdline").GetString() == "/tmp/sleep 300");
            Assert.NotNull(uploads.Single(e => e.Kind == EvidenceKinds.Checkpoint).Unavailable);

            // The service queues a kill for the alerting process; the sensor polls it, kills, and reports.
            service.Queue(new SensorCommand
            {
                Id = 7,
                Action = SensorCommandActions.KillProcess,
                IncidentId = 1,
                AlertId = alert.Id,
                Target = new SensorCommandTarget { Pid = alert.Process.Pid, StartTimeNs = alert.Process.StartTimeNs, ContainerId = container.Id },
            });
            var result = await service.WaitAsync(() => service.Outcomes.TryGetValue(7, out var r) ? r : null, "the kill result", sensor);
            Assert.Equal(SensorCommandOutcomes.Succeeded, result.Outcome);
            for (var i = 0; i < 100 && ProcFs.Read(alert.Process.Pid!.Value) is not null; i++)
            {
                await Task.Delay(50, Ct);
            }

            Assert.Null(ProcFs.Read(alert.Process.Pid!.Value));
            Assert.Equal(0, service.Unauthorized);

            // The metrics endpoint, scraped as Prometheus would: the gauges set at collection time are all there
            // (enforcement included), and the live ones say what the sensor saw.
            using var http = new HttpClient();
            var metrics = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics", Ct);
            foreach (var gauge in new[]
            {
                "sensor_enforcement_deny_entries", "sensor_enforcement_removed_cgroups", "sensor_enforcement_deny_failures",
                "sensor_spool_depth", "sensor_containers_known", "sensor_evidence_captures_requested", "sensor_alerts_shipped",
            })
            {
                Assert.Matches($"(?m)^{gauge}(\\{{[^}}]*\\}})? [0-9.e+-]+$", metrics);
            }

            Assert.True(Sample(metrics, "sensor_containers_known") >= 1, "the running container is not counted");
            Assert.True(Sample(metrics, "sensor_evidence_captures_requested") >= 1, "the capture at detection is not counted");
        }
        finally
        {
            await stop.CancelAsync();
            Assert.Equal(0, await sensor);
            spool.Delete(recursive: true);
        }
    }

    /// <summary>A loopback port free a moment ago, for a listener the test must know the port of.</summary>
    private static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The value of an unlabelled sample in Prometheus text.</summary>
    private static double Sample(string metrics, string name) => double.Parse(
        System.Text.RegularExpressions.Regex.Match(metrics, $"(?m)^{name} ([0-9.e+-]+)$").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One upload as the stand-in received it.</summary>
    private sealed record Upload(string Kind, string? AlertId, string? ContainerId, long? CommandId, string? Unavailable, byte[] Body);

    /// <summary>
    /// The sensor-facing endpoints of the triage service, just enough to see what the sensor sends: POST alerts, the
    /// long poll of commands (answered at once when one is queued, else after a short hold), results, evidence uploads.
    /// </summary>
    private sealed class SensorEndpoints : IAsyncDisposable
    {
        private static readonly JsonSerializerOptions Json = AlertSpool.Json;
        private readonly ConcurrentQueue<NativeAlert> _alerts = new();
        private readonly ConcurrentQueue<Upload> _evidence = new();
        private readonly ConcurrentQueue<SensorCommand> _commands = new();
        private readonly ConcurrentQueue<SensorHeartbeat> _heartbeats = new();
        private WebApplication _app = null!;
        private int _polls;
        private int _unauthorized;
        private long _nextEvidence;

        public string Url { get; private set; } = "";
        public int Polls => Volatile.Read(ref _polls);
        public int Unauthorized => Volatile.Read(ref _unauthorized);
        public IReadOnlyList<NativeAlert> Alerts => [.. _alerts];
        public IReadOnlyList<Upload> Evidence => [.. _evidence];
        public IReadOnlyList<SensorHeartbeat> Heartbeats => [.. _heartbeats];
        public ConcurrentDictionary<long, SensorCommandResult> Outcomes { get; } = new();

        public void Queue(SensorCommand command) => _commands.Enqueue(command);

        public static async Task<SensorEndpoints> StartAsync()
        {
            var fake = new SensorEndpoints();
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            app.Use(async (context, next) =>
            {
                if (context.Request.Headers.Authorization != $"Bearer {Token}")
                {
                    Interlocked.Increment(ref fake._unauthorized);
                    context.Response.StatusCode = 401;
                    return;
                }

                await next(context);
            });
            app.MapPost("/api/v1/alerts", async (HttpRequest request) =>
            {
                foreach (var alert in await JsonSerializer.DeserializeAsync<List<NativeAlert>>(request.Body, Json) ?? [])
                {
                    fake._alerts.Enqueue(alert);
                }

                return Results.Ok();
            });
            app.MapGet("/api/v1/sensors/{node}/commands", async (int? wait) =>
            {
                Interlocked.Increment(ref fake._polls);
                var until = DateTime.UtcNow.AddSeconds(Math.Min(wait ?? 0, 1));
                while (fake._commands.IsEmpty && DateTime.UtcNow < until)
                {
                    await Task.Delay(20);
                }

                var taken = new List<SensorCommand>();
                while (fake._commands.TryDequeue(out var c))
                {
                    taken.Add(c);
                }

                return Results.Json(taken, Json);
            });
            app.MapPost("/api/v1/sensors/{node}/commands/{id:long}/result", async (long id, HttpRequest request) =>
            {
                fake.Outcomes[id] = (await JsonSerializer.DeserializeAsync<SensorCommandResult>(request.Body, Json))!;
                return Results.NoContent();
            });
            app.MapPost("/api/v1/sensors/{node}/heartbeat", async (string node, HttpRequest request) =>
            {
                var beat = (await JsonSerializer.DeserializeAsync<SensorHeartbeat>(request.Body, Json))!;
                if (beat.Node != node)
                {
                    return Results.BadRequest();
                }

                fake._heartbeats.Enqueue(beat);
                return Results.NoContent();
            });
            app.MapPost("/api/v1/sensors/{node}/evidence", async (HttpRequest request) =>
            {
                using var body = new MemoryStream();
                await request.Body.CopyToAsync(body);
                var q = request.Query;
                fake._evidence.Enqueue(new Upload(q["kind"].ToString(), q["alert_id"].FirstOrDefault(), q["container_id"].FirstOrDefault(),
                    long.TryParse(q["command_id"].FirstOrDefault(), out var cmd) ? cmd : null, q["unavailable"].FirstOrDefault(), body.ToArray()));
                var id = Interlocked.Increment(ref fake._nextEvidence);
                return Results.Json(new EvidenceUploaded(id, null, body.Length), Json, statusCode: 201);
            });
            await app.StartAsync();
            fake._app = app;
            fake.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return fake;
        }

        /// <summary>Waits (real time: the kernel and podman decide) up to 30 s for <paramref name="probe"/> to give a value.</summary>
        public async Task<T> WaitAsync<T>(Func<T?> probe, string what, Task sensor) where T : class
        {
            for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline;)
            {
                if (probe() is { } value)
                {
                    return value;
                }

                if (sensor.IsCompleted)
                {
                    Assert.Fail($"the sensor exited ({(sensor.IsFaulted ? sensor.Exception!.InnerException!.Message : "exit code " + ((Task<int>)sensor).Result)}) while waiting for {what}");
                }

                await Task.Delay(50, Ct);
            }

            Assert.Fail($"within 30 s: no {what}; alerts seen: {string.Join("; ", Alerts.Select(a => a.Rule))}; evidence: {string.Join(", ", Evidence.Select(e => e.Kind))}");
            return null!;
        }

        public Task<SensorEndpoints> WaitAsync(Func<bool> condition, string what, Task sensor) =>
            WaitAsync(() => condition() ? this : null, what, sensor);

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
