using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Triage.Api.Persistence.EntityConfigurations;

internal sealed class IncidentConfiguration : IEntityTypeConfiguration<Incident>
{
    public void Configure(EntityTypeBuilder<Incident> builder)
    {
        builder.ToTable("incidents");
        builder.HasKey(i => i.Id);
        builder.Property(i => i.Fingerprint).HasMaxLength(64);
        builder.Property(i => i.OpenFingerprint).HasMaxLength(64);
        builder.HasIndex(i => i.OpenFingerprint).IsUnique();

        // The listing filters by status and pages by id. LastSeen is left out of every index: it changes with each
        // alert, so indexing it moved an index entry on every ingest commit (SQLite) and ruled out PostgreSQL's
        // in-place (HOT) updates of the incident row.
        builder.HasIndex(i => new { i.Status, i.Id });
        builder.HasIndex(i => i.NeedsProcessing).HasFilter("\"NeedsProcessing\"");
        builder.Property(i => i.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(i => i.Priority).HasConversion<int>();
        builder.Property(i => i.Version).IsConcurrencyToken();
        builder.PrimitiveCollection(i => i.Tags);
        builder.HasMany(i => i.Alerts).WithOne().HasForeignKey(a => a.IncidentId);
        builder.HasMany(i => i.Timeline).WithOne().HasForeignKey(t => t.IncidentId);
    }
}

internal sealed class StoredAlertConfiguration : IEntityTypeConfiguration<StoredAlert>
{
    public void Configure(EntityTypeBuilder<StoredAlert> builder)
    {
        builder.ToTable("alerts");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).HasMaxLength(200);
        builder.Property(a => a.Priority).HasConversion<int>();
        builder.HasIndex(a => new { a.IncidentId, a.Time });

        // Only suppressed alerts are looked up by suppression; most alerts have none and stay out of the index.
        builder.HasIndex(a => a.SuppressionId).HasFilter("\"SuppressionId\" IS NOT NULL");
    }
}

internal sealed class TimelineEntryConfiguration : IEntityTypeConfiguration<TimelineEntry>
{
    public void Configure(EntityTypeBuilder<TimelineEntry> builder)
    {
        builder.ToTable("timeline");
        builder.HasKey(t => t.Id);
        builder.HasIndex(t => new { t.IncidentId, t.Id });
        builder.Property(t => t.Kind).HasMaxLength(64);
        builder.Property(t => t.Channel).HasMaxLength(32);
    }
}
