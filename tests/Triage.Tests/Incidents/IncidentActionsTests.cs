using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api;
using Triage.Tests.Support;

namespace Triage.Tests.Incidents;

public sealed class IncidentActionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task AckThenResolve_RecordsWhoAndWhen_AndNextAlertOpensNewIncident(DatabaseKind database)
    {
        await using var host = await TriageTestHost.StartAsync(database);
        var id = await CreateIncidentAsync(host);

        var ack = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/ack", new { actor = "alice" }, Ct);
        var again = await TriageTestHost.ReadJsonAsync(await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/ack", new { actor = "alice" }, Ct));
        var resolve = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/resolve",
            new { actor = "carol", arguments = new { reason = "test workload" } }, Ct);
        await host.Ingest.PostAsJsonAsync("/api/v1/alerts", Some.Alert(time: Some.Time.AddMinutes(1)), TriageJson.Options, Ct);

        Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
        Assert.False(again.GetProperty("changed").GetBoolean());
        Assert.Equal("resolved", (await TriageTestHost.ReadJsonAsync(resolve)).GetProperty("status").GetString());
        var detail = await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync($"/api/v1/incidents/{id}", Ct));
        Assert.Equal("alice", detail.GetProperty("acknowledged_by").GetString());
        Assert.Equal("carol", detail.GetProperty("resolved_by").GetString());
        // Pipeline steps (routing, escalation, deliveries) add their own entries from the scheduler; this test is about the actions.
        var kinds = detail.GetProperty("timeline").EnumerateArray().Select(t => (t.GetProperty("kind").GetString(), t.GetProperty("channel").GetString()))
            .Where(k => k.Item2 is "ingest" or "api").ToList();
        Assert.Equal([("created", "ingest"), ("acknowledged", "api"), ("resolved", "api")], kinds);
        Assert.Equal(2, await host.QueryAsync(db => db.Incidents.CountAsync(Ct)));
    }

    [Fact]
    public async Task Act_PersonWithoutRoleOrUnknown_Is403AndRefusalIsRecorded()
    {
        await using var host = await TriageTestHost.StartAsync();
        var id = await CreateIncidentAsync(host);

        var noRole = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/ack", new { actor = "mallory" }, Ct);
        var unknown = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/ack", new { actor = "eve" }, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, noRole.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, unknown.StatusCode);
        var refusals = await host.QueryAsync(db => db.Timeline.Where(t => t.Kind == "action_refused").CountAsync(Ct));
        Assert.Equal(2, refusals);
        Assert.Equal("Triggered", (await host.QueryAsync(db => db.Incidents.SingleAsync(Ct))).Status.ToString());
    }

    [Fact]
    public async Task Act_UnknownActionOrIncidentOrMissingActor_ClearErrors()
    {
        await using var host = await TriageTestHost.StartAsync();
        var id = await CreateIncidentAsync(host);

        var action = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/explode", new { actor = "alice" }, Ct);
        var incident = await host.Operator.PostAsJsonAsync("/api/v1/incidents/999999/actions/ack", new { actor = "alice" }, Ct);
        var actor = await host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/ack", new { }, Ct);

        Assert.Equal(HttpStatusCode.NotFound, action.StatusCode);
        Assert.Contains("ack", (await TriageTestHost.ReadJsonAsync(action)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, incident.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, actor.StatusCode);
    }

    [Fact]
    public async Task ConcurrentAcks_ExactlyOneChanges()
    {
        await using var host = await TriageTestHost.StartAsync();
        var id = await CreateIncidentAsync(host);

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            host.Operator.PostAsJsonAsync($"/api/v1/incidents/{id}/actions/ack", new { actor = "alice" }, Ct)));

        var changed = 0;
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            changed += (await TriageTestHost.ReadJsonAsync(response)).GetProperty("changed").GetBoolean() ? 1 : 0;
        }

        Assert.Equal(1, changed);
        Assert.Equal(1, await host.QueryAsync(db => db.Timeline.CountAsync(t => t.Kind == "acknowledged", Ct)));
    }

    internal static async Task<long> CreateIncidentAsync(TriageTestHost host)
    {
        var response = await host.Ingest.PostAsJsonAsync("/api/v1/alerts", Some.Alert(), TriageJson.Options, Ct);
        response.EnsureSuccessStatusCode();
        return (await TriageTestHost.ReadJsonAsync(response)).GetProperty("alerts")[0].GetProperty("incident_id").GetInt64();
    }
}
