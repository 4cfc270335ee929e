using System.Net;
using System.Net.Http.Json;
using Triage.Api;
using Triage.Tests.Support;

namespace Triage.Tests.Incidents;

public sealed class IncidentQueryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task List_FiltersAndPages(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var alerts = Enumerable.Range(0, 5).Select(i => Some.Alert(workload: $"app{i}", priority: i % 2 == 0 ? "Warning" : "Critical")).ToArray();
        await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alerts, TriageJson.Options, Ct);
        var first = await IncidentActionsTests.CreateIncidentAsync(host);
        await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{first}/actions/ack", new { actor = "alice" }, Ct);

        var page1 = await Get(host, "/api/v1/incidents?limit=4");
        var page2 = await Get(host, $"/api/v1/incidents?limit=4&cursor={page1.GetProperty("next_cursor").GetString()}");
        var critical = await Get(host, "/api/v1/incidents?priority=Critical");
        var acked = await Get(host, "/api/v1/incidents?status=acknowledged");
        var future = await Get(host, "/api/v1/incidents?since=2030-01-01T00:00:00Z");

        Assert.Equal(4, page1.GetProperty("items").GetArrayLength());
        Assert.Equal(2, page2.GetProperty("items").GetArrayLength());
        Assert.False(page2.TryGetProperty("next_cursor", out _));
        Assert.Equal(3, critical.GetProperty("items").GetArrayLength());
        Assert.Equal(first, acked.GetProperty("items")[0].GetProperty("id").GetInt64());
        Assert.Equal(0, future.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task List_BadFilters_Are400NamingEach()
    {
        await using var host = await TriageTestHost.StartAsync();

        var response = await host.Operator.GetAsync("/api/v1/incidents?status=open&priority=urgent&limit=0", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await TriageTestHost.ReadJsonAsync(response)).GetProperty("errors");
        Assert.True(errors.TryGetProperty("status", out _));
        Assert.True(errors.TryGetProperty("priority", out _));
        Assert.True(errors.TryGetProperty("limit", out _));
    }

    [Fact]
    public async Task Get_UnknownIncident_Is404Problem()
    {
        await using var host = await TriageTestHost.StartAsync();

        var response = await host.Operator.GetAsync("/api/v1/incidents/424242", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Operations_HealthReadyMetricsAndOpenApi()
    {
        await using var host = await TriageTestHost.StartAsync();
        await IncidentActionsTests.CreateIncidentAsync(host);

        Assert.Equal(HttpStatusCode.OK, (await host.Anonymous.GetAsync("/healthz", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Anonymous.GetAsync("/readyz", Ct)).StatusCode);
        var metrics = await host.Anonymous.GetStringAsync("/metrics", Ct);
        Assert.Contains("triage_alerts_received_total{source=\"sensor\",format=\"native\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("triage_incidents{status=\"triggered\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("triage_ingest_duration_seconds_bucket", metrics, StringComparison.Ordinal);
        var openApi = await host.Anonymous.GetStringAsync("/openapi/v1.json", Ct);
        Assert.Contains("/api/v1/ingest/falco", openApi, StringComparison.Ordinal);
    }

    private static async Task<System.Text.Json.JsonElement> Get(TriageTestHost host, string url)
    {
        var response = await host.Operator.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await TriageTestHost.ReadJsonAsync(response);
    }
}
