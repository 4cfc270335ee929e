using System.Text;
using System.Text.Json;
using Triage.Bot.Slack;

namespace Triage.Bot.Tests.Slack;

public sealed class SlackSignatureTests
{
    private static readonly JsonElement Vector = JsonSerializer.Deserialize<JsonElement>(
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Reference", "slack_signature_test_vector.json")));

    private static string Secret => Vector.GetProperty("signing_secret").GetString()!;
    private static string Timestamp => Vector.GetProperty("x_slack_request_timestamp").GetString()!;
    private static byte[] Body => Encoding.UTF8.GetBytes(Vector.GetProperty("raw_body").GetString()!);
    private static string Expected => Vector.GetProperty("expected_x_slack_signature").GetString()!;
    private static DateTimeOffset SentAt => DateTimeOffset.FromUnixTimeSeconds(long.Parse(Timestamp, System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Sign_PublishedTestVector_GivesSlacksSignature()
    {
        Assert.Equal("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", Expected);
        Assert.Equal(Expected, SlackSignature.Sign(Secret, Timestamp, Body));
    }

    [Fact]
    public void Verify_PublishedTestVector_IsValid()
    {
        Assert.Equal(SlackSignatureResult.Valid, SlackSignature.Verify(Secret, Timestamp, Expected, Body, SentAt.AddSeconds(299)));
    }

    [Fact]
    public void Verify_TamperedBody_Mismatch()
    {
        var body = Body;
        body[^1] ^= 1;
        Assert.Equal(SlackSignatureResult.Mismatch, SlackSignature.Verify(Secret, Timestamp, Expected, body, SentAt));
    }

    [Fact]
    public void Verify_WrongSecret_Mismatch()
    {
        Assert.Equal(SlackSignatureResult.Mismatch, SlackSignature.Verify(Secret + "x", Timestamp, Expected, Body, SentAt));
    }

    [Theory]
    [InlineData(301)]
    [InlineData(-301)]
    public void Verify_OutsideFiveMinutes_Stale(int offsetSeconds)
    {
        Assert.Equal(SlackSignatureResult.Stale, SlackSignature.Verify(Secret, Timestamp, Expected, Body, SentAt.AddSeconds(offsetSeconds)));
    }

    [Theory]
    [InlineData(null, "v0=abc")]
    [InlineData("1531420618", null)]
    [InlineData("", "")]
    public void Verify_MissingHeader_Refused(string? timestamp, string? signature)
    {
        Assert.Equal(SlackSignatureResult.MissingHeaders, SlackSignature.Verify(Secret, timestamp, signature, Body, SentAt));
    }

    [Fact]
    public void Verify_TimestampNotANumber_Refused()
    {
        Assert.Equal(SlackSignatureResult.BadTimestamp, SlackSignature.Verify(Secret, "-15", Expected, Body, SentAt));
    }
}
