using System.Globalization;
using System.Text.Json;
using Triage.Contracts;

namespace Sensor.Delivery;

/// <summary>
/// Bounded on-disk queue of alerts waiting for the triage service: one file per alert (written to a temporary name,
/// then renamed, so a crash never leaves half an alert), named by sequence so the oldest ships first. When full the
/// new alert is refused and counted in <see cref="Dropped"/>, which the heartbeat and /metrics report.
/// </summary>
/// <remarks>
/// Every alert is on disk before the shipper may send it (a sensor restart or a service outage loses nothing), but the
/// shipper does not go back to the disk for what this process just wrote: an index in memory keeps the order, and the
/// newest <see cref="CachedAlerts"/> alerts are kept as objects. Listing the directory and parsing the files again
/// sat on every alert's path to the service and grew with the backlog after an outage.
/// </remarks>
internal sealed class AlertSpool
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Alerts kept in memory besides their file (the rest are read back when their turn comes).</summary>
    public const int CachedAlerts = 1_000;

    private readonly string _dir;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    // By sequence: the file's name and, for alerts this process wrote recently, the alert itself.
    private readonly SortedDictionary<long, (string Name, NativeAlert? Alert)> _index = [];
    private long _sequence;
    private long _dropped;
    private int _count;
    private int _cached;

    public AlertSpool(string directory, int capacity = 100_000)
    {
        _dir = directory;
        _capacity = capacity;
        Directory.CreateDirectory(directory);
        foreach (var tmp in Directory.EnumerateFiles(directory, "*.tmp"))
            File.Delete(tmp);
        var foreign = new List<string>();
        foreach (var file in Directory.EnumerateFiles(directory, "*.json"))
        {
            var name = Path.GetFileName(file);
            if (Sequence(name) is { } seq && !_index.ContainsKey(seq))
            {
                _index[seq] = (name, null);
                _sequence = Math.Max(_sequence, seq);
            }
            else
            {
                foreign.Add(name);
            }
        }
        // Not a name this spool writes (copied in by hand?): shipped after the others rather than never.
        foreach (var name in foreign)
            _index[++_sequence] = (name, null);
        _count = _index.Count;
    }

    private static long? Sequence(string name) =>
        long.TryParse(name.AsSpan(0, Math.Max(0, name.IndexOf('-', StringComparison.Ordinal))), NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            ? seq
            : null;

    public int Count => Volatile.Read(ref _count);
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Signalled when an alert is added, so the shipper need not poll.</summary>
    public event Action? Added;

    /// <summary>Stores the alert; false (and counted) when the spool is full.</summary>
    public bool Enqueue(NativeAlert alert)
    {
        long seq;
        lock (_lock)
        {
            if (_count >= _capacity)
            {
                _dropped++;
                return false;
            }
            _count++;
            seq = ++_sequence;
        }
        var name = $"{seq:D12}-{alert.Id}.json";
        var path = Path.Combine(_dir, name);
        try
        {
            File.WriteAllBytes(path + ".tmp", JsonSerializer.SerializeToUtf8Bytes(alert, Json));
            File.Move(path + ".tmp", path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Disk full or spool directory gone: the alert cannot be kept, so it counts as dropped.
            lock (_lock)
            {
                _count--;
                _dropped++;
            }
            return false;
        }
        lock (_lock)
        {
            // Only after the rename: the shipper never sees an alert that is not safely on disk.
            var keep = _cached < CachedAlerts;
            if (keep)
                _cached++;
            _index[seq] = (name, keep ? alert : null);
        }
        Added?.Invoke();
        return true;
    }

    /// <summary>Up to <paramref name="max"/> oldest alerts with their files.</summary>
    public IReadOnlyList<(string File, NativeAlert Alert)> Peek(int max)
    {
        List<(string Name, NativeAlert? Alert)> head;
        lock (_lock)
            head = _index.Values.Take(max).ToList();
        var batch = new List<(string, NativeAlert)>(head.Count);
        foreach (var (name, cached) in head)
        {
            var path = Path.Combine(_dir, name);
            if (cached is not null)
            {
                batch.Add((path, cached));
                continue;
            }
            try
            {
                var alert = JsonSerializer.Deserialize<NativeAlert>(File.ReadAllBytes(path), Json);
                if (alert is not null)
                    batch.Add((path, alert));
                else
                    Remove(path);
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                // A file that cannot be read is not retried forever.
                Remove(path);
            }
        }
        return batch;
    }

    /// <summary>Removes alerts the service acknowledged.</summary>
    public void Remove(string file)
    {
        var name = Path.GetFileName(file);
        lock (_lock)
        {
            var key = Sequence(name) is { } seq && _index.TryGetValue(seq, out var entry) && entry.Name == name
                ? seq
                : _index.FirstOrDefault(kv => kv.Value.Name == name, new(-1, default)).Key; // a foreign name, found at start
            if (key < 0 || !_index.Remove(key, out var removed))
                return;
            _count--;
            if (removed.Alert is not null)
                _cached--;
        }
        try
        {
            File.Delete(file);
        }
        catch (IOException)
        {
        }
    }
}
