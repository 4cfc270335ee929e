using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Triage.Api.Delivery;

namespace Triage.Api.Persistence.EntityConfigurations;

internal sealed class OutboxMessageConfiguration : IEntityTypeConfiguration<OutboxMessage>
{
    public void Configure(EntityTypeBuilder<OutboxMessage> builder)
    {
        builder.ToTable("outbox");
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Channel).HasMaxLength(32);
        builder.Property(m => m.Kind).HasMaxLength(64);
        builder.Property(m => m.IdempotencyKey).HasMaxLength(255);
        builder.Property(m => m.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(m => m.RemoteId).HasMaxLength(255);
        builder.HasIndex(m => new { m.Channel, m.IdempotencyKey }).IsUnique();

        // The dispatcher's two questions: what is due, and is an earlier message of this incident still pending.
        builder.HasIndex(m => new { m.Status, m.NextAttemptAt });
        builder.HasIndex(m => new { m.IncidentId, m.Channel, m.Status });

        // Retention's question: is there a later delivered message of this row's series (a range seek on Id).
        builder.Property(m => m.Series).HasMaxLength(255);
        builder.HasIndex(m => new { m.Series, m.Channel, m.Id });
        builder.HasOne<Incident>().WithMany().HasForeignKey(m => m.IncidentId).OnDelete(DeleteBehavior.Cascade);
    }
}
