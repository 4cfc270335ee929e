using Microsoft.Extensions.Time.Testing;
using Triage.Bot.Delivery;

namespace Triage.Bot.Tests.Delivery;

public sealed class RatePacerTests
{
    [Fact]
    public void Reserve_BurstThenOnePerInterval()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var pacer = new RatePacer(time, TimeSpan.FromSeconds(1), burst: 4);

        var waits = Enumerable.Range(0, 6).Select(_ => pacer.Reserve("C1")).ToList();

        Assert.Equal([TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)], waits);
        Assert.Equal(TimeSpan.Zero, pacer.Reserve("C2"));
    }

    [Fact]
    public void Reserve_AfterQuietPeriod_BurstIsAvailableAgain()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var pacer = new RatePacer(time, TimeSpan.FromSeconds(1), burst: 2);
        pacer.Reserve("C1");
        pacer.Reserve("C1");

        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(TimeSpan.Zero, pacer.Reserve("C1"));
        Assert.Equal(TimeSpan.Zero, pacer.Reserve("C1"));
        Assert.Equal(TimeSpan.FromSeconds(1), pacer.Reserve("C1"));
    }

    [Fact]
    public void BlockUntil_RetryAfter_DelaysNextReservation()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var pacer = new RatePacer(time, TimeSpan.FromSeconds(1), burst: 4);

        pacer.BlockUntil("chat.update", time.GetUtcNow().AddSeconds(30));

        Assert.Equal(TimeSpan.FromSeconds(30), pacer.Reserve("chat.update"));
        Assert.Equal(TimeSpan.FromSeconds(31), pacer.Reserve("chat.update"));
    }

    [Fact]
    public async Task WaitUntilUnblocked_WaitsOnlyForABlock_AndReservesNothing()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var pacer = new RatePacer(time, TimeSpan.FromSeconds(1), burst: 1);

        await pacer.WaitUntilUnblockedAsync("chat.postMessage", TestContext.Current.CancellationToken);
        await pacer.WaitUntilUnblockedAsync("chat.postMessage", TestContext.Current.CancellationToken);
        Assert.Equal(TimeSpan.Zero, pacer.Reserve("chat.postMessage"));

        pacer.BlockUntil("chat.postMessage", time.GetUtcNow().AddSeconds(5));
        var blocked = pacer.WaitUntilUnblockedAsync("chat.postMessage", TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(blocked.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        await blocked.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }
}
