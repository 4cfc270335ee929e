using Triage.Api.OnCall;

namespace Triage.Tests.OnCall;

public sealed class FiringBatchesTests
{
    private static readonly DateTimeOffset Due = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task RunAsync_FiringsHandedOverTogether_AreWrittenAsOneBatch()
    {
        var batches = new FiringBatches(maxBatch: 500);
        var written = new List<int>();
        var firings = Enumerable.Range(1, 30).Select(i => new Firing(i, 0, Due)).ToList();

        await batches.RunAsync(firings, (batch, _) =>
        {
            written.Add(batch.Count);
            return Task.CompletedTask;
        }, TestContext.Current.CancellationToken);

        Assert.Equal([30], written);
        Assert.All(firings, f => Assert.True(f.Done.Task.IsCompletedSuccessfully));
    }

    [Fact]
    public async Task RunAsync_MoreThanOneBatchHandedOver_IsSplitAtTheLargestBatch()
    {
        var batches = new FiringBatches(maxBatch: 8);
        var written = new List<int>();

        await batches.RunAsync(Enumerable.Range(1, 20).Select(i => new Firing(i, 0, Due)).ToList(), (batch, _) =>
        {
            written.Add(batch.Count);
            return Task.CompletedTask;
        }, TestContext.Current.CancellationToken);

        Assert.Equal([8, 8, 4], written);
    }
}
