using System.Text.Json.Nodes;
using Triage.Bot.Sink;
using Triage.Bot.Tests.Support;

namespace Triage.Bot.Tests.Sink;

public sealed class LocalCardSinkTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "triage-sink-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task Write_PostThenUpdate_PageShowsCurrentCardsAndHistory()
    {
        var time = Time.Fake();
        using var sink = new LocalCardSink(_dir, time);
        var ct = TestContext.Current.CancellationToken;

        await sink.WriteAsync(SampleCards.Imds(1), "posted", ct);
        await sink.WriteAsync(SampleCards.Full(2), "posted", ct);
        await sink.WriteAsync(SampleCards.Imds(1, "acknowledged"), "updated", ct);
        time.Advance(LocalCardSink.RenderInterval);

        var html = await File.ReadAllTextAsync(sink.IndexPath, ct);
        Assert.Contains("id=\"incident-1\"", html, StringComparison.Ordinal);
        Assert.Contains("id=\"incident-2\"", html, StringComparison.Ordinal);
        Assert.True(html.IndexOf("incident-2", StringComparison.Ordinal) < html.IndexOf("incident-1", StringComparison.Ordinal), "newest first");
        Assert.Contains("curl (pid 4122, root) [not in image]", html, StringComparison.Ordinal);
        Assert.Contains("Kill process", html, StringComparison.Ordinal);

        var document = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "incident-1.json"), ct))!;
        Assert.Equal(["posted", "updated"], document["history"]!.AsArray().Select(h => h!["change"]!.GetValue<string>()));
        Assert.Equal("acknowledged", document["card"]!["status"]!.GetValue<string>());
        Assert.NotNull(document["slack"]!["blocks"]);
        Assert.Equal("AdaptiveCard", document["teams"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Write_ManyUpdates_HistoryKeepsFirstAndLatest()
    {
        using var sink = new LocalCardSink(_dir, Time.Fake());
        var ct = TestContext.Current.CancellationToken;

        await sink.WriteAsync(SampleCards.Imds(1), "posted", ct);
        for (var update = 1; update <= LocalCardSink.HistoryLimit + 20; update++)
        {
            await sink.WriteAsync(SampleCards.Imds(1), $"update {update}", ct);
        }

        var document = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "incident-1.json"), ct))!;
        var changes = document["history"]!.AsArray().Select(h => h!["change"]!.GetValue<string>()).ToList();
        Assert.Equal(LocalCardSink.HistoryLimit + 1, changes.Count);
        Assert.Equal("posted", changes[0]);
        Assert.Equal("update 21", changes[1]);
        Assert.Equal($"update {LocalCardSink.HistoryLimit + 20}", changes[^1]);
    }

    [Fact]
    public async Task Write_HostileText_IsHtmlEncoded()
    {
        using var sink = new LocalCardSink(_dir, Time.Fake());

        await sink.WriteAsync(SampleCards.Imds() with { Output = "<script>alert(1)</script>" }, "posted", TestContext.Current.CancellationToken);

        var html = await File.ReadAllTextAsync(sink.IndexPath, TestContext.Current.CancellationToken);
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_BurstOfCards_CardFileAtOnceAndIndexCoalesced()
    {
        var time = Time.Fake();
        var ct = TestContext.Current.CancellationToken;
        var sink = new LocalCardSink(_dir, time);

        await sink.WriteAsync(SampleCards.Imds(1), "posted", ct);
        Assert.Contains("id=\"incident-1\"", await File.ReadAllTextAsync(sink.IndexPath, ct), StringComparison.Ordinal);

        await sink.WriteAsync(SampleCards.Full(2), "posted", ct);
        var card2 = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "incident-2.json"), ct))!;
        Assert.Equal(2, card2["card"]!["incident_id"]!.GetValue<long>());
        Assert.DoesNotContain("id=\"incident-2\"", await File.ReadAllTextAsync(sink.IndexPath, ct), StringComparison.Ordinal);

        time.Advance(LocalCardSink.RenderInterval - TimeSpan.FromMilliseconds(1));
        Assert.DoesNotContain("id=\"incident-2\"", await File.ReadAllTextAsync(sink.IndexPath, ct), StringComparison.Ordinal);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Contains("id=\"incident-2\"", await File.ReadAllTextAsync(sink.IndexPath, ct), StringComparison.Ordinal);

        // A card written just before shutdown is on the page after dispose, without waiting for the timer.
        await sink.WriteAsync(SampleCards.Imds(3), "posted", ct);
        sink.Dispose();
        Assert.Contains("id=\"incident-3\"", await File.ReadAllTextAsync(sink.IndexPath, ct), StringComparison.Ordinal);

        // After a restart the page still lists the earlier cards, and a card's history continues.
        using var restarted = new LocalCardSink(_dir, time);
        await restarted.WriteAsync(SampleCards.Imds(1, "acknowledged"), "updated", ct);
        var html = await File.ReadAllTextAsync(restarted.IndexPath, ct);
        Assert.Contains("id=\"incident-2\"", html, StringComparison.Ordinal);
        Assert.Contains("id=\"incident-3\"", html, StringComparison.Ordinal);
        var card1 = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dir, "incident-1.json"), ct))!;
        Assert.Equal(["posted", "updated"], card1["history"]!.AsArray().Select(h => h!["change"]!.GetValue<string>()));
    }
}
