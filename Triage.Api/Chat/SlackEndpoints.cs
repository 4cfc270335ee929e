using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Configuration;
using Triage.Api.Incidents;
using Triage.Api.Persistence;
using Triage.Bot.Cards;
using Triage.Bot.Delivery;
using Triage.Bot.Slack;

namespace Triage.Api.Chat;

/// <summary>A verified button press waiting for the worker.</summary>
internal sealed record SlackPress(SlackBlockAction Action, Actor Actor);

/// <summary>
/// Slack's inbound endpoints. Every request is verified (v0 signature over the raw body, 5-minute window, constant-time
/// compare) before anything is parsed. Button presses are answered at once with an empty 200 and carried out by
/// <see cref="SlackInteractionWorker"/>, well inside Slack's 3 seconds; the card then updates through the outbox.
/// A press Slack delivers twice (same user and action_ts) runs once.
/// </summary>
internal static partial class SlackEndpoints
{
    /// <summary>Slash commands answer inline when the work takes less than this, otherwise through response_url.</summary>
    private static readonly TimeSpan InlineBudget = TimeSpan.FromSeconds(2);

    public static IEndpointRouteBuilder MapSlackEndpoints(this IEndpointRouteBuilder app)
    {
        var slack = app.MapGroup("/slack").WithTags("Slack");
        slack.MapPost("/interactions", InteractionsAsync).WithSummary("Slack interactivity (block_actions), signed");
        slack.MapPost("/commands", CommandsAsync).WithSummary("The /triage slash command, signed");
        slack.MapPost("/events", EventsAsync).WithSummary("Slack Events API (url_verification), signed");
        return app;
    }

    /// <summary>Reads the raw body and checks Slack's signature; null when the request must be refused.</summary>
    private static async Task<string?> VerifiedBodyAsync(HttpRequest request, ChatOptions options, TimeProvider time, CancellationToken ct)
    {
        var secret = options.Slack?.ResolveSigningSecret();
        if (string.IsNullOrEmpty(secret))
        {
            return null;
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, ct);
        var body = buffer.ToArray();
        var result = SlackSignature.Verify(secret, request.Headers[SlackSignature.TimestampHeader], request.Headers[SlackSignature.SignatureHeader],
            body, time.GetUtcNow());
        return result == SlackSignatureResult.Valid ? Encoding.UTF8.GetString(body) : null;
    }

    private static async Task<IResult> InteractionsAsync(HttpRequest request, ChatOptions options, TimeProvider time, ChatPeople people,
        SlackPressQueue queue, CancellationToken ct)
    {
        if (await VerifiedBodyAsync(request, options, time, ct) is not { } body)
        {
            return Results.Unauthorized();
        }

        IReadOnlyList<SlackBlockAction> actions;
        try
        {
            actions = SlackInbound.ParseInteraction(body);
        }
        catch (FormatException)
        {
            return Results.BadRequest();
        }

        foreach (var action in actions)
        {
            if (queue.FirstTime($"{action.UserId}/{action.ActionTs}/{action.ActionId}"))
            {
                queue.Writer.TryWrite(new SlackPress(action, people.FromSlack(action.UserId)));
            }
        }

        return Results.Ok();
    }

    private static async Task<IResult> CommandsAsync(HttpRequest request, ChatOptions options, TimeProvider time, ChatPeople people,
        ChatCommands commands, IServiceProvider services, SlackPressQueue queue, ILoggerFactory loggers, CancellationToken ct)
    {
        if (await VerifiedBodyAsync(request, options, time, ct) is not { } body)
        {
            return Results.Unauthorized();
        }

        if (body.Contains("ssl_check=1", StringComparison.Ordinal))
        {
            return Results.Ok();
        }

        SlackCommand command;
        try
        {
            command = SlackInbound.ParseCommand(body);
        }
        catch (FormatException)
        {
            return Results.BadRequest();
        }

        if (command.TriggerId is { } trigger && !queue.FirstTime("command/" + trigger))
        {
            return Ephemeral("Already handled.");
        }

        var actor = people.FromSlack(command.UserId);
        // The work outlives the request when it is slow: its result then goes to response_url instead.
        var work = commands.RunAsync(command.Text, actor, p => p.SlackUserId is { } id ? $"<@{id}>" : p.Name, CancellationToken.None);

        if (await Task.WhenAny(work, Task.Delay(InlineBudget, time, ct)) == work)
        {
            return Ephemeral(await work);
        }

        if (services.GetService<SlackWebApiClient>() is { } slack && Uri.TryCreate(command.ResponseUrl, UriKind.Absolute, out var responseUrl))
        {
            var logger = loggers.CreateLogger("Triage.Api.Chat.SlackCommands");
            _ = FinishLaterAsync(work, slack, responseUrl, logger);
        }

        return Ephemeral("Working on it…");
    }

