using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Triage.Api.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Suppression : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "SuppressionId",
                table: "incidents",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "SuppressionId",
                table: "alerts",
                type: "bigint",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "suppressions",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    IncidentId = table.Column<long>(type: "bigint", nullable: false),
                    OpenIncidentId = table.Column<long>(type: "bigint", nullable: true),
                    Status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    Rule = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Namespace = table.Column<string>(type: "text", nullable: true),
                    WorkloadKind = table.Column<string>(type: "text", nullable: true),
                    WorkloadName = table.Column<string>(type: "text", nullable: true),
                    ImageRepository = table.Column<string>(type: "text", nullable: true),
                    ImageDigest = table.Column<string>(type: "text", nullable: true),
                    ProcessExe = table.Column<string>(type: "text", nullable: true),
                    CmdlinePattern = table.Column<string>(type: "text", nullable: true),
                    ActiveScopeKey = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    ProposedBy = table.Column<string>(type: "text", nullable: true),
                    Reason = table.Column<string>(type: "text", nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Duration = table.Column<TimeSpan>(type: "interval", nullable: false),
                    ActivatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    ExpiresAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    RenewalRequestedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    Round = table.Column<int>(type: "integer", nullable: false),
                    EndedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    EndedBy = table.Column<string>(type: "text", nullable: true),
                    EndReason = table.Column<string>(type: "text", nullable: true),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    Version = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_suppressions", x => x.Id);
                    table.ForeignKey(
                        name: "FK_suppressions_incidents_IncidentId",
                        column: x => x.IncidentId,
                        principalTable: "incidents",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "suppression_votes",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    SuppressionId = table.Column<long>(type: "bigint", nullable: false),
                    Round = table.Column<int>(type: "integer", nullable: false),
                    Voter = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    Kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    Reason = table.Column<string>(type: "text", nullable: true),
                    Channel = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    At = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_suppression_votes", x => x.Id);
                    table.ForeignKey(
                        name: "FK_suppression_votes_suppressions_SuppressionId",
                        column: x => x.SuppressionId,
                        principalTable: "suppressions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_alerts_SuppressionId",
                table: "alerts",
                column: "SuppressionId");

            migrationBuilder.CreateIndex(
                name: "IX_suppression_votes_SuppressionId_Round_Voter",
                table: "suppression_votes",
                columns: new[] { "SuppressionId", "Round", "Voter" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_suppressions_ActiveScopeKey",
                table: "suppressions",
                column: "ActiveScopeKey",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_suppressions_IncidentId",
                table: "suppressions",
                column: "IncidentId");

            migrationBuilder.CreateIndex(
                name: "IX_suppressions_OpenIncidentId",
                table: "suppressions",
                column: "OpenIncidentId",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_suppressions_Status_ExpiresAt",
                table: "suppressions",
                columns: new[] { "Status", "ExpiresAt" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "suppression_votes");

            migrationBuilder.DropTable(
                name: "suppressions");

            migrationBuilder.DropIndex(
                name: "IX_alerts_SuppressionId",
                table: "alerts");

            migrationBuilder.DropColumn(
                name: "SuppressionId",
                table: "incidents");

            migrationBuilder.DropColumn(
                name: "SuppressionId",
                table: "alerts");
        }
    }
}
