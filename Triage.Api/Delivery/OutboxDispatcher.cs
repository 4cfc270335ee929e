using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;

namespace Triage.Api.Delivery;

/// <summary>
/// Delivers due outbox messages through their <see cref="IDeliveryChannel"/>: claims each message with a lease (so
/// several replicas never send one message twice at once, and a crash mid-attempt is retried once the lease runs out),
/// paces each channel, applies the result (delivered, retry with backoff or <c>Retry-After</c>, failed), and writes the
/// attempt to the incident timeline in the same transaction as the result.
/// </summary>
internal sealed partial class OutboxDispatcher : BackgroundService
{
    private readonly IServiceScopeFactory _scopes;
    private readonly Dictionary<string, IDeliveryChannel> _channels;
    private readonly Outbox _outbox;
    private readonly DeliveryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<OutboxDispatcher> _logger;

    // When each channel may be attempted next: pacing and Retry-After pauses. Channels are dispatched concurrently.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _notBefore = new(StringComparer.Ordinal);

    public OutboxDispatcher(
        IServiceScopeFactory scopes,
        IEnumerable<IDeliveryChannel> channels,
        Outbox outbox,
        DeliveryOptions options,
        TimeProvider time,
        ILogger<OutboxDispatcher> logger)
    {
        _scopes = scopes;
        _channels = channels.ToDictionary(c => c.Name, StringComparer.Ordinal);
        _outbox = outbox;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Jitter source in [0, 1); replaceable so tests can pin the backoff.</summary>
    internal Func<double> Jitter { get; set; } = Random.Shared.NextDouble;

    /// <remarks>
    /// Each channel is dispatched on its own: a channel waiting out its remote side's pace (Slack's one message per
    /// second per channel, a <c>Retry-After</c>) must not hold back another channel's messages, e.g. a new card behind
    /// a page's paced <c>conversations.open</c>. The loop starts every channel that has due messages and is not busy,
    /// then sleeps until a wake, the next poll or pace opening, or a channel finishing its batch.
    /// A wake only about channels that are busy or paced does not look: the busy channel's end and the pace's opening
    /// look anyway. (During the ingest benchmark's card-refresh burst every refresh woke the dispatcher; looking each
    /// time, with each routine message's own round, was over half of PostgreSQL's statement time.)
    /// </remarks>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var inFlight = new Dictionary<string, Task<bool>>(StringComparer.Ordinal);
        List<string> due = [];
        var look = true;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var wait = _options.PollInterval;
                try
                {
                    if (look)
                    {
                        (due, var ready) = await DueChannelsAsync(stoppingToken);
                        foreach (var channel in ready.Where(c => !inFlight.ContainsKey(c)))
                        {
                            inFlight[channel] = DispatchChannelAsync(channel, stoppingToken);
                        }
                    }

                    wait = UntilNextLook(due);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // A database hiccup must not stop delivery for good; the next look tries again.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    LogRoundFailed(_logger, ex);
                }

                var woken = false;
                using (var interrupt = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                {
                    var sleeping = _outbox.WaitAsync(wait, interrupt.Token);
                    await Task.WhenAny(inFlight.Values.Append(sleeping));
                    await interrupt.CancelAsync();
                    try
                    {
                        woken = await sleeping;
                    }
                    catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                    {
                        // A channel finished first: look again now.
                    }
                }

                var finished = inFlight.Where(p => p.Value.IsCompleted).ToList();
                foreach (var (channel, task) in finished)
                {
                    inFlight.Remove(channel);
                    if (task.IsFaulted)
                    {
                        LogRoundFailed(_logger, task.Exception.GetBaseException());
                        _notBefore[channel] = _time.GetUtcNow() + _options.PollInterval; // Not again at once: the next look after a poll.
                    }
                }

                var added = _outbox.TakeAddedChannels();
                look = !woken || finished.Count > 0 || NeedsLook(added, inFlight, due);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
        finally
        {
            // Attempts under way record their outcome (or hand the message back) before the service stops.
            await Task.WhenAll(inFlight.Values.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
    }

    /// <summary>
    /// One round: attempts every message due now, at most <see cref="DeliveryOptions.BatchSize"/> per channel, channels
    /// in parallel, and waits for all of them. Returns how long to wait before the next round (zero when there is more
    /// to do now). The service's loop overlaps channels instead; this is the same work in lockstep, for tests.
    /// </summary>
    internal async Task<TimeSpan> DispatchDueAsync(CancellationToken cancellationToken)
    {
        var (due, ready) = await DueChannelsAsync(cancellationToken);
        var more = await Task.WhenAll(ready.Select(c => DispatchChannelAsync(c, cancellationToken)));
        return more.Any(m => m) ? TimeSpan.Zero : UntilNextLook(due);
    }

    /// <summary>Channels with due messages, and those of them not paced or paused now.</summary>
    private async Task<(List<string> Due, List<string> Ready)> DueChannelsAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var due = await Due(db, now).Select(m => m.Channel).Distinct().ToListAsync(cancellationToken);
        return (due, [.. due.Where(c => !_notBefore.TryGetValue(c, out var notBefore) || notBefore <= now)]);
    }

    /// <summary>
    /// Whether a wake calls for a look: some channel that got a message is neither busy nor paced with its opening
    /// already waited for (it is among the <paramref name="due"/> channels). A wake with no channel named
    /// (<see cref="Outbox.Wake"/> alone) looks.
    /// </summary>
    private bool NeedsLook(List<string> added, Dictionary<string, Task<bool>> inFlight, List<string> due)
    {
        var now = _time.GetUtcNow();
        return added.Count == 0 || added.Any(c => !inFlight.ContainsKey(c)
            && !(due.Contains(c) && _notBefore.TryGetValue(c, out var notBefore) && notBefore > now));
    }

    /// <summary>Until the next poll, or earlier when a paced or paused channel with due messages opens up again.</summary>
    private TimeSpan UntilNextLook(List<string> dueChannels)
    {
        var wait = _options.PollInterval;
        var now = _time.GetUtcNow();
        foreach (var channel in dueChannels)
        {
            if (_notBefore.TryGetValue(channel, out var notBefore) && notBefore - now < wait)
            {
                wait = notBefore - now;
            }
        }

        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }

    /// <summary>Messages that may be attempted now: pending, due, and not behind an earlier pending one of the same incident and channel.</summary>
    /// <remarks>
    /// The head of each incident's queue on a channel is its lowest pending id, found by one grouped subquery that the
    /// database evaluates once. A correlated NOT EXISTS per pending message probed the index once per message, every
    /// round; with a backlog of card updates (one per busy incident) that was most of PostgreSQL's work during ingest.
    /// </remarks>
    private static IQueryable<OutboxMessage> Due(TriageDbContext db, DateTimeOffset now)
    {
        var outbox = db.Set<OutboxMessage>();
        var heads = outbox.Where(o => o.Status == OutboxStatus.Pending && o.IncidentId != null)
            .GroupBy(o => new { o.IncidentId, o.Channel })
            .Select(g => g.Min(o => o.Id));
        return outbox.Where(m => m.Status == OutboxStatus.Pending && m.NextAttemptAt <= now
            && (m.IncidentId == null || heads.Contains(m.Id)));
    }

    /// <summary>
    /// Attempts the due messages of one channel, urgent ones first. True when another round may find more at once: the
    /// batch was full, a message finished and may have been holding back the next one of its incident, or the round
    /// stopped after a routine message so that urgent messages do not queue behind a run of routine ones.
    /// </summary>
    /// <remarks>
    /// A routine message ends the round when an urgent message for the channel was added since the round began, or
    /// the round has lasted a poll interval (urgent messages other replicas added are seen by polling anyway). A paced
    /// channel's round ends at its pace. Ending the round after every routine message instead meant two queries per
    /// card refresh delivered.
    /// </remarks>
    private async Task<bool> DispatchChannelAsync(string channelName, CancellationToken cancellationToken)
    {
        // Before the query: an urgent message added while it runs may be missing from its answer.
        var started = _time.GetUtcNow();
        var urgentAtStart = _outbox.UrgentAdded(channelName);
        List<(long Id, int Priority)> due;
        await using (var scope = _scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
            due = (await Due(db, _time.GetUtcNow()).Where(m => m.Channel == channelName)
                .OrderBy(m => m.Priority).ThenBy(m => m.NextAttemptAt).ThenBy(m => m.Id)
                .Select(m => new { m.Id, m.Priority }).Take(_options.BatchSize).ToListAsync(cancellationToken))
                .Select(m => (m.Id, m.Priority)).ToList();
        }

        _channels.TryGetValue(channelName, out var channel);
        var minInterval = _options.MinInterval.TryGetValue(channelName, out var configured) ? configured
            : channel?.MinInterval ?? TimeSpan.Zero;
        var finished = false;
        foreach (var (id, priority) in due)
        {
            if (_notBefore.TryGetValue(channelName, out var notBefore) && notBefore > _time.GetUtcNow())
            {
                return false; // Paced or paused: the rest waits for a later round.
            }

            var result = await AttemptAsync(channel, id, cancellationToken);
            finished |= result is { Outcome: DeliveryOutcome.Delivered or DeliveryOutcome.FailedPermanently };
            if (result is { Outcome: DeliveryOutcome.Deferred })
            {
                continue; // The channel stepped aside for this one message; it does not pause the channel.
            }

            var after = _time.GetUtcNow();
            var next = after + minInterval;
            if (result?.RetryAfter is { } retryAfter && after + retryAfter > next)
            {
                next = after + retryAfter; // The remote side rate-limits the whole channel, not one message.
            }

            if (next > after)
            {
                _notBefore[channelName] = next;
            }

            if (priority != OutboxPriority.Urgent
                && (_outbox.UrgentAdded(channelName) != urgentAtStart || after - started >= _options.PollInterval))
            {
                // An urgent message that arrived meanwhile (a new incident's card, a page) goes before the next routine one.
                return true;
            }
        }

        return finished || due.Count == _options.BatchSize;
    }

    /// <summary>Claims, attempts and records one message. Null when another dispatcher had claimed it.</summary>
    private async Task<DeliveryResult?> AttemptAsync(IDeliveryChannel? channel, long id, CancellationToken cancellationToken)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TriageDbContext>();
        var now = _time.GetUtcNow();
        var leaseUntil = now + _options.Lease;

        // The claim is one conditional UPDATE: whoever moves NextAttemptAt past now owns this attempt. An attempt still
        // marked as started never recorded its outcome (the process died mid-call), so it may have arrived.
        var claimed = await db.Set<OutboxMessage>()
            .Where(m => m.Id == id && m.Status == OutboxStatus.Pending && m.NextAttemptAt <= now)
            .ExecuteUpdateAsync(s => s
                .SetProperty(m => m.NextAttemptAt, leaseUntil)
                .SetProperty(m => m.Attempts, m => m.Attempts + 1)
                .SetProperty(m => m.MayHaveArrivedSince, m => m.MayHaveArrivedSince ?? m.AttemptStartedAt)
                .SetProperty(m => m.AttemptStartedAt, now), cancellationToken);
        if (claimed == 0)
        {
            return null;
        }

        // Not cancellable: once claimed, the message must reach the shutdown hand-back below, or it would wait out the
        // whole lease after a restart (and hold back every later message of its incident on this channel).
        var message = await db.Set<OutboxMessage>().FirstAsync(m => m.Id == id, CancellationToken.None);
        DeliveryResult result;
        if (channel is null)
        {
            result = DeliveryResult.Failed($"no delivery channel named '{message.Channel}' is configured");
        }
        else
        {
            // Elapsed time, like HttpClient.Timeout, not the service clock: the timeout bounds a call to a remote side,
            // which takes real time. A test clock moved ahead while a call was in flight used to cancel it and leave a
            // message that may have arrived pending on a retry due on that stopped clock, holding back the rest of its
            // incident's messages on the channel.
            using var timeout = new CancellationTokenSource(_options.Lease);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                result = await channel.DeliverAsync(message, linked.Token);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Shutting down: hand the message back at once instead of waiting out the lease after the restart. The
                // call was cut off mid-way, so it may have arrived.
                message.NextAttemptAt = _time.GetUtcNow();
                message.LastError = "interrupted by shutdown";
                EndAttempt(message, mayHaveArrived: true);
                await db.SaveChangesAsync(CancellationToken.None);
                throw;
            }
            catch (OperationCanceledException)
            {
                result = DeliveryResult.Retry($"timed out after {_options.Lease.TotalSeconds:0}s");
            }
#pragma warning disable CA1031 // Any exception from a channel is a failed attempt to retry, not a reason to stop.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                result = DeliveryResult.Retry($"{ex.GetType().Name}: {ex.Message}");
            }
        }

