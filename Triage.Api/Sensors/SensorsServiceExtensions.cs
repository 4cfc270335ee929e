using Triage.Api.Configuration;

namespace Triage.Api.Sensors;

/// <summary>Registration of sensor heartbeats and the silent-sensor check.</summary>
internal static class SensorsServiceExtensions
{
    public static IServiceCollection AddSensors(this IServiceCollection services, TriageConfig config)
    {
        services.AddSingleton(config.Sensors);
        services.AddSingleton<SensorHealth>();
        services.AddHostedService<SilentSensorCheck>();
        return services;
    }
}
