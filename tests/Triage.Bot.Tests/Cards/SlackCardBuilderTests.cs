using System.Text.Json.Nodes;
using Triage.Bot.Cards;
using Triage.Bot.Tests.Support;
using Triage.Fakes.Slack;

namespace Triage.Bot.Tests.Cards;

public sealed class SlackCardBuilderTests
{
    private static readonly BlockKitValidator Validator = BlockKitValidator.Default;

    [Fact]
    public void Build_AcceptanceScenario_IsWithinBlockKitLimitsAndCarriesTheContext()
    {
        var message = SlackCardBuilder.Build(SampleCards.Imds());

        Assert.Empty(Validator.Validate(message["blocks"]));
        var text = JsonText.Of(message);
        foreach (var expected in new[] { "Read cloud metadata credentials", "payments", "checkout-7d9f", "Deployment checkout", "node-a",
            "registry.local/checkout:1.4.2", "curl (pid 4122, root) [not in image]", "connect(fd=3, addr=169.254.169.254:80) = 0",
            "https://runbooks.example/imds", "T1552.005" })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }

        Assert.StartsWith("[CRITICAL] Read cloud metadata credentials", message["text"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public void Build_Triggered_OffersEveryButtonAndConfirmsResponseActions()
    {
        var blocks = SlackCardBuilder.Build(SampleCards.Imds())["blocks"]!.AsArray();
        var elements = blocks.Where(b => b!["type"]!.GetValue<string>() == "actions").SelectMany(b => b!["elements"]!.AsArray()).ToList();
        var ids = elements.Select(e => e!["action_id"]!.GetValue<string>()).ToList();

        Assert.Equal(CardActions.All, ids);
        foreach (var response in elements.Where(e => CardActions.Response.Contains(e!["action_id"]!.GetValue<string>())))
        {
            Assert.NotNull(response!["confirm"]);
            Assert.Equal("danger", response["style"]!.GetValue<string>());
        }

        var escalate = elements.Single(e => e!["action_id"]!.GetValue<string>() == "escalate")!;
        Assert.Equal(["42|escalate|next", "42|escalate|soc", "42|escalate|platform"],
            escalate["options"]!.AsArray().Select(o => o!["value"]!.GetValue<string>()));
    }

    [Fact]
    public void Build_Resolved_DropsTriageButtons()
    {
        var blocks = SlackCardBuilder.Build(SampleCards.Imds(status: "resolved"))["blocks"]!.AsArray();
        var ids = blocks.Where(b => b!["type"]!.GetValue<string>() == "actions")
            .SelectMany(b => b!["elements"]!.AsArray()).Select(e => e!["action_id"]!.GetValue<string>()).ToList();

        Assert.DoesNotContain(CardActions.Ack, ids);
        Assert.DoesNotContain(CardActions.Resolve, ids);
        Assert.DoesNotContain(CardActions.KillProcess, ids);
    }

    [Fact]
    public void Build_OptionalSections_RenderedWhenPresent()
    {
        var plain = JsonText.Of(SlackCardBuilder.Build(SampleCards.Imds()));
        var full = JsonText.Of(SlackCardBuilder.Build(SampleCards.Full()));

        foreach (var section in new[] { "Owner", "Route", "Suppression votes", "Recent rollouts", "Evidence" })
        {
            Assert.DoesNotContain(section, plain, StringComparison.Ordinal);
            Assert.Contains(section, full, StringComparison.Ordinal);
        }

        Assert.Contains("payments (from label app.kubernetes.io/team: label team=payments on Deployment payments/checkout)", full, StringComparison.Ordinal);
        Assert.Contains("Benign 1 · Not benign 0 (needs 2)", full, StringComparison.Ordinal);
        Assert.Contains("escalated by alice", full, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_EverythingOversized_IsTruncatedIntoLimits()
    {
        var message = SlackCardBuilder.Build(SampleCards.Huge());

        Assert.Empty(Validator.Validate(message["blocks"]));
        Assert.True(message["text"]!.GetValue<string>().Length <= 3000);
    }

    [Fact]
    public void Build_EscapesSlackControlCharacters()
    {
        var card = SampleCards.Imds() with { Output = "a <b> & <!channel>" };

        var output = SlackCardBuilder.Build(card)["blocks"]![1]!["text"]!["text"]!.GetValue<string>();

        Assert.Equal("a &lt;b&gt; &amp; &lt;!channel&gt;", output);
    }

    [Fact]
    public void Validator_OverLimitHeader_IsReported()
    {
        // The validator must be able to fail, or the tests above prove nothing.
        var blocks = new JsonArray(new JsonObject
        {
            ["type"] = "header",
            ["text"] = new JsonObject { ["type"] = "plain_text", ["text"] = new string('h', 151) },
        }, new JsonObject { ["type"] = "actions", ["elements"] = new JsonArray(new JsonObject
        {
            ["type"] = "button", ["action_id"] = "a", ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = "x" },
        }) });

        var errors = Validator.Validate(blocks);

        Assert.Contains("must be less than 151 characters [json-pointer:/blocks/0/text/text]", errors);
        Assert.Contains("must be plain_text [json-pointer:/blocks/1/elements/0/text/type]", errors);
    }

    [Fact]
    public void CardActionPayload_RoundTrips()
    {
        Assert.True(CardActionPayload.TryDecode(new CardActionPayload(7, "escalate", "soc").Encode(), out var payload));
        Assert.Equal(new CardActionPayload(7, "escalate", "soc"), payload);
        Assert.Equal("""{"target":"soc"}""", payload.Arguments()!.Value.GetRawText());
        Assert.False(CardActionPayload.TryDecode("x|ack", out _));
        Assert.False(CardActionPayload.TryDecode("", out _));
    }
}
