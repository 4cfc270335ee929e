using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Triage.Contracts;

namespace Triage.Api.Ingest;

/// <summary>
/// Falco's JSON output as <c>http_output</c> posts it, and the Falcosidekick webhook body (the same fields plus
/// <c>uuid</c>).
/// </summary>
internal sealed record FalcoAlert
{
    public string? Uuid { get; init; }
    public DateTimeOffset? Time { get; init; }
    public string? Rule { get; init; }
    public string? Priority { get; init; }
    public string? Output { get; init; }
    public Dictionary<string, JsonNode?>? OutputFields { get; init; }
    public List<string>? Tags { get; init; }
    public string? Source { get; init; }
    public string? Hostname { get; init; }
}

/// <summary>Maps Falco's output into the native alert, reading Falco's field names from <c>output_fields</c>.</summary>
internal static partial class FalcoAlertMapper
{
    /// <summary>Falco alerts carry no id; this one is derived from what identifies the event, so a retry maps the same.</summary>
    public static string DeriveId(FalcoAlert falco)
    {
        var key = string.Join('\n', falco.Hostname, falco.Time?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
            falco.Rule, falco.Output);
        return "falco-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..40];
    }

    public static NativeAlert ToNative(FalcoAlert falco)
    {
        var fields = falco.OutputFields ?? [];
        string? Text(string name) => fields.TryGetValue(name, out var node) && node is JsonValue value
            ? value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString()
            : null;
        int? Number(string name) => int.TryParse(Text(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;
        bool? Flag(string name) => Text(name) is { } t ? t.Equals("true", StringComparison.OrdinalIgnoreCase) : null;

        var containerId = Text("container.id");
        var repository = Text("container.image.repository");
        var tag = Text("container.image.tag");
        var image = repository is { Length: > 0 } ? (tag is { Length: > 0 } ? $"{repository}:{tag}" : repository) : Text("container.image");
        var pod = Text("k8s.pod.name");
        var workload = pod is null ? null : GuessWorkload(pod);

        return new NativeAlert
        {
            Id = DeriveId(falco),
            Time = falco.Time,
            Node = falco.Hostname ?? Text("evt.hostname"),
            Rule = falco.Rule,
            Priority = falco.Priority,
            Tags = falco.Tags,
            Source = "falco",
            Output = falco.Output,
            OutputFields = fields,
            Syscall = Text("evt.type") is { } type
                ? new SyscallInfo
                {
                    Name = type,
                    Args = Text("evt.args") is { } args ? new Dictionary<string, string> { ["args"] = args } : null,
                    Return = long.TryParse(Text("evt.rawres"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var res) ? res : null,
                }
                : null,
            Process = new ProcessInfo
            {
                Pid = Number("proc.pid"),
                Name = Text("proc.name"),
                Exe = Text("proc.exepath") ?? Text("proc.exe"),
                Cmdline = Text("proc.cmdline"),
                Uid = Number("user.uid"),
                User = Text("user.name"),
                ExeUpperLayer = Flag("proc.is_exe_upper_layer"),
            },
            Ancestors = Ancestors(Text, Number),
            Container = containerId is null or "host" && image is null
                ? null
                : new ContainerInfo
                {
                    Id = containerId,
                    Image = image,
                    ImageDigest = Text("container.image.digest"),
                    Name = Text("container.name"),
                },
            K8s = Text("k8s.ns.name") is { } ns
                ? new KubernetesInfo
                {
                    Namespace = ns,
                    Pod = pod,
                    WorkloadKind = workload?.Kind,
                    WorkloadName = workload?.Name,
                }
                : null,
        };
    }

    private static List<AncestorInfo> Ancestors(Func<string, string?> text, Func<string, int?> number)
    {
        var ancestors = new List<AncestorInfo>();
        if (text("proc.pname") is not null || text("proc.pcmdline") is not null)
        {
            ancestors.Add(new AncestorInfo
            {
                Pid = number("proc.ppid"),
                Exe = text("proc.pexepath") ?? text("proc.pname"),
                Cmdline = text("proc.pcmdline") ?? text("proc.pname"),
            });
        }

        for (var level = 2; level <= 7; level++)
        {
            var name = text($"proc.aname[{level}]");
            if (name is null)
            {
                break;
            }

            ancestors.Add(new AncestorInfo { Pid = number($"proc.apid[{level}]"), Exe = name, Cmdline = name });
        }

        return ancestors;
    }

    /// <summary>
    /// Falco names the pod, not its workload. Pods of a Deployment are named &lt;deployment&gt;-&lt;replicaset hash&gt;-&lt;5 chars&gt;,
    /// of a StatefulSet &lt;name&gt;-&lt;ordinal&gt;, of a DaemonSet &lt;name&gt;-&lt;5 chars&gt;. The guess groups replicas into one
    /// incident; enrichment replaces it with the owner references from the Kubernetes API.
    /// </summary>
    internal static (string Kind, string Name)? GuessWorkload(string pod)
    {
        if (DeploymentPod().Match(pod) is { Success: true } deployment)
        {
            return ("Deployment", deployment.Groups["name"].Value);
        }

        if (StatefulSetPod().Match(pod) is { Success: true } stateful)
        {
            return ("StatefulSet", stateful.Groups["name"].Value);
        }

        return DaemonSetPod().Match(pod) is { Success: true } daemon ? ("DaemonSet", daemon.Groups["name"].Value) : null;
    }

    [GeneratedRegex("^(?<name>.+)-[b-df-hj-np-tv-z2-9]{6,10}-[b-df-hj-np-tv-z2-9]{5}$")]
    private static partial Regex DeploymentPod();

    [GeneratedRegex("^(?<name>.+)-[0-9]+$")]
    private static partial Regex StatefulSetPod();

    [GeneratedRegex("^(?<name>.+)-[b-df-hj-np-tv-z2-9]{5}$")]
    private static partial Regex DaemonSetPod();
}
