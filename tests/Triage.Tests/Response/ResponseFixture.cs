using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Triage.Api.Evidence;
using Triage.Api.Persistence;
using Triage.Api.Response;
using Triage.Contracts;

namespace Triage.Tests.Response;

/// <summary>
/// A real SQLite database (in memory, one connection kept open) with the response and evidence services over it,
/// a fake clock, and an evidence directory under the temp folder that is deleted afterwards.
/// </summary>
internal sealed class ResponseFixture : IAsyncDisposable
{
    private readonly SqliteConnection _connection = new("Data Source=:memory:");

    public ResponseFixture()
    {
        _connection.Open();
        Db = NewContext();
        Db.Database.EnsureCreated();
        EvidenceDirectory = Path.Combine(Path.GetTempPath(), "triage-evidence-" + Guid.NewGuid().ToString("N"));
        Store = new ContentStore(EvidenceDirectory);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    public SqliteTriageDbContext Db { get; }
    public string EvidenceDirectory { get; }
    public ContentStore Store { get; }
    public ResponseOptions ResponseOptions { get; } = new();
    public EvidenceOptions EvidenceOptions { get; } = new();
    public SensorCommandSignal Signal { get; } = new();

    public SqliteTriageDbContext NewContext()
    {
        var options = new DbContextOptionsBuilder<SqliteTriageDbContext>().UseSqlite(_connection).Options;
        return new SqliteTriageDbContext(options);
    }

    public EvidenceService Evidence(TriageDbContext? db = null) =>
        new(db ?? Db, Store, EvidenceOptions, Time, NullLogger<EvidenceService>.Instance);

    public EvidenceRetention Retention() => new(Db, Store, EvidenceOptions, Time, NullLogger<EvidenceRetention>.Instance);

    public SensorCommandQueue Queue(TriageDbContext? db = null) =>
        new(db ?? Db, Signal, ResponseOptions, new ResponseRecorder(db ?? Db, Time), Time, NullLogger<SensorCommandQueue>.Instance);

    public ResponseService Response(IServiceProvider? services = null) =>
        new(Db, new ResponseRecorder(Db, Time), Queue(), services ?? new ServiceCollection().BuildServiceProvider());

    /// <summary>Adds an incident with the given alerts (stored as their JSON payload, as ingest stores them).</summary>
    public async Task<Incident> AddIncidentAsync(params NativeAlert[] alerts)
    {
        var now = Time.GetUtcNow();
        var first = alerts[0];
        var incident = new Incident
        {
            Fingerprint = Guid.NewGuid().ToString("N"),
            Rule = first.Rule ?? "rule",
            Title = first.Output ?? "",
            Node = first.Node ?? "",
            Namespace = first.K8s?.Namespace,
            Pod = first.K8s?.Pod,
            FirstSeen = now,
            LastSeen = now,
            CreatedAt = now,
            UpdatedAt = now,
            AlertCount = alerts.Length,
        };
        foreach (var alert in alerts)
        {
            incident.Alerts.Add(new StoredAlert
            {
                Id = alert.Id!,
                Time = alert.Time ?? now,
                ReceivedAt = now,
                Rule = alert.Rule ?? "",
                Node = alert.Node ?? "",
                Namespace = alert.K8s?.Namespace,
                Pod = alert.K8s?.Pod,
                ContainerId = alert.Container?.Id,
                Payload = System.Text.Json.JsonSerializer.Serialize(alert, Wire),
            });
        }

        Db.Add(incident);
        await Db.SaveChangesAsync();
        return incident;
    }

    public static readonly System.Text.Json.JsonSerializerOptions Wire = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static NativeAlert Alert(string id, int pid = 4242, ulong? startTimeNs = 123_456_789, string node = "node-1") => new()
    {
        Id = id,
        Time = new DateTimeOffset(2026, 11, 25, 11, 59, 0, TimeSpan.Zero),
        Node = node,
        Rule = "Contact cloud metadata service from container",
        Priority = "Critical",
        Process = new ProcessInfo { Pid = pid, Name = "wget", Cmdline = "wget -qO- http://169.254.169.254/", StartTimeNs = startTimeNs, ExeUpperLayer = false },
        Container = new ContainerInfo { Id = new string('a', 64), Image = "localhost/attack:1" },
        K8s = new KubernetesInfo { Namespace = "payments", Pod = "checkout-7d9f-abcde", WorkloadKind = "Deployment", WorkloadName = "checkout" },
        Output = "metadata access",
    };

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        await _connection.DisposeAsync();
        if (Directory.Exists(EvidenceDirectory))
        {
            Directory.Delete(EvidenceDirectory, recursive: true);
        }
    }
}
