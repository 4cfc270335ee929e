using Prometheus;

namespace Triage.Api.Ingest;

/// <summary>Prometheus metrics of ingest. One instance per process (prometheus-net keeps a global registry).</summary>
internal sealed class IngestMetrics
{
    public Counter AlertsReceived { get; } = Metrics.CreateCounter(
        "triage_alerts_received_total", "Alerts received, by source (token name) and format.",
        new CounterConfiguration { LabelNames = ["source", "format"] });

    public Counter AlertsStored { get; } = Metrics.CreateCounter(
        "triage_alerts_stored_total", "Alerts stored (excluding retried duplicates), by source.",
        new CounterConfiguration { LabelNames = ["source"] });

    public Counter RequestsRejected { get; } = Metrics.CreateCounter(
        "triage_ingest_rejected_total", "Ingest requests refused, by reason.",
        new CounterConfiguration { LabelNames = ["reason"] });

    public Histogram IngestDuration { get; } = Metrics.CreateHistogram(
        "triage_ingest_duration_seconds", "Time from request received to alerts durably stored and answered.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });

    public Histogram CommitDuration { get; } = Metrics.CreateHistogram(
        "triage_ingest_commit_duration_seconds", "Duration of one group commit of alerts.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });
}
