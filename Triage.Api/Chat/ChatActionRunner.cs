using System.Text.Json;
using Triage.Api.Incidents;

namespace Triage.Api.Chat;

/// <summary>What a chat user is told after pressing a button or typing a command.</summary>
internal sealed record ChatActionResult(bool Succeeded, string Message);

/// <summary>
/// Runs a button press or command as the mapped person through <see cref="IncidentActionService"/> (the same code as
/// the REST API): its authorization refuses and records unknown people and missing roles; actions that no feature has
/// registered yet are refused with a message that says so.
/// </summary>
internal sealed class ChatActionRunner(IServiceScopeFactory scopes)
{
    public async Task<ChatActionResult> RunAsync(long incidentId, string action, Actor actor, JsonElement? arguments, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var service = scope.ServiceProvider.GetRequiredService<IncidentActionService>();
        if (!service.ActionNames.Contains(action))
        {
            return new ChatActionResult(false,
                $"'{Bot.Cards.CardActions.Label(action)}' is not available on this installation yet (no '{action}' action is registered).");
        }

        try
        {
            var outcome = await service.ExecuteAsync(incidentId, action, actor, arguments, ct);
            return new ChatActionResult(true, outcome.Message);
        }
        catch (ActionRefusedException e)
        {
            return new ChatActionResult(false, $"Refused: {e.Message}.");
        }
        catch (NotFoundException e)
        {
            return new ChatActionResult(false, e.Message);
        }
        catch (Operations.RequestValidationException e)
        {
            // A button carries no free text: a benign vote needs its reason typed as a command.
            var hint = action == Bot.Cards.CardActions.VoteBenign ? $" Vote with a reason: `/triage benign {incidentId} <reason>`." : "";
            return new ChatActionResult(false, $"Not done: {e.Message}.{hint}");
        }
    }
}
