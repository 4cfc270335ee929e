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
        using var sink = new LocalCardSink(_dir, Time.Fake());
        var ct = TestContext.Current.CancellationToken;

        await sink.WriteAsync(SampleCards.Imds(1), "posted", ct);
        await sink.WriteAsync(SampleCards.Full(2), "posted", ct);
        await sink.WriteAsync(SampleCards.Imds(1, "acknowledged"), "updated", ct);

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
    public async Task Write_HostileText_IsHtmlEncoded()
    {
        using var sink = new LocalCardSink(_dir, Time.Fake());

        await sink.WriteAsync(SampleCards.Imds() with { Output = "<script>alert(1)</script>" }, "posted", TestContext.Current.CancellationToken);

        var html = await File.ReadAllTextAsync(sink.IndexPath, TestContext.Current.CancellationToken);
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);
    }
}
