using Microsoft.Extensions.Time.Testing;
using Sensor.Containers;
using Sensor.Events;

namespace Sensor.Tests.Containers;

public sealed class ContainerDirectoryTests
{
    private const string Id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private const string Other = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    /// <summary>A runtime that answers when the test says so, and counts the questions.</summary>
    private sealed class GatedRuntime : IContainerRuntime
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;

        public bool Knows { get; init; } = true;
        public int Calls => Volatile.Read(ref _calls);

        public void Open() => _open.TrySetResult();

        public async Task<ContainerMetadata?> InspectAsync(string containerId, CancellationToken ct)
        {
            Interlocked.Increment(ref _calls);
            await _open.Task.WaitAsync(ct);
            return Knows
                ? new ContainerMetadata(new ContainerContext { Id = containerId[..12], FullId = containerId, Name = "web", ImageRepository = "busybox" }, null)
                : null;
        }
    }

    private static async Task Until(Func<bool> condition, FakeTimeProvider? time = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            time?.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        Assert.True(condition(), "condition not met within 10 s");
    }

    [Fact]
    public async Task WaitForPodAsync_LookupEnds_ReturnsAtOnceWithoutAClockTick()
    {
        // The clock never moves: a wait that polls on a timer could only end at its deadline, which never comes.
        var time = new FakeTimeProvider();
        var runtime = new GatedRuntime();
        var directory = new ContainerDirectory(runtime, pods: null, time);

        var wait = directory.WaitForPodAsync(Id, TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        await Until(() => runtime.Calls == 1);
        Assert.False(wait.IsCompleted);
        runtime.Open();
        var finished = await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        Assert.Same(wait, finished);
        var (container, pod, pending) = await wait;
        Assert.Equal("web", container.Name);
        Assert.Null(pod);
        Assert.False(pending);
    }

    [Fact]
    public async Task WaitForPodAsync_RuntimeDoesNotKnowContainer_EndsWhenLookupGivesUpAndIsNotAskedAgain()
    {
        var time = new FakeTimeProvider();
        var runtime = new GatedRuntime { Knows = false };
        runtime.Open();
        var directory = new ContainerDirectory(runtime, pods: null, time) { UnknownRetry = TimeSpan.FromMinutes(1) };
        var start = time.GetUtcNow();

        var wait = directory.WaitForPodAsync(Id, TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);
        await Until(() => wait.IsCompleted, time);

        Assert.True(time.GetUtcNow() - start < TimeSpan.FromMinutes(1), "returned when the lookup gave up, not at the deadline");
        Assert.Equal("", (await wait).Container.Name);
        var asked = runtime.Calls;
        Assert.Equal(3, asked);
        // Every later event of that container must not start another round of runtime lookups.
        for (var i = 0; i < 100; i++)
            directory.Get(Id);
        Assert.Equal(asked, runtime.Calls);
        await directory.WaitForPodAsync(Id, TimeSpan.FromMinutes(10), TestContext.Current.CancellationToken);
        Assert.Equal(asked, runtime.Calls);
    }

    [Fact]
    public async Task Get_ContainerNotSeenForRetention_IsForgotten()
    {
        var time = new FakeTimeProvider();
        var runtime = new GatedRuntime();
        runtime.Open();
        var directory = new ContainerDirectory(runtime, pods: null, time) { Retention = TimeSpan.FromMinutes(10) };
        directory.Get(Id);
        await Until(() => directory.Get(Id).Name == "web");

        time.Advance(TimeSpan.FromMinutes(5));
        directory.Get(Other);
        Assert.Equal(2, directory.Count);
        Assert.Equal("web", directory.Get(Id).Name);

        // Seen 5 minutes ago (just now) it stays; once nobody sees it for the retention it goes.
        time.Advance(TimeSpan.FromMinutes(11));
        directory.Get(Other);
        Assert.Equal(1, directory.Count);
        var callsBefore = runtime.Calls;
        Assert.Equal("", directory.Get(Id).Name);
        await Until(() => runtime.Calls > callsBefore);
    }
}
