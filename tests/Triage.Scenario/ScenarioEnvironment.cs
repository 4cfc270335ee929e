using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Fakes.Kubernetes;
using Triage.Fakes.Slack;

namespace Triage.Scenario;

/// <summary>
/// Everything the attack runs against, started once: the fake Kubernetes API and Slack (in this process), the
/// network namespaces with the fake metadata service and the second host, the busybox image, the triage service and
/// the sensor (their own processes, as run.sh starts them). Disposed in reverse order; nothing is left behind.
/// </summary>
public sealed class ScenarioEnvironment : IAsyncDisposable
{
    public const string Namespace = "payments";

    private readonly Stack<Func<ValueTask>> _cleanup = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TextWriter _output;

    private ScenarioEnvironment(string id, TextWriter output, DirectoryInfo directory)
    {
        Id = id;
        _output = output;
        Directory = directory;
        Node = $"scenario-node-{id}";
    }

    public string Id { get; }
    public string Node { get; }
    public DirectoryInfo Directory { get; }
    public FakeKubernetesApi Kubernetes { get; private set; } = null!;
    public FakeSlackWebApi Slack { get; private set; } = null!;
    public AttackNetwork Network { get; private set; } = null!;
    public string Image { get; private set; } = "";
    public HttpClient Api { get; private set; } = null!;
    public Uri ServiceUrl { get; private set; } = null!;

    /// <summary>Requests the fake metadata service answered, as it reported them.</summary>
    public ConcurrentQueue<string> MetadataRequests { get; } = new();

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Keep the run's directory (configuration, database, evidence, logs) after dispose. Set on failure.</summary>
    public bool KeepFiles { get; set; }

