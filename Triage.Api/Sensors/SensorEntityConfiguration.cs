using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Triage.Api.Sensors;

// TriageDbContext applies the configurations of this namespace; the file lives with its feature.
namespace Triage.Api.Persistence.EntityConfigurations;

internal sealed class SensorRecordConfiguration : IEntityTypeConfiguration<SensorRecord>
{
    public void Configure(EntityTypeBuilder<SensorRecord> builder)
    {
        builder.ToTable("sensors");
        builder.HasKey(s => s.Node);
        builder.Property(s => s.Node).HasMaxLength(253);
        builder.Property(s => s.SensorVersion).HasMaxLength(100);
        builder.Property(s => s.KernelDrops).HasMaxLength(4000);
        builder.Property(s => s.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(s => s.Version).IsConcurrencyToken();
        builder.HasIndex(s => new { s.Status, s.LastSeen });
    }
}
