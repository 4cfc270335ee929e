using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore;
using Triage.Api.Persistence;
using Triage.Api.Suppression;

// TriageDbContext applies the configurations of this namespace; the file lives with its feature.
namespace Triage.Api.Persistence.EntityConfigurations;

internal sealed class SuppressionRecordConfiguration : IEntityTypeConfiguration<SuppressionRecord>
{
    public void Configure(EntityTypeBuilder<SuppressionRecord> builder)
    {
        builder.ToTable("suppressions");
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(s => s.Rule).HasMaxLength(200);
        builder.Property(s => s.ActiveScopeKey).HasMaxLength(64);
        builder.Property(s => s.Version).IsConcurrencyToken();
        builder.Ignore(s => s.Scope);

        // The two constraints that make simultaneous votes safe (NULLs do not collide in either provider).
        builder.HasIndex(s => s.OpenIncidentId).IsUnique();
        builder.HasIndex(s => s.ActiveScopeKey).IsUnique();

        builder.HasIndex(s => s.IncidentId);
        builder.HasIndex(s => new { s.Status, s.ExpiresAt });
        builder.HasOne<Incident>().WithMany().HasForeignKey(s => s.IncidentId);
        builder.HasMany(s => s.Votes).WithOne().HasForeignKey(v => v.SuppressionId);
    }
}

internal sealed class SuppressionVoteConfiguration : IEntityTypeConfiguration<SuppressionVote>
{
    public void Configure(EntityTypeBuilder<SuppressionVote> builder)
    {
        builder.ToTable("suppression_votes");
        builder.HasKey(v => v.Id);
        builder.Property(v => v.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(v => v.Voter).HasMaxLength(200);
        builder.Property(v => v.Channel).HasMaxLength(32);
        builder.HasIndex(v => new { v.SuppressionId, v.Round, v.Voter }).IsUnique();
    }
}
