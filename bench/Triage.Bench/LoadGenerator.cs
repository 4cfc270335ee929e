using System.Diagnostics;
using System.Net.Http.Headers;

namespace Triage.Bench;

/// <summary>What one load run measured.</summary>
/// <param name="Alerts">Alerts in requests answered 2xx that started inside the measured window (retries included).</param>
/// <param name="DistinctSent">Distinct alerts in all requests sent, warm-up included (retries excluded).</param>
/// <param name="DistinctAcknowledged">Distinct alerts whose first request was answered 2xx, warm-up included.</param>
/// <param name="TotalAcknowledged">Alerts in all requests answered 2xx, warm-up and retries included.</param>
internal sealed record LoadOutcome(
    long Requests, long Alerts, long Errors, double Seconds, Percentiles Latency,
    long DistinctSent, long DistinctAcknowledged, long TotalAcknowledged, string? FirstError, double WarmupSeconds)
{
    public double AlertsPerSecond => Alerts / Seconds;
}

/// <summary>
/// A closed-loop HTTP load generator: <c>connections</c> loops on one <see cref="SocketsHttpHandler"/> limited to as many
/// connections, each posting its next body as soon as the previous answer arrived. The same generator drives the
/// triage service and the Alertmanager peer, so their figures compare.
/// </summary>
internal static class LoadGenerator
{
    /// <summary>Share of requests that resend an earlier body byte for byte (a sender's retry).</summary>
    private const double RetryShare = 0.10;

    /// <summary>Alerts per request while priming (not measured).</summary>
    private const int PrimingBatch = 100;

