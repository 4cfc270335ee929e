using Triage.Api.Configuration;

namespace Triage.Api.Evidence;

/// <summary>The <c>evidence</c> section: where captured evidence is stored and how long it is kept.</summary>
internal sealed class EvidenceOptions
{
    /// <summary>Directory of the content-addressed store, relative to the working directory. Default <c>data/evidence</c>.</summary>
    public string Directory { get; set; } = "data/evidence";

    /// <summary>How long an artifact is kept after capture. Default 30 days.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Keep artifacts of incidents that are not resolved yet past <see cref="Retention"/>, so that evidence of a
    /// long investigation does not vanish under it. Default true.
    /// </summary>
    public bool KeepWhileOpen { get; set; } = true;

    /// <summary>Largest accepted artifact in bytes. Default 512 MiB (a paused filesystem export can be large).</summary>
    public long MaxArtifactBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>
    /// Upper bound of the whole store in bytes; past it the oldest expendable artifacts go first. Default 20 GiB.
    /// </summary>
    public long MaxTotalBytes { get; set; } = 20L * 1024 * 1024 * 1024;

    /// <summary>How often the retention job runs. Default 1 hour.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    public void Validate(ConfigValidationContext context, string path)
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            context.Error($"{path}.directory", "is required");
        }

        if (Retention < TimeSpan.FromHours(1) || Retention > TimeSpan.FromDays(3650))
        {
            context.Error($"{path}.retention", "must be between 1h and 3650d");
        }

        if (MaxArtifactBytes is < 1024)
        {
            context.Error($"{path}.max_artifact_bytes", "must be at least 1024");
        }

        if (MaxTotalBytes < MaxArtifactBytes)
        {
            context.Error($"{path}.max_total_bytes", "must be at least max_artifact_bytes");
        }

        if (SweepInterval < TimeSpan.FromSeconds(10) || SweepInterval > TimeSpan.FromDays(1))
        {
            context.Error($"{path}.sweep_interval", "must be between 10s and 1d");
        }
    }
}
