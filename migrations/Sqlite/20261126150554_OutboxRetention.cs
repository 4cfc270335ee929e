using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Triage.Api.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class OutboxRetention : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Series",
                table: "outbox",
                type: "TEXT",
                maxLength: 255,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_outbox_Series_Channel_Id",
                table: "outbox",
                columns: new[] { "Series", "Channel", "Id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_outbox_Series_Channel_Id",
                table: "outbox");

            migrationBuilder.DropColumn(
                name: "Series",
                table: "outbox");
        }
    }
}
