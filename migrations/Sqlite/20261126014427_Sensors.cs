using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Triage.Api.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Sensors : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "sensors",
                columns: table => new
                {
                    Node = table.Column<string>(type: "TEXT", maxLength: 253, nullable: false),
                    FirstSeen = table.Column<long>(type: "INTEGER", nullable: false),
                    LastSeen = table.Column<long>(type: "INTEGER", nullable: false),
                    SensorVersion = table.Column<string>(type: "TEXT", maxLength: 100, nullable: true),
                    StartedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    UptimeSeconds = table.Column<double>(type: "REAL", nullable: true),
                    RulesLoaded = table.Column<int>(type: "INTEGER", nullable: true),
                    KernelDrops = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: false),
                    ChannelDrops = table.Column<long>(type: "INTEGER", nullable: true),
                    SpoolDepth = table.Column<int>(type: "INTEGER", nullable: true),
                    SpoolDropped = table.Column<long>(type: "INTEGER", nullable: true),
                    ShipLagSeconds = table.Column<double>(type: "REAL", nullable: true),
                    LastEventAt = table.Column<long>(type: "INTEGER", nullable: true),
                    PodsKnown = table.Column<int>(type: "INTEGER", nullable: true),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    SilentSince = table.Column<long>(type: "INTEGER", nullable: true),
                    SilentIncidentId = table.Column<long>(type: "INTEGER", nullable: true),
                    Version = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_sensors", x => x.Node);
                });

            migrationBuilder.CreateIndex(
                name: "IX_sensors_Status_LastSeen",
                table: "sensors",
                columns: new[] { "Status", "LastSeen" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "sensors");
        }
    }
}
