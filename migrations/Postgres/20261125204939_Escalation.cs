using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Triage.Api.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Escalation : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "escalations",
                columns: table => new
                {
                    IncidentId = table.Column<long>(type: "bigint", nullable: false),
                    Policy = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Team = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    Urgency = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    Level = table.Column<int>(type: "integer", nullable: false),
                    Loop = table.Column<int>(type: "integer", nullable: false),
                    Step = table.Column<int>(type: "integer", nullable: false),
                    State = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    NextFireAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    StartedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    StoppedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    StopReason = table.Column<string>(type: "text", nullable: true),
                    LastPaged = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_escalations", x => x.IncidentId);
                    table.ForeignKey(
                        name: "FK_escalations_incidents_IncidentId",
                        column: x => x.IncidentId,
                        principalTable: "incidents",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "incident_routes",
                columns: table => new
                {
                    IncidentId = table.Column<long>(type: "bigint", nullable: false),
                    Row = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    RowIndex = table.Column<int>(type: "integer", nullable: true),
                    Route = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    PrimaryTeam = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    InformedTeam = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: true),
                    Urgency = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    EscalationPolicy = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    Why = table.Column<string>(type: "text", nullable: false),
                    DecidedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_incident_routes", x => x.IncidentId);
                    table.ForeignKey(
                        name: "FK_incident_routes_incidents_IncidentId",
                        column: x => x.IncidentId,
                        principalTable: "incidents",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "oncall_overrides",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Schedule = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Person = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    Start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    End = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    CreatedBy = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Reason = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_oncall_overrides", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_escalations_State_NextFireAt",
                table: "escalations",
                columns: new[] { "State", "NextFireAt" });

            migrationBuilder.CreateIndex(
                name: "IX_oncall_overrides_Schedule_End",
                table: "oncall_overrides",
                columns: new[] { "Schedule", "End" });
            // Quartz.NET job store for escalation timers, in the same database (see Triage.Api/OnCall/QuartzSchema.cs).
            Triage.Api.OnCall.QuartzSchema.Create(migrationBuilder);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "escalations");

            migrationBuilder.DropTable(
                name: "incident_routes");

            migrationBuilder.DropTable(
                name: "oncall_overrides");
        }
    }
}
