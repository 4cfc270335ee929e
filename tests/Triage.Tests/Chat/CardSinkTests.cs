using System.Text;
using Triage.Api;
using Triage.Tests.Support;

namespace Triage.Tests.Chat;

public sealed class CardSinkTests
{
    [Fact]
    public async Task NoChatCredentials_CardAndUpdateWrittenToLocalPage()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("triage-cards-").FullName;
        try
        {
            await using var host = await TriageTestHost.StartAsync(extraYaml: $"""
                chat:
                  sink_path: {dir}
                delivery:
                  poll_interval: 1s
                """);
            await host.Ingest.PostAsync("/api/v1/alerts",
                new StringContent(System.Text.Json.JsonSerializer.Serialize(Some.Alert(), TriageJson.Options), Encoding.UTF8, "application/json"), ct);
            var index = Path.Combine(dir, "index.html");
            await WaitForAsync(() => File.Exists(index) && File.ReadAllText(index).Contains("Contact cloud metadata service", StringComparison.Ordinal), ct);
            var id = (await TriageTestHost.ReadJsonAsync(await host.Operator.GetAsync("/api/v1/incidents", ct))).GetProperty("items")[0].GetProperty("id").GetInt64();

            await host.Operator.PostAsync($"/api/v1/incidents/{id}/actions/ack",
                new StringContent("""{"actor":"alice"}""", Encoding.UTF8, "application/json"), ct);

            await WaitForAsync(() => File.ReadAllText(index).Contains("acknowledged by alice", StringComparison.Ordinal), ct);
            Assert.Contains("\"change\": \"updated\"", await File.ReadAllTextAsync(Path.Combine(dir, $"incident-{id}.json"), ct), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the card page did not show it in time");
            await Task.Delay(20, ct);
        }
    }
}
