using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Triage.Api.Migrations.Postgres
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
                    Node = table.Column<string>(type: "character varying(253)", maxLength: 253, nullable: false),
                    FirstSeen = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    LastSeen = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    SensorVersion = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: true),
                    StartedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    UptimeSeconds = table.Column<double>(type: "double precision", nullable: true),
                    RulesLoaded = table.Column<int>(type: "integer", nullable: true),
                    KernelDrops = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: false),
                    ChannelDrops = table.Column<long>(type: "bigint", nullable: true),
                    SpoolDepth = table.Column<int>(type: "integer", nullable: true),
                    SpoolDropped = table.Column<long>(type: "bigint", nullable: true),
                    ShipLagSeconds = table.Column<double>(type: "double precision", nullable: true),
                    LastEventAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    PodsKnown = table.Column<int>(type: "integer", nullable: true),
                    Status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    SilentSince = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    SilentIncidentId = table.Column<long>(type: "bigint", nullable: true),
                    Version = table.Column<int>(type: "integer", nullable: false)
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
