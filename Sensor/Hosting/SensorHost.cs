using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
using Sensor.Containers;
using Sensor.Delivery;
using Sensor.Detection;
using Sensor.Evidence;
using Sensor.Kernel;
using Sensor.Processes;
using Sensor.Response;
using Triage.Contracts;

namespace Sensor.Hosting;

/// <summary>Settings, from the "Sensor" configuration section (command line: --Sensor:ServiceUrl=... ; env: Sensor__ServiceUrl).</summary>
internal sealed class SensorSettings
{
    public string ServiceUrl { get; set; } = "http://127.0.0.1:5080";

    /// <summary>Bearer token; also read from TRIAGE_SENSOR_TOKEN.</summary>
    public string Token { get; set; } = "";

    public string Node { get; set; } = Environment.MachineName;
    public string SpoolDir { get; set; } = "/var/lib/triage-sensor/spool";
    public int SpoolCapacity { get; set; } = 100_000;

    /// <summary>Address of /metrics. Default http://127.0.0.1:9464.</summary>
    public string MetricsUrl { get; set; } = "http://127.0.0.1:9464";

    public List<string> Rules { get; set; } = [];

    /// <summary>
    /// Optional YAML file with a <c>rules:</c> section (<see cref="Sensor.Rules.RulesConfig"/>: default pack on/off,
    /// more rule files, unknown-field policy, enforcement). When set it replaces <see cref="Rules"/>.
    /// </summary>
    public string? RulesConfig { get; set; }
    public bool ContainerOnly { get; set; }

    /// <summary>
    /// Path prefixes whose opens the kernel reports, replacing the paths derived from the loaded rules (their fd.name,
    /// fd.directory and fd.filename conditions; see <see cref="Sensor.Rules.OpenPathAnalysis"/>). Unset by default:
    /// the kernel then reports exactly the opens some rule could match. At most 16, each at most 63 bytes.
    /// </summary>
    public List<string>? WatchPaths { get; set; }

    public string? ObjectPath { get; set; }
    public string? ContainersConf { get; set; }
    public double PodWaitSeconds { get; set; } = 2;

    /// <summary>Evidence capture on the node: at detection time (which rules) and on command (what to collect).</summary>
    public SensorEvidenceOptions Evidence { get; set; } = new();

    /// <summary>How long one poll of the command channel waits on the service, in seconds. Default 25.</summary>
    public double CommandPollSeconds { get; set; } = 25;

    /// <summary>Seconds between heartbeats to the triage service. Default 30.</summary>
    public double HeartbeatSeconds { get; set; } = 30;

    /// <summary>Pods of this node from the Kubernetes API (off unless configured; the runtime's labels are the fallback).</summary>
    public KubernetesPodSettings Kubernetes { get; set; } = new();
}

/// <summary>Composes and runs the node agent.</summary>
internal static partial class SensorHost
{
    /// <summary>Runs until SIGTERM/Ctrl-C or <paramref name="cancellationToken"/>; returns the process exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        var settings = builder.Configuration.GetSection("Sensor").Get<SensorSettings>() ?? new SensorSettings();
        if (settings.Token.Length == 0)
            settings.Token = Environment.GetEnvironmentVariable("TRIAGE_SENSOR_TOKEN") ?? "";
        builder.WebHost.UseUrls(settings.MetricsUrl);
        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sensor");

        var objectPath = BpfObjectLocator.Find(settings.ObjectPath);
        var problems = Preflight.Check(objectPath);
        if (problems.Count > 0)
        {
            // Plain words, one line, and a clean exit: the service next to us keeps running.
            Console.Error.WriteLine("sensor: OFF: " + string.Join("; ", problems));
            return 3;
        }

        if (settings.ContainersConf is { } conf && Environment.GetEnvironmentVariable("CONTAINERS_CONF") is null)
        {
            // Evidence capture runs podman (pause, diff, export) too: it must see the same runtime settings.
            Environment.SetEnvironmentVariable("CONTAINERS_CONF", conf);
        }

