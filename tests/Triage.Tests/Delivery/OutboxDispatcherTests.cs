using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Triage.Api.Delivery;
using Triage.Api.Persistence;

namespace Triage.Tests.Delivery;

public sealed class OutboxDispatcherTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private readonly DeliveryOptions _options = new() { FirstRetryDelay = TimeSpan.FromSeconds(2), MaxRetryDelay = TimeSpan.FromMinutes(1) };
    private SqliteTestDatabase _database = null!;
    private ServiceProvider _services = null!;
    private Outbox _outbox = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await SqliteTestDatabase.CreateAsync();
        _services = _database.AddTo(new ServiceCollection()).BuildServiceProvider();
        _outbox = new Outbox(_time);
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }

    private OutboxDispatcher Dispatcher(params IDeliveryChannel[] channels) =>
        new(_services.GetRequiredService<IServiceScopeFactory>(), channels, _outbox, _options, _time, NullLogger<OutboxDispatcher>.Instance)
        {
            Jitter = () => 0.0,
        };

    private async Task<OutboxMessage> EnqueueAsync(long? incidentId, string channel, string key, string kind = "trigger",
        int priority = OutboxPriority.Urgent)
    {
        await using var db = _database.NewContext();
        return await _outbox.EnqueueAsync(db, new OutboxRequest(incidentId, channel, kind, """{"x":1}""", key, Priority: priority), CancellationToken.None);
    }

    private async Task<OutboxMessage> ReloadAsync(long id)
    {
        await using var db = _database.NewContext();
        return await db.Set<OutboxMessage>().SingleAsync(m => m.Id == id);
    }

    private async Task<List<(string Kind, string Channel, string Detail)>> TimelineAsync(long incidentId)
    {
        await using var db = _database.NewContext();
        var entries = await db.Timeline.Where(t => t.IncidentId == incidentId).OrderBy(t => t.Id).ToListAsync();
        return [.. entries.Select(t => (t.Kind, t.Channel, t.Detail))];
    }

    [Fact]
    public async Task EnqueueAsync_SameKeyTwice_StoresOneMessage()
    {
        var incident = await _database.AddIncidentAsync();

        var first = await EnqueueAsync(incident, "pagerduty", "incident-1/trigger");
        var second = await EnqueueAsync(incident, "pagerduty", "incident-1/trigger");
        var otherChannel = await EnqueueAsync(incident, "webhook", "incident-1/trigger");

        Assert.Equal(first.Id, second.Id);
        Assert.NotEqual(first.Id, otherChannel.Id);
        await using var db = _database.NewContext();
        Assert.Equal(2, await db.Set<OutboxMessage>().CountAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task DispatchDueAsync_Delivered_RecordsRemoteIdAndTimeline()
    {
        var incident = await _database.AddIncidentAsync();
        var message = await EnqueueAsync(incident, "slack", "incident-1/card", "card");
        var channel = new RecordingChannel("slack", (_, _) => DeliveryResult.Delivered("1700000000.000100"));

        await Dispatcher(channel).DispatchDueAsync(CancellationToken.None);

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Delivered, stored.Status);
        Assert.Equal("1700000000.000100", stored.RemoteId);
        Assert.Equal(_time.GetUtcNow(), stored.DeliveredAt);
        Assert.Equal(1, stored.Attempts);
        var entry = Assert.Single(await TimelineAsync(incident));
        Assert.Equal("delivery_delivered", entry.Kind);
        Assert.Equal("slack", entry.Channel);
        Assert.Contains("card attempt 1: delivered (1700000000.000100)", entry.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DispatchDueAsync_TransientFailures_BackOffExponentiallyThenDeliver()
    {
        var incident = await _database.AddIncidentAsync();
        var message = await EnqueueAsync(incident, "webhook", "k");
        var channel = new RecordingChannel("webhook", (_, n) => n < 4 ? DeliveryResult.Retry("HTTP 503") : DeliveryResult.Delivered());
        var dispatcher = Dispatcher(channel);
        var start = _time.GetUtcNow();

        // Jitter pinned to 0 gives half of each step: 1 s, 2 s, 4 s after attempts 1, 2, 3.
        var expectedWaits = new[] { 1, 2, 4 };
        foreach (var wait in expectedWaits)
        {
            await dispatcher.DispatchDueAsync(CancellationToken.None);
            var stored = await ReloadAsync(message.Id);
            Assert.Equal(OutboxStatus.Pending, stored.Status);
            Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(wait), stored.NextAttemptAt);

            // Not a moment early.
            _time.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromMilliseconds(1));
            await dispatcher.DispatchDueAsync(CancellationToken.None);
            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        await dispatcher.DispatchDueAsync(CancellationToken.None);

        Assert.Equal(4, channel.Attempts.Count);
        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(message.Id)).Status);
        Assert.Equal(start + TimeSpan.FromSeconds(7), _time.GetUtcNow());
        var kinds = (await TimelineAsync(incident)).Select(e => e.Kind).ToList();
        Assert.Equal(["delivery_retrying", "delivery_retrying", "delivery_retrying", "delivery_delivered"], kinds);
    }

    [Fact]
    public void Backoff_WithJitter_StaysWithinHalfToFullStepAndCaps()
    {
        var dispatcher = Dispatcher();
        dispatcher.Jitter = () => 0.999;

        Assert.InRange(dispatcher.Backoff(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        Assert.InRange(dispatcher.Backoff(3), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8));
        Assert.InRange(dispatcher.Backoff(40), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task DispatchDueAsync_RetryAfter_WaitsExactlyThatLongAndPausesTheChannel()
    {
        var incident = await _database.AddIncidentAsync();
        var first = await EnqueueAsync(incident, "pagerduty", "a");
        var otherIncident = await _database.AddIncidentAsync();
        var second = await EnqueueAsync(otherIncident, "pagerduty", "b");
        var channel = new RecordingChannel("pagerduty", (_, n) =>
            n == 1 ? DeliveryResult.Retry("HTTP 429 Too Many Requests", TimeSpan.FromSeconds(30)) : DeliveryResult.Delivered());
        var dispatcher = Dispatcher(channel);

        var wait = await dispatcher.DispatchDueAsync(CancellationToken.None);

        // The 429 paused the whole channel, so the second message was not tried in the same round.
        Assert.Single(channel.Attempts);
        Assert.Equal(TimeSpan.FromSeconds(1), wait); // next poll; the pause itself is longer
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(30), (await ReloadAsync(first.Id)).NextAttemptAt);

        _time.Advance(TimeSpan.FromSeconds(29));
        await dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Single(channel.Attempts);

        _time.Advance(TimeSpan.FromSeconds(1));
        await dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(first.Id)).Status);
        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(second.Id)).Status);
        Assert.Contains(await TimelineAsync(incident), e => e.Detail.Contains("HTTP 429 Too Many Requests; retrying in 30s", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DispatchDueAsync_PermanentFailure_StopsAndKeepsTheError()
    {
        var incident = await _database.AddIncidentAsync();
        var message = await EnqueueAsync(incident, "pagerduty", "k");
        var channel = new RecordingChannel("pagerduty", (_, _) => DeliveryResult.Failed("HTTP 400: Event object is invalid"));
        var dispatcher = Dispatcher(channel);

        await dispatcher.DispatchDueAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromHours(1));
        await dispatcher.DispatchDueAsync(CancellationToken.None);

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Failed, stored.Status);
        Assert.Equal("HTTP 400: Event object is invalid", stored.LastError);
        Assert.Single(channel.Attempts);
        Assert.Equal("delivery_failed", Assert.Single(await TimelineAsync(incident)).Kind);
    }

    [Fact]
    public async Task DispatchDueAsync_ChannelThrowsUntilMaxAttempts_GivesUp()
    {
        _options.MaxAttempts = 3;
        var message = await EnqueueAsync(null, "webhook", "k");
        var channel = new RecordingChannel("webhook", (Func<OutboxMessage, int, Task<DeliveryResult>>)((_, _) =>
            throw new HttpRequestException("Connection refused")));
        var dispatcher = Dispatcher(channel);

        for (var i = 0; i < 5; i++)
        {
            await dispatcher.DispatchDueAsync(CancellationToken.None);
            _time.Advance(TimeSpan.FromMinutes(2));
        }

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Failed, stored.Status);
        Assert.Equal(3, stored.Attempts);
        Assert.Equal("HttpRequestException: Connection refused", stored.LastError);
    }

    [Fact]
    public async Task DispatchDueAsync_UnknownChannel_FailsWithReason()
    {
        var message = await EnqueueAsync(null, "carrier-pigeon", "k");

        await Dispatcher().DispatchDueAsync(CancellationToken.None);

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Failed, stored.Status);
        Assert.Contains("no delivery channel named 'carrier-pigeon'", stored.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DispatchDueAsync_SameIncidentAndChannel_KeepsEnqueueOrder()
    {
        var incident = await _database.AddIncidentAsync();
        var trigger = await EnqueueAsync(incident, "pagerduty", "trigger", "trigger");
        var resolve = await EnqueueAsync(incident, "pagerduty", "resolve", "resolve");
        var channel = new RecordingChannel("pagerduty", (m, _) =>
            m.Kind == "trigger" && m.Attempts == 1 ? DeliveryResult.Retry("HTTP 500") : DeliveryResult.Delivered());
        var dispatcher = Dispatcher(channel);

        await dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Equal([("trigger", 1)], channel.Attempts.Select(a => (a.Kind, a.Attempt)));

        _time.Advance(TimeSpan.FromSeconds(1));
        await dispatcher.DispatchDueAsync(CancellationToken.None);
        await dispatcher.DispatchDueAsync(CancellationToken.None);

        Assert.Equal([("trigger", 1), ("trigger", 2), ("resolve", 1)], channel.Attempts.Select(a => (a.Kind, a.Attempt)));
        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(resolve.Id)).Status);
        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(trigger.Id)).Status);
    }

    [Fact]
    public async Task DispatchDueAsync_UrgentArrivesBehindRoutine_GoesNextButIncidentOrderHolds()
    {
        var older = await _database.AddIncidentAsync();
        var newer = await _database.AddIncidentAsync();
        await EnqueueAsync(older, "slack", "older/card", "card");
        await EnqueueAsync(older, "slack", "older/update", "card_update", OutboxPriority.Routine);
        await EnqueueAsync(older, "slack", "older/reply-1", "thread_reply", OutboxPriority.Routine);
        await EnqueueAsync(older, "slack", "older/reply-2", "thread_reply", OutboxPriority.Routine);
        var enqueuedNewCard = false;
        var channel = new RecordingChannel("slack", async (m, _) =>
        {
            if (m.Kind == "card_update" && !enqueuedNewCard)
            {
                // While the older incident's routine messages go out, a new incident's card arrives.
                enqueuedNewCard = true;
                await EnqueueAsync(newer, "slack", "newer/card", "card");
            }

            return DeliveryResult.Delivered();
        });
        var dispatcher = Dispatcher(channel);

        for (var round = 0; round < 10 && await dispatcher.DispatchDueAsync(CancellationToken.None) == TimeSpan.Zero; round++)
        {
        }

        // The older incident's card precedes its update (one incident's order holds); the new card jumps the replies.
        Assert.Equal(["card", "card_update", "card", "thread_reply", "thread_reply"], channel.Attempts.Select(a => a.Kind));
        await using var db = _database.NewContext();
        var newCard = await db.Set<OutboxMessage>().SingleAsync(m => m.IdempotencyKey == "newer/card", TestContext.Current.CancellationToken);
        Assert.Equal(newCard.Id, channel.Attempts[2].Id);
        Assert.All(await db.Set<OutboxMessage>().ToListAsync(TestContext.Current.CancellationToken), m => Assert.Equal(OutboxStatus.Delivered, m.Status));
    }

    [Fact]
    public async Task DispatchDueAsync_RoutineMessagesOfAnUnpacedChannel_GoOutInOneRound()
    {
        for (var i = 0; i < 3; i++)
        {
            var incident = await _database.AddIncidentAsync();
            await EnqueueAsync(incident, "card_sink", $"incident-{incident}/update", "card_update", OutboxPriority.Routine);
        }

        var channel = new RecordingChannel("card_sink", (_, _) => DeliveryResult.Delivered());

        await Dispatcher(channel).DispatchDueAsync(CancellationToken.None);

        Assert.Equal(3, channel.Attempts.Count);
    }

    [Fact]
    public async Task DispatchDueAsync_RoutineRoundLastsAPollInterval_EndsTheRound()
    {
        // Urgent messages that another replica adds are only seen by looking again: a long run of routine messages
        // must not hold them back for longer than a poll.
        for (var i = 0; i < 3; i++)
        {
            var incident = await _database.AddIncidentAsync();
            await EnqueueAsync(incident, "webhook", $"incident-{incident}/update", "card_update", OutboxPriority.Routine);
        }

        var channel = new RecordingChannel("webhook", (_, _) =>
        {
            _time.Advance(_options.PollInterval); // a slow remote side
            return DeliveryResult.Delivered();
        });
        var dispatcher = Dispatcher(channel);

        Assert.Equal(TimeSpan.Zero, await dispatcher.DispatchDueAsync(CancellationToken.None));
        Assert.Single(channel.Attempts);
    }

    [Fact]
    public async Task DispatchDueAsync_ChannelDefers_NotAnAttemptNoTimelineChannelNotPaused()
    {
        var first = await _database.AddIncidentAsync();
        var second = await _database.AddIncidentAsync();
        var reply = await EnqueueAsync(first, "slack", "first/reply", "thread_reply");
        var card = await EnqueueAsync(second, "slack", "second/card", "card");
        var channel = new RecordingChannel("slack", (m, _) =>
            m.Kind == "thread_reply" && _time.GetUtcNow() < new DateTimeOffset(2026, 11, 25, 12, 0, 3, TimeSpan.Zero)
                ? DeliveryResult.Deferred(TimeSpan.FromSeconds(3))
                : DeliveryResult.Delivered());
        var dispatcher = Dispatcher(channel);

        await dispatcher.DispatchDueAsync(CancellationToken.None);

        var deferred = await ReloadAsync(reply.Id);
        Assert.Equal((OutboxStatus.Pending, 0, _time.GetUtcNow().AddSeconds(3)), (deferred.Status, deferred.Attempts, deferred.NextAttemptAt));
        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(card.Id)).Status);
        Assert.Empty(await TimelineAsync(first));

        _time.Advance(TimeSpan.FromSeconds(3));
        await dispatcher.DispatchDueAsync(CancellationToken.None);

        var delivered = await ReloadAsync(reply.Id);
        Assert.Equal((OutboxStatus.Delivered, 1), (delivered.Status, delivered.Attempts));
        Assert.Equal(["delivery_delivered"], (await TimelineAsync(first)).Select(t => t.Kind));
    }

    [Fact]
    public async Task DispatchDueAsync_ChannelMinInterval_PacesAttempts()
    {
        for (var i = 0; i < 3; i++)
        {
            await EnqueueAsync(null, "slack", $"k{i}");
        }

        var channel = new RecordingChannel("slack", (_, _) => DeliveryResult.Delivered()) { MinInterval = TimeSpan.FromSeconds(1) };
        var dispatcher = Dispatcher(channel);

        var wait = await dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Single(channel.Attempts);
        Assert.Equal(TimeSpan.FromSeconds(1), wait); // paced: the next attempt is due in 1 s

        _time.Advance(TimeSpan.FromMilliseconds(500));
        await dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Single(channel.Attempts);

        _time.Advance(TimeSpan.FromMilliseconds(500));
        await dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Equal(2, channel.Attempts.Count);
    }

    [Fact]
    public async Task DispatchDueAsync_ClockJumpsPastTheLeaseMidCall_TheCallIsNotCancelled()
    {
        var incident = await _database.AddIncidentAsync();
        var message = await EnqueueAsync(incident, "teams", "incident-1/card/reply/3", "thread_reply");
        var inFlight = new InFlightChannel("teams");
        var dispatching = Dispatcher(inFlight).DispatchDueAsync(CancellationToken.None);
        await inFlight.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        _time.Advance(_options.Lease + TimeSpan.FromMinutes(5)); // a test's clock moves on; the remote side answers now
        inFlight.Answer.SetResult(DeliveryResult.Delivered("1700000000.000300"));
        await dispatching;

        var stored = await ReloadAsync(message.Id);
        Assert.Equal((OutboxStatus.Delivered, 1, "1700000000.000300"), (stored.Status, stored.Attempts, stored.RemoteId));
    }

    /// <summary>A channel whose call is in flight until the test answers it, and which honours cancellation as HTTP does.</summary>
    private sealed class InFlightChannel(string name) : IDeliveryChannel
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<DeliveryResult> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Name => name;

        public Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
        {
            Entered.TrySetResult();
            return Answer.Task.WaitAsync(cancellationToken);
        }
    }

    [Fact]
    public async Task DispatchDueAsync_ProcessDiedMidAttempt_AnotherDispatcherRetriesAfterTheLease()
    {
        var incident = await _database.AddIncidentAsync();
        var message = await EnqueueAsync(incident, "pagerduty", "k");
        var entered = new TaskCompletionSource();
        var hang = new RecordingChannel("pagerduty", (_, _) =>
        {
            entered.TrySetResult();
            return new TaskCompletionSource<DeliveryResult>().Task; // the process "dies" here: no answer, ever
        });
        _ = Dispatcher(hang).DispatchDueAsync(CancellationToken.None);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        var deadAttemptStarted = (await ReloadAsync(message.Id)).AttemptStartedAt;
        DateTimeOffset? seen = null;
        var after = new RecordingChannel("pagerduty", (m, _) =>
        {
            seen = m.MayHaveArrivedSince;
            return DeliveryResult.Delivered("dedup");
        });
        var restarted = Dispatcher(after);
        await restarted.DispatchDueAsync(CancellationToken.None);
        Assert.Empty(after.Attempts); // still leased by the dead attempt

        _time.Advance(_options.Lease);
        await restarted.DispatchDueAsync(CancellationToken.None);

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Delivered, stored.Status);
        Assert.Equal(2, stored.Attempts);

        // The dead attempt may have reached PagerDuty: the retry is told since when.
        Assert.NotNull(deadAttemptStarted);
        Assert.Equal(deadAttemptStarted, seen);
        Assert.Null(stored.AttemptStartedAt);
    }

    /// <summary>
    /// A channel that can look up what an earlier attempt sent (Slack's history) should look only when an attempt may
    /// have arrived: not after the remote side refused it outright (a 429, an error answer), but from the first attempt
    /// whose answer was lost or was a 5xx on, whatever the attempts after it answered.
    /// </summary>
    [Fact]
    public async Task DispatchDueAsync_FailedAttempts_RecordSinceWhenOneMayHaveArrived()
    {
        var message = await EnqueueAsync(await _database.AddIncidentAsync(), "slack", "k");
        var seen = new List<DateTimeOffset?>();
        var started = new List<DateTimeOffset>();
        var channel = new RecordingChannel("slack", (m, n) =>
        {
            seen.Add(m.MayHaveArrivedSince);
            started.Add(_time.GetUtcNow());
            return n switch
            {
                1 => DeliveryResult.Retry("ratelimited", TimeSpan.FromSeconds(1), mayHaveArrived: false),
                2 => DeliveryResult.Retry("timed out"),
                3 => DeliveryResult.Retry("ratelimited", TimeSpan.FromSeconds(1), mayHaveArrived: false),
                _ => DeliveryResult.Delivered("C1|1.0"),
            };
        });
        var dispatcher = Dispatcher(channel);
        for (var attempt = 0; attempt < 4; attempt++)
        {
            await dispatcher.DispatchDueAsync(CancellationToken.None);
            _time.Advance(TimeSpan.FromMinutes(2));
        }

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Delivered, stored.Status);
        Assert.Equal(4, seen.Count);
        Assert.Equal([null, null, started[1], started[1]], seen);
        Assert.Equal(started[1], stored.MayHaveArrivedSince);
        Assert.Null(stored.AttemptStartedAt);
    }

    [Fact]
    public async Task ExecuteAsync_WakesAboutABusyChannel_DoNotLookForDueMessages()
    {
        _options.PollInterval = TimeSpan.FromMinutes(1); // the fake clock never moves: no poll
        var looks = new LookCounter();
        await using var services = new ServiceCollection()
            .AddDbContext<TriageDbContext, SqliteTriageDbContext>(o => o.UseSqlite(_database.ConnectionString).AddInterceptors(looks))
            .BuildServiceProvider();
        var busy = new InFlightChannel("webhook");
        var idleDelivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var idle = new RecordingChannel("card_sink", (_, _) =>
        {
            idleDelivered.TrySetResult();
            return DeliveryResult.Delivered();
        });
        var dispatcher = new OutboxDispatcher(services.GetRequiredService<IServiceScopeFactory>(), [busy, idle], _outbox, _options, _time,
            NullLogger<OutboxDispatcher>.Instance);
        await dispatcher.StartAsync(CancellationToken.None);
        try
        {
            await EnqueueAsync(null, "webhook", "first");
            await busy.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            var before = looks.Count;
            for (var i = 0; i < 20; i++)
            {
                // Each one wakes the dispatcher, and its channel is busy with "first".
                await EnqueueAsync(null, "webhook", $"more-{i}");
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }

            // A message for a channel that is not busy does need a look; its delivery shows the loop went round.
            await EnqueueAsync(null, "card_sink", "other");
            await idleDelivered.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

            Assert.Equal(1, looks.Count - before);
        }
        finally
        {
            busy.Answer.TrySetResult(DeliveryResult.Delivered());
            await dispatcher.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>Counts the dispatcher's looks for channels with due messages.</summary>
    private sealed class LookCounter : DbCommandInterceptor
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command, CommandEventData eventData,
            InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (command.CommandText.Contains("SELECT DISTINCT", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _count);
            }

            return ValueTask.FromResult(result);
        }
    }

    [Fact]
    public async Task ExecuteAsync_Enqueue_WakesTheDispatcherWithoutWaitingForThePoll()
    {
        _options.PollInterval = TimeSpan.FromMinutes(1);
        var delivered = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var channel = new RecordingChannel("webhook", (m, _) =>
        {
            delivered.TrySetResult(m.Id);
            return DeliveryResult.Delivered();
        });
        var dispatcher = Dispatcher(channel);
        await dispatcher.StartAsync(CancellationToken.None);
        try
        {
            var message = await EnqueueAsync(null, "webhook", "k");

            // The fake clock never moves, so only the wake-up can deliver it.
            Assert.Equal(message.Id, await delivered.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        }
        finally
        {
            await dispatcher.StopAsync(CancellationToken.None);
        }
    }
}
