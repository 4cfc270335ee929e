using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sensor.Response;

namespace Sensor.Evidence;

/// <summary>
/// Captures and uploads evidence off the event path: the rule engine hands a request over through a bounded
/// channel the moment an alert fires (so capture starts before the container can vanish), and a single worker
/// captures and uploads. When captures pile up, the newest request is dropped and counted (the ones queued
/// first are nearer to capture), and the event loop is never blocked.
/// </summary>
internal sealed partial class EvidenceCapture(
    EvidenceCollector collector,
    TriageCommandClient client,
    ILogger<EvidenceCapture> logger) : BackgroundService
{
    private readonly Channel<EvidenceRequest> _requests = Channel.CreateBounded<EvidenceRequest>(
        new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    private long _dropped;

    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues a capture at detection time; returns false (and counts it) when the queue is full.</summary>
    public bool Enqueue(EvidenceRequest request)
    {
        if (_requests.Writer.TryWrite(request))
        {
            return true;
        }

        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <summary>Captures and uploads now (a capture_evidence command), returning the uploaded artifact ids.</summary>
    public async Task<IReadOnlyList<long>> CaptureAndUploadAsync(EvidenceRequest request, CancellationToken ct)
    {
        var artifacts = await collector.CaptureAsync(request, ct);
        var ids = new List<long>();
        foreach (var artifact in artifacts)
        {
            try
            {
                ids.Add(await client.UploadAsync(artifact, request, ct));
            }
            catch (HttpRequestException ex)
            {
                LogUploadFailed(logger, artifact.Kind, ex);
            }
            finally
            {
                if (artifact.FilePath is { } path)
                {
                    File.Delete(path);
                }
            }
        }

        return ids;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var request in _requests.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await CaptureAndUploadAsync(request, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogCaptureFailed(logger, request.ContainerId ?? "-", ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Uploading {Kind} evidence failed")]
    private static partial void LogUploadFailed(ILogger logger, string kind, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Evidence capture for container {Container} failed")]
    private static partial void LogCaptureFailed(ILogger logger, string container, Exception exception);
}
