using Sensor.Events;
using Triage.Contracts;

namespace Sensor.Evidence;

/// <summary>
/// Decides, the moment an alert fires, whether the node captures evidence for it, and hands the request to the
/// capture worker without waiting. Capture happens on the node before the alert is even shipped because the container
/// may be gone by the time anyone (or the service's automatic response) asks for it.
/// </summary>
/// <remarks>
/// A rule captures when <see cref="SensorEvidenceOptions.CaptureRules"/> names it (or holds <c>*</c>), or when the
/// alert's priority is at least <see cref="SensorEvidenceOptions.CaptureMinPriority"/>. One container (or, for a host
/// process, one pid) is captured at most once per rule within <see cref="SensorEvidenceOptions.CaptureCooldown"/>: a
/// rule firing in a loop would otherwise pause and export the same container over and over.
/// </remarks>
internal sealed class DetectionCapture(SensorEvidenceOptions options, Func<EvidenceRequest, bool> enqueue, TimeProvider time)
{
    private readonly HashSet<string> _rules = new(options.CaptureRules, StringComparer.Ordinal);
    private readonly AlertPriority? _minPriority = ParseMinPriority(options.CaptureMinPriority);
    private readonly Dictionary<(string Target, string Rule), DateTimeOffset> _lastCapture = [];
    private long _requested;
    private long _dropped;

    /// <summary>Captures handed to the worker.</summary>
    public long Requested => Interlocked.Read(ref _requested);

    /// <summary>Captures the worker had no room for.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Whether alerts of <paramref name="rule"/> at <paramref name="priority"/> are configured to capture.</summary>
    public bool Captures(string rule, string? priority) =>
        _rules.Contains("*") || _rules.Contains(rule)
        || (_minPriority is { } min && AlertPriorities.TryParse(priority, out var p) && p >= min);

    /// <summary>
    /// Queues a capture for <paramref name="alert"/> raised on <paramref name="e"/> when configured and not captured
    /// recently; returns the request, or null when nothing was queued. Called on the single pipeline thread.
    /// </summary>
    public EvidenceRequest? OnAlert(NativeAlert alert, SensorEvent e)
    {
        var rule = alert.Rule ?? "";
        if (!Captures(rule, alert.Priority))
        {
            return null;
        }

        var container = e.Container?.FullId;
        var key = (container ?? $"pid:{e.Process.Pid}:{e.Process.StartTimeNs}", rule);
        var now = time.GetUtcNow();
        if (_lastCapture.TryGetValue(key, out var last) && now - last < options.CaptureCooldown)
        {
            return null;
        }

        var request = new EvidenceRequest(alert.Id, null, null, e.Process.Pid, e.Process.StartTimeNs, container,
            e.Process.IsExeUpperLayer || e.Process.IsExeFromMemfd);
        if (!enqueue(request))
        {
            Interlocked.Increment(ref _dropped);
            return null;
        }

        _lastCapture[key] = now;
        Interlocked.Increment(ref _requested);
        if (_lastCapture.Count > 10_000)
        {
            // Bound the memory of a long-running sensor: forget captures older than the cooldown.
            foreach (var stale in _lastCapture.Where(kv => now - kv.Value >= options.CaptureCooldown).Select(kv => kv.Key).ToList())
            {
                _lastCapture.Remove(stale);
            }
        }

        return request;
    }

    private static AlertPriority? ParseMinPriority(string? text) =>
        string.IsNullOrWhiteSpace(text) || text.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : AlertPriorities.Parse(text);
}
