using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Triage.Api;
using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Contracts;
using Triage.Tests.Support;

namespace Triage.Tests.Response;

/// <summary>The whole loop over real HTTP: alert in, kill requested through the API, sensor polls, reports, uploads evidence.</summary>
public sealed class ResponseEndpointsTests
{
    private const string SensorToken = "test-node-sensor-token-0123456789";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<TriageTestHost> StartAsync() => TriageTestHost.StartAsync(configureServices: services =>
    {
        // The base test configuration has no token with the sensor scope; add one for the node agent.
        services.RemoveAll<ApiTokens>();
        services.AddSingleton(sp =>
        {
            var config = sp.GetRequiredService<TriageConfig>();
            config.Auth.Tokens.Add(new ApiToken { Name = "node-sensor", Token = SensorToken, Scopes = [ApiScopes.Ingest, ApiScopes.Sensor] });
            config.Evidence.Directory = Path.Combine(Path.GetTempPath(), "triage-evidence-" + Guid.NewGuid().ToString("N"));
            return new ApiTokens(config);
        });
    });

    [Fact]
    public async Task KillProcess_FromApi_SensorPollsReportsAndTimelineShowsResult()
    {
        await using var host = await StartAsync();
        var sensor = host.NewClient(SensorToken);
        var alert = Some.Alert(id: "a-kill") with { Process = Some.Alert().Process! with { Pid = 4242, StartTimeNs = 5_000_000_000 } };
        (await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct)).EnsureSuccessStatusCode();
        await host.WaitForPipelineAsync();
        var incidents = await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync("/api/v1/incidents", Ct));
        var incidentId = FirstIncidentId(incidents);

        var poll = sensor.GetAsync("/api/v1/sensors/node-1/commands?wait=20", Ct);
        var act = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{incidentId}/actions/kill_process", new { actor = "carol" }, TriageJson.Options, Ct);
        Assert.True(act.IsSuccessStatusCode, await act.Content.ReadAsStringAsync(Ct));

        var commands = await (await poll).Content.ReadFromJsonAsync<List<SensorCommand>>(TriageJson.Options, Ct);
        var command = Assert.Single(commands!);
        Assert.Equal(4242, command.Target.Pid);
        Assert.Equal(5_000_000_000UL, command.Target.StartTimeNs);
        var report = await sensor.PostAsJsonAsync($"/api/v1/sensors/node-1/commands/{command.Id}/result",
            new SensorCommandResult { Outcome = "refused", Detail = "pid 4242 now belongs to another process (pid reused): not killed" }, TriageJson.Options, Ct);
        Assert.Equal(HttpStatusCode.NoContent, report.StatusCode);

        var upload = await sensor.PostAsync($"/api/v1/sensors/node-1/evidence?kind=process_tree&name=tree.json&alert_id=a-kill",
            new StringContent("""{"tree":["1 sh","  4242 curl"]}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        var evidence = await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync($"/api/v1/incidents/{incidentId}/evidence", Ct));
        var download = evidence[0].GetProperty("download").GetString()!;
        Assert.Equal("""{"tree":["1 sh","  4242 curl"]}""", await host.Operator.GetStringAsync(download, Ct));

        var detail = JsonSerializer.Serialize(await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync($"/api/v1/incidents/{incidentId}", Ct)));
        Assert.Contains("kill_process_requested", detail, StringComparison.Ordinal);
        Assert.Contains("kill_process_refused", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SensorEndpoints_WithoutSensorScope_Rejected()
    {
        await using var host = await StartAsync();

        var ingestOnly = await host.Ingest.GetAsync("/api/v1/sensors/node-1/commands", Ct);
        var anonymous = await host.Anonymous.GetAsync("/api/v1/sensors/node-1/commands", Ct);
        var operatorUpload = await host.Operator.PostAsync("/api/v1/sensors/node-1/evidence?kind=sockets", new StringContent("[]"), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, ingestOnly.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, operatorUpload.StatusCode);
    }

    [Fact]
    public async Task KillProcess_PersonWithoutOperatorRole_Refused()
    {
        await using var host = await StartAsync();
        (await host.Ingest.PostAsJsonAsync("/api/v1/alerts", Some.Alert(id: "a-role"), TriageJson.Options, Ct)).EnsureSuccessStatusCode();
        await host.WaitForPipelineAsync();
        var incidentId = FirstIncidentId(await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync("/api/v1/incidents", Ct)));

        var act = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{incidentId}/actions/kill_process", new { actor = "alice" }, TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, act.StatusCode);
    }

    private static long FirstIncidentId(JsonElement list)
    {
        var items = list.ValueKind == JsonValueKind.Array ? list : list.GetProperty("items");
        return items[0].GetProperty("id").GetInt64();
    }
}
