using Triage.Api.Operations;

namespace Triage.Api.Sensors;

/// <summary>Runs <see cref="SensorHealth.CheckAsync"/> every <see cref="SensorsOptions.CheckInterval"/>.</summary>
internal sealed partial class SilentSensorCheck(
    SensorHealth health,
    SensorsOptions options,
    TimeProvider time,
    ILogger<SilentSensorCheck> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        PeriodicWork.RunAsync(options.CheckInterval, time, runAtStart: true,
            async ct => await health.CheckAsync(ct), ex => LogCheckFailed(logger, ex), stoppingToken);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Silent sensor check failed; retrying at the next tick")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
