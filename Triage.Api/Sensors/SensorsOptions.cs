using Triage.Api.Configuration;
using Triage.Contracts;

namespace Triage.Api.Sensors;

/// <summary>The <c>sensors</c> section: when a sensor whose heartbeats stopped counts as silent, and what happens then.</summary>
internal sealed class SensorsOptions
{
    /// <summary>How often the sensors send a heartbeat (their <c>Sensor:HeartbeatSeconds</c>). Default 30s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Time without a heartbeat after which a sensor is silent. Default three heartbeat intervals (90s with the
    /// default interval): one lost heartbeat or a slow restart does not page anyone.
    /// </summary>
    public TimeSpan? SilentAfter { get; set; }

    /// <summary>How often the service looks for silent sensors. Default 15s.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Raise an incident (rule "Sensor silent", source "triage") when a sensor goes silent, routed and shown like any
    /// other. Default true; when false the silence shows only on <c>/metrics</c>, in the log and in
    /// <c>GET /api/v1/sensors</c>.
    /// </summary>
    public bool RaiseIncident { get; set; } = true;

    /// <summary>Falco priority of the "Sensor silent" alert. Default Error.</summary>
    public string IncidentPriority { get; set; } = "Error";

    /// <summary>The effective silence threshold.</summary>
    public TimeSpan EffectiveSilentAfter => SilentAfter ?? HeartbeatInterval * 3;

    public void Validate(ConfigValidationContext context, string path)
    {
        if (HeartbeatInterval < TimeSpan.FromSeconds(1) || HeartbeatInterval > TimeSpan.FromHours(1))
        {
            context.Error($"{path}.heartbeat_interval", "must be between 1s and 1h");
        }

        if (EffectiveSilentAfter <= HeartbeatInterval)
        {
            context.Error($"{path}.silent_after", $"must be longer than heartbeat_interval ({HeartbeatInterval}), or every late heartbeat would flag the sensor");
        }

        if (CheckInterval < TimeSpan.FromSeconds(1) || CheckInterval > TimeSpan.FromHours(1))
        {
            context.Error($"{path}.check_interval", "must be between 1s and 1h");
        }

        if (!AlertPriorities.TryParse(IncidentPriority, out _))
        {
            context.Error($"{path}.incident_priority", $"'{IncidentPriority}' is not a priority; expected one of {string.Join(", ", AlertPriorities.Names)}");
        }
    }
}