    private static async Task FinishLaterAsync(Task<string> work, SlackWebApiClient slack, Uri responseUrl, ILogger logger)
    {
        try
        {
            var text = await work;
            await slack.PostToResponseUrlAsync(responseUrl, new JsonObject { ["response_type"] = "ephemeral", ["text"] = text }, CancellationToken.None);
        }
        catch (ChatDeliveryException e)
        {
            LogResponseFailed(logger, e.Message);
        }
    }

    private static IResult Ephemeral(string text) =>
        Results.Json(new JsonObject { ["response_type"] = "ephemeral", ["text"] = text });

    private static async Task<IResult> EventsAsync(HttpRequest request, ChatOptions options, TimeProvider time, SlackPressQueue queue, CancellationToken ct)
    {
        if (await VerifiedBodyAsync(request, options, time, ct) is not { } body)
        {
            return Results.Unauthorized();
        }

        JsonNode? json;
        try
        {
            json = JsonNode.Parse(body);
        }
        catch (System.Text.Json.JsonException)
        {
            return Results.BadRequest();
        }

        if (json?["type"]?.GetValue<string>() == "url_verification")
        {
            return Results.Json(new JsonObject { ["challenge"] = json["challenge"]?.GetValue<string>() });
        }

        // No event subscriptions are needed yet; acknowledge (once per event_id, so retries stay cheap) and move on.
        queue.FirstTime("event/" + json?["event_id"]?.GetValue<string>());
        return Results.Ok();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Slack: could not post a slash-command result to response_url: {Message}")]
    private static partial void LogResponseFailed(ILogger logger, string message);
}

/// <summary>
/// Verified presses waiting for the worker (bounded: a flood of presses cannot exhaust memory; Slack's user sees an
/// error only if the bound is hit) and the keys of presses seen in the last 10 minutes, to drop Slack's retries.
/// </summary>
internal sealed class SlackPressQueue(TimeProvider time)
{
    private static readonly TimeSpan Remember = TimeSpan.FromMinutes(10);
    private readonly Channel<SlackPress> _channel = Channel.CreateBounded<SlackPress>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Dictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public ChannelWriter<SlackPress> Writer => _channel.Writer;

    public ChannelReader<SlackPress> Reader => _channel.Reader;

    /// <summary>True the first time <paramref name="key"/> is seen within 10 minutes.</summary>
    public bool FirstTime(string key)
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (_seen.Count > 10_000)
            {
                foreach (var old in _seen.Where(s => now - s.Value > Remember).Select(s => s.Key).ToList())
                {
                    _seen.Remove(old);
                }
            }

            if (_seen.TryGetValue(key, out var at) && now - at <= Remember)
            {
                return false;
            }

            _seen[key] = now;
            return true;
        }
    }
}

/// <summary>Carries out verified Slack presses after the HTTP answer; refusals are told to the user ephemerally.</summary>
internal sealed partial class SlackInteractionWorker(SlackPressQueue queue, ChatActionRunner runner, IServiceProvider services,
    ILogger<SlackInteractionWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var press in queue.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await HandleAsync(press, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                throw;
            }
#pragma warning disable CA1031 // One bad press must not stop the worker; it is logged.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogFailed(logger, e, press.Action.ActionId);
            }
        }
    }

    private async Task HandleAsync(SlackPress press, CancellationToken ct)
    {
        var action = press.Action;
        ChatActionResult result;
        if (action.Payload is not { } payload)
        {
            result = new ChatActionResult(false, "That button carries no incident.");
        }
        else
        {
            result = await runner.RunAsync(payload.IncidentId, payload.Action, press.Actor, payload.Arguments(), ct);
            LogPress(logger, payload.IncidentId, payload.Action, press.Actor.Name, result.Message);
        }

        if (!result.Succeeded && action.ChannelId is { } channel && services.GetService<SlackWebApiClient>() is { } slack)
        {
            try
            {
                await slack.PostEphemeralAsync(channel, action.UserId, result.Message, ct);
            }
            catch (ChatDeliveryException e)
            {
                LogEphemeralFailed(logger, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Slack: {Actor} pressed {Action} on incident {IncidentId}: {Result}")]
    private static partial void LogPress(ILogger logger, long incidentId, string action, string actor, string result);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Slack: handling a press of {ActionId} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string actionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Slack: could not tell the user why their action was refused: {Message}")]
    private static partial void LogEphemeralFailed(ILogger logger, string message);
}
