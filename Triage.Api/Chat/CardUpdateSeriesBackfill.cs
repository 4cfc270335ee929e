using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Delivery;
using Triage.Api.Operations;
using Triage.Api.Persistence;

namespace Triage.Api.Chat;

/// <summary>
/// Gives card updates stored before <see cref="OutboxMessage.Series"/> existed the series <see cref="ChatNotifier"/>
/// sets now (the card's key: the update's key without <c>/v{version}/n{count}</c>). Without it they would never be
/// superseded, and a database upgraded with an open busy incident would keep all of its old updates. One pass after
/// start, in batches of <see cref="OutboxRetentionOptions.BatchSize"/> rows with one transaction each; every card update
/// enqueued since has its series, so a pass that finished is not repeated (a failed one is, at the next interval).
/// </summary>
internal sealed partial class CardUpdateSeriesBackfill(
    IServiceScopeFactory scopes,
    DeliveryOptions options,
    TimeProvider time,
    ILogger<CardUpdateSeriesBackfill> logger) : BackgroundService
{
    private bool _done;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PeriodicWork.RunAsync(options.Retention.Interval, time, runAtStart: true, async ct =>
        {
            if (!_done)
            {
                await BackfillAsync(ct);
            }
        }, ex => LogFailed(logger, ex), stoppingToken);

    /// <summary>Sets the series of every card update that has none. Returns how many rows got one.</summary>
    public async Task<int> BackfillAsync(CancellationToken cancellationToken)
    {
        var batch = options.Retention.BatchSize;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var outbox = db.Set<OutboxMessage>();
        int filled = 0, seen;
        long after = 0;
        do
        {
            var rows = await outbox.AsNoTracking()
                .Where(m => m.Kind == ChatKinds.CardUpdate && m.Series == null && m.Id > after)
                .OrderBy(m => m.Id).Take(batch).Select(m => new { m.Id, m.IdempotencyKey }).ToListAsync(cancellationToken);
            seen = rows.Count;
            if (seen == 0)
            {
                break;
            }

            after = rows[^1].Id;
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            foreach (var card in rows.Select(r => (r.Id, Series: SeriesOf(r.IdempotencyKey))).Where(r => r.Series is not null)
                         .GroupBy(r => r.Series!, StringComparer.Ordinal))
            {
                var ids = card.Select(r => r.Id).ToList();
                filled += await outbox.Where(m => ids.Contains(m.Id))
                    .ExecuteUpdateAsync(s => s.SetProperty(m => m.Series, card.Key), cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }
        while (seen == batch);

        _done = true;
        if (filled > 0)
        {
            LogFilled(logger, filled);
        }

        return filled;
    }

    /// <summary>The card key of a card update's key (<c>incident-42/card/C0PAY/v3/n17</c> → <c>incident-42/card/C0PAY</c>), or null.</summary>
    internal static string? SeriesOf(string key) => UpdateKey().Match(key) is { Success: true } match ? match.Groups[1].Value : null;

    [GeneratedRegex(@"^(incident-[0-9]+/card/.+)/v[0-9]+/n[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex UpdateKey();

    [LoggerMessage(Level = LogLevel.Information, Message = "Gave {Count} card update(s) stored before outbox retention their card as series")]
    private static partial void LogFilled(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Giving old card updates their series failed; retrying at the next retention interval")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