        if (!AlertPriorities.TryParse(settings.Evidence.CaptureMinPriority, out _)
            && !string.Equals(settings.Evidence.CaptureMinPriority, "none", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"sensor: Sensor:Evidence:CaptureMinPriority '{settings.Evidence.CaptureMinPriority}' is not a Falco priority or 'none'");
            return 2;
        }

        var settingProblems = settings.Kubernetes.Problems().ToList();
        if (settings.HeartbeatSeconds < 1)
            settingProblems.Add("Sensor:HeartbeatSeconds must be at least 1");
        settingProblems.AddRange(KernelProbe.PatternProblems("Sensor:WatchPaths", settings.WatchPaths ?? []));
        if (settingProblems.Count > 0)
        {
            Console.Error.WriteLine("sensor: " + string.Join("; ", settingProblems));
            return 2;
        }

        var time = TimeProvider.System;
        var registry = Metrics.NewCustomRegistry();
        // GC heap, collections and process memory next to the sensor's own figures (memory benchmark, leaks in production).
        DotNetStats.Register(registry);
        var metrics = new SensorMetrics(registry);
        var rulesConfig = settings.RulesConfig is { } rulesFile
            ? Sensor.Rules.RulesConfig.FromYaml(File.ReadAllText(rulesFile))
            : null;
        var rules = rulesConfig?.LoadRules() ?? RuleDetector.Load(
            settings.Rules.Count > 0 ? settings.Rules : RuleDetector.DefaultPaths(), settings.Node).Rules;
        var kinds = new RuleDetector(rules, settings.Node).RequiredKinds();
        var watched = settings.WatchPaths is { Count: > 0 } configured
            ? new Sensor.Rules.PathPatterns(configured, [])
            : RuleDetector.WatchedOpenPaths(rules);
        var channel = Channel.CreateBounded<KernelEvent>(new BoundedChannelOptions(65_536)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        await using var probe = KernelProbe.Start(new KernelProbeOptions
        {
            ObjectPath = objectPath,
            Kinds = kinds,
            ContainerOnly = settings.ContainerOnly,
            WatchedPathPrefixes = watched.Prefixes,
            WatchedPathSuffixes = watched.Suffixes,
        }, channel.Writer, time);
        // Enforcement acts through the probe's kernel maps (IKernelEnforcement); off unless the rules config enables it.
        var enforcement = new Sensor.Rules.Enforcement.EnforcementPolicy(
            rulesConfig?.Enforcement ?? new Sensor.Rules.Enforcement.EnforcementOptions(), probe);
        var detector = new RuleDetector(rules, settings.Node, enforcement);
        var activeKinds = string.Join(", ", probe.ActiveKinds);
        LogStarted(log, detector.Rules.Rules.Count, activeKinds, settings.ServiceUrl);
        foreach (var missing in probe.Unavailable)
            LogHookMissing(log, missing);
        if (probe.ActiveKinds.Contains(EventKind.Open))
            LogWatchedPaths(log, settings.WatchPaths is { Count: > 0 } ? "Sensor:WatchPaths" : "the loaded rules", watched);

        var table = new ProcessTable(time);
        table.SeedFromProc();
        var pods = StartPodDirectory(settings, registry, time, app.Services.GetRequiredService<ILoggerFactory>());
        var containers = new ContainerDirectory(new PodmanRuntime(settings.ContainersConf), pods?.Directory, time);
        containers.Learned += (id, metadata) => enforcement.OnContainerLearned(id, metadata.Pod);
        if (pods is { } watch)
            watch.Directory.Index.ContainerLearned += enforcement.OnContainerLearned;
        var spool = new AlertSpool(settings.SpoolDir, settings.SpoolCapacity);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var delivery = new ShipperOptions { ServiceUrl = ServiceBase(settings.ServiceUrl), Token = settings.Token };
        var shipper = new AlertShipper(spool, http, delivery,
            time, app.Services.GetRequiredService<ILogger<AlertShipper>>(), metrics);

        // The command channel (kill, capture on request) and evidence uploads share one client with the sensor token.
        var longPoll = TimeSpan.FromSeconds(settings.CommandPollSeconds);
        using var commandHttp = TriageCommandClient.CreateHttpClient(ServiceBase(settings.ServiceUrl), settings.Token, longPoll);
        var commands = new TriageCommandClient(commandHttp, settings.Node);
        var evidence = new EvidenceCapture(
            new EvidenceCollector(settings.Evidence, time, app.Services.GetRequiredService<ILogger<EvidenceCollector>>()),
            commands, app.Services.GetRequiredService<ILogger<EvidenceCapture>>());
        var atDetection = new DetectionCapture(settings.Evidence, evidence.Enqueue, time);
        var executor = new ResponseExecutor(commands, evidence, time, app.Services.GetRequiredService<ILogger<ResponseExecutor>>())
        {
            LongPoll = longPoll,
        };

        var pipeline = new SensorPipeline(channel.Reader, new Pipeline.EventBuilder(table, containers, time), detector, containers, spool,
            metrics, new PipelineOptions { PodWait = TimeSpan.FromSeconds(settings.PodWaitSeconds) },
            app.Services.GetRequiredService<ILogger<SensorPipeline>>(), atDetection);

        var started = time.GetUtcNow();
        var lastEvent = new StrongBox<long>(0);
        pipeline.Observed += e => Volatile.Write(ref lastEvent.Value, e.Time.UtcTicks);
        var heartbeat = new HeartbeatSender(http, delivery, settings.Node, () => new SensorHeartbeat
        {
            Node = settings.Node,
            SensorVersion = SensorVersion,
            StartedAt = started,
            SentAt = time.GetUtcNow(),
            UptimeSeconds = Math.Round((time.GetUtcNow() - started).TotalSeconds, 1),
            RulesLoaded = detector.Rules.Rules.Count,
            KernelDrops = Enum.GetValues<EventKind>().Where(k => k != EventKind.None).ToDictionary(k => k.ToString().ToLowerInvariant(), k => (long)probe.KernelDrops(k)),
            ChannelDrops = (long)probe.UserDrops,
            SpoolDepth = spool.Count,
            SpoolDropped = spool.Dropped,
            ShipLagSeconds = shipper.LastShipLagSeconds,
            LastEventAt = Volatile.Read(ref lastEvent.Value) is > 0 and var ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null,
            PodsKnown = pods?.Directory.Index.PodCount,
        }, TimeSpan.FromSeconds(settings.HeartbeatSeconds), time, app.Services.GetRequiredService<ILogger<HeartbeatSender>>());

        registry.AddBeforeCollectCallback(() =>
        {
            foreach (var kind in Enum.GetValues<EventKind>())
                metrics.KernelDrops.WithLabels(kind.ToString().ToLowerInvariant()).Set(probe.KernelDrops(kind));
            metrics.UserDrops.Set(probe.UserDrops);
            metrics.SpoolDepth.Set(spool.Count);
            metrics.SpoolDropped.Set(spool.Dropped);
            metrics.ShipLag.Set(shipper.LastShipLagSeconds);
            metrics.Shipped.Set(shipper.Shipped);
            metrics.Containers.Set(containers.Count);
            metrics.Processes.WithLabels("live").Set(table.LiveCount);
            metrics.Processes.WithLabels("tombstone").Set(table.TombstoneCount);
            metrics.EvidenceRequested.Set(atDetection.Requested);
            metrics.EvidenceDropped.Set(atDetection.Dropped);
            metrics.DenyEntries.Set(probe.DenyEntries().Count);
            metrics.DenyRemoved.Set(enforcement.RemovedCgroups);
            metrics.DenyFailures.Set(enforcement.DenyFailures);
            var gc = GC.GetGCMemoryInfo();
            metrics.GcMemory.WithLabels("committed").Set(gc.TotalCommittedBytes);
            metrics.GcMemory.WithLabels("heap").Set(gc.HeapSizeBytes);
            metrics.GcMemory.WithLabels("fragmented").Set(gc.FragmentedBytes);
        });
        app.MapMetrics("/metrics", registry);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(app.Lifetime.ApplicationStopping);
        await evidence.StartAsync(stop.Token);
        await executor.StartAsync(stop.Token);
        LogResponseOn(log, settings.Node, settings.Evidence.CaptureMinPriority, settings.Evidence.CaptureRules.Count);
        var running = Task.WhenAll(pipeline.RunAsync(stop.Token), shipper.RunAsync(stop.Token),
            pods?.Directory.RunAsync(stop.Token) ?? Task.CompletedTask, heartbeat.RunAsync(stop.Token),
            enforcement.RunAsync(time, stop.Token));
        await app.StartAsync(cancellationToken);
        await app.WaitForShutdownAsync(cancellationToken);
        await stop.CancelAsync();
        await running;
        await executor.StopAsync(CancellationToken.None);
        await evidence.StopAsync(CancellationToken.None);
        pods?.Client.Dispose();
        return 0;
    }

