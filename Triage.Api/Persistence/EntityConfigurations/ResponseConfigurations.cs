using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Triage.Api.Evidence;
using Triage.Api.Response;

namespace Triage.Api.Persistence.EntityConfigurations;

internal sealed class EvidenceArtifactConfiguration : IEntityTypeConfiguration<EvidenceArtifact>
{
    public void Configure(EntityTypeBuilder<EvidenceArtifact> builder)
    {
        builder.ToTable("evidence_artifacts");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Kind).HasMaxLength(32);
        builder.Property(e => e.Name).HasMaxLength(255);
        builder.Property(e => e.ContentType).HasMaxLength(100);
        builder.Property(e => e.Node).HasMaxLength(253);
        builder.Property(e => e.ContainerId).HasMaxLength(64);
        builder.Property(e => e.AlertId).HasMaxLength(200);
        builder.Property(e => e.Sha256).HasMaxLength(64);
        builder.Property(e => e.Unavailable).HasMaxLength(2000);
        builder.HasIndex(e => e.IncidentId);
        builder.HasIndex(e => e.AlertId);
        builder.HasIndex(e => e.Sha256);
        builder.HasIndex(e => e.ExpiresAt);
    }
}

internal sealed class ResponseActionConfiguration : IEntityTypeConfiguration<ResponseAction>
{
    public void Configure(EntityTypeBuilder<ResponseAction> builder)
    {
        builder.ToTable("response_actions");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Action).HasMaxLength(32);
        builder.Property(a => a.Actor).HasMaxLength(100);
        builder.Property(a => a.Channel).HasMaxLength(32);
        builder.Property(a => a.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(a => a.Node).HasMaxLength(253);
        builder.Property(a => a.AlertId).HasMaxLength(200);
        builder.Property(a => a.ContainerId).HasMaxLength(64);
        builder.Property(a => a.Namespace).HasMaxLength(63);
        builder.Property(a => a.Pod).HasMaxLength(253);
        builder.Property(a => a.Detail).HasMaxLength(2000);
        builder.HasIndex(a => a.IncidentId);

        // The sensor's poll: pending or delivered commands of one node.
        builder.HasIndex(a => new { a.Node, a.Status });
        builder.HasOne<Incident>().WithMany().HasForeignKey(a => a.IncidentId);
    }
}
