using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using Sensor.Containers;
using Sensor.Delivery;
using Sensor.Detection;
using Sensor.Events;
using Sensor.Hosting;
using Sensor.Kernel;
using Sensor.Processes;
using Sensor.Rules.Enforcement;
using Sensor.Tests.Support;
using Triage.Contracts;

namespace Sensor.Tests.Rules.Live;

/// <summary>
/// One live sensor with the default rule pack, shared by a test class: the real kernel programs, process table,
/// container directory, rule detector (with enforcement) and spool, exactly as <see cref="SensorHost"/> composes them,
/// minus HTTP. Starting it once and running every trigger in one long-lived container keeps the live rule tests to
/// seconds on CI's two vCPUs. Every event after the rules ran and every alert are kept for assertions.
/// </summary>
public sealed class LiveSensor : IAsyncDisposable
{
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private readonly ConcurrentQueue<SensorEvent> _observed = new();
    private long _lagMs;
    private readonly List<string> _containers = [];
    private readonly List<string> _images = [];
    private KernelProbe? _probe;
    private AlertSpool? _spool;
    private CancellationTokenSource? _stop;
    private Task? _run;
    private DirectoryInfo? _dir;
    private string? _image;

    /// <summary>Kubernetes namespace whose containers get their metadata connects denied (rules.enforcement).</summary>
    public const string DeniedNamespace = "locked-down";

    private const string Node = "live-test-node";

    private EnforcementPolicy? _enforcement;

    /// <summary>
    /// The kernel reports only opens some loaded rule can match (paths derived from the rules). The near-miss opens
    /// the tests must see (AssertNoAlert waits for the event) are paths no default rule reads, so this rule asks for
    /// them; it never fires (no process has that name), so it adds no alert.
    /// </summary>
    private const string NearMissWatch = """
        - rule: Live test near-miss opens (watch only)
          desc: makes the kernel report the near-miss opens of DefaultRulesLiveTests
          condition: >
            evt.type in (open, openat, openat2)
            and fd.name in (/etc/passwd, /proc/1/status, /root/.aws/config)
            and proc.name = never-runs-here
          output: never
          priority: DEBUG
        """;

