using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Triage.Api.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class IngestIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_incidents_Status_LastSeen",
                table: "incidents");

            migrationBuilder.DropIndex(
                name: "IX_alerts_SuppressionId",
                table: "alerts");

            migrationBuilder.AlterTable(
                name: "incidents")
                .Annotation("Npgsql:StorageParameter:fillfactor", 80);

            migrationBuilder.CreateIndex(
                name: "IX_incidents_Status_Id",
                table: "incidents",
                columns: new[] { "Status", "Id" });

            migrationBuilder.CreateIndex(
                name: "IX_alerts_SuppressionId",
                table: "alerts",
                column: "SuppressionId",
                filter: "\"SuppressionId\" IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_incidents_Status_Id",
                table: "incidents");

            migrationBuilder.DropIndex(
                name: "IX_alerts_SuppressionId",
                table: "alerts");

            migrationBuilder.AlterTable(
                name: "incidents")
                .OldAnnotation("Npgsql:StorageParameter:fillfactor", 80);

            migrationBuilder.CreateIndex(
                name: "IX_incidents_Status_LastSeen",
                table: "incidents",
                columns: new[] { "Status", "LastSeen" });

            migrationBuilder.CreateIndex(
                name: "IX_alerts_SuppressionId",
                table: "alerts",
                column: "SuppressionId");
        }
    }
}
