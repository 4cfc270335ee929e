using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Triage.Api;
using Triage.Api.Configuration;
using Triage.Api.Incidents;
using Triage.Api.Persistence;

namespace Triage.Tests.Support;

/// <summary>
/// The real triage service on a free loopback port with its own configuration and database; clients speak real HTTP.
/// </summary>
internal sealed class TriageTestHost : IAsyncDisposable
{
    public const string IngestToken = "test-ingest-token-0123456789";
    public const string OperatorToken = "test-operator-token-0123456789";

    /// <summary>The configuration tests start from: tokens, teams and people; add sections with <c>extraYaml</c>.</summary>
    public const string BaseYaml = $"""
        auth:
          tokens:
            - name: sensor
              token: {IngestToken}
              scopes: [ingest]
            - name: operator
              token: {OperatorToken}
              scopes: [read, act]
        teams:
          - name: payments
            kind: platform
          - name: soc
            kind: soc
        people:
          - name: alice
            slack_user_id: U0ALICE
            teams_user_id: "29:alice"
            teams: [payments]
            roles: [responder]
          - name: carol
            slack_user_id: U0CAROL
            teams: [soc]
            roles: [responder, operator]
          - name: mallory
            teams: [payments]
        """;

    private readonly string _directory;
    private readonly TestDatabase _database;

    private TriageTestHost(string directory, TestDatabase database, WebApplication app, TriageConfig config)
    {
        _directory = directory;
        _database = database;
        App = app;
        Config = config;
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        BaseAddress = new Uri(address);
        Ingest = NewClient(IngestToken);
        Operator = NewClient(OperatorToken);
        Anonymous = new HttpClient { BaseAddress = BaseAddress };
    }

    public WebApplication App { get; }

    public TriageConfig Config { get; }

    public Uri BaseAddress { get; }

    /// <summary>A client with the ingest token.</summary>
    public HttpClient Ingest { get; }

    /// <summary>A client with the read+act token.</summary>
    public HttpClient Operator { get; }

    public HttpClient Anonymous { get; }

    public FakeTimeProvider? Clock { get; private init; }

    public static async Task<TriageTestHost> StartAsync(
        DatabaseKind database = DatabaseKind.Sqlite,
        string extraYaml = "",
        FakeTimeProvider? clock = null,
        Action<IServiceCollection>? configureServices = null,
        string baseYaml = BaseYaml,
        TriageTestHost? replicaOf = null)
    {
        var directory = Directory.CreateTempSubdirectory("triage-test-").FullName;

        // A replica shares the other host's (already migrated) database; the first host drops it.
        var db = replicaOf is null
            ? await TestDatabases.CreateAsync(database, directory)
            : new TestDatabase(replicaOf._database.DbArgument, () => Task.CompletedTask);
        var configPath = Path.Combine(directory, "triage.yaml");
        await File.WriteAllTextAsync(configPath, baseYaml + "\n" + extraYaml);
        var config = TriageHost.LoadConfig(configPath, db.DbArgument);
        if (db.IsPostgres && replicaOf is null)
        {
            // PostgreSQL is migrated as a deployment step; the test plays that step.
            await using var context = Triage.Api.Persistence.DatabaseExtensions.CreateContext(config.Database);
            await context.Database.MigrateAsync();
        }

        var app = TriageHost.BuildApp(config, ["--urls", "http://127.0.0.1:0", "--environment", "Testing"], services =>
        {
            if (clock is not null)
            {
                services.RemoveAll<TimeProvider>();
                services.AddSingleton<TimeProvider>(clock);
            }

            configureServices?.Invoke(services);
        });
        await app.StartAsync();
        return new TriageTestHost(directory, db, app, config) { Clock = clock };
    }

    public HttpClient NewClient(string token) => new()
    {
        BaseAddress = BaseAddress,
        DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
    };

    /// <summary>A scope with a database context, for assertions on what was stored.</summary>
    public async Task<T> QueryAsync<T>(Func<TriageDbContext, Task<T>> query)
    {
        await using var scope = App.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<TriageDbContext>());
    }

    /// <summary>Waits until the incident pipeline has nothing queued (observers ran).</summary>
    /// <summary>
    /// Waits until every changed incident went through the pipeline. The deadline is a guard against a hang only: on a
    /// busy 2-vCPU machine (CI runs test classes in parallel) a first incident's steps, JIT included, took over 10 s.
    /// </summary>
    public async Task WaitForPipelineAsync()
    {
        var pipeline = App.Services.GetRequiredService<IncidentPipeline>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (pipeline.Pending > 0 || await QueryAsync(db => db.Incidents.AnyAsync(i => i.NeedsProcessing)))
        {
            if (DateTime.UtcNow > deadline)
            {
                var flagged = await QueryAsync(db => db.Incidents.Where(i => i.NeedsProcessing).Select(i => i.Id).ToListAsync());
                Assert.Fail($"The incident pipeline did not settle in 60 s: {pipeline.Pending} pending, flagged incidents [{string.Join(", ", flagged)}]"
                    + (Clock is null ? "" : $"; a failed step retries on the test's fake clock ({Clock.GetUtcNow():u}), which only the test moves"));
            }

            await Task.Delay(20);
        }
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();

    public async ValueTask DisposeAsync()
    {
        Ingest.Dispose();
        Operator.Dispose();
        Anonymous.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await _database.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open must not fail the test; the temporary folder is cleaned by the OS.
        }
    }
}
