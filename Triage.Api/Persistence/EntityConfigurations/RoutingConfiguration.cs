using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Triage.Api.OnCall;
using Triage.Api.Routing;

namespace Triage.Api.Persistence.EntityConfigurations;

internal sealed class IncidentRouteConfiguration : IEntityTypeConfiguration<IncidentRoute>
{
    public void Configure(EntityTypeBuilder<IncidentRoute> builder)
    {
        builder.ToTable("incident_routes");
        builder.HasKey(r => r.IncidentId);
        builder.Property(r => r.Row).HasMaxLength(200);
        builder.Property(r => r.Route).HasMaxLength(16);
        builder.Property(r => r.PrimaryTeam).HasMaxLength(100);
        builder.Property(r => r.InformedTeam).HasMaxLength(100);
        builder.Property(r => r.Urgency).HasMaxLength(8);
        builder.Property(r => r.EscalationPolicy).HasMaxLength(200);
        builder.Property(r => r.Enrichment).HasMaxLength(32);
        builder.HasOne<Incident>().WithOne().HasForeignKey<IncidentRoute>(r => r.IncidentId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EscalationConfiguration : IEntityTypeConfiguration<Escalation>
{
    public void Configure(EntityTypeBuilder<Escalation> builder)
    {
        builder.ToTable("escalations");
        builder.HasKey(e => e.IncidentId);
        builder.Property(e => e.Policy).HasMaxLength(200);
        builder.Property(e => e.Team).HasMaxLength(100);
        builder.Property(e => e.Urgency).HasMaxLength(8);
        builder.Property(e => e.State).HasConversion<string>().HasMaxLength(16);
        builder.Property(e => e.Step).IsConcurrencyToken();
        builder.HasIndex(e => new { e.State, e.NextFireAt });
        builder.HasOne<Incident>().WithOne().HasForeignKey<Escalation>(e => e.IncidentId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class OnCallOverrideConfiguration : IEntityTypeConfiguration<OnCallOverride>
{
    public void Configure(EntityTypeBuilder<OnCallOverride> builder)
    {
        builder.ToTable("oncall_overrides");
        builder.HasKey(o => o.Id);
        builder.Property(o => o.Schedule).HasMaxLength(200);
        builder.Property(o => o.Person).HasMaxLength(100);
        builder.Property(o => o.CreatedBy).HasMaxLength(100);
        builder.HasIndex(o => new { o.Schedule, o.End });
    }
}