    /// <summary>
    /// Waits until the sensor denies metadata connects for the container (it does once the runtime's metadata names
    /// the container's namespace, a few hundred milliseconds after the container started).
    /// </summary>
    public async Task WaitUntilDenied(string containerId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            var cgroup = Observed.LastOrDefault(e => e.Container!.FullId == containerId && e.Process.CgroupId != 0)?.Process.CgroupId;
            if (cgroup is { } id && _enforcement!.DeniesCgroup(id))
            {
                return;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.Fail($"metadata connects of container {containerId[..12]} were never denied");
    }

    internal EnforcementPolicy Enforcement => _enforcement ?? throw new InvalidOperationException("not started");

    /// <summary>The cgroup id of the container's processes, from the events the sensor saw.</summary>
    internal ulong CgroupOf(string containerId) =>
        Observed.Last(e => e.Container!.FullId == containerId && e.Process.CgroupId != 0).Process.CgroupId;

    internal KernelProbe Probe => _probe ?? throw new InvalidOperationException("not started");

    /// <summary>The busybox image with the rule helper (rulehelper, built statically) in /bin.</summary>
    public string Image => _image ?? throw new InvalidOperationException("not started");

    /// <summary>Starts the sensor and builds the image on first call (after the test's Requires checks).</summary>
    public async Task EnsureStarted()
    {
        await _startLock.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (_probe is not null)
            {
                return;
            }

            _image = await BuildImage();
            var obj = BpfObjectLocator.Find();
            var time = TimeProvider.System;
            var rules = new Sensor.Rules.RuleLoader().LoadPath(Path.Combine(RepoFiles.Root, "Sensor", "rules"))
                .LoadText(NearMissWatch, "near-miss-watch.yaml").Build();
            var channel = Channel.CreateBounded<KernelEvent>(65_536);
            var detectorKinds = new RuleDetector(rules, Node).RequiredKinds();
            // The paths the sensor derives from the rules by default: the test must see what production sees.
            var watched = RuleDetector.WatchedOpenPaths(rules);
            _probe = KernelProbe.Start(new KernelProbeOptions
            {
                ObjectPath = obj,
                Kinds = detectorKinds,
                WatchedPathPrefixes = watched.Prefixes,
                WatchedPathSuffixes = watched.Suffixes,
                // Syscalls of containers only (exec, fork and exit still for every process): on a node shared with
                // other builds, host syscalls would otherwise put the pipeline seconds behind the containers here.
                ContainerOnly = true,
            }, channel.Writer, time);
            var enforcement = _enforcement = new EnforcementPolicy(new EnforcementOptions
            {
                Enabled = true,
                DenyMetadata = new MetadataDenyOptions { Namespaces = [DeniedNamespace] },
            }, _probe)
            {
                // Production checks every 10 s; a removal test should not wait that long.
                RemovedCheckInterval = TimeSpan.FromMilliseconds(200),
            };
            var detector = new RuleDetector(rules, Node, enforcement);
            var table = new ProcessTable(time);
            table.SeedFromProc();
            var containers = new ContainerDirectory(new PodmanRuntime(Podman.ConfigPath), pods: null, time);
            containers.Learned += (id, metadata) => enforcement.OnContainerLearned(id, metadata.Pod);
            _dir = Directory.CreateTempSubdirectory("sensor-live-spool-");
            _spool = new AlertSpool(_dir.FullName);
            var pipeline = new SensorPipeline(channel.Reader, new Sensor.Pipeline.EventBuilder(table, containers, time), detector,
                containers, _spool, new SensorMetrics(Metrics.NewCustomRegistry()),
                // CI's two vCPUs under a full test run can take seconds for podman inspect: wait for the metadata.
                new PipelineOptions { PodWait = TimeSpan.FromSeconds(15) },
                NullLogger<SensorPipeline>.Instance);
            pipeline.Observed += e =>
            {
                if (e.Container is not null)
                {
                    _observed.Enqueue(e);
                    // How far behind the kernel the pipeline runs (a busy node shows here first).
                    Interlocked.Exchange(ref _lagMs, (long)(DateTimeOffset.UtcNow - e.Time).TotalMilliseconds);
                }
            };
            _stop = new CancellationTokenSource();
            _run = Task.WhenAll(pipeline.RunAsync(_stop.Token), enforcement.RunAsync(time, _stop.Token));
        }
        finally
        {
            _startLock.Release();
        }
    }

    /// <summary>Starts a long-lived container (<c>sleep</c>) and returns its full id once it runs.</summary>
    public Task<string> StartContainer(params string[] podmanArgs) => StartContainer(podmanArgs, ["sleep", "3600"]);

    /// <summary>Starts a container running <paramref name="command"/> and returns its full id.</summary>
    public async Task<string> StartContainer(string[] podmanArgs, string[] command)
    {
        var name = Podman.UniqueName("rules");
        lock (_containers)
        {
            _containers.Add(name);
        }

        var id = (await Shell.Check("podman", ["run", "-d", "--name", name, .. podmanArgs, Image, .. command])).Trim();
        Assert.Equal(64, id.Length);
        return id;
    }

    /// <summary><c>podman exec</c> of a shell script in the container; returns exit code and output.</summary>
    public static async Task<(int Pid, int ExitCode, string Output)> Exec(string container, string script, bool tty = false)
    {
        var result = await ExecRetryingWhilePaused(tty ? ["exec", "-t", container, "sh", "-c", script] : ["exec", container, "sh", "-c", script]);
        RecentExecs.Enqueue($"[{result.ExitCode}] {script.ReplaceLineEndings(" ")} => {result.Output.Trim()}");
        while (RecentExecs.Count > 4)
        {
            RecentExecs.TryDequeue(out _);
        }

        return result;
    }

