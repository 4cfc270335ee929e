using System.Net;
using System.Net.Http.Json;
using Triage.Tests.Support;

namespace Triage.Tests.OnCall;

/// <summary>POST /api/v1/oncall/overrides goes through OnCallService.CreateOverrideAsync, the service chat uses too.</summary>
public sealed class OverrideApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Schedules = """
        schedules:
          - name: payments-primary
            time_zone: UTC
            layers:
              - { name: weekly, users: [alice], start: 2026-11-02 }
        """;

    [Fact]
    public async Task CreateOverride_ValidCreated_UnknownScheduleOrPersonOrEmptyRangeRefused()
    {
        await using var host = await TriageTestHost.StartAsync(extraYaml: Schedules);
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        Task<HttpResponseMessage> PostAsync(string schedule, string person, DateTimeOffset end) =>
            host.Operator.PostAsJsonAsync("/api/v1/oncall/overrides", new { schedule, person, start, end, actor = "ops" }, Ct);

        var created = await PostAsync("payments-primary", "mallory", start.AddHours(2));
        var unknownSchedule = await PostAsync("nope", "mallory", start.AddHours(2));
        var unknownPerson = await PostAsync("payments-primary", "zed", start.AddHours(2));
        var empty = await PostAsync("payments-primary", "mallory", start);
        var onCall = await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync("/api/v1/oncall?schedule=payments-primary", Ct));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknownSchedule.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknownPerson.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal("mallory", onCall.GetProperty("on_call").GetProperty("person").GetString());
    }
}
