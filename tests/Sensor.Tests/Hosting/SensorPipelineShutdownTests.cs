using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Prometheus;
using Sensor.Containers;
using Sensor.Delivery;
using Sensor.Detection;
using Sensor.Hosting;
using Sensor.Kernel;
using Sensor.Processes;
using Sensor.Tests.Support;

namespace Sensor.Tests.Hosting;

public sealed class SensorPipelineShutdownTests
{
    private sealed class NoRuntime : IContainerRuntime
    {
        public Task<ContainerMetadata?> InspectAsync(string containerId, CancellationToken ct) => Task.FromResult<ContainerMetadata?>(null);
    }

    /// <summary>A busy node: the kernel always has another event (here, a fork) waiting.</summary>
    private sealed class EndlessEvents : ChannelReader<KernelEvent>
    {
        private int _pid = 1000;

        public override bool TryRead(out KernelEvent item)
        {
            _pid++;
            item = new KernelEvent { Kind = EventKind.Fork, Pid = _pid, Ppid = 1, StartBoottimeNs = (ulong)_pid };
            return true;
        }

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
            cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<bool>(cancellationToken) : new(true);
    }

    [Fact]
    public async Task RunAsync_ChannelNeverEmpty_StopsWhenCancelled()
    {
        var time = new FakeTimeProvider();
        var containers = new ContainerDirectory(new NoRuntime(), pods: null, time);
        var dir = Directory.CreateTempSubdirectory("sensor-shutdown-");
        try
        {
            var pipeline = new SensorPipeline(new EndlessEvents(), new Sensor.Pipeline.EventBuilder(new ProcessTable(time), containers, time),
                new RuleDetector(new Sensor.Rules.RuleLoader().LoadPath(RepoFiles.DefaultRules).Build(), "n"), containers,
                new AlertSpool(dir.FullName), new SensorMetrics(Metrics.NewCustomRegistry()), new PipelineOptions(),
                NullLogger<SensorPipeline>.Instance);
            using var stop = new CancellationTokenSource();
            var run = Task.Run(() => pipeline.RunAsync(stop.Token), TestContext.Current.CancellationToken);
            await Task.Delay(200, TestContext.Current.CancellationToken);

            await stop.CancelAsync();
            var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

            Assert.Same(run, finished);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
