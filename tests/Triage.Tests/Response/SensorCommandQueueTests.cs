using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;
using Triage.Api.Response;
using Triage.Contracts;

namespace Triage.Tests.Response;

public sealed class SensorCommandQueueTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ResponseRequester Carol => new("carol", "api");

    [Fact]
    public async Task KillProcess_QueuedForTheAlertsNode_CarriesPidAndStartTime()
    {
        await using var f = new ResponseFixture();
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("a1", pid: 4242, startTimeNs: 987_654_321_000, node: "node-7"));

        var outcome = await f.Response().KillProcessAsync(incident, Carol, null, Ct);

        Assert.True(outcome.Accepted);
        Assert.Equal(ResponseActionStatus.Pending, outcome.Status);
        Assert.Empty(await f.Queue().TakeAsync("node-1", TimeSpan.Zero, Ct));
        var command = Assert.Single(await f.Queue().TakeAsync("node-7", TimeSpan.Zero, Ct));
        Assert.Equal(SensorCommandActions.KillProcess, command.Action);
        Assert.Equal(4242, command.Target.Pid);
        Assert.Equal(987_654_321_000UL, command.Target.StartTimeNs);
        Assert.Equal("a1", command.AlertId);
        Assert.Equal(incident.Id, command.IncidentId);
        var timeline = await f.NewContext().Timeline.Where(t => t.IncidentId == incident.Id).ToListAsync(Ct);
        Assert.Contains(timeline, t => t is { Kind: "kill_process_requested", Actor: "carol", Channel: "api" });
    }

    [Fact]
    public async Task KillProcess_PidNotInTheIncident_Refused()
    {
        await using var f = new ResponseFixture();
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("a1", pid: 4242));

        var outcome = await f.Response().KillProcessAsync(incident, Carol, JsonDocument.Parse("""{"pid":1}""").RootElement, Ct);

        Assert.False(outcome.Accepted);
        Assert.Contains("pid 1", outcome.Detail, StringComparison.Ordinal);
        Assert.Equal(0, await f.NewContext().Set<ResponseAction>().CountAsync(Ct));
    }

    [Fact]
    public async Task KillProcess_NoStartTime_NotQueued()
    {
        await using var f = new ResponseFixture();
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("a1", startTimeNs: null));

        var outcome = await f.Response().KillProcessAsync(incident, Carol, null, Ct);

        Assert.False(outcome.Accepted);
        Assert.Contains("start time", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TakeAsync_WaitingPoll_WakesWhenACommandIsQueued()
    {
        await using var f = new ResponseFixture();
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("a1"));
        await using var pollDb = f.NewContext();
        var poll = f.Queue(pollDb).TakeAsync("node-1", TimeSpan.FromSeconds(25), Ct);
        Assert.False(poll.IsCompleted);

        await f.Response().CaptureEvidenceAsync(incident, Carol, null, Ct);

        var commands = await poll.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(SensorCommandActions.CaptureEvidence, Assert.Single(commands).Action);
        Assert.Equal(new string('a', 64), commands[0].Target.ContainerId);
    }

    [Fact]
    public async Task TakeAsync_NothingQueued_ReturnsEmptyAfterTheWait()
    {
        await using var f = new ResponseFixture();
        var poll = f.Queue().TakeAsync("node-1", TimeSpan.FromSeconds(25), Ct);

        f.Time.Advance(TimeSpan.FromSeconds(26));

        Assert.Empty(await poll.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task TakeAsync_DeliveredWithoutResult_RedeliveredAfterLeaseThenExpired()
    {
        await using var f = new ResponseFixture();
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("a1"));
        await f.Response().KillProcessAsync(incident, Carol, null, Ct);

        Assert.Single(await f.Queue().TakeAsync("node-1", TimeSpan.Zero, Ct));
        Assert.Empty(await f.Queue().TakeAsync("node-1", TimeSpan.Zero, Ct));
        f.Time.Advance(f.ResponseOptions.CommandLease);
        Assert.Single(await f.Queue().TakeAsync("node-1", TimeSpan.Zero, Ct));

        f.Time.Advance(f.ResponseOptions.CommandTimeout);
        Assert.Empty(await f.Queue().TakeAsync("node-1", TimeSpan.Zero, Ct));

        var action = await f.NewContext().Set<ResponseAction>().SingleAsync(Ct);
        Assert.Equal(ResponseActionStatus.Expired, action.Status);
        Assert.Equal(2, action.Deliveries);
        Assert.Contains(await f.NewContext().Timeline.ToListAsync(Ct), t => t.Kind == "kill_process_expired");
    }

    [Fact]
    public async Task CompleteAsync_SensorResult_RecordedOnceOnTheTimeline()
    {
        await using var f = new ResponseFixture();
        var incident = await f.AddIncidentAsync(ResponseFixture.Alert("a1"));
        await f.Response().KillProcessAsync(incident, Carol, null, Ct);
        var command = Assert.Single(await f.Queue().TakeAsync("node-1", TimeSpan.Zero, Ct));

        Assert.False(await f.Queue().CompleteAsync("node-2", command.Id, new() { Outcome = "succeeded" }, Ct));
        Assert.True(await f.Queue().CompleteAsync("node-1", command.Id, new() { Outcome = "refused", Detail = "pid 4242 now belongs to another process" }, Ct));
        Assert.True(await f.Queue().CompleteAsync("node-1", command.Id, new() { Outcome = "succeeded", Detail = "late duplicate" }, Ct));

        var action = await f.NewContext().Set<ResponseAction>().SingleAsync(Ct);
        Assert.Equal(ResponseActionStatus.Refused, action.Status);
        var entry = Assert.Single(await f.NewContext().Timeline.Where(t => t.Kind == "kill_process_refused").ToListAsync(Ct));
        Assert.Equal("sensor:node-1", entry.Actor);
        Assert.Equal("sensor", entry.Channel);
        Assert.DoesNotContain(await f.NewContext().Timeline.ToListAsync(Ct), t => t.Kind == "kill_process_succeeded");
    }
}
