using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Triage.Api.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class OutboxAttemptOutcome : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "AttemptStartedAt",
                table: "outbox",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "MayHaveArrivedSince",
                table: "outbox",
                type: "INTEGER",
                nullable: true);

            // Before this column a retried Slack card or page always looked for an earlier attempt's post; messages
            // already tried once keep doing so, since what became of those attempts was not recorded.
            migrationBuilder.Sql("UPDATE \"outbox\" SET \"MayHaveArrivedSince\" = \"CreatedAt\" WHERE \"Status\" = 'Pending' AND \"Attempts\" > 0");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "AttemptStartedAt",
                table: "outbox");

            migrationBuilder.DropColumn(
                name: "MayHaveArrivedSince",
                table: "outbox");
        }
    }
}