    public void Say(string text)
    {
        lock (_output)
        {
            _output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:0.0}s] {text}");
        }
    }

    public void Detail(string text)
    {
        lock (_output)
        {
            _output.WriteLine($"          {text}");
        }
    }

    /// <summary>What is missing for the scenario on this machine (root, podman, busybox, ip, the built binaries), or empty.</summary>
    public static IReadOnlyList<string> MissingPrerequisites()
    {
        var missing = new List<string>();
        if (Native.GetEuid() != 0)
        {
            missing.Add("root (eBPF, network namespaces and podman need it)");
        }

        foreach (var (file, what) in new[] { ("/usr/bin/podman", "podman"), ("/bin/busybox", "busybox-static"), ("/usr/sbin/ip", "iproute2"), ("/usr/bin/runc", "runc") })
        {
            if (!File.Exists(file) && !File.Exists(file.Replace("/usr/sbin/", "/sbin/", StringComparison.Ordinal)))
            {
                missing.Add($"{what} ({file})");
            }
        }

        foreach (var dll in new[] { RepoLayout.ServiceDll, RepoLayout.SensorDll, RepoLayout.ScenarioDll })
        {
            if (!File.Exists(dll))
            {
                missing.Add($"{dll} (build the solution in {RepoLayout.Configuration})");
            }
        }

        var bpf = Path.Combine(Path.GetDirectoryName(RepoLayout.SensorDll)!, "bpf", "sensor.bpf.o");
        if (File.Exists(RepoLayout.SensorDll) && !File.Exists(bpf))
        {
            missing.Add($"{bpf} (the sensor's eBPF object: clang, bpftool, libbpf-dev and kernel BTF at build time)");
        }

        return missing;
    }

    public static async Task<ScenarioEnvironment> StartAsync(TextWriter output, CancellationToken ct)
    {
        var id = Guid.NewGuid().ToString("N")[..6];
        var stack = new ScenarioEnvironment(id, output, System.IO.Directory.CreateTempSubdirectory($"triage-scenario-{id}-"));
        try
        {
            await stack.StartAllAsync(ct);
            return stack;
        }
        catch
        {
            stack.KeepFiles = true;
            await stack.DisposeAsync();
            throw;
        }
    }

    private async Task StartAllAsync(CancellationToken ct)
    {
        Say($"Setting up (run {Id}, files and logs in {Directory.FullName})");

        Kubernetes = await FakeKubernetesApi.StartAsync(cancellationToken: ct);
        _cleanup.Push(() => Kubernetes.DisposeAsync());
        Kubernetes.AddNamespace(Namespace, new Dictionary<string, string> { ["team"] = "payments" });
        Slack = (await FakeSlackWebApi.StartAsync()).AddChannel(ScenarioConfig.SocChannel).AddChannel(ScenarioConfig.PaymentsChannel)
            .AddUser("U0ALICE").AddUser("U0CAROL").AddUser("U0ERIN");
        _cleanup.Push(() => Slack.DisposeAsync());
        Detail($"fake Kubernetes API {Kubernetes.BaseAddress}, fake Slack Web API {Slack.BaseUrl}");

        Network = await AttackNetwork.CreateAsync(Id);
        _cleanup.Push(() => Network.DisposeAsync());
        Detail($"network namespaces {Network.Workload} (workload), {Network.Metadata} ({AttackNetwork.MetadataAddress}), {Network.Lateral} ({AttackNetwork.LateralAddress})");

        var imds = ChildProcess.Start(Log("imds"), null, "ip", "netns", "exec", Network.Metadata, "dotnet", RepoLayout.ScenarioDll, "imds",
            "--url", $"http://{AttackNetwork.MetadataAddress}:80");
        _cleanup.Push(() => imds.DisposeAsync());
        var imdsReady = new TaskCompletionSource();
        imds.OnLine = line =>
        {
            if (line.StartsWith("imds: listening", StringComparison.Ordinal))
            {
                imdsReady.TrySetResult();
            }
            else if (line.StartsWith("imds: ", StringComparison.Ordinal))
            {
                MetadataRequests.Enqueue(line["imds: ".Length..]);
            }
        };
        await imdsReady.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        Detail($"fake IMDSv2 listening on {AttackNetwork.MetadataAddress}:80 inside {Network.Metadata} (pid {imds.Pid})");

        Image = await BusyboxImage.BuildAsync($"registry.example.com/payments/checkout:1.4.2-{Id}");
        _cleanup.Push(async () => await Shell.TryRunAsync("podman", "rmi", "-f", Image));
        Detail($"image {Image} built from /bin/busybox and imported into podman");

        var port = Shell.FreePort();
        ServiceUrl = new Uri($"http://127.0.0.1:{port}/");
        var config = Path.Combine(Directory.FullName, "triage.yaml");
        await File.WriteAllTextAsync(config, ScenarioConfig.Yaml(Directory.FullName, Kubernetes.BaseAddress, Slack.BaseUrl, Slack.Token), ct);
        var service = ChildProcess.Start(Log("service"), null, "dotnet", RepoLayout.ServiceDll, "serve", "--config", config,
            "--urls", ServiceUrl.ToString().TrimEnd('/'));
        _cleanup.Push(() => service.DisposeAsync());
        Api = new HttpClient { BaseAddress = ServiceUrl };
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ScenarioConfig.OperatorToken);
        _cleanup.Push(() => { Api.Dispose(); return ValueTask.CompletedTask; });
        await WaitUntilAsync(async () => (await TryGet(new Uri(ServiceUrl, "readyz"))) == 200, service, "the triage service to be ready", "service", ct);
        Detail($"triage service on {ServiceUrl} (pid {service.Pid}, SQLite, config {config})");

        var metrics = $"http://127.0.0.1:{Shell.FreePort()}";
        var sensor = ChildProcess.Start(Log("sensor"), null, "dotnet", RepoLayout.SensorDll,
            $"--Sensor:ServiceUrl={ServiceUrl}", $"--Sensor:Token={ScenarioConfig.SensorToken}", $"--Sensor:Node={Node}",
            $"--Sensor:SpoolDir={Path.Combine(Directory.FullName, "spool")}", $"--Sensor:MetricsUrl={metrics}",
            $"--Sensor:ContainersConf={RepoLayout.PodmanConfig}", "--Sensor:ContainerOnly=true",
            $"--Sensor:Evidence:WorkDirectory={Directory.FullName}", "--Sensor:CommandPollSeconds=10");
        _cleanup.Push(() => sensor.DisposeAsync());
        await WaitUntilAsync(async () => (await TryGet(new Uri(metrics + "/metrics"))) == 200, sensor, "the sensor to load its eBPF programs", "sensor", ct);
        Detail($"sensor on node {Node} (pid {sensor.Pid}): eBPF programs attached, command channel polled, metrics on {metrics}/metrics");
    }

    /// <summary>
    /// Adds a Deployment (three rollouts, owner labels) to the fake API and creates a container presented as its pod:
    /// podman's io.kubernetes.pod.* labels for the sensor, the real container id in the pod's status for the service.
    /// The container is created, not started.
    /// </summary>
    public async Task<WorkloadContainer> CreateWorkloadAsync(string workload, string script, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var labels = new Dictionary<string, string> { ["team"] = "payments", ["app.kubernetes.io/name"] = workload };
        var pod = Kubernetes.AddDeployment(Namespace, workload,
        [
            new Rollout(now.AddDays(-9), "registry.example.com/payments/checkout:1.4.0", "release 1.4.0"),
            new Rollout(now.AddDays(-2), "registry.example.com/payments/checkout:1.4.1", "release 1.4.1: card tokenisation"),
            new Rollout(now.AddMinutes(-25), Image, "release 1.4.2: faster receipts"),
        ], node: Node, labels: labels, podLabels: labels);
        var name = $"tsc-{Id}-{workload}";
        var id = (await Shell.RunAsync("podman", "create", "--name", name, "--hostname", pod.Pod,
            "--network", $"ns:/run/netns/{Network.Workload}",
            "--label", $"io.kubernetes.pod.name={pod.Pod}", "--label", $"io.kubernetes.pod.namespace={Namespace}",
            "--label", $"io.kubernetes.container.name=app",
            Image, "sh", "-c", script)).Trim();
        _cleanup.Push(async () => await Shell.TryRunAsync("podman", "rm", "-f", "-t", "0", "--ignore", name));
        Kubernetes.Store.Update(KubernetesResources.Pods, Namespace, pod.Pod, p =>
        {
            p["status"]!["containerStatuses"]![0]!["containerID"] = $"containerd://{id}";
            return p;
        });
        return new WorkloadContainer(name, id, pod.Pod, workload);
    }

    public static async Task StartAsync(WorkloadContainer container) => await Shell.RunAsync("podman", "start", container.Name);

    /// <summary>Follows a container's output (podman logs -f) until the stack is disposed.</summary>
    public ChildProcess FollowLogs(WorkloadContainer container, Action<string> line)
    {
        var logs = ChildProcess.Start(Log(container.Workload + "-container"), null, "podman", "logs", "-f", container.Name);
        logs.OnLine = line;
        _cleanup.Push(() => logs.DisposeAsync());
        return logs;
    }

    /// <summary>A listener on the second host (<c>nc -l</c> inside its namespace) whose output comes back line by line.</summary>
    public ChildProcess ListenOnSecondHost(Action<string> line)
    {
        var listener = ChildProcess.Start(Log("second-host"), null, "ip", "netns", "exec", Network.Lateral, "busybox", "nc", "-l", "-p",
            AttackNetwork.LateralPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        listener.OnLine = line;
        _cleanup.Push(() => listener.DisposeAsync());
        return listener;
    }

    public async Task<JsonElement> GetJsonAsync(string path, CancellationToken ct)
    {
        using var response = await Api.GetAsync(path, ct);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>(ct);
    }

    public async Task<JsonElement> ActAsync(long incident, string action, string actor, CancellationToken ct)
    {
        using var response = await Api.PostAsJsonAsync($"api/v1/incidents/{incident}/actions/{action}", new JsonObject { ["actor"] = actor }, ct);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"{action} on incident {incident}: {(int)response.StatusCode} {body}");
    }

    private string Log(string name) => Path.Combine(Directory.FullName, name + ".log");

    private static async Task<int> TryGet(Uri url)
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            using var response = await http.GetAsync(url);
            return (int)response.StatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return 0;
        }
    }

    private async Task WaitUntilAsync(Func<Task<bool>> ready, ChildProcess process, string what, string log, CancellationToken ct)
    {
        for (var deadline = Elapsed + TimeSpan.FromSeconds(90); Elapsed < deadline;)
        {
            if (await ready())
            {
                return;
            }

            if (process.HasExited)
            {
                var tail = string.Join('\n', (await File.ReadAllLinesAsync(Log(log), ct)).TakeLast(15));
                throw new InvalidOperationException($"waiting for {what}: the process exited:\n{tail}");
            }

            await Task.Delay(200, ct);
        }

        throw new TimeoutException($"waited 90 s for {what}; see {Log(log)}");
    }

    public async ValueTask DisposeAsync()
    {
        while (_cleanup.TryPop(out var step))
        {
            try
            {
                await step();
            }
#pragma warning disable CA1031 // cleanup goes on whatever one step throws: namespaces and containers must not be left behind
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Say($"cleanup step failed: {ex.Message}");
            }
        }

        if (KeepFiles)
        {
            Say($"Kept {Directory.FullName} (configuration, database, evidence, logs of the service, sensor and fakes)");
        }
        else
        {
            Directory.Delete(recursive: true);
        }
    }
}

/// <summary>A podman container presented as pod <see cref="Pod"/> of Deployment <see cref="Workload"/>.</summary>
public sealed record WorkloadContainer(string Name, string Id, string Pod, string Workload);
