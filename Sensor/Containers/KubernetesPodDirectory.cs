using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Sensor.Containers;

/// <summary>How the pod watch runs.</summary>
internal sealed record PodWatchOptions
{
    /// <summary>The node whose pods are watched (<c>fieldSelector=spec.nodeName=...</c>).</summary>
    public required string NodeName { get; init; }

    /// <summary>Server-side timeout of one watch request; the watch then resumes from its resourceVersion. Default 5 min.</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>First wait after a failure; doubles up to <see cref="MaxBackoff"/>. Defaults 500 ms and 30 s.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long one read of a pod's Job (for its CronJob) may take; the pod's events wait for it. Default 5 s.
    /// </summary>
    public TimeSpan JobReadTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>After a failed read of a Job, how long its pods are named after the Job before it is read again. Default 1 min.</summary>
    public TimeSpan JobReadRetry { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// The pods of this node from the Kubernetes API, as an informer does it: list (<c>spec.nodeName</c> field selector),
/// then watch from the list's resourceVersion; a watch that ends normally resumes from the last resourceVersion seen;
/// 410 Gone (history compacted) and any failure re-list, failures after a backoff that doubles up to
/// <see cref="PodWatchOptions.MaxBackoff"/>. Between the failure and the next good list the index keeps what it had
/// (an outage of the API server must not make known pods unknown). A pod controlled by a Job is named after the Job's
/// CronJob when there is one: the Job is read once (its owner references), before the pod is indexed.
/// </summary>
internal sealed partial class KubernetesPodDirectory(
    IKubernetes client,
    PodIndex index,
    PodWatchOptions options,
    TimeProvider time,
    ILogger<KubernetesPodDirectory> log) : IPodDirectory
{
    private long _lists;
    private long _failures;
    private long _restartsClosed;
    private long _restartsExpired;
    private long _restartsError;
    private long _jobReads;
    private long _jobReadFailures;
    // Job key -> when its read last failed; touched by the watch loop only.
    private readonly Dictionary<string, DateTimeOffset> _jobReadFailed = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PodIndex Index => index;

    /// <summary>Successful lists (the first and every re-list).</summary>
    public long Lists => Interlocked.Read(ref _lists);

    /// <summary>Failed list or watch requests.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Watches started again after the server closed one normally (timeout), after 410 Gone, after an error.</summary>
    public (long Closed, long Expired, long Error) Restarts =>
        (Interlocked.Read(ref _restartsClosed), Interlocked.Read(ref _restartsExpired), Interlocked.Read(ref _restartsError));

    /// <summary>The wait before the next attempt while failing; zero while healthy.</summary>
    public TimeSpan CurrentBackoff { get; private set; }

    /// <summary>Why the last list or watch failed; null before any failure.</summary>
    public string? LastError { get; private set; }

    /// <summary>Reads of a pod's Job (to find its CronJob): successful, and failed (the pod is then named after the Job).</summary>
    public (long Ok, long Failed) JobReads => (Interlocked.Read(ref _jobReads), Interlocked.Read(ref _jobReadFailures));

    /// <summary>Completes after the first successful list.</summary>
    public Task Synced => _synced.Task;

    public PodMatch? Find(string containerFullId) => index.Find(containerFullId);

    public Task Changed => index.Changed;

    public async Task RunAsync(CancellationToken ct)
    {
        var selector = "spec.nodeName=" + options.NodeName;
        var backoff = options.InitialBackoff;
        string? resourceVersion = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (resourceVersion is null)
                {
                    var list = await client.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: selector, cancellationToken: ct);
                    foreach (var pod in list.Items)
                    {
                        await LearnJobOwnerAsync(pod, ct);
                    }

                    index.ReplaceAll(list.Items);
                    resourceVersion = list.Metadata.ResourceVersion;
                    Interlocked.Increment(ref _lists);
                    LogListed(log, list.Items.Count, options.NodeName, resourceVersion);
                    _synced.TrySetResult();
                }

                var (next, expired) = await WatchAsync(selector, resourceVersion, ct);
                backoff = options.InitialBackoff;
                CurrentBackoff = TimeSpan.Zero;
                if (expired)
                {
                    Interlocked.Increment(ref _restartsExpired);
                    LogExpired(log, resourceVersion);
                    resourceVersion = null;
                }
                else
                {
                    Interlocked.Increment(ref _restartsClosed);
                    resourceVersion = next;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // Whatever the API server or the network does, the watch must come back by itself.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref _failures);
                Interlocked.Increment(ref _restartsError);
                CurrentBackoff = backoff;
                LastError = Describe(ex);
                LogFailed(log, backoff.TotalSeconds, LastError);
                // Events may have been missed while the watch was down: the next attempt lists again.
                resourceVersion = null;
                try
                {
                    await Task.Delay(backoff, time, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.MaxBackoff.Ticks));
            }
        }
    }

