using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Triage.Api.Migrations.Sqlite
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
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "SuppressionId",
                table: "alerts",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "suppressions",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    IncidentId = table.Column<long>(type: "INTEGER", nullable: false),
                    OpenIncidentId = table.Column<long>(type: "INTEGER", nullable: true),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    Rule = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Namespace = table.Column<string>(type: "TEXT", nullable: true),
                    WorkloadKind = table.Column<string>(type: "TEXT", nullable: true),
                    WorkloadName = table.Column<string>(type: "TEXT", nullable: true),
                    ImageRepository = table.Column<string>(type: "TEXT", nullable: true),
                    ImageDigest = table.Column<string>(type: "TEXT", nullable: true),
                    ProcessExe = table.Column<string>(type: "TEXT", nullable: true),
                    CmdlinePattern = table.Column<string>(type: "TEXT", nullable: true),
                    ActiveScopeKey = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    ProposedBy = table.Column<string>(type: "TEXT", nullable: true),
                    Reason = table.Column<string>(type: "TEXT", nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    Duration = table.Column<TimeSpan>(type: "TEXT", nullable: false),
                    ActivatedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    ExpiresAt = table.Column<long>(type: "INTEGER", nullable: true),
                    RenewalRequestedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    Round = table.Column<int>(type: "INTEGER", nullable: false),
                    EndedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    EndedBy = table.Column<string>(type: "TEXT", nullable: true),
                    EndReason = table.Column<string>(type: "TEXT", nullable: true),
                    UpdatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false)
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
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    SuppressionId = table.Column<long>(type: "INTEGER", nullable: false),
                    Round = table.Column<int>(type: "INTEGER", nullable: false),
                    Voter = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    Reason = table.Column<string>(type: "TEXT", nullable: true),
                    Channel = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    At = table.Column<long>(type: "INTEGER", nullable: false)
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
