using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Triage.Api.Incidents;
using Triage.Tests.Delivery;

namespace Triage.Tests.Incidents;

public sealed class IncidentPipelineTests : IAsyncLifetime
{
    private SqliteTestDatabase _database = null!;
    private ServiceProvider _services = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await SqliteTestDatabase.CreateAsync();
        _services = _database.AddTo(new ServiceCollection()).BuildServiceProvider();
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }

    private IncidentPipeline Pipeline(IIncidentObserver observer, int workers) => Pipeline([observer], workers);

    private IncidentPipeline Pipeline(IIncidentObserver[] observers, int workers) =>
        new(_services.GetRequiredService<IServiceScopeFactory>(), observers, new IncidentPipelineOptions { Workers = workers },
            TimeProvider.System, NullLogger<IncidentPipeline>.Instance);

    [Fact]
    public async Task EnqueueCountChange_RunsOnlyStepsThatShowTheCount_AndAFullChangeWins()
    {
        var counted = await _database.AddIncidentAsync();
        var changed = await _database.AddIncidentAsync(i => i.NeedsProcessing = true);
        var routing = new RecordingObserver(showsAlertCount: false);
        var card = new RecordingObserver(showsAlertCount: true);
        var pipeline = Pipeline([routing, card], workers: 1);
        using var stop = new CancellationTokenSource();

        // Queued before the workers start: the flagged incident gets a count change and then its full change.
        pipeline.EnqueueCountChange(counted);
        pipeline.EnqueueCountChange(changed);
        pipeline.Enqueue(changed);
        await pipeline.StartAsync(stop.Token);
        for (var deadline = DateTime.UtcNow.AddSeconds(10); (pipeline.Pending > 0 || card.Runs.Count < 2) && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal([changed], routing.Runs);
        Assert.Equal([counted, changed], card.Runs.Order());
        await using var db = _database.NewContext();
        Assert.False(await db.Incidents.AnyAsync(i => i.NeedsProcessing, TestContext.Current.CancellationToken));
    }

    private sealed class RecordingObserver(bool showsAlertCount) : IIncidentObserver
    {
        public int Order => showsAlertCount ? 300 : 200;

        public bool ShowsAlertCount => showsAlertCount;

        public ConcurrentQueue<long> Runs { get; } = new();

        public Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
        {
            Runs.Enqueue(incidentId);
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task SlowIncident_DoesNotHoldBackAnother_AndOneIncidentNeverRunsTwiceAtOnce()
    {
        var slow = await _database.AddIncidentAsync(i => i.NeedsProcessing = true);
        var fast = await _database.AddIncidentAsync(i => i.NeedsProcessing = true);
        var observer = new GatedObserver(slow);
        var pipeline = Pipeline(observer, workers: 4);
        using var stop = new CancellationTokenSource();
        await pipeline.StartAsync(stop.Token);

        // Both are queued at start-up (flagged); the slow one is held inside its step, the other finishes meanwhile.
        await observer.Entered(slow).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        await observer.Finished(fast).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        // A change to the slow incident while it runs is not run beside it, but once more afterwards.
        pipeline.Enqueue(slow);
        pipeline.Enqueue(slow);
        observer.Release();
        for (var deadline = DateTime.UtcNow.AddSeconds(10); (pipeline.Pending > 0 || observer.Runs(slow) < 2) && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await pipeline.StopAsync(CancellationToken.None);
        Assert.Equal(2, observer.Runs(slow));
        Assert.Equal(1, observer.Runs(fast));
        Assert.Equal(1, observer.MostAtOnce(slow));
        await using var db = _database.NewContext();
        Assert.False(await db.Incidents.AnyAsync(i => i.NeedsProcessing, TestContext.Current.CancellationToken));
    }

    /// <summary>Holds the first run of one incident until released; counts runs and overlap per incident.</summary>
    private sealed class GatedObserver(long gated) : IIncidentObserver
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Dictionary<long, RunLog> _logs = [];

        public int Order => 100;

        public Task Entered(long id) => Log(id).Entered.Task;

        public Task Finished(long id) => Log(id).Finished.Task;

        public int Runs(long id) => Log(id).Runs;

        public int MostAtOnce(long id) => Log(id).Most;

        public void Release() => _release.TrySetResult();

        public async Task ProcessAsync(long incidentId, CancellationToken cancellationToken)
        {
            var log = Log(incidentId);
            bool first;
            lock (log)
            {
                first = ++log.Runs == 1;
                log.Most = Math.Max(log.Most, ++log.Running);
            }

            log.Entered.TrySetResult();
            if (incidentId == gated && first)
            {
                await _release.Task.WaitAsync(cancellationToken);
            }

            lock (log)
            {
                log.Running--;
            }

            log.Finished.TrySetResult();
        }

        private RunLog Log(long id)
        {
            lock (_logs)
            {
                return _logs.TryGetValue(id, out var log) ? log : _logs[id] = new RunLog();
            }
        }

        private sealed class RunLog
        {
            public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public int Runs { get; set; }

            public int Running { get; set; }

            public int Most { get; set; }
        }
    }
}
