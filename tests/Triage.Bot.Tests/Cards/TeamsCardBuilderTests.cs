using System.Text;
using System.Text.Json.Nodes;
using Json.Schema;
using Triage.Bot.Cards;
using Triage.Bot.Tests.Support;

namespace Triage.Bot.Tests.Cards;

public sealed class TeamsCardBuilderTests
{
    /// <summary>The official, unmodified Adaptive Card 1.5 schema (strict: no unknown properties or types).</summary>
    private static readonly JsonSchema Schema =
        JsonSchema.FromText(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Reference", "adaptive-card-1.5.json")));

    private static bool IsValid(JsonNode card) =>
        Schema.Evaluate(System.Text.Json.JsonSerializer.SerializeToElement(card), new EvaluationOptions { OutputFormat = OutputFormat.List }).IsValid;

    [Theory]
    [InlineData("triggered")]
    [InlineData("acknowledged")]
    [InlineData("resolved")]
    public void Build_EveryStatus_ValidatesAgainstOfficialSchema(string status)
    {
        Assert.True(IsValid(TeamsCardBuilder.Build(SampleCards.Imds(status: status))));
    }

    [Fact]
    public void Build_FullAndOversizedCards_ValidateAndStayUnder28KB()
    {
        Assert.True(IsValid(TeamsCardBuilder.Build(SampleCards.Full())));
        var huge = TeamsCardBuilder.Build(SampleCards.Huge());
        Assert.True(IsValid(huge));
        Assert.True(Encoding.UTF8.GetByteCount(huge.ToJsonString()) <= 28 * 1024, "Workflows and older Teams clients refuse cards over 28 KB");
    }

    [Fact]
    public void Schema_RejectsWhatTeamsWouldReject()
    {
        // Proves the schema check can fail: an unknown element type and a TextBlock without text.
        var card = TeamsCardBuilder.Build(SampleCards.Imds());
        card["body"]!.AsArray().Add(new JsonObject { ["type"] = "Media" + "Player" });
        Assert.False(IsValid(card));

        var noText = TeamsCardBuilder.Build(SampleCards.Imds());
        noText["body"]![0]!.AsObject().Remove("text");
        Assert.False(IsValid(noText));
    }

    [Fact]
    public void Build_Interactive_UsesExecuteWithSubmitFallbackAndConfirmStep()
    {
        var card = TeamsCardBuilder.Build(SampleCards.Imds());
        var json = card.ToJsonString();

        var executes = Descendants(card).Where(o => o["type"]?.GetValue<string>() == "Action.Execute").ToList();
        Assert.Equal(
            new[] { "ack", "escalate", "resolve", "vote_benign", "vote_not_benign", "kill_process", "isolate_pod", "capture_evidence", "refresh" }.Order(),
            executes.Select(e => e["verb"]!.GetValue<string>()).Distinct().Order());
        Assert.All(executes, e => Assert.Equal("Action.Submit", e["fallback"]!["type"]!.GetValue<string>()));
        // Response actions are only inside the "Respond…" ShowCard, each under its warning text.
        var top = card["actions"]!.AsArray().Select(a => a!["verb"]?.GetValue<string>()).ToList();
        Assert.DoesNotContain("kill_process", top);
        Assert.Contains("Sends SIGKILL to curl (pid 4122) on node-a", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_NotInteractive_HasNoButtonsThatNeedTheBot()
    {
        var card = TeamsCardBuilder.Build(SampleCards.Imds(), interactive: false);

        Assert.True(IsValid(card));
        Assert.DoesNotContain(Descendants(card), o => o["type"]?.GetValue<string>() is "Action.Execute" or "Action.Submit");
        Assert.Null(card["refresh"]);
    }

    private static IEnumerable<JsonObject> Descendants(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                yield return o;
                foreach (var (_, child) in o)
                {
                    foreach (var d in Descendants(child))
                    {
                        yield return d;
                    }
                }

                break;
            case JsonArray a:
                foreach (var child in a)
                {
                    foreach (var d in Descendants(child))
                    {
                        yield return d;
                    }
                }

                break;
        }
    }
}
