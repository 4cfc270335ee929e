using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Triage.Bot.Slack;

/// <summary>Outcome of checking a Slack request signature.</summary>
public enum SlackSignatureResult
{
    Valid,
    MissingHeaders,
    BadTimestamp,

    /// <summary>Older or newer than five minutes: possibly a replay.</summary>
    Stale,
    Mismatch,
}

/// <summary>
/// Slack's request signing, version v0: <c>v0=hex(HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + raw body))</c>,
/// compared in constant time, with requests more than five minutes from now refused as possible replays.
/// Verify the raw body bytes, before any form or JSON decoding.
/// </summary>
public static class SlackSignature
{
    public const string SignatureHeader = "X-Slack-Signature";
    public const string TimestampHeader = "X-Slack-Request-Timestamp";

    /// <summary>Slack's documented replay window.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    public static SlackSignatureResult Verify(
        string signingSecret, string? timestamp, string? signature, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signature))
        {
            return SlackSignatureResult.MissingHeaders;
        }

        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return SlackSignatureResult.BadTimestamp;
        }

        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > (long)Window.TotalSeconds)
        {
            return SlackSignatureResult.Stale;
        }

        var expected = Compute(signingSecret, timestamp, body);
        var given = Encoding.ASCII.GetBytes(signature);
        return CryptographicOperations.FixedTimeEquals(expected, given)
            ? SlackSignatureResult.Valid
            : SlackSignatureResult.Mismatch;
    }

    /// <summary>The <c>v0=…</c> signature, as ASCII bytes, for <paramref name="body"/> sent at <paramref name="timestamp"/>.</summary>
    public static byte[] Compute(string signingSecret, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"v0:{timestamp}:");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingSecret), message);
        return Encoding.ASCII.GetBytes("v0=" + Convert.ToHexStringLower(mac));
    }

    /// <summary>The header value a sender (Slack, or a test) puts on a request.</summary>
    public static string Sign(string signingSecret, string timestamp, ReadOnlySpan<byte> body) =>
        Encoding.ASCII.GetString(Compute(signingSecret, timestamp, body));
}
