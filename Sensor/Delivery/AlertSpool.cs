using System.Text.Json;
using Triage.Contracts;

namespace Sensor.Delivery;

/// <summary>
/// Bounded on-disk queue of alerts waiting for the triage service: one file per alert (written to a temporary name,
/// then renamed, so a crash never leaves half an alert), named by sequence so the oldest ships first. When full the
/// new alert is refused and counted in <see cref="Dropped"/>, which the heartbeat and /metrics report.
/// </summary>
internal sealed class AlertSpool
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly string _dir;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private long _sequence;
    private long _dropped;
    private int _count;

    public AlertSpool(string directory, int capacity = 100_000)
    {
        _dir = directory;
        _capacity = capacity;
        Directory.CreateDirectory(directory);
        foreach (var tmp in Directory.EnumerateFiles(directory, "*.tmp"))
            File.Delete(tmp);
        var existing = Directory.GetFiles(directory, "*.json");
        _count = existing.Length;
        _sequence = existing.Select(f => long.TryParse(Path.GetFileName(f).Split('-')[0], out var n) ? n : 0).DefaultIfEmpty(0).Max();
    }

    public int Count => Volatile.Read(ref _count);
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Signalled when an alert is added, so the shipper need not poll.</summary>
    public event Action? Added;

    /// <summary>Stores the alert; false (and counted) when the spool is full.</summary>
    public bool Enqueue(NativeAlert alert)
    {
        string path;
        lock (_lock)
        {
            if (_count >= _capacity)
            {
                _dropped++;
                return false;
            }
            _count++;
            path = Path.Combine(_dir, $"{++_sequence:D12}-{alert.Id}.json");
        }
        File.WriteAllBytes(path + ".tmp", JsonSerializer.SerializeToUtf8Bytes(alert, Json));
        File.Move(path + ".tmp", path);
        Added?.Invoke();
        return true;
    }

    /// <summary>Up to <paramref name="max"/> oldest alerts with their files.</summary>
    public IReadOnlyList<(string File, NativeAlert Alert)> Peek(int max)
    {
        var files = Directory.GetFiles(_dir, "*.json");
        Array.Sort(files, StringComparer.Ordinal);
        var batch = new List<(string, NativeAlert)>();
        foreach (var f in files.Take(max))
        {
            try
            {
                var alert = JsonSerializer.Deserialize<NativeAlert>(File.ReadAllBytes(f), Json);
                if (alert is not null)
                    batch.Add((f, alert));
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                // A file that cannot be read is not retried forever.
                Remove(f);
            }
        }
        return batch;
    }

    /// <summary>Removes alerts the service acknowledged.</summary>
    public void Remove(string file)
    {
        try
        {
            if (!File.Exists(file))
                return;
            File.Delete(file);
            Interlocked.Decrement(ref _count);
        }
        catch (IOException)
        {
        }
    }
}
