using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Bot.Cards;
using Triage.Bot.Teams;

namespace Triage.Api.Chat;

/// <summary>
/// The Bot Framework messaging endpoint for Teams. Every request carries a Connector JWT that
/// <see cref="BotFrameworkTokenValidator"/> checks (401 / 403 otherwise). An <c>adaptiveCard/action</c> invoke
/// (Action.Execute) runs the action as the mapped person and is answered with the refreshed card, or with a message
/// saying why it was refused; the card for everyone else is PUT through the outbox. An Action.Submit fallback
/// (a message activity with <c>value</c>) runs the action the same way.
/// </summary>
internal static partial class TeamsEndpoints
{
    public static IEndpointRouteBuilder MapTeamsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/messages", MessagesAsync).WithTags("Teams").WithSummary("Bot Framework activities from Teams, JWT-validated");
        return app;
    }

    private static async Task<IResult> MessagesAsync(HttpRequest request, IServiceProvider services, ChatPeople people,
        ChatActionRunner runner, ChatCommands commands, IServiceScopeFactory scopes, CancellationToken ct)
    {
        if (services.GetService<BotFrameworkTokenValidator>() is not { } validator)
        {
            return Results.NotFound();
        }

        JsonElement activity;
        try
        {
            activity = await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, cancellationToken: ct);
        }
        catch (JsonException)
        {
            return Results.BadRequest();
        }

        if (activity.ValueKind != JsonValueKind.Object || !activity.TryGetProperty("type", out var typeElement))
        {
            return Results.BadRequest();
        }

        var serviceUrl = Str(activity, "serviceUrl");
        var channelId = Str(activity, "channelId");
        var auth = await validator.ValidateAsync(request.Headers.Authorization, serviceUrl, channelId, ct);
        if (!auth.IsValid)
        {
            return Results.Problem(auth.Reason, statusCode: auth.Status);
        }

        var from = activity.TryGetProperty("from", out var f) ? f : default;
        var actor = people.FromTeams(from.ValueKind == JsonValueKind.Object ? Str(from, "id") : null,
            from.ValueKind == JsonValueKind.Object ? Str(from, "aadObjectId") : null);
        var type = typeElement.GetString();

        if (type == "invoke" && Str(activity, "name") == "adaptiveCard/action")
        {
            if (!activity.TryGetProperty("value", out var value) || !value.TryGetProperty("action", out var action)
                || Str(action, "type") != "Action.Execute")
            {
                return Results.Json(InvokeError(400, "NotSupported", "Only Action.Execute is supported"));
            }

            var data = action.TryGetProperty("data", out var d) ? d : default;
            if (!TeamsCardBuilder.TryReadPayload(data, out var payload))
            {
                return Results.Json(InvokeError(400, "BadRequest", "The action carries no incident"));
            }

            if (payload.Action != TeamsCardBuilder.RefreshVerb)
            {
                var result = await runner.RunAsync(payload.IncidentId, payload.Action, actor, payload.Arguments(), ct);
                if (!result.Succeeded)
                {
                    return Results.Json(new JsonObject
                    {
                        ["statusCode"] = 200,
                        ["type"] = "application/vnd.microsoft.activity.message",
                        ["value"] = result.Message,
                    });
                }
            }

            await using var scope = scopes.CreateAsyncScope();
            var card = await scope.ServiceProvider.GetRequiredService<IncidentCardMapper>().MapAsync(payload.IncidentId, ct);
            return card is null
                ? Results.Json(InvokeError(404, "NotFound", $"Incident {payload.IncidentId} does not exist"))
                : Results.Json(new JsonObject
                {
                    ["statusCode"] = 200,
                    ["type"] = TeamsCardBuilder.ContentType,
                    ["value"] = TeamsCardBuilder.Build(card),
                });
        }

        if (type == "message" && activity.TryGetProperty("value", out var submitted) && TeamsCardBuilder.TryReadPayload(submitted, out var submit))
        {
            // Action.Submit from a client without Universal Actions; the card updates through the outbox.
            await runner.RunAsync(submit.IncidentId, submit.Action, actor, submit.Arguments(), ct);
            return Results.Ok();
        }

        if (type == "message" && CommandText(activity) is { } text && serviceUrl is not null
            && activity.TryGetProperty("conversation", out var conversation) && Str(conversation, "id") is { } conversationId
            && Str(activity, "id") is { } activityId && services.GetService<BotConnectorClient>() is { } connector)
        {
            // A message to the bot is a command (the same as Slack's /triage); the answer is a reply in the thread.
            var answer = await commands.RunAsync(text, actor, p => p.Name, ct);
            await connector.ReplyToActivityAsync(new TeamsMessageRef(serviceUrl, conversationId, activityId),
                new JsonObject { ["type"] = "message", ["textFormat"] = "plain", ["text"] = answer }, ct);
            return Results.Ok();
        }

        // conversationUpdate, installationUpdate: nothing to do, but the Connector wants a 200.
        return Results.Ok();
    }

    /// <summary>
    /// The command in a message: the text without the bot's <c>&lt;at&gt;</c> mention (channels deliver it) and without a
    /// leading <c>/triage</c> or <c>triage</c>, so people can type what they would type in Slack. Null for an empty message.
    /// </summary>
    internal static string? CommandText(JsonElement activity)
    {
        if (Str(activity, "text") is not { } text)
        {
            return null;
        }

        text = AtMention().Replace(text, " ").Replace("&nbsp;", " ", StringComparison.Ordinal).Trim();
        foreach (var prefix in new[] { "/triage", "triage" })
        {
            if (text.StartsWith(prefix + " ", StringComparison.OrdinalIgnoreCase) || text.Equals(prefix, StringComparison.OrdinalIgnoreCase))
            {
                text = text[prefix.Length..].Trim();
                break;
            }
        }

        return text.Length == 0 ? null : text;
    }

    [System.Text.RegularExpressions.GeneratedRegex("<at>[^<]*</at>", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex AtMention();

    private static JsonObject InvokeError(int status, string code, string message) => new()
    {
        ["statusCode"] = status,
        ["type"] = "application/vnd.microsoft.error",
        ["value"] = new JsonObject { ["code"] = code, ["message"] = message },
    };

    private static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
