using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Sensor.Evidence;
using Triage.Contracts;

namespace Sensor.Response;

/// <summary>
/// The sensor's side of the command channel: long-polls the triage service for commands addressed to this node,
/// reports results, and uploads evidence. Authenticates with a bearer token that has the <c>sensor</c> scope.
/// </summary>
internal sealed class TriageCommandClient(HttpClient http, string node)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public string Node => node;

    /// <summary>Configures <paramref name="http"/> for the service at <paramref name="baseAddress"/> with <paramref name="token"/>.</summary>
    public static HttpClient CreateHttpClient(Uri baseAddress, string token, TimeSpan longPoll)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = longPoll + TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public async Task<IReadOnlyList<SensorCommand>> PollAsync(TimeSpan wait, CancellationToken ct)
    {
        var seconds = ((int)wait.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        using var response = await http.GetAsync($"api/v1/sensors/{Uri.EscapeDataString(node)}/commands?wait={seconds}", ct);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<List<SensorCommand>>(Json, ct) ?? [];
    }

    public async Task ReportAsync(long commandId, SensorCommandResult result, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync($"api/v1/sensors/{Uri.EscapeDataString(node)}/commands/{commandId}/result", result, Json, ct);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Uploads one artifact; returns the id the service gave it.</summary>
    public async Task<long> UploadAsync(CapturedArtifact artifact, EvidenceRequest request, CancellationToken ct)
    {
        var query = new List<string>
        {
            $"kind={Uri.EscapeDataString(artifact.Kind)}",
            $"name={Uri.EscapeDataString(artifact.Name)}",
            $"captured_at={Uri.EscapeDataString(artifact.CapturedAt.ToString("O", CultureInfo.InvariantCulture))}",
        };
        Add("alert_id", request.AlertId);
        Add("container_id", request.ContainerId);
        Add("command_id", request.CommandId?.ToString(CultureInfo.InvariantCulture));
        Add("incident_id", request.IncidentId?.ToString(CultureInfo.InvariantCulture));
        Add("unavailable", artifact.Unavailable);

        HttpContent content;
        Stream? file = null;
        if (artifact.FilePath is { } path)
        {
            file = File.OpenRead(path);
            content = new StreamContent(file);
        }
        else
        {
            content = new ByteArrayContent(artifact.Content ?? []);
        }

        try
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(artifact.ContentType);
            using var response = await http.PostAsync($"api/v1/sensors/{Uri.EscapeDataString(node)}/evidence?{string.Join('&', query)}", content, ct);
            response.EnsureSuccessStatusCode();
            var uploaded = await response.Content.ReadFromJsonAsync<EvidenceUploaded>(Json, ct);
            return uploaded?.Id ?? 0;
        }
        finally
        {
            content.Dispose();
            if (file is not null)
            {
                await file.DisposeAsync();
            }
        }

        void Add(string name, string? value)
        {
            if (value is not null)
            {
                query.Add($"{name}={Uri.EscapeDataString(value)}");
            }
        }
    }
}
