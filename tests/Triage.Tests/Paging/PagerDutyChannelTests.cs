using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Triage.Api.Delivery;
using Triage.Api.Paging;
using Triage.Api.Persistence;
using Triage.Contracts;
using Triage.Fakes.PagerDuty;
using Triage.Tests.Delivery;

namespace Triage.Tests.Paging;

public sealed class PagerDutyChannelTests : IAsyncLifetime
{
    private const string PaymentsKey = "R0UTINGKEYPAYMENTS00000000000001";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private readonly HttpClient _http = new();
    private FakePagerDuty _pagerDuty = null!;
    private SqliteTestDatabase _database = null!;
    private ServiceProvider _services = null!;
    private Outbox _outbox = null!;
    private OutboxDispatcher _dispatcher = null!;
    private PagerDutyOptions _options = null!;

    public async ValueTask InitializeAsync()
    {
        _pagerDuty = await FakePagerDuty.StartAsync(_time, TestContext.Current.CancellationToken);
        _database = await SqliteTestDatabase.CreateAsync();
        _services = _database.AddTo(new ServiceCollection()).BuildServiceProvider();
        _outbox = new Outbox(_time);
        _options = new PagerDutyOptions { Url = _pagerDuty.EnqueueUrl, RoutingKeys = { ["payments"] = PaymentsKey, ["broken"] = "too-short" } };
        _dispatcher = new OutboxDispatcher(_services.GetRequiredService<IServiceScopeFactory>(), [new PagerDutyChannel(_http, _options, _time)],
            _outbox, new DeliveryOptions(), _time, NullLogger<OutboxDispatcher>.Instance) { Jitter = () => 0 };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _pagerDuty.DisposeAsync();
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }

    private static NativeAlert Alert() => new()
    {
        Id = "a-1",
        Rule = "Contact cloud metadata service from container",
        Priority = "Critical",
        Output = "curl queried 169.254.169.254 from payments/api-7c9",
        Process = new ProcessInfo { Pid = 4242, Name = "curl", Exe = "/usr/bin/curl", Cmdline = "curl http://169.254.169.254/latest/meta-data/iam/" },
        Ancestors = [new AncestorInfo { Pid = 4200, Exe = "/bin/sh", Cmdline = "sh -c curl ..." }, new AncestorInfo { Pid = 1, Exe = "/usr/local/bin/api" }],
        K8s = new KubernetesInfo { Namespace = "payments", Pod = "api-7c9", WorkloadKind = "Deployment", WorkloadName = "api", Labels = new Dictionary<string, string> { ["env"] = "prod" } },
    };

    private async Task<(Incident Incident, OutboxMessage Message)> EnqueueTriggerAsync(string team = "payments")
    {
        var id = await _database.AddIncidentAsync(i =>
        {
            i.Pod = "api-7c9";
            i.WorkloadKind = "Deployment";
            i.WorkloadName = "api";
            i.Image = "registry.example.com/payments/api:1.4.2";
            i.Tags = ["T1552.005", "container"];
        });
        await using var db = _database.NewContext();
        var incident = await db.Incidents.SingleAsync(i => i.Id == id);
        var payload = PagerDutyEvents.Trigger(incident, Alert(), team, "soc", new Uri("https://triage.example.com/"), "https://runbooks.example.com/imds");
        var message = await _outbox.EnqueueAsync(db, new OutboxRequest(id, PagerDutyEvents.Channel, "trigger", payload.ToJsonString(),
            $"incident-{id}/pagerduty/{team}/trigger"), CancellationToken.None);
        return (incident, message);
    }

    private async Task<OutboxMessage> ReloadAsync(long id)
    {
        await using var db = _database.NewContext();
        return await db.Set<OutboxMessage>().SingleAsync(m => m.Id == id);
    }