        if (result.Outcome == DeliveryOutcome.Deferred)
        {
            // Nothing was sent: hand the claimed attempt back and come back when the channel has room.
            message.Attempts--;
            EndAttempt(message, mayHaveArrived: false);
            message.NextAttemptAt = _time.GetUtcNow() + (result.RetryAfter ?? _options.PollInterval);
            await db.SaveChangesAsync(CancellationToken.None);
            return result;
        }

        EndAttempt(message, result.MayHaveArrived);
        var outcome = Apply(message, result, _time.GetUtcNow());
        if (message.IncidentId is { } incidentId)
        {
            db.Timeline.Add(new TimelineEntry
            {
                IncidentId = incidentId,
                At = _time.GetUtcNow(),
                Actor = "system",
                Channel = message.Channel,
                Kind = message.Status switch
                {
                    OutboxStatus.Delivered => "delivery_delivered",
                    OutboxStatus.Failed => "delivery_failed",
                    _ => "delivery_retrying",
                },
                Detail = $"{message.Channel} {message.Kind} attempt {message.Attempts.ToString(CultureInfo.InvariantCulture)}: {outcome}",
            });
        }

        // The result is recorded even when shutdown began during the attempt: losing it would repeat a delivered message.
        await db.SaveChangesAsync(CancellationToken.None);
        LogAttempt(_logger, message.Id, message.Channel, message.Kind, message.Attempts, outcome);
        return result;
    }

    /// <summary>Clears the attempt's start mark; an attempt that may have arrived is remembered from its start on.</summary>
    private static void EndAttempt(OutboxMessage message, bool mayHaveArrived)
    {
        if (mayHaveArrived)
        {
            message.MayHaveArrivedSince ??= message.AttemptStartedAt;
        }

        message.AttemptStartedAt = null;
    }

    /// <summary>Applies the result to the message; returns what came of the attempt, in words.</summary>
    private string Apply(OutboxMessage message, DeliveryResult result, DateTimeOffset now)
    {
        switch (result.Outcome)
        {
            case DeliveryOutcome.Delivered:
                message.Status = OutboxStatus.Delivered;
                message.DeliveredAt = now;
                message.RemoteId = result.RemoteId;
                message.LastError = null;
                return result.RemoteId is null ? "delivered" : $"delivered ({result.RemoteId})";
            case DeliveryOutcome.FailedPermanently:
                message.Status = OutboxStatus.Failed;
                message.LastError = result.Error;
                return $"failed permanently: {result.Error}";
            default:
                message.LastError = result.Error;
                if (message.Attempts >= _options.MaxAttempts)
                {
                    message.Status = OutboxStatus.Failed;
                    return $"gave up after {message.Attempts} attempts: {result.Error}";
                }

                var delay = result.RetryAfter ?? Backoff(message.Attempts);
                message.NextAttemptAt = now + delay;
                return $"{result.Error}; retrying in {Format(delay)}";
        }
    }

    /// <summary>Exponential backoff with "equal jitter": half the step fixed, half random, so retries spread out but never bunch at zero.</summary>
    internal TimeSpan Backoff(int attempts)
    {
        var step = _options.FirstRetryDelay.Ticks * Math.Pow(2, Math.Min(attempts - 1, 30));
        var capped = Math.Min(step, _options.MaxRetryDelay.Ticks);
        return TimeSpan.FromTicks((long)((capped / 2) + (capped / 2 * Jitter())));
    }

    private static string Format(TimeSpan delay) =>
        delay.TotalSeconds < 90 ? $"{delay.TotalSeconds:0.#}s" : $"{delay.TotalMinutes:0.#}m";

    [LoggerMessage(Level = LogLevel.Error, Message = "Outbox dispatch round failed; trying again at the next poll")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbox message {Id} ({Channel} {Kind}) attempt {Attempt}: {Outcome}")]
    private static partial void LogAttempt(ILogger logger, long id, string channel, string kind, int attempt, string outcome);
}
