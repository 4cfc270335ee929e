namespace Triage.Bot.Delivery;

/// <summary>
/// The HTTP step every chat client shares (Slack Web API, response_url, Bot Connector and its token endpoint, Workflows
/// webhooks): send, and turn a failure to get any answer into a retryable <see cref="ChatDeliveryException"/>, so callers
/// and the outbox see one exception type whatever went wrong. What an answer means stays with each protocol.
/// </summary>
internal static class ChatHttp
{
    /// <param name="what">Names the call in the message, e.g. <c>Slack chat.postMessage</c>.</param>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request, string what, CancellationToken ct)
    {
        try
        {
            return await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new ChatDeliveryException($"{what}: {e.Message}", retryable: true, inner: e) { MayHaveArrived = true };
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            // HttpClient.Timeout, not our caller giving up.
            throw new ChatDeliveryException($"{what} timed out", retryable: true, inner: e) { MayHaveArrived = true };
        }
    }

    /// <summary>The <c>Retry-After</c> wait, given as seconds or as an HTTP date; null without one.</summary>
    public static TimeSpan? RetryAfterOf(HttpResponseMessage response, TimeProvider time) =>
        response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date > time.GetUtcNow() ? date - time.GetUtcNow() : TimeSpan.Zero,
            _ => null,
        };

    /// <summary>An error body cut to a length fit for a log line and the timeline.</summary>
    public static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
