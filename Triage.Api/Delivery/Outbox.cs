using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;

namespace Triage.Api.Delivery;

/// <summary>What to send: the fields of an <see cref="OutboxMessage"/> a producer chooses.</summary>
/// <param name="IncidentId">The incident it is about (attempts are written to its timeline), or null.</param>
/// <param name="Channel">The <see cref="IDeliveryChannel.Name"/> that sends it.</param>
/// <param name="Kind">What it is (<c>card</c>, <c>card_update</c>, <c>trigger</c>, <c>resolve</c>, …).</param>
/// <param name="Payload">The channel-specific JSON body.</param>
/// <param name="IdempotencyKey">Unique per channel; a second enqueue with the same key returns the first message.</param>
/// <param name="NotBefore">Earliest first attempt; null for now.</param>
/// <param name="Priority">An <see cref="OutboxPriority"/>: urgent messages of a channel go before routine ones.</param>
/// <param name="Series">
/// The <see cref="OutboxMessage.Series"/> whose later delivered messages supersede this one, or null. Retention then
/// deletes this row, which lets its key be enqueued again: set a series only where the producer never enqueues the key
/// of a superseded message again (card updates: their keys carry the incident's version and count, which only grow,
/// and the newest message of a series is never superseded).
/// </param>
internal sealed record OutboxRequest(
    long? IncidentId,
    string Channel,
    string Kind,
    string Payload,
    string IdempotencyKey,
    DateTimeOffset? NotBefore = null,
    int Priority = OutboxPriority.Urgent,
    string? Series = null);

/// <summary>
/// The delivery outbox: producers put messages here and <see cref="OutboxDispatcher"/> delivers them through the
/// registered <see cref="IDeliveryChannel"/> with retries, backoff, pacing and a timeline entry per attempt.
/// </summary>
/// <remarks>
/// <para>Two ways to enqueue:</para>
/// <list type="bullet">
/// <item><see cref="AddAsync"/> adds the message to <em>your</em> DbContext so it commits atomically with your own change
/// (the usual case: an incident observer or action). Call <see cref="Wake"/> after your SaveChanges for immediate
/// dispatch; otherwise it goes out within <see cref="DeliveryOptions.PollInterval"/>.</item>
/// <item><see cref="EnqueueAsync"/> adds, saves and wakes in one call.</item>
/// </list>
/// <para>Idempotency: (channel, idempotency key) is unique. Use a key that names the intent, e.g.
/// <c>incident-42/card</c> or <c>incident-42/resolve</c>, so a repeated reconcile enqueues nothing new. If two writers
/// race, the loser's SaveChanges fails with a unique-index violation; retry the reconcile and it finds the winner's row.</para>
/// <para>Reading results: the row's <see cref="OutboxMessage.Status"/>, <see cref="OutboxMessage.RemoteId"/> (e.g. a Slack
/// <c>ts</c> a later update needs) and <see cref="OutboxMessage.LastError"/>; see <see cref="FindAsync"/>.</para>
/// </remarks>
internal sealed class Outbox(TimeProvider time)
{
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    // What this process added, for the dispatcher: which channels got a message since it last looked, and how many
    // urgent messages each channel got so far. A message added but never saved only costs the dispatcher a look.
    private readonly ConcurrentDictionary<string, bool> _addedSinceLook = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _urgentAdded = new(StringComparer.Ordinal);

