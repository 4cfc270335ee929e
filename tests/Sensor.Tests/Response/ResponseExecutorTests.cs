using Microsoft.Extensions.Logging.Abstractions;
using Sensor.Evidence;
using Sensor.Response;
using Sensor.Tests.Evidence;
using Triage.Contracts;

namespace Sensor.Tests.Response;

public sealed class ResponseExecutorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ResponseExecutor Executor()
    {
        // The kill path never talks to the service; the client is only there for polling and evidence upload.
        var client = new TriageCommandClient(new HttpClient { BaseAddress = new Uri("http://127.0.0.1:9/") }, "node-1");
        var collector = new EvidenceCollector(new SensorEvidenceOptions(), TimeProvider.System, NullLogger<EvidenceCollector>.Instance);
        return new ResponseExecutor(client, new EvidenceCapture(collector, client, NullLogger<EvidenceCapture>.Instance),
            TimeProvider.System, NullLogger<ResponseExecutor>.Instance);
    }

    private static SensorCommand Kill(long id, int pid, ulong startNs, string container) => new()
    {
        Id = id,
        Action = SensorCommandActions.KillProcess,
        Target = new SensorCommandTarget { Pid = pid, StartTimeNs = startNs, ContainerId = container },
    };

    [Fact]
    public async Task Kill_RealContainerProcess_GoneAndRepeatAnsweredTheSame()
    {
        TestContainer.Require();
        Environment.SetEnvironmentVariable("CONTAINERS_CONF", TestContainer.ConfigFile);
        await using var container = await TestContainer.StartAsync("touch /tmp/ready && sleep 300 & wait", "/tmp/ready");
        var victim = ProcFs.InContainer(container.Id).Single(p => p.Cmdline == "sleep 300");
        var executor = Executor();

        var result = await executor.ExecuteAsync(Kill(1, victim.Pid, victim.StartTicks * ProcFs.NsPerTick, container.Id), Ct);
        for (var i = 0; i < 100 && ProcFs.Read(victim.Pid) is { } p && p.StartTicks == victim.StartTicks; i++)
        {
            await Task.Delay(20, Ct);
        }

        Assert.Equal(SensorCommandOutcomes.Succeeded, result.Outcome);
        Assert.True(ProcFs.Read(victim.Pid) is null || ProcFs.Read(victim.Pid)!.StartTicks != victim.StartTicks, "the process is still alive");
        Assert.Same(result, await executor.ExecuteAsync(Kill(1, victim.Pid, victim.StartTicks * ProcFs.NsPerTick, container.Id), Ct));
    }

    [Fact]
    public async Task Kill_StartTimeOfAnotherProcess_RefusedAndProcessLives()
    {
        TestContainer.Require();
        Environment.SetEnvironmentVariable("CONTAINERS_CONF", TestContainer.ConfigFile);
        await using var container = await TestContainer.StartAsync("touch /tmp/ready && sleep 300 & wait", "/tmp/ready");
        var victim = ProcFs.InContainer(container.Id).Single(p => p.Cmdline == "sleep 300");

        // As if the pid had been reused: the alert's process started 5 s earlier than the one holding the pid now.
        var result = await Executor().ExecuteAsync(Kill(2, victim.Pid, (victim.StartTicks * ProcFs.NsPerTick) - 5_000_000_000, container.Id), Ct);

        Assert.Equal(SensorCommandOutcomes.Refused, result.Outcome);
        Assert.Contains("reused", result.Detail, StringComparison.Ordinal);
        Assert.Equal(victim.StartTicks, ProcFs.Read(victim.Pid)?.StartTicks);
    }

    [Fact]
    public async Task Kill_PidOutsideTheContainer_Refused()
    {
        TestContainer.Require();
        Environment.SetEnvironmentVariable("CONTAINERS_CONF", TestContainer.ConfigFile);
        await using var container = await TestContainer.StartAsync("touch /tmp/ready && exec sleep 300", "/tmp/ready");
        var self = ProcFs.Read(Environment.ProcessId)!;

        var result = await Executor().ExecuteAsync(Kill(3, self.Pid, self.StartTicks * ProcFs.NsPerTick, container.Id), Ct);

        Assert.Equal(SensorCommandOutcomes.Refused, result.Outcome);
        Assert.Contains("outside container", result.Detail, StringComparison.Ordinal);
    }
}
