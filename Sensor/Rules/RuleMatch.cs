using System.Text.Json.Nodes;
using Sensor.Events;
using Triage.Contracts;

namespace Sensor.Rules;

/// <summary>A rule that fired on an event, with its output formatted.</summary>
internal sealed record RuleMatch(
    CompiledRule Rule,
    SensorEvent Event,
    string Output,
    IReadOnlyDictionary<string, JsonNode?> OutputFields)
{
    /// <summary>
    /// The alert for the triage service. <paramref name="enforced"/> lists what the sensor did on its own (connect
    /// denied, process killed), from <see cref="Enforcement.EnforcementPolicy"/>.
    /// </summary>
    public NativeAlert ToNativeAlert(string id, string node, IReadOnlyList<string>? enforced = null)
    {
        var e = Event;
        var p = e.Process;
        return new NativeAlert
        {
            Id = id,
            Time = e.Time,
            Node = node,
            Rule = Rule.Name,
            Priority = Rule.Priority.ToFalcoName(),
            Tags = Rule.Tags,
            Source = "sensor",
            Syscall = new SyscallInfo
            {
                Name = e.Type,
                Args = e.Args.Count > 0 ? e.Args : null,
                Return = e.Direction == '<' ? e.Result : null,
            },
            Process = new ProcessInfo
            {
                Pid = p.Pid,
                Name = p.Name,
                Exe = p.ExePath.Length > 0 ? p.ExePath : p.Exe,
                Cmdline = p.Cmdline,
                Uid = p.Uid,
                User = p.User,
                ExeUpperLayer = p.IsExeUpperLayer,
                StartTimeNs = p.StartTimeNs,
            },
            Ancestors = e.Ancestors
                .Select(a => new AncestorInfo { Pid = a.Pid, Exe = a.ExePath.Length > 0 ? a.ExePath : a.Exe, Cmdline = a.Cmdline })
                .ToList(),
            Container = e.Container is { } c
                ? new ContainerInfo { Id = c.Id, Image = c.Image, ImageDigest = c.ImageDigest, Name = c.Name }
                : null,
            K8s = e.Kubernetes is { } k
                ? new KubernetesInfo
                {
                    Namespace = k.Namespace, Pod = k.Pod, WorkloadKind = k.WorkloadKind, WorkloadName = k.WorkloadName,
                    Labels = k.Labels,
                }
                : null,
            Output = Output,
            OutputFields = OutputFields,
            Runbook = Rule.Runbook,
            Enforced = enforced is { Count: > 0 } ? enforced : null,
        };
    }
}
