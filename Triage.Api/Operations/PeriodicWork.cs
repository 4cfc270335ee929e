namespace Triage.Api.Operations;

/// <summary>The loop of every background sweep: run the work once per period until the service stops.</summary>
internal static class PeriodicWork
{
    /// <summary>
    /// Runs <paramref name="work"/> (first at once when <paramref name="runAtStart"/>), then once per period. A
    /// failure is reported to <paramref name="onFailure"/> and the next period tries again. The work runs off the
    /// timer's callback and ticks missed meanwhile coalesce into one, so a clock moved on by days (a fake clock in
    /// tests, a suspended VM) runs it once, not once per elapsed period.
    /// </summary>
    public static async Task RunAsync(
        TimeSpan period,
        TimeProvider time,
        bool runAtStart,
        Func<CancellationToken, Task> work,
        Action<Exception> onFailure,
        CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(period, time);
        var due = runAtStart;
        while (due || await timer.WaitForNextTickAsync(stoppingToken))
        {
            due = false;
            await Task.Yield();
            try
            {
                await work(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failed run (database briefly away) must not end the loop; the next period retries.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                onFailure(ex);
            }
        }
    }
}
