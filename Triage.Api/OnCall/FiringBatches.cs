using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Triage.Api.OnCall;

/// <summary>A due escalation timer handed over by its Quartz job.</summary>
internal sealed record Firing(long IncidentId, int Step, DateTimeOffset ScheduledFor)
{
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// Group commit for escalation firings. Quartz runs as many escalation jobs at once as it has threads; written one
/// transaction each, every page cost its own commit (an fsync) and, on SQLite, a wait for the single writer lock. Here
/// a caller that finds no batch being written writes its firing together with every one queued meanwhile; callers
/// arriving during that write go together into the next batch. One batch at a time per process, which also means no
/// two firings of one incident are ever written at once in a process.
/// </summary>
/// <param name="maxBatch">Largest batch; bounds one transaction's size and the time the others wait behind it.</param>
[SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable",
    Justification = "SemaphoreSlim holds nothing to dispose unless its AvailableWaitHandle is used, which it never is here.")]
internal sealed class FiringBatches(int maxBatch)
{
    private readonly ConcurrentQueue<Firing> _queue = new();
    private readonly SemaphoreSlim _writer = new(1, 1);

    /// <summary>
    /// Returns once every one of <paramref name="firings"/> is written (by this caller or by the one writing its batch).
    /// A slot timer hands over all the escalations due in its slot at once, so that they go into one batch rather than
    /// the first alone and the others after it.
    /// </summary>
    public async Task RunAsync(IReadOnlyCollection<Firing> firings, Func<IReadOnlyList<Firing>, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        if (firings.Count == 0)
        {
            return;
        }

        foreach (var firing in firings)
        {
            _queue.Enqueue(firing);
        }

        await _writer.WaitAsync(cancellationToken);
        try
        {
            // Only the holder of _writer dequeues and it finishes what it dequeued before releasing, so a firing that is
            // not done yet is still queued.
            while (firings.Any(f => !f.Done.Task.IsCompleted) && !_queue.IsEmpty)
            {
                var batch = new List<Firing>();
                while (batch.Count < maxBatch && _queue.TryDequeue(out var next))
                {
                    batch.Add(next);
                }

                await WriteAsync(batch, write);
            }
        }
        finally
        {
            _writer.Release();
        }

        await Task.WhenAll(firings.Select(f => f.Done.Task));
    }

    /// <summary>
    /// Writes the batch; when it fails, each firing alone, so that one bad firing fails only its own job. Not cancelled
    /// by the caller's token: the batch holds other callers' firings.
    /// </summary>
    private static async Task WriteAsync(List<Firing> batch, Func<IReadOnlyList<Firing>, CancellationToken, Task> write)
    {
        try
        {
            await write(batch, CancellationToken.None);
            batch.ForEach(f => f.Done.TrySetResult());
            return;
        }
        catch (Exception) when (batch.Count > 1)
        {
            // Written again one by one below; a firing the failed batch did commit finds its step moved on and does nothing.
        }
        catch (Exception e)
        {
            batch[0].Done.TrySetException(e);
            return;
        }

        foreach (var firing in batch)
        {
            try
            {
                await write([firing], CancellationToken.None);
                firing.Done.TrySetResult();
            }
            catch (Exception e)
            {
                firing.Done.TrySetException(e);
            }
        }
    }
}