    /// <summary>
    /// Adds the message to <paramref name="db"/> (saved with the caller's next SaveChanges), or returns the existing
    /// message with the same channel and idempotency key, whether saved already or only tracked.
    /// </summary>
    public async Task<OutboxMessage> AddAsync(TriageDbContext db, OutboxRequest request, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Channel);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.IdempotencyKey);
        var set = db.Set<OutboxMessage>();
        var existing = set.Local.FirstOrDefault(m => m.Channel == request.Channel && m.IdempotencyKey == request.IdempotencyKey)
            ?? await FindAsync(db, request.Channel, request.IdempotencyKey, cancellationToken);
        if (existing is not null)
        {
            return existing;
        }

        var message = NewMessage(request, time.GetUtcNow());
        set.Add(message);
        return message;
    }

    private OutboxMessage NewMessage(OutboxRequest request, DateTimeOffset now)
    {
        NoteAdded(request.Channel, request.Priority);
        return new OutboxMessage
        {
            IncidentId = request.IncidentId,
            Channel = request.Channel,
            Kind = request.Kind,
            Payload = request.Payload,
            IdempotencyKey = request.IdempotencyKey,
            Priority = request.Priority,
            Series = request.Series,
            Status = OutboxStatus.Pending,
            CreatedAt = now,
            NextAttemptAt = request.NotBefore is { } notBefore && notBefore > now ? notBefore : now,
        };
    }

    /// <summary>
    /// <see cref="AddAsync"/> for many messages at once: one query for the keys already stored and one look at the
    /// tracked messages, instead of one of each per message. Per message, <see cref="AddAsync"/>'s look at
    /// <c>DbSet.Local</c> runs EF's change detection over everything the context tracks, and its query is compiled
    /// again each time (EF funcletizes every LINQ execution): for the escalation firings, which page a batch of
    /// hundreds of incidents in one context, those two were the largest part of the CPU per page. A request whose key
    /// is stored, tracked or earlier in <paramref name="requests"/> adds nothing, as with <see cref="AddAsync"/>.
    /// </summary>
    public async Task AddRangeAsync(TriageDbContext db, IReadOnlyCollection<OutboxRequest> requests, CancellationToken cancellationToken)
    {
        if (requests.Count == 0)
        {
            return;
        }

        var known = new HashSet<(string Channel, string Key)>();
        foreach (var tracked in db.Set<OutboxMessage>().Local)
        {
            known.Add((tracked.Channel, tracked.IdempotencyKey));
        }

        var channels = new List<string>();
        var keys = new List<string>(requests.Count);
        foreach (var request in requests)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(request.Channel);
            ArgumentException.ThrowIfNullOrWhiteSpace(request.IdempotencyKey);
            if (!channels.Contains(request.Channel))
            {
                channels.Add(request.Channel);
            }

            keys.Add(request.IdempotencyKey);
        }

        // Both columns of the unique index, so that the database seeks each pair.
        var stored = await db.Set<OutboxMessage>().AsNoTracking()
            .Where(m => channels.Contains(m.Channel) && keys.Contains(m.IdempotencyKey))
            .Select(m => new { m.Channel, m.IdempotencyKey })
            .ToListAsync(cancellationToken);
        foreach (var message in stored)
        {
            known.Add((message.Channel, message.IdempotencyKey));
        }

        var now = time.GetUtcNow();
        var set = db.Set<OutboxMessage>();
        foreach (var request in requests)
        {
            if (known.Add((request.Channel, request.IdempotencyKey)))
            {
                set.Add(NewMessage(request, now));
            }
        }
    }

    /// <summary>Adds, saves and wakes the dispatcher. Returns the stored message (the earlier one for a repeated key).</summary>
    public async Task<OutboxMessage> EnqueueAsync(TriageDbContext db, OutboxRequest request, CancellationToken cancellationToken)
    {
        var message = await AddAsync(db, request, cancellationToken);
        if (db.Entry(message).State == EntityState.Added)
        {
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                // Lost a race with another writer of the same key: theirs stands.
                db.Entry(message).State = EntityState.Detached;
                return await FindAsync(db, request.Channel, request.IdempotencyKey, cancellationToken)
                    ?? throw new InvalidOperationException($"Could not store outbox message {request.Channel}/{request.IdempotencyKey}");
            }

            Wake();
        }

        return message;
    }

    /// <summary>The message stored under <paramref name="channel"/> and <paramref name="idempotencyKey"/>, or null.</summary>
    public static Task<OutboxMessage?> FindAsync(TriageDbContext db, string channel, string idempotencyKey, CancellationToken cancellationToken) =>
        db.Set<OutboxMessage>().FirstOrDefaultAsync(m => m.Channel == channel && m.IdempotencyKey == idempotencyKey, cancellationToken);

    /// <summary>
    /// Makes a routine message that is still waiting for its first attempt urgent, so it goes before the channel's
    /// other routine messages. Saved at once (not with the caller's SaveChanges). False when the message is urgent
    /// already, was attempted meanwhile, or is gone. Call <see cref="Wake"/> afterwards.
    /// </summary>
    public async Task<bool> PromoteAsync(TriageDbContext db, long messageId, string channel, CancellationToken cancellationToken)
    {
        var promoted = await db.Set<OutboxMessage>()
            .Where(m => m.Id == messageId && m.Status == OutboxStatus.Pending && m.Attempts == 0 && m.Priority != OutboxPriority.Urgent)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Priority, OutboxPriority.Urgent), cancellationToken);
        if (promoted > 0)
        {
            // As for an urgent message added: a routine round under way ends so this one goes next.
            NoteAdded(channel, OutboxPriority.Urgent);
        }

        return promoted > 0;
    }

    /// <summary>Tells the dispatcher's next look that <paramref name="channel"/> got a message, and counts it if urgent.</summary>
    private void NoteAdded(string channel, int priority)
    {
        _addedSinceLook[channel] = true;
        if (priority == OutboxPriority.Urgent)
        {
            _urgentAdded.AddOrUpdate(channel, 1, (_, count) => count + 1);
        }
    }

    /// <summary>Asks the dispatcher to look for due messages now instead of at its next poll.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    /// <summary>The channels that got a message in this process since the last call (for the dispatcher).</summary>
    internal List<string> TakeAddedChannels()
    {
        var channels = new List<string>();
        foreach (var channel in _addedSinceLook.Keys)
        {
            if (_addedSinceLook.TryRemove(channel, out _))
            {
                channels.Add(channel);
            }
        }

        return channels;
    }

    /// <summary>How many urgent messages this process has added for <paramref name="channel"/>; only growing.</summary>
    internal long UrgentAdded(string channel) => _urgentAdded.GetValueOrDefault(channel);

    /// <summary>
    /// Waits for <see cref="Wake"/> or until <paramref name="timeout"/> has passed on the clock. True when woken.
    /// </summary>
    internal async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_wake.Reader.TryRead(out _))
        {
            return true;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var woken = _wake.Reader.WaitToReadAsync(stop.Token).AsTask();
        var delay = Task.Delay(timeout, time, stop.Token);
        await Task.WhenAny(woken, delay);
        await stop.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();
        return _wake.Reader.TryRead(out _);
    }
}
