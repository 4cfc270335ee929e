using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Triage.Api.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EscalationPlannerStats : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // SQLite only (nothing on PostgreSQL): see QuartzSchema.WritePlannerStatistics.
            Triage.Api.OnCall.QuartzSchema.WritePlannerStatistics(migrationBuilder);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            Triage.Api.OnCall.QuartzSchema.RemovePlannerStatistics(migrationBuilder);
        }
    }
}
