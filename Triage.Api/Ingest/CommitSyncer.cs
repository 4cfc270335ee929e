using System.Threading.Channels;
using Triage.Api.Persistence;

namespace Triage.Api.Ingest;

/// <summary>A commit made without a sync, waiting for its log to reach the disk before its requests are answered.</summary>
/// <param name="Log">The log the commit was written to; null for a marker that only waits its turn.</param>
/// <param name="Answer">Answers the commit's requests (their alerts are durable).</param>
/// <param name="Refuse">Refuses them: the log could not be synced.</param>
internal sealed record UnsyncedCommit(ICommitLog? Log, Action Answer, Action<Exception> Refuse);

/// <summary>
/// Syncs the ingest writer's log in the background and answers each commit once the sync that covers it returned, so
/// the writer commits the next requests while the disk is busy with the last ones, and one sync covers every commit
/// made in the meantime.
/// </summary>
/// <remarks>
/// The writer's commit spent most of its time waiting for the disk (SQLite: fsync took 2–4 ms under the ingest
/// benchmark, against about 1 ms for the statements; PostgreSQL: most samples of the writer's session showed it in
/// COMMIT), and the single writer waited for every one. Nothing is answered earlier than before: a request is answered
/// only after a sync that started after its commit. Commits are answered in order. A failed sync refuses the commits it
/// was for (503: the client retries, and a retried alert that did get stored is answered as a duplicate). When the
/// failure may have lost data for good (<see cref="ICommitLog.FailedSyncIsFatal"/>), every later commit is refused too
/// and the service stops, to start again from what is on disk.
/// </remarks>
internal sealed partial class CommitSyncer
{
    private readonly Channel<UnsyncedCommit> _queue = Channel.CreateBounded<UnsyncedCommit>(
        new BoundedChannelOptions(1024) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger _logger;
    private readonly Action _synced;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _failed;

    /// <param name="synced">Called after every sync (a metric).</param>
    public CommitSyncer(IHostApplicationLifetime lifetime, ILogger logger, Action synced)
    {
        _lifetime = lifetime;
        _logger = logger;
        _synced = synced;

        // Its own thread: it blocks in fsync most of the time, which would hold a thread-pool thread just the same.
        _thread = new Thread(Run) { IsBackground = true, Name = "ingest log sync" };
    }

    public void Start() => _thread.Start();

    /// <summary>Queues a commit; waits only when 1,024 commits are already waiting for the disk.</summary>
    public ValueTask SubmitAsync(UnsyncedCommit commit, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(commit, cancellationToken);

    /// <summary>Completes when every commit queued so far was answered or refused (before the writer closes its connection).</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queue.Writer.WriteAsync(new UnsyncedCommit(null, () => done.TrySetResult(), _ => done.TrySetResult()), cancellationToken);
        await done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Answers what is queued and stops; completes when the thread is done.</summary>
    public Task StopAsync()
    {
        _queue.Writer.TryComplete();
        return _thread.IsAlive ? _stopped.Task : Task.CompletedTask;
    }

    private void Run()
    {
        var group = new List<UnsyncedCommit>();
        try
        {
            while (_queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                group.Clear();
                while (_queue.Reader.TryRead(out var commit))
                {
                    group.Add(commit);
                }

                var error = _failed ?? SyncFor(group);
                foreach (var commit in group)
                {
                    if (error is null)
                    {
                        commit.Answer();
                    }
                    else
                    {
                        commit.Refuse(error);
                    }
                }
            }
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>One sync for the whole group: every commit in it was written to the same log before the sync starts.</summary>
    private Exception? SyncFor(List<UnsyncedCommit> group)
    {
        if (group.LastOrDefault(c => c.Log is not null)?.Log is not { } log)
        {
            return null;
        }

        try
        {
            log.Sync();
            _synced();
            return null;
        }
#pragma warning disable CA1031 // Whatever the sync threw, the commits it was for are refused.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (!log.FailedSyncIsFatal)
            {
                LogSyncRetry(_logger, ex, group.Count(c => c.Log is not null));
                return ex;
            }

            _failed = ex;
            LogSyncFailed(_logger, ex);
            _lifetime.StopApplication();
            return ex;
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "Syncing the database's write-ahead log failed; refusing the alerts it held and stopping, so the service starts again from what is on disk")]
    private static partial void LogSyncFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Making {Commits} ingest commit(s) durable failed; their requests are refused with 503 and the next sync is tried afresh")]
    private static partial void LogSyncRetry(ILogger logger, Exception exception, int commits);
}
