using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Triage.Api.Chat;
using Triage.Api.Delivery;
using Triage.Api.Routing;
using Triage.Tests.Delivery;

namespace Triage.Tests.Chat;

public sealed class ChatNotifierTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Process_DestinationNamePrefixOfAnother_GetsItsOwnCard()
    {
        await using var database = await SqliteTestDatabase.CreateAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));
        var id = await database.AddIncidentAsync();
        await using (var db = database.NewContext())
        {
            // The SOC's channel already has the card (it was the only destination before the route widened); the
            // payments channel's id is a prefix of the SOC's, so its key is a prefix of the SOC card's key.
            db.Set<IncidentRoute>().Add(new IncidentRoute
            {
                IncidentId = id, Row = "default", Route = "both", PrimaryTeam = "payments", InformedTeam = "soc", DecidedAt = time.GetUtcNow(),
            });
            db.Set<OutboxMessage>().Add(new OutboxMessage
            {
                IncidentId = id, Channel = ChatKinds.SlackChannel, Kind = ChatKinds.Card, IdempotencyKey = $"incident-{id}/card/C0PAY2",
                Payload = """{"version":1,"alert_count":1}""", Status = OutboxStatus.Delivered, Attempts = 1,
                CreatedAt = time.GetUtcNow(), NextAttemptAt = time.GetUtcNow(),
            });
            await db.SaveChangesAsync(Ct);
        }

        await using var services = database.AddTo(new ServiceCollection()).BuildServiceProvider();
        var options = new ChatOptions
        {
            Slack = new SlackChatOptions { TeamChannels = { ["payments"] = "C0PAY", ["soc"] = "C0PAY2" }, ThreadReplies = false },
        };
        var notifier = new ChatNotifier(services.GetRequiredService<IServiceScopeFactory>(), options, new Outbox(time), new DeliveryOptions(), time);

        await notifier.ProcessAsync(id, Ct);

        await using var check = database.NewContext();
        var cards = await check.Set<OutboxMessage>().Where(m => m.IncidentId == id && m.Kind == ChatKinds.Card)
            .Select(m => m.IdempotencyKey).ToListAsync(Ct);
        Assert.Equal([$"incident-{id}/card/C0PAY", $"incident-{id}/card/C0PAY2"], cards.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(6, 1)] // resolved within delivery.retention.resolved_incidents (7d): a missing card is still posted
    [InlineData(8, 0)] // closed: retention may have deleted its card message, so a late change must not post it again
    public async Task Process_ResolvedIncidentWithoutCardMessage_PostsOnlyUntilClosed(int resolvedDaysAgo, int cards)
    {
        await using var database = await SqliteTestDatabase.CreateAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));
        var id = await database.AddIncidentAsync(i =>
        {
            i.Status = Triage.Api.Persistence.IncidentStatus.Resolved;
            i.ResolvedAt = time.GetUtcNow() - TimeSpan.FromDays(resolvedDaysAgo);
            i.ResolvedBy = "alice";
        });
        await using var services = database.AddTo(new ServiceCollection()).BuildServiceProvider();
        var options = new ChatOptions { Slack = new SlackChatOptions { DefaultChannel = "C0PAY", ThreadReplies = false } };
        var notifier = new ChatNotifier(services.GetRequiredService<IServiceScopeFactory>(), options, new Outbox(time), new DeliveryOptions(), time);

        await notifier.ProcessAsync(id, Ct);

        await using var check = database.NewContext();
        Assert.Equal(cards, await check.Set<OutboxMessage>().CountAsync(m => m.IncidentId == id, Ct));
    }
}
