using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Triage.Api;
using Triage.Api.Sensors;
using Triage.Contracts;
using Triage.Tests.Support;

namespace Triage.Tests.Sensors;

/// <summary>
/// Heartbeats over real HTTP into the real service (SQLite and PostgreSQL) on a fake clock: last seen per node, silence
/// after the threshold with one incident per episode through the normal ingest path, recovery on the timeline.
/// </summary>
public sealed class SensorHeartbeatTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 1, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The background check is slowed to once an hour so that the tests drive it step by step.</summary>
    private const string ManualCheck = """
        sensors:
          heartbeat_interval: 30s
          check_interval: 1h
        """;

    private static SensorHeartbeat Beat(string node = "node-1", long execDrops = 0) => new()
    {
        Node = node,
        SensorVersion = "1.2.3",
        StartedAt = Start,
        SentAt = Start,
        UptimeSeconds = 12.5,
        RulesLoaded = 42,
        KernelDrops = new Dictionary<string, long> { ["exec"] = execDrops, ["connect"] = 0 },
        ChannelDrops = 0,
        SpoolDepth = 3,
        SpoolDropped = 0,
        ShipLagSeconds = 0.04,
        LastEventAt = Start,
        PodsKnown = 7,
    };

    private static async Task<HttpResponseMessage> PostBeat(TriageTestHost host, SensorHeartbeat beat, string? node = null) =>
        await host.Ingest.PostAsJsonAsync($"/api/v1/sensors/{node ?? beat.Node}/heartbeat", beat, TriageJson.Options, Ct);

    private static async Task<JsonElement> Sensors(TriageTestHost host) =>
        await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync("/api/v1/sensors", Ct));

    private static JsonElement Node(JsonElement sensors, string node) =>
        sensors.GetProperty("sensors").EnumerateArray().Single(s => s.GetProperty("node").GetString() == node);

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Heartbeat_Posted_ListedAsOkWithReportedFigures(DatabaseKind database)
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = await TriageTestHost.StartAsync(database, ManualCheck, clock);

        var response = await PostBeat(host, Beat(execDrops: 5));
        clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var sensors = await Sensors(host);
        Assert.Equal(90, sensors.GetProperty("silent_after_seconds").GetDouble());
        var node = Node(sensors, "node-1");
        Assert.Equal("ok", node.GetProperty("status").GetString());
        Assert.Equal(Start, node.GetProperty("last_seen").GetDateTimeOffset());
        Assert.Equal(20, node.GetProperty("seconds_since_last_seen").GetDouble());
        Assert.Equal("1.2.3", node.GetProperty("sensor_version").GetString());
        Assert.Equal(42, node.GetProperty("rules_loaded").GetInt32());
        Assert.Equal(5, node.GetProperty("kernel_drops").GetProperty("exec").GetInt64());
        Assert.Equal(3, node.GetProperty("spool_depth").GetInt32());
        Assert.Equal(0.04, node.GetProperty("ship_lag_seconds").GetDouble());
        Assert.Equal(7, node.GetProperty("pods_known").GetInt32());
        Assert.Equal(12.5, node.GetProperty("uptime_seconds").GetDouble());
    }

    [Fact]
    public async Task Heartbeat_WrongScopeOrMismatchedNode_Refused()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: ManualCheck);

        var anonymous = await host.Anonymous.PostAsJsonAsync("/api/v1/sensors/node-1/heartbeat", Beat(), TriageJson.Options, Ct);
        var readOnly = await host.Operator.PostAsJsonAsync("/api/v1/sensors/node-1/heartbeat", Beat(), TriageJson.Options, Ct);
        var mismatch = await PostBeat(host, Beat(node: "node-2"), node: "node-1");
        var listByIngest = await host.Ingest.GetAsync("/api/v1/sensors", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, readOnly.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, mismatch.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, listByIngest.StatusCode);
        Assert.Empty((await Sensors(host)).GetProperty("sensors").EnumerateArray());
        var openApi = await host.Anonymous.GetStringAsync("/openapi/v1.json", Ct);
        Assert.Contains("\"/api/v1/sensors/{node}/heartbeat\"", openApi, StringComparison.Ordinal);
        Assert.Contains("\"/api/v1/sensors\"", openApi, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Silence_AfterThreshold_RaisesOneIncidentPerEpisodeAndRecoveryIsOnTheTimeline(DatabaseKind database)
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = await TriageTestHost.StartAsync(database, ManualCheck, clock);
        var health = host.App.Services.GetRequiredService<SensorHealth>();
        (await PostBeat(host, Beat("node-1"))).EnsureSuccessStatusCode();
        (await PostBeat(host, Beat("node-2"))).EnsureSuccessStatusCode();

        // 89 s: not yet. node-2 keeps beating.
        clock.Advance(TimeSpan.FromSeconds(89));
        (await PostBeat(host, Beat("node-2"))).EnsureSuccessStatusCode();
        Assert.Empty((await health.CheckAsync(Ct)).Silenced);

        clock.Advance(TimeSpan.FromSeconds(1));
        var check = await health.CheckAsync(Ct);
        Assert.Equal(["node-1"], check.Silenced);
        var again = await health.CheckAsync(Ct);
        Assert.Empty(again.Silenced);
        await host.WaitForPipelineAsync();

        var node = Node(await Sensors(host), "node-1");
        Assert.Equal("silent", node.GetProperty("status").GetString());
        Assert.Equal(Start, node.GetProperty("silent_since").GetDateTimeOffset());
        Assert.Equal("ok", Node(await Sensors(host), "node-2").GetProperty("status").GetString());
        var incidents = await host.QueryAsync(db => db.Incidents.Include(i => i.Alerts).Where(i => i.Rule == SensorHealth.SilentRule).ToListAsync(Ct));
        var incident = Assert.Single(incidents);
        Assert.Equal("node-1", incident.Node);
        Assert.Equal("triage", incident.Source);
        Assert.Equal(AlertPriority.Error, incident.Priority);
        Assert.Equal(1, incident.AlertCount);
        Assert.Equal(incident.Id, node.GetProperty("silent_incident_id").GetInt64());

        // Heartbeats come back: recovery on the incident's timeline, the incident stays open.
        clock.Advance(TimeSpan.FromMinutes(10));
        (await PostBeat(host, Beat("node-1"))).EnsureSuccessStatusCode();
        await host.WaitForPipelineAsync();
        Assert.Equal("ok", Node(await Sensors(host), "node-1").GetProperty("status").GetString());
        var detail = await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync($"/api/v1/incidents/{incident.Id}", Ct));
        Assert.Equal("triggered", detail.GetProperty("status").GetString()!.ToLowerInvariant());
        var recovered = detail.GetProperty("timeline").EnumerateArray().Single(t => t.GetProperty("kind").GetString() == "sensor_recovered");
        Assert.Equal("sensor", recovered.GetProperty("channel").GetString());
        Assert.Contains("node-1", recovered.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("11m30s", recovered.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // A second silence is a new episode: a new alert, with its own id.
        clock.Advance(TimeSpan.FromSeconds(90));
        Assert.Contains("node-1", (await health.CheckAsync(Ct)).Silenced);
        var alerts = await host.QueryAsync(db => db.Alerts.Where(a => a.Rule == SensorHealth.SilentRule && a.Node == "node-1").Select(a => a.Id).ToListAsync(Ct));
        Assert.Equal(2, alerts.Distinct().Count());
    }

    [Fact]
    public async Task Silence_TwoReplicasCheckAtOnce_OneAlert()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = await TriageTestHost.StartAsync(extraYaml: ManualCheck, clock: clock);
        var health = host.App.Services.GetRequiredService<SensorHealth>();
        (await PostBeat(host, Beat("node-1"))).EnsureSuccessStatusCode();
        clock.Advance(TimeSpan.FromMinutes(2));

        await Task.WhenAll(health.CheckAsync(Ct), health.CheckAsync(Ct));

        Assert.Equal(1, await host.QueryAsync(db => db.Alerts.CountAsync(a => a.Rule == SensorHealth.SilentRule, Ct)));
        Assert.Equal(1, await host.QueryAsync(db => db.Incidents.CountAsync(i => i.Rule == SensorHealth.SilentRule, Ct)));
    }

    [Fact]
    public async Task Silence_BackgroundCheck_FlagsSilentSensorAndMetricsShowIt()
    {
        var clock = new FakeTimeProvider(Start);
        await using var host = await TriageTestHost.StartAsync(extraYaml: """
            sensors:
              heartbeat_interval: 10s
              silent_after: 30s
              check_interval: 5s
              raise_incident: false
            """, clock: clock);
        (await PostBeat(host, Beat("quiet-node"))).EnsureSuccessStatusCode();

        clock.Advance(TimeSpan.FromSeconds(35));

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((await host.QueryAsync(db => db.Set<SensorRecord>().SingleAsync(s => s.Node == "quiet-node", Ct))).Status != SensorStatus.Silent)
        {
            Assert.True(DateTime.UtcNow < deadline, "the background check did not flag the sensor");
            await Task.Delay(20, Ct);
        }

        var metrics = await host.Anonymous.GetStringAsync("/metrics", Ct);
        Assert.Contains("triage_sensor_silent{node=\"quiet-node\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("triage_sensors{status=\"silent\"}", metrics, StringComparison.Ordinal);
        // raise_incident: false: flagged, logged and measured, but no incident.
        Assert.Equal(0, await host.QueryAsync(db => db.Incidents.CountAsync(Ct)));
    }
}