    /// <summary>
    /// Primes every fingerprint once from each replica pod, waits for <paramref name="settle"/>, then runs the closed loop: <paramref name="warmup"/>
    /// unmeasured, then <paramref name="duration"/> measured; <paramref name="atMeasureStart"/> runs when measuring begins.
    /// </summary>
    /// <remarks>
    /// Priming makes the measured window the steady state both peers see in production: the incidents (Alertmanager's
    /// groups) already exist and new alerts join them. Without it the window mostly opened incidents, which runs
    /// enrichment, routing, chat and escalation scheduling once per fingerprint, a cost the peer does not have.
    /// </remarks>
    public static async Task<LoadOutcome> RunAsync(
        Uri url, AuthenticationHeaderValue? auth, Func<DateTimeOffset, ReadOnlySpan<IngestWorkload.AlertEvent>, byte[]> render,
        int alertsPerRequest, int connections, TimeSpan warmup, Func<Task> warmedUp, TimeSpan duration, int seed, Func<Task> settle,
        Action atMeasureStart)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            UseProxy = false,
            UseCookies = false,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        var baseTime = new DateTimeOffset(DateTimeOffset.UtcNow.Ticks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var sequence = 0L;
        var primed = 0L;
        var priming = Enumerable.Range(0, IngestWorkload.Fingerprints)
            .SelectMany(f => Enumerable.Range(0, IngestWorkload.Replicas).Select(r => (Fingerprint: f, Replica: r))).ToList();
        foreach (var chunk in priming.Chunk(PrimingBatch))
        {
            var events = chunk.Select(p => new IngestWorkload.AlertEvent(p.Fingerprint, p.Replica, ++sequence)).ToArray();
            using var content = new ByteArrayContent(render(baseTime, events));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
            request.Headers.Authorization = auth;
            using var response = await client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            primed += events.Length;
        }

        await settle();
        var started = Stopwatch.GetTimestamp();

        // The window opens after the minimum warm-up and once the target says it is warm (a JIT-compiled service keeps
        // recompiling hot code for a while after it starts; a sustained rate is what is measured). Until then every
        // request is load only.
        var measureFrom = long.MaxValue;
        var stopAt = long.MaxValue;
        var measureStart = Task.Run(async () =>
        {
            await Task.Delay(warmup);
            await warmedUp();
            atMeasureStart();
            var now = Stopwatch.GetTimestamp();
            Volatile.Write(ref measureFrom, now);
            Volatile.Write(ref stopAt, now + (long)(duration.TotalSeconds * Stopwatch.Frequency));
        });

        async Task<LoopStats> LoopAsync(int loop)
        {
            var stats = new LoopStats();
            var random = new Random(seed * 1000 + loop);
            var history = new List<byte[]>(256);
            var events = new IngestWorkload.AlertEvent[alertsPerRequest];
            while (Stopwatch.GetTimestamp() < Volatile.Read(ref stopAt))
            {
                byte[] body;
                var fresh = history.Count == 0 || random.NextDouble() >= RetryShare;
                if (fresh)
                {
                    for (var i = 0; i < events.Length; i++)
                    {
                        events[i] = new IngestWorkload.AlertEvent(
                            random.Next(IngestWorkload.Fingerprints), random.Next(IngestWorkload.Replicas), Interlocked.Increment(ref sequence));
                    }

                    body = render(baseTime, events);
                    if (history.Count < 256)
                    {
                        history.Add(body);
                    }
                    else
                    {
                        history[random.Next(history.Count)] = body;
                    }

                    stats.DistinctSent += alertsPerRequest;
                }
                else
                {
                    body = history[random.Next(history.Count)];
                }

                var begin = Stopwatch.GetTimestamp();
                var ok = false;
                try
                {
                    using var content = new ByteArrayContent(body);
                    content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
                    request.Headers.Authorization = auth;
                    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    await response.Content.CopyToAsync(Stream.Null);
                    ok = response.IsSuccessStatusCode;
                    if (!ok)
                    {
                        stats.FirstError ??= $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
                    }
                }
                catch (HttpRequestException ex)
                {
                    stats.FirstError ??= ex.Message;
                }
                catch (TaskCanceledException ex)
                {
                    stats.FirstError ??= "timeout: " + ex.Message;
                }

                var end = Stopwatch.GetTimestamp();
                if (ok)
                {
                    stats.TotalAcknowledged += alertsPerRequest;
                }

                if (ok && fresh)
                {
                    stats.DistinctAcknowledged += alertsPerRequest;
                }

                if (begin >= Volatile.Read(ref measureFrom))
                {
                    stats.Requests++;
                    stats.LastEnd = Math.Max(stats.LastEnd, end);
                    if (ok)
                    {
                        stats.Alerts += alertsPerRequest;
                        stats.Latencies.Add(Stopwatch.GetElapsedTime(begin, end));
                    }
                    else
                    {
                        stats.Errors++;
                    }
                }
            }

            return stats;
        }

        var loops = await Task.WhenAll(Enumerable.Range(0, connections).Select(i => Task.Run(() => LoopAsync(i))));
        await measureStart;
        var latency = new Percentiles("latency");
        foreach (var sample in loops.SelectMany(l => l.Latencies))
        {
            latency.Add(sample);
        }

        var lastEnd = loops.Max(l => l.LastEnd);
        var seconds = (double)(Math.Max(lastEnd, stopAt) - measureFrom) / Stopwatch.Frequency;
        return new LoadOutcome(
            loops.Sum(l => l.Requests), loops.Sum(l => l.Alerts), loops.Sum(l => l.Errors), seconds, latency,
            primed + loops.Sum(l => l.DistinctSent), primed + loops.Sum(l => l.DistinctAcknowledged), primed + loops.Sum(l => l.TotalAcknowledged), loops.Select(l => l.FirstError).FirstOrDefault(e => e is not null),
            (double)(measureFrom - started) / Stopwatch.Frequency);
    }

    private sealed class LoopStats
    {
        public long Requests { get; set; }
        public long Alerts { get; set; }
        public long Errors { get; set; }
        public long DistinctSent { get; set; }
        public long DistinctAcknowledged { get; set; }
        public long TotalAcknowledged { get; set; }
        public long LastEnd { get; set; }
        public string? FirstError { get; set; }
        public List<TimeSpan> Latencies { get; } = [];
    }
}