    /// <summary>The Kubernetes pod directory when configured (its watch runs with the pipeline), else null.</summary>
    private static (KubernetesPodDirectory Directory, k8s.Kubernetes Client)? StartPodDirectory(
        SensorSettings settings, Prometheus.CollectorRegistry registry, TimeProvider time, ILoggerFactory logs)
    {
        var k8sSettings = settings.Kubernetes;
        var configuration = k8sSettings.ClientConfiguration();
        var log = logs.CreateLogger("Sensor");
        if (configuration is null)
        {
            LogKubernetesOff(log);
            return null;
        }

        var node = k8sSettings.NodeName is { Length: > 0 } n ? n : settings.Node;
        var client = new k8s.Kubernetes(configuration);
        var directory = new KubernetesPodDirectory(client, new PodIndex(time, TimeSpan.FromSeconds(k8sSettings.TombstoneSeconds)),
            new PodWatchOptions
            {
                NodeName = node,
                WatchTimeout = TimeSpan.FromSeconds(k8sSettings.WatchTimeoutSeconds),
                MaxBackoff = TimeSpan.FromSeconds(k8sSettings.MaxBackoffSeconds),
            }, time, logs.CreateLogger<KubernetesPodDirectory>());
        directory.RegisterMetrics(registry);
        var source = k8sSettings.Describe();
        LogKubernetesOn(log, source, node);
        return (directory, client);
    }

