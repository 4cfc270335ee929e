using Microsoft.EntityFrameworkCore;
using Triage.Api.Chat;
using Triage.Api.Configuration;
using Triage.Api.Evidence;
using Triage.Api.Operations;
using Triage.Api.Persistence;
using Triage.Api.Response;
using Triage.Api.Sensors;
using Triage.Api.Suppression;

namespace Triage.Api;

/// <summary>
/// The command line and the web host. Usage:
/// <c>Triage.Api [serve|migrate] [--config &lt;file&gt;] [--db &lt;sqlite path | postgres connection string&gt;] [--urls &lt;url&gt;]</c>,
/// or <c>Triage.Api route explain --alert &lt;alert.json&gt; [--config &lt;file&gt;] ...</c> (see <see cref="Routing.RouteExplainCommand"/>).
/// Tests build the same host through <see cref="BuildApp"/> with their own configuration.
/// </summary>
internal static class TriageHost
{
    public static string DefaultConfigPath => Path.Combine(AppContext.BaseDirectory, "config", "triage.example.yaml");

    public static async Task<int> RunAsync(string[] args)
    {
        var command = args.FirstOrDefault() is { } first && !first.StartsWith('-') ? first : "serve";
        var options = args.SkipWhile(a => !a.StartsWith('-')).ToArray();
        TriageConfig config;
        try
        {
            config = LoadConfig(OptionValue(options, "--config") ?? DefaultConfigPath, OptionValue(options, "--db"));
        }
        catch (ConfigException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }

        switch (command)
        {
            case "serve":
                var app = BuildApp(config, WithoutOwnOptions(options));
                await app.RunAsync();
                return 0;
            case "migrate":
                return await MigrateAsync(config);
            case "route" when args.Length > 1 && args[1] == "explain":
                return await Routing.RouteExplainCommand.RunAsync(config, options, Console.Out, Console.Error, TimeProvider.System);
            case "route":
                await Console.Error.WriteLineAsync(Routing.RouteExplainCommand.Usage);
                return 2;
            default:
                await Console.Error.WriteLineAsync($"Unknown command '{command}'. Commands: serve (default), migrate, route explain.");
                return 2;
        }
    }

    public static TriageConfig LoadConfig(string path, string? dbOverride)
    {
        var config = ConfigLoader.Load(path);
        if (dbOverride is not null)
        {
            config.Database.ApplyOverride(dbOverride);
        }

        return config;
    }

    /// <summary>Builds the service; <paramref name="configureServices"/> lets tests replace the clock or fakes.</summary>
    public static WebApplication BuildApp(TriageConfig config, string[] hostArgs, Action<IServiceCollection>? configureServices = null)
    {
        // appsettings.json ships beside the binary; the working directory stays the user's (./data/ lives there).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = hostArgs, ContentRootPath = AppContext.BaseDirectory });
        OperationsEndpoints.SelectMeters();
        builder.Services.AddTriageCore(config);
        builder.Services.AddChat(config);
        builder.Services.AddResponse(config);
        builder.Services.AddEvidence(config);
        builder.Services.AddSuppression(config);
        builder.Services.AddSensors(config);
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapTriageCore();
        app.MapChat();
        app.MapSensorCommands();
        app.MapSensorEvidence();
        app.MapEvidence();
        app.MapSuppressionEndpoints();
        app.MapSensors();
        return app;
    }

    private static async Task<int> MigrateAsync(TriageConfig config)
    {
        await using var db = DatabaseExtensions.CreateContext(config.Database);
        var pending = (await db.Database.GetPendingMigrationsAsync()).ToList();
        await db.Database.MigrateAsync();
        Console.WriteLine(pending.Count == 0
            ? "The database schema is up to date."
            : $"Applied {pending.Count} migration(s): {string.Join(", ", pending)}");
        return 0;
    }

    private static string? OptionValue(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    /// <summary>The arguments left for ASP.NET Core (such as --urls) once ours are taken out.</summary>
    private static string[] WithoutOwnOptions(string[] args)
    {
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "--config" or "--db")
            {
                i++;
                continue;
            }

            rest.Add(args[i]);
        }

        return [.. rest];
    }
}
