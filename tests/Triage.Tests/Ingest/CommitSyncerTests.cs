using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Triage.Api.Ingest;
using Triage.Api.Persistence;

namespace Triage.Tests.Ingest;

/// <summary>
/// The background sync of the ingest writer's log: a commit is answered only after a sync that started after it, in
/// order, one sync covering every commit made meanwhile; a failed sync refuses its commits, and when it may have lost
/// data for good, every later one too.
/// </summary>
public sealed class CommitSyncerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Commits_AreAnsweredOnlyAfterASyncThatStartedAfterThem_InOrder_OneSyncForThoseMadeMeanwhile()
    {
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var syncs = 0;
        var syncing = new SemaphoreSlim(0);
        var release = new SemaphoreSlim(0);
        void Sync()
        {
            syncing.Release();
            release.Wait(Guard);
            syncs++;
        }

        var syncer = new CommitSyncer(lifetime, NullLogger.Instance, () => { });
        syncer.Start();
        var answered = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var first = Commit(syncer, "first", Sync, answered);
        Assert.True(await syncing.WaitAsync(Guard, Ct));

        // Made while the first sync runs: not covered by it.
        var second = Commit(syncer, "second", Sync, answered);
        var third = Commit(syncer, "third", Sync, answered);
        await Task.Delay(100, Ct);
        Assert.Empty(answered);

        release.Release();
        Assert.Equal("first", await first.WaitAsync(Guard, Ct));
        Assert.True(await syncing.WaitAsync(Guard, Ct));
        Assert.False(second.IsCompleted);

        release.Release();
        await Task.WhenAll(second, third).WaitAsync(Guard, Ct);
        Assert.Equal(["first", "second", "third"], answered);
        Assert.Equal(2, syncs);
        await syncer.StopAsync().WaitAsync(Guard, Ct);
    }

    [Fact]
    public async Task FatalFailedSync_RefusesItsCommitsAndEveryLaterOne_AndStopsTheService()
    {
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var syncer = new CommitSyncer(lifetime, NullLogger.Instance, () => { });
        syncer.Start();
        var answered = new System.Collections.Concurrent.ConcurrentQueue<string>();

        var failed = Commit(syncer, "failed", () => throw new IOException("EIO"), answered, fatal: true);
        var refused = await Assert.ThrowsAsync<IOException>(() => failed.WaitAsync(Guard, Ct));
        Assert.Equal("EIO", refused.Message);
        Assert.True(lifetime.ApplicationStopping.IsCancellationRequested);

        // The disk may have dropped what it held: a later commit is not answered even though its own sync works.
        var later = Commit(syncer, "later", () => { }, answered);
        await Assert.ThrowsAsync<IOException>(() => later.WaitAsync(Guard, Ct));
        Assert.Empty(answered);
        await syncer.StopAsync().WaitAsync(Guard, Ct);
    }

    [Fact]
    public async Task RetryableFailedSync_RefusesOnlyItsCommits_TheNextSyncIsTried()
    {
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var syncer = new CommitSyncer(lifetime, NullLogger.Instance, () => { });
        syncer.Start();
        var answered = new System.Collections.Concurrent.ConcurrentQueue<string>();

        var failed = Commit(syncer, "failed", () => throw new InvalidOperationException("connection lost"), answered);
        await Assert.ThrowsAsync<InvalidOperationException>(() => failed.WaitAsync(Guard, Ct));
        var later = Commit(syncer, "later", () => { }, answered);
        Assert.Equal("later", await later.WaitAsync(Guard, Ct));
        Assert.False(lifetime.ApplicationStopping.IsCancellationRequested);
        await syncer.StopAsync().WaitAsync(Guard, Ct);
    }

    [Fact]
    public async Task Drain_CompletesAfterTheCommitsQueuedBeforeIt_Stop_AnswersWhatIsQueued()
    {
        var lifetime = new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance);
        var syncs = 0;
        var syncer = new CommitSyncer(lifetime, NullLogger.Instance, () => syncs++);
        syncer.Start();
        var answered = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var release = new SemaphoreSlim(0);

        var first = Commit(syncer, "first", () => release.Wait(Guard), answered);
        var drained = syncer.DrainAsync(Ct);
        await Task.Delay(100, Ct);
        Assert.False(drained.IsCompleted);
        release.Release();
        await drained.WaitAsync(Guard, Ct);
        Assert.True(first.IsCompletedSuccessfully);

        var last = Commit(syncer, "last", () => { }, answered);
        await syncer.StopAsync().WaitAsync(Guard, Ct);
        Assert.True(last.IsCompletedSuccessfully);
        Assert.Equal(["first", "last"], answered);
        Assert.Equal(2, syncs);
    }

    private static Task<string> Commit(CommitSyncer syncer, string name, Action sync, System.Collections.Concurrent.ConcurrentQueue<string> answered,
        bool fatal = false)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var submitted = syncer.SubmitAsync(new UnsyncedCommit(new TestLog(sync, fatal), () =>
        {
            answered.Enqueue(name);
            done.TrySetResult(name);
        }, ex => done.TrySetException(ex)), Ct);
        Assert.True(submitted.IsCompletedSuccessfully);
        return done.Task;
    }

    private sealed class TestLog(Action sync, bool fatal) : ICommitLog
    {
        public bool FailedSyncIsFatal => fatal;

        public void Sync() => sync();
    }
}
