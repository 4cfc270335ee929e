namespace Triage.Api.Evidence;

/// <summary>
/// Metadata of one captured piece of evidence. The bytes live in the content-addressed store under their
/// SHA-256; several artifacts may share one blob. An artifact that could not be captured (a checkpoint on a
/// kernel CRIU does not support) is recorded with <see cref="Unavailable"/> and no blob, so the gap is visible.
/// </summary>
internal sealed class EvidenceArtifact
{
    public long Id { get; set; }

    /// <summary>Set when the incident is known at upload; otherwise found through <see cref="AlertId"/>.</summary>
    public long? IncidentId { get; set; }

    /// <summary>The alert whose detection triggered the capture (the sensor knows it before the incident exists).</summary>
    public string? AlertId { get; set; }

    /// <summary>The response action (capture_evidence) this artifact answers, when it was asked for.</summary>
    public long? ResponseActionId { get; set; }

    /// <summary>One of <see cref="Triage.Contracts.EvidenceKinds"/>.</summary>
    public string Kind { get; set; } = "";

    /// <summary>File name offered on download.</summary>
    public string Name { get; set; } = "";

    public string ContentType { get; set; } = "application/octet-stream";
    public string Node { get; set; } = "";
    public string? ContainerId { get; set; }

    /// <summary>Lower-case hex SHA-256 of the content; null when <see cref="Unavailable"/>.</summary>
    public string? Sha256 { get; set; }

    public long Size { get; set; }

    /// <summary>Why this kind of evidence could not be captured, when it could not.</summary>
    public string? Unavailable { get; set; }

    /// <summary>When the sensor captured it.</summary>
    public DateTimeOffset CapturedAt { get; set; }

    /// <summary>When the service stored it.</summary>
    public DateTimeOffset StoredAt { get; set; }

    /// <summary>When retention may delete it (the incident still being open can hold it longer).</summary>
    public DateTimeOffset ExpiresAt { get; set; }
}
