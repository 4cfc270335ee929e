using Triage.Api.Delivery;

namespace Triage.Tests.Delivery;

/// <summary>A delivery channel whose answers the test scripts; it records every attempt it saw.</summary>
internal sealed class RecordingChannel(string name, Func<OutboxMessage, int, Task<DeliveryResult>> answer) : IDeliveryChannel
{
    private readonly List<(long Id, string Kind, int Attempt)> _attempts = [];

    public RecordingChannel(string name, Func<OutboxMessage, int, DeliveryResult> answer)
        : this(name, (m, n) => Task.FromResult(answer(m, n)))
    {
    }

    public string Name => name;

    public TimeSpan MinInterval { get; init; }

    public IReadOnlyList<(long Id, string Kind, int Attempt)> Attempts
    {
        get
        {
            lock (_attempts)
            {
                return [.. _attempts];
            }
        }
    }

    public Task<DeliveryResult> DeliverAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        int count;
        lock (_attempts)
        {
            _attempts.Add((message.Id, message.Kind, message.Attempts));
            count = _attempts.Count;
        }

        return answer(message, count);
    }
}
