using Triage.Api.Configuration;

namespace Triage.Tests.Configuration;

public sealed class ConfigLoaderTests
{
    [Fact]
    public void Parse_ExampleFile_Loads()
    {
        var config = ConfigLoader.Load(Path.Combine(AppContext.BaseDirectory, "config", "triage.example.yaml"));

        Assert.Equal("sqlite", config.Database.Provider);
        Assert.Equal(TimeSpan.FromHours(1), config.Incidents.GroupingWindow);
        Assert.Contains(config.Teams, t => t.Name == "soc" && t.Kind == "soc");
    }

    [Fact]
    public void Parse_ExampleFile_SensorTokenMayPostAlertsPollCommandsAndUploadEvidence()
    {
        var config = ConfigLoader.Load(Path.Combine(AppContext.BaseDirectory, "config", "triage.example.yaml"));

        // run.sh starts the sensor with this token: without the sensor scope its command poll and uploads get 403.
        var sensor = Assert.Single(config.Auth.Tokens, t => t.Name == "local-sensor");
        Assert.Contains(ApiScopes.Ingest, sensor.Scopes);
        Assert.Contains(ApiScopes.Sensor, sensor.Scopes);
    }

    [Fact]
    public void Parse_SeveralMistakes_ReportsEveryOneWithLineAndField()
    {
        const string yaml = """
            database:
              provider: oracle
            incidents:
              grouping_window: 0s
              colour: blue
            people:
              - name: alice
                teams: [nobody]
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "bad.yaml"));

        Assert.Contains(error.Errors, e => e is { Field: "database.provider", Line: 2 });
        Assert.Contains(error.Errors, e => e is { Field: "incidents.grouping_window", Line: 4 });
        Assert.Contains(error.Errors, e => e is { Field: "incidents.colour", Line: 5 });
        Assert.Contains(error.Errors, e => e is { Field: "people[0].teams[0]", Line: 8 });
        Assert.All(error.Errors, e => Assert.Equal("bad.yaml", e.File));
        Assert.Contains("bad.yaml:2:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ExampleFile_OutboxRetentionAsDocumented()
    {
        var config = ConfigLoader.Load(Path.Combine(AppContext.BaseDirectory, "config", "triage.example.yaml"));

        Assert.Equal(TimeSpan.FromMinutes(10), config.Delivery.Retention.Interval);
        Assert.Equal(1000, config.Delivery.Retention.BatchSize);
        Assert.Equal(TimeSpan.FromDays(7), config.Delivery.Retention.ResolvedIncidents);
    }

    [Fact]
    public void Parse_BadOutboxRetention_NamesFieldsAndLines()
    {
        const string yaml = """
            delivery:
              retention:
                interval: 1s
                batch_size: 0
                resolved_incidents: 30m
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "t.yaml"));

        Assert.Contains(error.Errors, e => e is { Field: "delivery.retention.interval", Line: 3 });
        Assert.Contains(error.Errors, e => e is { Field: "delivery.retention.batch_size", Line: 4 });
        Assert.Contains(error.Errors, e => e is { Field: "delivery.retention.resolved_incidents", Line: 5 });
        Assert.Equal(3, error.Errors.Count);
    }

    [Fact]
    public void Parse_BadDuration_NamesFieldAndLine()
    {
        const string yaml = """
            incidents:
              grouping_window: soon
            """;

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, "t.yaml"));

        var only = Assert.Single(error.Errors);
        Assert.Equal(2, only.Line);
        Assert.Equal("incidents.grouping_window", only.Field);
        Assert.Contains("not a duration", only.Message, StringComparison.Ordinal);
    }
}