    /// <summary>The sensor's build version, as the heartbeat reports it.</summary>
    internal static string SensorVersion { get; } =
        typeof(SensorHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "dev";

    /// <summary>The service URL as a base address: relative request paths need the trailing slash.</summary>
    internal static Uri ServiceBase(string url) => new(url.EndsWith('/') ? url : url + "/");

    [LoggerMessage(Level = LogLevel.Information, Message = "Response on: polling commands for node {Node}; evidence at detection for priority >= {MinPriority} and {Rules} named rules")]
    private static partial void LogResponseOn(ILogger logger, string node, string minPriority, int rules);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor on: {Rules} rules, syscall hooks [{Kinds}], shipping to {Url}")]
    private static partial void LogStarted(ILogger logger, int rules, string kinds, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes pods: {Source}, node {Node} (container runtime labels as the fallback)")]
    private static partial void LogKubernetesOn(ILogger logger, string source, string node);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes pods: off (no Sensor:Kubernetes settings and not in a cluster); pod context from container runtime labels only")]
    private static partial void LogKubernetesOff(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Opens reported (from {Source}): {Paths}")]
    private static partial void LogWatchedPaths(ILogger logger, string source, Sensor.Rules.PathPatterns paths);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Hook not available on this kernel: {What}")]
    private static partial void LogHookMissing(ILogger logger, string what);
}
