using System.Text.Json.Nodes;
using Triage.Contracts;

namespace Triage.Tests.Support;

/// <summary>Test data: valid alerts with overridable parts.</summary>
internal static class Some
{
    public static readonly DateTimeOffset Time = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static NativeAlert Alert(
        string? id = null,
        string rule = "Contact cloud metadata service from container",
        string priority = "Critical",
        string? ns = "payments",
        string? workload = "checkout",
        DateTimeOffset? time = null,
        string node = "node-1") => new()
        {
            Id = id ?? $"alert-{Guid.NewGuid():N}",
            Time = time ?? Time,
            Node = node,
            Rule = rule,
            Priority = priority,
            Tags = ["mitre_credential_access", "T1552.005"],
            Source = "sensor",
            Syscall = new SyscallInfo { Name = "connect", Args = new Dictionary<string, string> { ["addr"] = "169.254.169.254:80" }, Return = 0 },
            Process = new ProcessInfo { Pid = 4242, Name = "curl", Exe = "/usr/bin/curl", Cmdline = "curl http://169.254.169.254/latest/meta-data/iam/", Uid = 0, User = "root", ExeUpperLayer = false },
            Ancestors =
            [
                new AncestorInfo { Pid = 4200, Exe = "/bin/sh", Cmdline = "sh -c curl ..." },
                new AncestorInfo { Pid = 4100, Exe = "/usr/bin/python3", Cmdline = "python3 app.py" },
                new AncestorInfo { Pid = 1, Exe = "/sbin/tini", Cmdline = "tini -- python3 app.py" },
            ],
            Container = new ContainerInfo { Id = "3f2a1b", Image = "registry.local/payments/checkout:1.4.2", Name = "checkout" },
            K8s = ns is null ? null : new KubernetesInfo { Namespace = ns, Pod = $"{workload}-7d9f8b6c4d-x2x9z", WorkloadKind = "Deployment", WorkloadName = workload },
            Output = "Metadata service contacted from container (proc=curl ns=payments)",
            OutputFields = new Dictionary<string, JsonNode?> { ["proc.cmdline"] = "curl http://169.254.169.254/", ["fd.sip"] = "169.254.169.254" },
        };
}