    /// <summary>One watch request: applies its events; returns the last resourceVersion and whether it ended in 410.</summary>
    private async Task<(string ResourceVersion, bool Expired)> WatchAsync(string selector, string resourceVersion, CancellationToken ct)
    {
        Exception? streamError = null;
        // The server ends the watch after timeoutSeconds; the client-side limit covers a connection that went silent.
        using var limit = new CancellationTokenSource(options.WatchTimeout + TimeSpan.FromSeconds(30), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
        var events = client.CoreV1.WatchListPodForAllNamespacesAsync(
            allowWatchBookmarks: true,
            fieldSelector: selector,
            resourceVersion: resourceVersion,
            timeoutSeconds: (int)Math.Max(1, options.WatchTimeout.TotalSeconds),
            onError: e => streamError ??= e,
            cancellationToken: linked.Token);
        var last = resourceVersion;
        try
        {
            await foreach (var (type, pod) in events)
            {
                switch (type)
                {
                    case WatchEventType.Added or WatchEventType.Modified:
                        await LearnJobOwnerAsync(pod, ct);
                        index.Upsert(pod);
                        break;
                    case WatchEventType.Deleted:
                        await LearnJobOwnerAsync(pod, ct);
                        index.Delete(pod);
                        break;
                }

                if (pod?.Metadata?.ResourceVersion is { Length: > 0 } rv)
                {
                    last = rv;
                }
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // Silent for longer than the server's own timeout: start a new watch from where this one was.
            return (last, false);
        }
        catch (Exception ex) when (IsGone(ex))
        {
            return (last, true);
        }
        catch (Exception ex) when (IsEndOfStream(ex) && !ct.IsCancellationRequested)
        {
            // KubernetesClient reports the server ending a watch (its timeoutSeconds, an API server restart, a proxy)
            // as "Attempted to read past the end of the stream" rather than as the end of the enumeration. That is the
            // normal end of a watch: resume from the last resourceVersion, without a backoff or a re-list.
            return (last, false);
        }

        return streamError switch
        {
            null => (last, false),
            _ when IsGone(streamError) => (last, true),
            _ => throw new InvalidOperationException("the watch stream reported an error: " + Describe(streamError), streamError),
        };
    }

    /// <summary>
    /// For a pod controlled by a Job whose owner the index does not know yet: reads the Job (RBAC: <c>get</c> on
    /// <c>jobs</c> in <c>batch</c>) and records its controlling CronJob, once per Job. A failed read is not fatal: the
    /// pod is named after the Job, and the Job is read again at a later event of its pods after
    /// <see cref="PodWatchOptions.JobReadRetry"/>.
    /// </summary>
    private async Task LearnJobOwnerAsync(V1Pod? pod, CancellationToken ct)
    {
        if (pod is null || PodIndex.JobOf(pod) is not { } job || index.KnowsJob(job.Key))
        {
            return;
        }

        if (_jobReadFailed.TryGetValue(job.Key, out var failedAt) && time.GetUtcNow() - failedAt < options.JobReadRetry)
        {
            return;
        }

        using var limit = new CancellationTokenSource(options.JobReadTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, limit.Token);
        try
        {
            var read = await client.BatchV1.ReadNamespacedJobAsync(job.Name, job.Namespace, cancellationToken: linked.Token);
            var cronJob = read.Metadata?.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == "CronJob");
            index.SetJobOwner(job.Key, cronJob?.Name);
            _jobReadFailed.Remove(job.Key);
            Interlocked.Increment(ref _jobReads);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // 403 (no RBAC for jobs), 404 (Job gone), a timeout: the pod is still indexed, as its Job.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (_jobReadFailed.Count >= 10_000)
            {
                _jobReadFailed.Clear();
            }

            _jobReadFailed[job.Key] = time.GetUtcNow();
            Interlocked.Increment(ref _jobReadFailures);
            LogJobReadFailed(log, job.Namespace, job.Name, limit.IsCancellationRequested ? "timed out" : Describe(ex));
        }
    }

    private static bool IsEndOfStream(Exception ex)
    {
        for (var e = (Exception?)ex; e is not null; e = e.InnerException)
        {
            if (e is EndOfStreamException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// 410 Gone / Expired: the resourceVersion is older than the server's history. A watch reports it as an ERROR event
    /// carrying a Status (the client hands that to onError or throws it, depending on the version); some proxies
    /// answer the HTTP request with 410 itself.
    /// </summary>
    private static bool IsGone(Exception ex) => ex switch
    {
        KubernetesException { Status.Code: (int)HttpStatusCode.Gone } => true,
        KubernetesException { Status.Reason: "Expired" or "Gone" } => true,
        HttpOperationException { Response.StatusCode: HttpStatusCode.Gone } => true,
        _ => false,
    };

    /// <summary>The pod directory's figures on the sensor's /metrics, read at scrape time.</summary>
    public void RegisterMetrics(CollectorRegistry registry)
    {
        var f = Metrics.WithCustomRegistry(registry);
        var pods = f.CreateGauge("sensor_k8s_pods", "Pods of this node known from the Kubernetes API: live, and deleted ones kept as tombstones.", "state");
        var containers = f.CreateGauge("sensor_k8s_containers", "Container ids resolvable to a pod (live pods and tombstones).");
        var restarts = f.CreateGauge("sensor_k8s_watch_restarts", "Pod watches started again, by why the previous one ended: closed (server timeout), expired (410 Gone, re-listed), error (re-listed after a backoff).", "reason");
        var lists = f.CreateGauge("sensor_k8s_pod_lists", "Successful pod lists (the first and every re-list).");
        var jobReads = f.CreateGauge("sensor_k8s_job_reads", "Reads of a pod's Job to find its CronJob, by result: ok, failed (the pod is named after the Job).", "result");
        registry.AddBeforeCollectCallback(() =>
        {
            pods.WithLabels("live").Set(index.PodCount);
            pods.WithLabels("tombstone").Set(index.TombstoneCount);
            containers.Set(index.ContainerCount);
            var (closed, expired, error) = Restarts;
            restarts.WithLabels("closed").Set(closed);
            restarts.WithLabels("expired").Set(expired);
            restarts.WithLabels("error").Set(error);
            lists.Set(Lists);
            var (ok, failed) = JobReads;
            jobReads.WithLabels("ok").Set(ok);
            jobReads.WithLabels("failed").Set(failed);
        });
    }

    private static string Describe(Exception ex) => ex switch
    {
        HttpOperationException http => $"HTTP {(int)http.Response.StatusCode}: {Truncate(http.Response.Content)}",
        KubernetesException k8s => $"{k8s.Status?.Code} {k8s.Status?.Reason}: {k8s.Status?.Message}",
        _ => ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message,
    };

    private static string Truncate(string? text) =>
        text is null ? "" : text.Length > 300 ? text[..300] : text;

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes: listed {Count} pods on node {Node} (resourceVersion {ResourceVersion})")]
    private static partial void LogListed(ILogger logger, int count, string node, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes: pod watch from resourceVersion {ResourceVersion} expired (410 Gone); listing again")]
    private static partial void LogExpired(ILogger logger, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kubernetes: reading Job {Namespace}/{Job} for its CronJob failed; its pods are named after the Job for now: {Reason}")]
    private static partial void LogJobReadFailed(ILogger logger, string @namespace, string job, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kubernetes: pod list/watch failed; retrying in {Seconds} s (pods known so far stay resolvable): {Reason}")]
    private static partial void LogFailed(ILogger logger, double seconds, string reason);
}
