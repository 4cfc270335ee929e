using System.Threading.Channels;
using Sensor.Kernel;

namespace Sensor.Tests.Support;

/// <summary>Runs a real <see cref="KernelProbe"/> and keeps every event it delivers, for assertions.</summary>
internal sealed class EventCollector : IAsyncDisposable
{
    private readonly Channel<KernelEvent> _channel = Channel.CreateBounded<KernelEvent>(200_000);
    private readonly List<KernelEvent> _events = [];

    public KernelProbe Probe { get; }

    public EventCollector(KernelProbeOptions options) =>
        Probe = KernelProbe.Start(options, _channel.Writer, TimeProvider.System);

    public static EventCollector Start(string objectPath, params EventKind[] kinds) =>
        new(new KernelProbeOptions { ObjectPath = objectPath, Kinds = kinds.ToHashSet() });

    /// <summary>Events so far, in ring-buffer order.</summary>
    public IReadOnlyList<KernelEvent> Events
    {
        get
        {
            Probe.DrainNow();
            while (_channel.Reader.TryRead(out var e))
                _events.Add(e);
            return _events;
        }
    }

    /// <summary>Waits (real time: the kernel decides) until an event matches, up to 10 s.</summary>
    public async Task<KernelEvent> WaitFor(Func<KernelEvent, bool> match, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var hit = Events.FirstOrDefault(match);
            if (hit is not null)
                return hit;
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        Assert.Fail($"no event within 10 s: {what}; saw {Events.Count} events");
        return null!;
    }

    public ValueTask DisposeAsync() => Probe.DisposeAsync();
}