    private static readonly ConcurrentQueue<string> RecentExecs = new();

    /// <summary>
    /// <c>podman exec</c>, retried while the container is paused: any other sensor running on this node (the attack
    /// scenario's, the host tests') captures evidence when one of these triggers fires, and pauses the container for
    /// the export. Production behaviour, not a test failure.
    /// </summary>
    public static async Task<(int Pid, int ExitCode, string Output)> ExecRetryingWhilePaused(string[] podmanArgs)
    {
        for (var attempt = 0; ; attempt++)
        {
            var result = await Shell.Run("podman", podmanArgs);
            if (attempt >= 60 || result.ExitCode == 0 || !result.Output.Contains("container state improper", StringComparison.Ordinal))
            {
                return result;
            }

            await Task.Delay(500, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Alerts shipped so far (the spool, as the shipper would read it).</summary>
    public IReadOnlyList<NativeAlert> Alerts => _spool!.Peek(100_000).Select(x => x.Alert).ToList();

    /// <summary>Events from containers the rules saw so far.</summary>
    internal IReadOnlyList<SensorEvent> Observed => _observed.ToArray();

    public async Task<NativeAlert> WaitForAlert(string rule, string containerId, Func<NativeAlert, bool> match, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var hit = Alerts.FirstOrDefault(a => a.Rule == rule && a.Container?.Id == containerId[..12] && match(a));
            if (hit is not null)
            {
                return hit;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        var seen = string.Join("\n  ", Alerts.Where(a => a.Container?.Id == containerId[..12]).Select(a => $"{a.Rule}: {a.Output}"));
        var events = string.Join("\n  ", Observed.Where(e => e.Container!.FullId == containerId).TakeLast(40).Select(Describe));
        Assert.Fail($"no '{rule}' alert within 30 s: {what}\nlast podman execs:\n  {string.Join("\n  ", RecentExecs)}"
            + $"\npipeline lag at the last container event: {Interlocked.Read(ref _lagMs)} ms, kernel channel drops {_probe!.UserDrops}"
            + $"\nalerts from the container:\n  {seen}\nlast events:\n  {events}");
        return null!;
    }

    /// <summary>
    /// The near-miss check: waits until the sensor has seen an event matching <paramref name="seen"/> (so the test
    /// cannot pass because nothing was observed), gives the pipeline time to ship, then asserts that no alert of
    /// <paramref name="rule"/> came from the processes of those events.
    /// </summary>
    internal async Task AssertNoAlert(string rule, string containerId, Func<SensorEvent, bool> seen, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        List<SensorEvent> events = [];
        while (DateTime.UtcNow < deadline)
        {
            events = Observed.Where(e => e.Container!.FullId == containerId && seen(e)).ToList();
            if (events.Count > 0)
            {
                break;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.True(events.Count > 0, $"the sensor never saw the near miss ({what}); last events:\n  "
            + string.Join("\n  ", Observed.Where(e => e.Container!.FullId == containerId).TakeLast(40).Select(Describe)));
        // Alerts of a container are spooled once its runtime metadata is known; a second is plenty here.
        await Task.Delay(1000, TestContext.Current.CancellationToken);
        // Alert ids are derived from the event (RuleDetector.AlertId), so this names exactly the alerts these events raised.
        var ids = events.Select(e => RuleDetector.AlertId(Node, rule, e)).ToHashSet();
        var wrong = Alerts.Where(a => ids.Contains(a.Id!)).ToList();
        Assert.True(wrong.Count == 0, $"'{rule}' fired on the near miss ({what}): {string.Join("; ", wrong.Select(a => a.Output))}");
    }

    internal static string Describe(SensorEvent e) =>
        $"{e.Type} res={e.Result} proc={e.Process.Name} exe={e.Process.ExePath} cmd=[{e.Process.Cmdline}] "
        + $"parent={(e.Ancestors.Count > 0 ? e.Ancestors[0].Name : "-")} fd={e.Fd?.Name} tty={e.Process.Tty} "
        + $"upper={e.Process.IsExeUpperLayer} memfd={e.Process.IsExeFromMemfd} args={string.Join(',', e.Args.Select(kv => $"{kv.Key}={kv.Value}"))}";

    private async Task<string> BuildImage()
    {
        var root = Directory.CreateTempSubdirectory("sensor-rules-rootfs-");
        try
        {
            foreach (var d in new[] { "bin", "etc", "tmp", "proc", "dev", "sys", "root", "var", "srv" })
            {
                Directory.CreateDirectory(Path.Combine(root.FullName, d));
            }

            File.Copy("/bin/busybox", Path.Combine(root.FullName, "bin", "busybox"));
            var applets = await Shell.Check("/bin/busybox", "--list");
            foreach (var applet in applets.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (applet != "busybox")
                {
                    File.CreateSymbolicLink(Path.Combine(root.FullName, "bin", applet), "busybox");
                }
            }

            var helperSource = Path.Combine(RepoFiles.Root, "tests", "Sensor.Tests", "Rules", "Live", "rulehelper.c");
            await Shell.Check("clang", "-static", "-O2", "-o", Path.Combine(root.FullName, "bin", "rulehelper"), helperSource);
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "passwd"),
                "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/srv:/bin/sh\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "group"), "root:x:0:\nwww:x:33:\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "shadow"), "root:*:19000:0:99999:7:::\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "gshadow"), "root:*::\n");
            // The benign service of the false-positive run, part of the image as an application's files would be.
            var app = Path.Combine(RepoFiles.Root, "tests", "Sensor.Tests", "Rules", "Live", "benign-app");
            Directory.CreateDirectory(Path.Combine(root.FullName, "srv", "app"));
            Directory.CreateDirectory(Path.Combine(root.FullName, "srv", "www", "cgi-bin"));
            Directory.CreateDirectory(Path.Combine(root.FullName, "etc", "crontabs"));
            foreach (var script in new[] { "entry.sh", "worker.sh", "job.sh", "rotate.sh", "health.sh" })
            {
                File.Copy(Path.Combine(app, script), Path.Combine(root.FullName, "srv", "app", script));
            }

            File.Copy(Path.Combine(app, "status.cgi"), Path.Combine(root.FullName, "srv", "www", "cgi-bin", "status"));
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "srv", "www", "index.html"), "<h1>shop</h1>\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "app.conf"), "level=debug\nname=shop\n");
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "etc", "crontabs", "root"),
                "* * * * * /srv/app/job.sh\n* * * * * /srv/app/rotate.sh\n");
            await Shell.Check("chmod", "-R", "a+rx", Path.Combine(root.FullName, "srv"));
            var tar = root.FullName + ".tar";
            await Shell.Check("tar", "-C", root.FullName, "-cf", tar, ".");
            var image = $"localhost/sensortest-rules-{Environment.ProcessId}:{Guid.NewGuid():N}";
            await Shell.Check("podman", "import", "-q", tar, image);
            File.Delete(tar);
            lock (_images)
            {
                _images.Add(image);
            }

            return image;
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        string[] names;
        lock (_containers)
        {
            names = [.. _containers];
        }

        foreach (var n in names)
        {
            await Shell.Run("podman", "rm", "-f", "-t", "0", "--ignore", n);
        }

        foreach (var image in _images)
        {
            await Shell.Run("podman", "rmi", "-f", image);
        }

        if (_stop is not null)
        {
            await _stop.CancelAsync();
            await _run!;
            _stop.Dispose();
        }

        if (_probe is not null)
        {
            await _probe.DisposeAsync();
        }

        _dir?.Delete(true);
        _startLock.Dispose();
    }
}