    [Fact]
    public async Task Trigger_ThroughOutbox_Returns202WithStableDedupKeyAndFullContext()
    {
        var (incident, message) = await EnqueueTriggerAsync();

        await _dispatcher.DispatchDueAsync(CancellationToken.None);

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Delivered, stored.Status);
        Assert.Equal($"triage-incident-{incident.Id}", stored.RemoteId);
        var accepted = Assert.Single(_pagerDuty.Accepted);
        Assert.Equal(PaymentsKey, accepted.RoutingKey);
        Assert.Equal(PagerDutyAlertStatus.Triggered, _pagerDuty.AlertStatus(PaymentsKey, stored.RemoteId!));
        var payload = accepted.Body["payload"]!;
        Assert.Equal("critical", (string?)payload["severity"]);
        Assert.Equal("payments/api-7c9", (string?)payload["source"]);
        var details = payload["custom_details"]!;
        Assert.Equal(["4242 /usr/bin/curl (curl http://169.254.169.254/latest/meta-data/iam/)", "4200 /bin/sh (sh -c curl ...)", "1 /usr/local/bin/api"],
            details["process_tree"]!.AsArray().Select(n => (string?)n));
        Assert.Equal("Deployment/api", (string?)details["kubernetes"]!["workload"]);
        Assert.Equal("prod", (string?)details["kubernetes"]!["labels"]!["env"]);
        Assert.Contains(accepted.Body["links"]!.AsArray(), l => (string?)l!["href"] == "https://runbooks.example.com/imds" && (string?)l["text"] == "Runbook");
    }

    [Fact]
    public async Task AcknowledgeAndResolve_UseTheSameDedupKey_AndCloseTheAlert()
    {
        var (incident, _) = await EnqueueTriggerAsync();
        await using (var db = _database.NewContext())
        {
            foreach (var action in new[] { "acknowledge", "resolve" })
            {
                await _outbox.EnqueueAsync(db, new OutboxRequest(incident.Id, PagerDutyEvents.Channel, action,
                    PagerDutyEvents.StatusChange(incident.Id, "payments", action).ToJsonString(), $"incident-{incident.Id}/pagerduty/payments/{action}"), CancellationToken.None);
            }
        }

        // Each finished message lets the next one of the incident go in the following round, without waiting.
        while (await _dispatcher.DispatchDueAsync(CancellationToken.None) == TimeSpan.Zero)
        {
        }

        Assert.Equal(["trigger", "acknowledge", "resolve"], _pagerDuty.Accepted.Select(e => e.EventAction));
        Assert.All(_pagerDuty.Accepted, e => Assert.Equal(PagerDutyEvents.DedupKey(incident.Id), e.DedupKey));
        Assert.Equal(PagerDutyAlertStatus.Resolved, _pagerDuty.AlertStatus(PaymentsKey, PagerDutyEvents.DedupKey(incident.Id)));
    }

    [Fact]
    public async Task BadPayload_Gets400_AndFailsForGoodWithPagerDutysErrors()
    {
        var (incident, message) = await EnqueueTriggerAsync(team: "broken");

        await _dispatcher.DispatchDueAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromHours(1));
        await _dispatcher.DispatchDueAsync(CancellationToken.None);

        var stored = await ReloadAsync(message.Id);
        Assert.Equal(OutboxStatus.Failed, stored.Status);
        Assert.Equal("HTTP 400: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)", stored.LastError);
        Assert.Equal(1, _pagerDuty.Requests);
        Assert.Empty(_pagerDuty.Accepted);
        await using var db = _database.NewContext();
        var entry = await db.Timeline.SingleAsync(t => t.IncidentId == incident.Id, TestContext.Current.CancellationToken);
        Assert.Equal("delivery_failed", entry.Kind);
    }

    [Fact]
    public async Task RateLimited_Gets429_WaitsThirtySecondsThenDelivers()
    {
        _pagerDuty.RateLimitPerMinute = 1;
        var (_, first) = await EnqueueTriggerAsync();
        var (_, second) = await EnqueueTriggerAsync();

        await _dispatcher.DispatchDueAsync(CancellationToken.None);

        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(first.Id)).Status);
        var limited = await ReloadAsync(second.Id);
        Assert.Equal(OutboxStatus.Pending, limited.Status);
        Assert.StartsWith("HTTP 429: Requests for this service are arriving too quickly", limited.LastError, StringComparison.Ordinal);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(30), limited.NextAttemptAt);

        _time.Advance(TimeSpan.FromSeconds(30));
        await _dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Equal(OutboxStatus.Pending, (await ReloadAsync(second.Id)).Status); // still inside PagerDuty's 60 s window

        _time.Advance(TimeSpan.FromSeconds(30));
        await _dispatcher.DispatchDueAsync(CancellationToken.None);
        Assert.Equal(OutboxStatus.Delivered, (await ReloadAsync(second.Id)).Status);
        Assert.Equal(2, _pagerDuty.Accepted.Count);
    }

    [Fact]
    public async Task Fake_RejectsTriggerWithoutSummaryOrSeverity_WithTheRealErrorBody()
    {
        var body = new JsonObject
        {
            ["routing_key"] = PaymentsKey,
            ["event_action"] = "trigger",
            ["payload"] = new JsonObject { ["source"] = "x", ["severity"] = "fatal" },
        };

        using var response = await _http.PostAsync(_pagerDuty.EnqueueUrl, new StringContent(body.ToJsonString()), TestContext.Current.CancellationToken);

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        Assert.Equal("invalid event", (string?)answer["status"]);
        Assert.Equal(["'payload.summary' is missing or blank", "'payload.severity' is missing or invalid (expected critical, error, warning or info)"],
            answer["errors"]!.AsArray().Select(e => (string?)e));
    }

    [Theory]
    [InlineData(AlertPriority.Emergency, "critical")]
    [InlineData(AlertPriority.Critical, "critical")]
    [InlineData(AlertPriority.Error, "error")]
    [InlineData(AlertPriority.Warning, "warning")]
    [InlineData(AlertPriority.Notice, "info")]
    [InlineData(AlertPriority.Debug, "info")]
    public void Severity_MapsFalcoPriority(AlertPriority priority, string expected) =>
        Assert.Equal(expected, PagerDutyEvents.Severity(priority));
}
