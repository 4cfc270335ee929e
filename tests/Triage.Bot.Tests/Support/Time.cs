using Microsoft.Extensions.Time.Testing;

namespace Triage.Bot.Tests.Support;

internal static class Time
{
    public static FakeTimeProvider Fake() => new(new DateTimeOffset(2026, 11, 25, 19, 0, 0, TimeSpan.Zero));

    /// <summary>
    /// Advances fake time in steps until <paramref name="task"/> completes, yielding to the real HTTP round trips in
    /// between: the code under test waits on the fake clock, the test never sleeps for a duration it asserts.
    /// </summary>
    public static async Task<T> RunAsync<T>(FakeTimeProvider time, Task<T> task, TimeSpan step, TimeSpan limit)
    {
        var advanced = TimeSpan.Zero;
        while (!task.IsCompleted && advanced < limit)
        {
            await Task.WhenAny(task, Task.Delay(20, TestContext.Current.CancellationToken));
            if (!task.IsCompleted)
            {
                time.Advance(step);
                advanced += step;
            }
        }

        return await task;
    }

    public static async Task RunAsync(FakeTimeProvider time, Task task, TimeSpan step, TimeSpan limit) =>
        await RunAsync(time, task.ContinueWith(t => { t.GetAwaiter().GetResult(); return true; }, TaskScheduler.Default), step, limit);
}
