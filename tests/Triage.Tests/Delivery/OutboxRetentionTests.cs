using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Triage.Api.Chat;
using Triage.Api.Configuration;
using Triage.Api.Delivery;
using Triage.Api.Persistence;
using Triage.Tests.Chat;
using Triage.Tests.Support;

namespace Triage.Tests.Delivery;

public sealed class OutboxRetentionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Sweep_SupersededUpdates_DeletedNewestUpdateAndCardKept(DatabaseKind kind)
    {
        await using var store = await Store.CreateAsync(kind);
        var id = await store.AddIncidentAsync();
        var card = $"incident-{id}/card/C0PAY";
        var cardRow = await store.AddAsync(id, "slack", "card", card, OutboxStatus.Delivered, remoteId: "1700000000.000100");
        var old1 = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n2", OutboxStatus.Delivered, series: card);
        var failed = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n3", OutboxStatus.Failed, series: card);
        var old2 = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n4", OutboxStatus.Delivered, series: card);
        var newest = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n5", OutboxStatus.Delivered, series: card);
        // Another destination's card, the same key on another channel, a reply and a page: none of them is superseded.
        var otherDestination = await store.AddAsync(id, "slack", "card_update", $"incident-{id}/card/C0SOC/v1/n2", OutboxStatus.Delivered,
            series: $"incident-{id}/card/C0SOC");
        var teams = await store.AddAsync(id, "teams", "card_update", $"{card}/v1/n2", OutboxStatus.Delivered, series: card);
        var reply = await store.AddAsync(id, "slack", "thread_reply", $"{card}/reply/7", OutboxStatus.Delivered);
        var page = await store.AddAsync(id, "pagerduty", "trigger", $"incident-{id}/pagerduty/payments/trigger", OutboxStatus.Delivered);

        var sweep = await store.Retention().SweepAsync(Ct);

        Assert.Equal(3, sweep.Superseded);
        Assert.Equal([cardRow, newest, otherDestination, teams, reply, page], await store.IdsAsync());
        Assert.DoesNotContain(old1, await store.IdsAsync());
        Assert.DoesNotContain(failed, await store.IdsAsync());
        Assert.DoesNotContain(old2, await store.IdsAsync());
        Assert.Equal("1700000000.000100", (await store.FindAsync("slack", card))!.RemoteId);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Sweep_PendingAndLeasedMessages_NeverDeleted(DatabaseKind kind)
    {
        await using var store = await Store.CreateAsync(kind);
        var id = await store.AddIncidentAsync();
        var card = $"incident-{id}/card/C0PAY";
        var now = store.Time.GetUtcNow();
        await store.AddAsync(id, "slack", "card", card, OutboxStatus.Delivered, remoteId: "1700000000.000100");
        var gone = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n2", OutboxStatus.Delivered, series: card);
        // Older than a delivered update of their series, so only their status keeps them: one waits for its first
        // attempt (a 429 pushed it out), one is in flight (claimed: its lease moved the next attempt out).
        var waiting = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n3", OutboxStatus.Pending, series: card,
            nextAttemptAt: now + TimeSpan.FromMinutes(1));
        var leased = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n4", OutboxStatus.Pending, series: card,
            attempts: 1, nextAttemptAt: now + TimeSpan.FromMinutes(2));
        var newest = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n5", OutboxStatus.Delivered, series: card);

        var sweep = await store.Retention().SweepAsync(Ct);

        Assert.Equal(1, sweep.Superseded);
        var left = await store.IdsAsync();
        Assert.DoesNotContain(gone, left);
        Assert.Contains(waiting, left);
        Assert.Contains(leased, left);
        Assert.Contains(newest, left);
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Sweep_ThenEnqueueOfAKeptKey_YieldsTheFirstMessage(DatabaseKind kind)
    {
        await using var store = await Store.CreateAsync(kind);
        var id = await store.AddIncidentAsync();
        var card = $"incident-{id}/card/C0PAY";
        var cardRow = await store.AddAsync(id, "slack", "card", card, OutboxStatus.Delivered, remoteId: "1700000000.000100");
        await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n2", OutboxStatus.Delivered, series: card);
        var newest = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n3", OutboxStatus.Delivered, series: card);
        Assert.Equal(1, (await store.Retention().SweepAsync(Ct)).Superseded);

        // A reconcile retried after the sweep asks for the same keys again: it gets the stored rows, nothing new to send.
        var outbox = new Outbox(store.Time);
        await using var db = store.NewContext();
        var again = await outbox.EnqueueAsync(db, new OutboxRequest(id, "slack", "card", "{}", card), Ct);
        var update = await outbox.EnqueueAsync(db, new OutboxRequest(id, "slack", "card_update", "{}", $"{card}/v1/n3", Series: card), Ct);

        Assert.Equal(cardRow, again.Id);
        Assert.Equal(OutboxStatus.Delivered, again.Status);
        Assert.Equal("1700000000.000100", again.RemoteId);
        Assert.Equal(newest, update.Id);
        Assert.Equal(OutboxStatus.Delivered, update.Status);
        Assert.Equal([cardRow, newest], await store.IdsAsync());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Sweep_MoreThanABatch_DeletesInStatementsOfAtMostTheBatchSize(DatabaseKind kind)
    {
        await using var store = await Store.CreateAsync(kind, batchSize: 2);
        var id = await store.AddIncidentAsync();
        var card = $"incident-{id}/card/C0PAY";
        var updates = new List<long>();
        for (var n = 2; n <= 7; n++)
        {
            updates.Add(await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n{n}", OutboxStatus.Delivered, series: card));
        }

        // One statement removes at most the batch, oldest first.
        int first;
        await using (var db = store.NewContext())
        {
            first = await OutboxRetention.DeleteSupersededAsync(db, 2, Ct);
        }

        Assert.Equal(2, first);
        Assert.Equal(updates[2..], await store.IdsAsync());

        // The sweep repeats it until a statement comes back short: 2 + 1 of the 3 superseded rows left (and one
        // statement finds no resolved incident).
        var sweep = await store.Retention().SweepAsync(Ct);

        Assert.Equal(new OutboxSweep(3, 0, 3), sweep);
        Assert.Equal([updates[^1]], await store.IdsAsync());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Sweep_IncidentResolvedLongerThanRetention_DeletesWhatIsNotPending(DatabaseKind kind)
    {
        await using var store = await Store.CreateAsync(kind);
        var now = store.Time.GetUtcNow();
        var retention = new OutboxRetentionOptions().ResolvedIncidents;
        var old = await store.AddIncidentAsync(resolvedAt: now - retention - TimeSpan.FromHours(2));
        var inGrace = await store.AddIncidentAsync(resolvedAt: now - retention - TimeSpan.FromMinutes(30));
        var recent = await store.AddIncidentAsync(resolvedAt: now - TimeSpan.FromDays(1));
        var open = await store.AddIncidentAsync();
        var gone = new[]
        {
            await store.AddAsync(old, "slack", "card", $"incident-{old}/card/C0PAY", OutboxStatus.Delivered, remoteId: "1700000000.000100"),
            await store.AddAsync(old, "slack", "thread_reply", $"incident-{old}/card/C0PAY/reply/9", OutboxStatus.Delivered),
            await store.AddAsync(old, "pagerduty", "trigger", $"incident-{old}/pagerduty/payments/trigger", OutboxStatus.Delivered),
            await store.AddAsync(old, "webhook", "resolve", $"incident-{old}/webhook/soar/resolve", OutboxStatus.Failed),
        };
        // Still being retried (a channel down for days): it goes out, and its timeline entry lands, before it may go.
        var pending = await store.AddAsync(old, "pagerduty", "resolve", $"incident-{old}/pagerduty/payments/resolve", OutboxStatus.Pending,
            attempts: 3, nextAttemptAt: now + TimeSpan.FromMinutes(10));
        var kept = new[]
        {
            await store.AddAsync(inGrace, "slack", "card", $"incident-{inGrace}/card/C0PAY", OutboxStatus.Delivered),
            await store.AddAsync(recent, "slack", "card", $"incident-{recent}/card/C0PAY", OutboxStatus.Delivered),
            await store.AddAsync(open, "slack", "card", $"incident-{open}/card/C0PAY", OutboxStatus.Delivered),
        };

        var sweep = await store.Retention().SweepAsync(Ct);

        Assert.Equal(new OutboxSweep(0, gone.Length, 2), sweep);
        Assert.Equal([pending, .. kept], await store.IdsAsync());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task Backfill_UpdatesStoredWithoutSeries_GetTheirCardAndAreSuperseded(DatabaseKind kind)
    {
        await using var store = await Store.CreateAsync(kind, batchSize: 2);
        var id = await store.AddIncidentAsync();
        var card = $"incident-{id}/card/C0PAY";
        // As a database from before the series column holds them.
        var cardRow = await store.AddAsync(id, "slack", "card", card, OutboxStatus.Delivered, remoteId: "1700000000.000100");
        var old1 = await store.AddAsync(id, "slack", "card_update", $"{card}/v1/n2", OutboxStatus.Delivered);
        var old2 = await store.AddAsync(id, "slack", "card_update", $"{card}/v2/n3", OutboxStatus.Delivered);
        var other = await store.AddAsync(id, "slack", "card_update", $"incident-{id}/card/C0SOC/v1/n2", OutboxStatus.Delivered);
        var odd = await store.AddAsync(id, "slack", "card_update", "hand-made-key", OutboxStatus.Delivered);
        var teams = await store.AddAsync(id, "teams", "card_update", $"{card}/v1/n2", OutboxStatus.Delivered);
        var newest = await store.AddAsync(id, "slack", "card_update", $"{card}/v2/n4", OutboxStatus.Delivered);

        var filled = await store.Backfill().BackfillAsync(Ct);
        var sweep = await store.Retention().SweepAsync(Ct);

        Assert.Equal(5, filled);
        Assert.Equal(2, sweep.Superseded);
        Assert.Equal([cardRow, other, odd, teams, newest], await store.IdsAsync());
        Assert.DoesNotContain(old1, await store.IdsAsync());
        Assert.DoesNotContain(old2, await store.IdsAsync());
    }

    [Theory]
    [MemberData(nameof(TestDatabases.Both), MemberType = typeof(TestDatabases))]
    public async Task CardUpdates_AfterRetentionRan_KeepEditingTheSameCard(DatabaseKind kind)
    {
        await using var chat = await ChatHarness.StartAsync(kind, extraYaml: "ingest:\n  count_refresh_interval: 1s\n");
        var (id, card) = await chat.IncidentAsync(Ct);
        for (var alerts = 2; alerts <= 3; alerts++)
        {
            await chat.PostAlertsAsync(Ct, Some.Alert());
            var shown = $"{alerts} alerts";
            await chat.Slack.WaitForMessageAsync(m => m.Ts == card.Ts && m.Blocks?.ToJsonString().Contains(shown, StringComparison.Ordinal) == true,
                TimeSpan.FromSeconds(30));
        }

        // Slack shows the update before the outbox records it delivered; the sweep only counts what is recorded.
        await WaitUntilAsync(() => chat.Host.QueryAsync(db => db.Set<OutboxMessage>()
            .CountAsync(m => m.IncidentId == id && m.Channel == "slack" && m.Kind == "card_update" && m.Status == OutboxStatus.Delivered, Ct)),
            delivered => delivered >= 2);
        var sweep = await chat.Host.App.Services.GetRequiredService<OutboxRetention>().SweepAsync(Ct);

        await chat.PostAlertsAsync(Ct, Some.Alert());
        var updated = await chat.Slack.WaitForMessageAsync(m => m.Ts == card.Ts && m.Blocks?.ToJsonString().Contains("4 alerts", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(30));
        await chat.Host.WaitForPipelineAsync();

        Assert.True(sweep.Superseded >= 1, $"the sweep deleted {sweep.Superseded} superseded updates");
        Assert.Equal(card.Ts, updated.Ts);
        Assert.Single(chat.Slack.Messages, m => m.ThreadTs is null && m.Text?.Contains($"incident #{id}", StringComparison.Ordinal) == true);
        var cardRow = await chat.Host.QueryAsync(db => Outbox.FindAsync(db, "slack", $"incident-{id}/card/{ChatHarness.Channel}", Ct));
        Assert.Equal($"{ChatHarness.Channel}|{card.Ts}", cardRow!.RemoteId); // what chat.update edits: channel and ts
    }

    private static async Task WaitUntilAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(60); !done(await read());)
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the outbox");
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>A migrated database of either kind with the retention sweep on a fake clock.</summary>
    private sealed class Store : IAsyncDisposable
    {
        private readonly string _directory;
        private readonly TestDatabase _database;
        private readonly DatabaseOptions _options;
        private readonly ServiceProvider _services;
        private readonly DeliveryOptions _delivery;

        private Store(string directory, TestDatabase database, DatabaseOptions options, int batchSize)
        {
            _directory = directory;
            _database = database;
            _options = options;
            _services = new ServiceCollection().AddTriageDatabase(options).BuildServiceProvider();
            _delivery = new DeliveryOptions { Retention = { BatchSize = batchSize } };
        }

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

        public static async Task<Store> CreateAsync(DatabaseKind kind, int batchSize = 1000)
        {
            var directory = Directory.CreateTempSubdirectory("triage-retention-").FullName;
            var database = await TestDatabases.CreateAsync(kind, directory);
            var options = new DatabaseOptions();
            options.ApplyOverride(database.DbArgument);
            await using (var db = DatabaseExtensions.CreateContext(options))
            {
                await db.Database.MigrateAsync();
            }

            return new Store(directory, database, options, batchSize);
        }

        public TriageDbContext NewContext() => DatabaseExtensions.CreateContext(_options);

        public OutboxRetention Retention() =>
            new(_services.GetRequiredService<IServiceScopeFactory>(), _delivery, Time, NullLogger<OutboxRetention>.Instance);

        public CardUpdateSeriesBackfill Backfill() =>
            new(_services.GetRequiredService<IServiceScopeFactory>(), _delivery, Time, NullLogger<CardUpdateSeriesBackfill>.Instance);

        public async Task<long> AddIncidentAsync(DateTimeOffset? resolvedAt = null)
        {
            await using var db = NewContext();
            var incident = new Incident
            {
                Fingerprint = Guid.NewGuid().ToString("N"), Rule = "Terminal shell in container", Title = "Shell in payments/api",
                Node = "node-1", Source = "sensor", AlertCount = 1, CreatedAt = Time.GetUtcNow(), UpdatedAt = Time.GetUtcNow(),
                Status = resolvedAt is null ? IncidentStatus.Triggered : IncidentStatus.Resolved, ResolvedAt = resolvedAt,
                ResolvedBy = resolvedAt is null ? null : "alice",
            };
            db.Incidents.Add(incident);
            await db.SaveChangesAsync(Ct);
            return incident.Id;
        }

        public async Task<long> AddAsync(long incidentId, string channel, string kind, string key, OutboxStatus status,
            string? series = null, string? remoteId = null, int? attempts = null, DateTimeOffset? nextAttemptAt = null)
        {
            await using var db = NewContext();
            var now = Time.GetUtcNow();
            var message = new OutboxMessage
            {
                IncidentId = incidentId, Channel = channel, Kind = kind, IdempotencyKey = key, Series = series, Status = status,
                Payload = """{"version":1}""", Priority = OutboxPriority.Routine, Attempts = attempts ?? (status == OutboxStatus.Pending ? 0 : 1),
                CreatedAt = now, NextAttemptAt = nextAttemptAt ?? now, RemoteId = remoteId,
                DeliveredAt = status == OutboxStatus.Delivered ? now : null,
            };
            db.Set<OutboxMessage>().Add(message);
            await db.SaveChangesAsync(Ct);
            return message.Id;
        }

        public async Task<List<long>> IdsAsync()
        {
            await using var db = NewContext();
            return await db.Set<OutboxMessage>().OrderBy(m => m.Id).Select(m => m.Id).ToListAsync(Ct);
        }

        public async Task<OutboxMessage?> FindAsync(string channel, string key)
        {
            await using var db = NewContext();
            return await Outbox.FindAsync(db, channel, key, Ct);
        }

        public async ValueTask DisposeAsync()
        {
            await _services.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            await _database.DisposeAsync();
            Directory.Delete(_directory, recursive: true);
        }
    }
}
