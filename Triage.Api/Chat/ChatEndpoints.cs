using Triage.Api.Auth;
using Triage.Api.Configuration;
using Triage.Bot.Cards;

namespace Triage.Api.Chat;

/// <summary><c>GET /api/v1/incidents/{id}/cards/{slack|teams}</c>: the exact body that is (or would be) sent.</summary>
internal static class ChatEndpoints
{
    public static IEndpointRouteBuilder MapChat(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/incidents/{id:long}/cards/{kind}", CardAsync).RequireScope(ApiScopes.Read).WithTags("Incidents")
            .WithSummary("The chat card of an incident: the chat.postMessage body (slack) or the Bot Framework activity (teams)");
        app.MapSlackEndpoints();
        app.MapTeamsEndpoints();
        return app;
    }

    private static async Task<IResult> CardAsync(long id, string kind, IncidentCardMapper mapper, ChatOptions options, CancellationToken ct)
    {
        if (kind is not ("slack" or "teams"))
        {
            return Results.Problem($"'{kind}' is not a card kind; expected slack or teams", statusCode: StatusCodes.Status404NotFound);
        }

        var card = await mapper.MapAsync(id, ct) ?? throw new Incidents.NotFoundException($"Incident {id} does not exist");
        return kind == "slack"
            ? Results.Json(SlackDeliveryChannel.Body(SlackChannelFor(options.Slack, card), card))
            : Results.Json(TeamsDeliveryChannel.Body(card));
    }

    private static string? SlackChannelFor(SlackChatOptions? slack, IncidentCard card) =>
        slack is null ? null
        : card.Owner?.Team is { } team && slack.TeamChannels.TryGetValue(team, out var channel) ? channel : slack.DefaultChannel;
}
