using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Triage.Api.Enrichment;

namespace Triage.Api.Persistence.EntityConfigurations;

internal sealed class IncidentEnrichmentConfiguration : IEntityTypeConfiguration<IncidentEnrichment>
{
    public void Configure(EntityTypeBuilder<IncidentEnrichment> builder)
    {
        builder.ToTable("incident_enrichments");
        builder.HasKey(e => e.IncidentId);
        builder.HasOne<Incident>().WithOne().HasForeignKey<IncidentEnrichment>(e => e.IncidentId).OnDelete(DeleteBehavior.Cascade);
        builder.Property(e => e.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(e => e.OwnerTeam).HasMaxLength(200);
        builder.Property(e => e.OwnerSource).HasMaxLength(32);
        builder.Property(e => e.RunbookName).HasMaxLength(200);
        builder.Property(e => e.SubjectKey).HasMaxLength(1000);
        builder.PrimitiveCollection(e => e.Facts);
        // The retry scan: unavailable enrichments whose next attempt is due.
        builder.HasIndex(e => new { e.Status, e.NextAttemptAt });
    }
}
