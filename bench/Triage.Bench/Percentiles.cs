using System.Globalization;

namespace Triage.Bench;

/// <summary>Latency samples in milliseconds and their summary (nearest-rank percentiles).</summary>
internal sealed class Percentiles(string name)
{
    private readonly List<double> _samples = [];

    public string Name => name;
    public int Count => _samples.Count;

    public void Add(TimeSpan elapsed) => _samples.Add(elapsed.TotalMilliseconds);

    public double P(double percentile)
    {
        var sorted = _samples.Order().ToList();
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    public double Mean => _samples.Average();

    public string Row() => string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {Count} | {P(50):F3} | {P(99):F3} | {_samples.Max():F3} | {Mean:F3} |");
}
