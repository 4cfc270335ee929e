using System.Net;
using System.Net.Http.Json;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Triage.Api;
using Triage.Tests.Support;

namespace Triage.Tests.Ingest;

public sealed class IngestEndpointsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task PostAlerts_OneAlert_StoredInNewIncidentWithTimeline(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var alert = Some.Alert();

        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await TriageTestHost.ReadJsonAsync(response);
        Assert.Equal(1, body.GetProperty("accepted").GetInt32());
        var incidentId = body.GetProperty("alerts")[0].GetProperty("incident_id").GetInt64();
        var detail = await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync($"/api/v1/incidents/{incidentId}", Ct));
        Assert.Equal("triggered", detail.GetProperty("status").GetString());
        Assert.Equal("Critical", detail.GetProperty("priority").GetString());
        Assert.Equal(alert.Id, detail.GetProperty("alerts")[0].GetProperty("id").GetString());
        Assert.Equal("curl", detail.GetProperty("alerts")[0].GetProperty("process").GetProperty("name").GetString());
        Assert.Equal("created", detail.GetProperty("timeline")[0].GetProperty("kind").GetString());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task PostAlerts_RetriedWithSameId_StoredOnce(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var alert = Some.Alert(id: "retry-1");

        await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alert, TriageJson.Options, Ct);
        var second = await TriageTestHost.ReadJsonAsync(await host.Ingest.PostAsJsonAsync("/api/v1/alerts", new[] { alert }, TriageJson.Options, Ct));

        Assert.Equal(0, second.GetProperty("accepted").GetInt32());
        Assert.Equal(1, second.GetProperty("duplicates").GetInt32());
        Assert.Equal(1, await host.QueryAsync(db => db.Alerts.CountAsync(Ct)));
        Assert.Equal(1, await host.QueryAsync(db => db.Incidents.Select(i => i.AlertCount).SingleAsync(Ct)));
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task PostAlerts_Array_GroupsByRuleNamespaceAndWorkload(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var alerts = new[]
        {
            Some.Alert(priority: "Warning"),
            Some.Alert(priority: "Critical", time: Some.Time.AddMinutes(1)),
            Some.Alert(time: Some.Time.AddMinutes(2)),
            Some.Alert(ns: "shipping", workload: "api"),
            Some.Alert(rule: "Drop and execute new binary in container"),
        };

        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alerts, TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var incidents = await host.QueryAsync(db => db.Incidents.OrderBy(i => i.Id).ToListAsync(Ct));
        Assert.Equal(3, incidents.Count);
        var grouped = incidents.Single(i => i.AlertCount == 3);
        Assert.Equal(Some.Time, grouped.FirstSeen);
        Assert.Equal(Some.Time.AddMinutes(2), grouped.LastSeen);
        Assert.Equal(Triage.Contracts.AlertPriority.Critical, grouped.Priority);
        Assert.True(await host.QueryAsync(db => db.Timeline.AnyAsync(t => t.IncidentId == grouped.Id && t.Kind == "priority_raised", Ct)));
    }

    [Fact]
    public async Task PostAlerts_AfterGroupingWindow_OpensNewIncident()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: "incidents:\n  grouping_window: 30m\n");

        await host.Ingest.PostAsJsonAsync("/api/v1/alerts", Some.Alert(), TriageJson.Options, Ct);
        await host.Ingest.PostAsJsonAsync("/api/v1/alerts", Some.Alert(time: Some.Time.AddMinutes(20)), TriageJson.Options, Ct);
        await host.Ingest.PostAsJsonAsync("/api/v1/alerts", Some.Alert(time: Some.Time.AddMinutes(51)), TriageJson.Options, Ct);

        var counts = await host.QueryAsync(db => db.Incidents.OrderBy(i => i.Id).Select(i => i.AlertCount).ToListAsync(Ct));
        Assert.Equal([2, 1], counts);
    }

    [Fact]
    public async Task PostAlerts_WithoutKubernetes_GroupsByImageAndNode()
    {
        await using var host = await TriageTestHost.StartAsync();

        await host.Ingest.PostAsJsonAsync("/api/v1/alerts",
            new[] { Some.Alert(ns: null), Some.Alert(ns: null), Some.Alert(ns: null, node: "node-2") }, TriageJson.Options, Ct);

        var counts = await host.QueryAsync(db => db.Incidents.OrderBy(i => i.Id).Select(i => i.AlertCount).ToListAsync(Ct));
        Assert.Equal([2, 1], counts);
    }

    [Fact]
    public async Task PostAlerts_Authentication_MissingOrWrongTokenIs401AndWrongScopeIs403()
    {
        await using var host = await TriageTestHost.StartAsync();
        var body = JsonContent.Create(Some.Alert(), options: TriageJson.Options);

        var missing = await host.Anonymous.PostAsync("/api/v1/alerts", body, Ct);
        var wrong = await host.NewClient("not-a-configured-token-at-all").PostAsync("/api/v1/alerts", body, Ct);
        var scope = await host.Operator.PostAsync("/api/v1/alerts", body, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, scope.StatusCode);
        Assert.Equal(0, await host.QueryAsync(db => db.Alerts.CountAsync(Ct)));
    }

    [Fact]
    public async Task PostAlerts_MalformedJson_Is400NamingThePlace()
    {
        await using var host = await TriageTestHost.StartAsync();

        var response = await host.Ingest.PostAsync("/api/v1/alerts",
            new StringContent("{\"id\": \"a\", \"rule\": ", Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TriageTestHost.ReadJsonAsync(response);
        Assert.Contains("malformed JSON", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task PostAlerts_OneInvalidInArray_Is400NamingFieldsAndStoresNothing(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var alerts = new[] { Some.Alert(), Some.Alert(priority: "Severe") with { Rule = null }, Some.Alert() with { Time = null } };

        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", alerts, TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await TriageTestHost.ReadJsonAsync(response)).GetProperty("errors");
        Assert.True(errors.TryGetProperty("[1].rule", out _));
        Assert.Contains("Severe", errors.GetProperty("[1].priority")[0].GetString(), StringComparison.Ordinal);
        Assert.True(errors.TryGetProperty("[2].time", out _));
        Assert.Equal(0, await host.QueryAsync(db => db.Alerts.CountAsync(Ct)));
    }

    [Fact]
    public async Task PostAlerts_WrongType_Is400NamingField()
    {
        await using var host = await TriageTestHost.StartAsync();

        var response = await host.Ingest.PostAsync("/api/v1/alerts",
            new StringContent("""{"id":"x","time":"yesterday","node":"n","rule":"r","priority":"Warning","output":"o"}""", Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await TriageTestHost.ReadJsonAsync(response)).GetProperty("errors").TryGetProperty("time", out _));
    }

    [Fact]
    public async Task PostAlerts_BodyOverOneMebibyte_Is413AndStoresNothing()
    {
        await using var host = await TriageTestHost.StartAsync();
        var big = Some.Alert() with { Output = new string('x', 1024 * 1024) };

        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", big, TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(0, await host.QueryAsync(db => db.Alerts.CountAsync(Ct)));
    }
}
