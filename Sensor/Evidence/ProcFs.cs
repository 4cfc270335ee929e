using System.Globalization;
using System.Net;
using Sensor.Processes;

namespace Sensor.Evidence;

/// <summary>One process as /proc shows it.</summary>
internal sealed record ProcProcess(int Pid, int Ppid, ulong StartTicks, int Uid, string Comm, string? Exe, string Cmdline);

/// <summary>One socket of a process, from /proc/&lt;pid&gt;/fd and the process's /proc/&lt;pid&gt;/net tables.</summary>
internal sealed record ProcSocket(int Pid, int Fd, string Protocol, string Local, string Remote, string State, ulong Inode);

/// <summary>
/// Reads process facts from /proc. Every read tolerates the process vanishing halfway (containers are short-lived):
/// a missing process yields null or an empty list, never an exception.
/// </summary>
internal static class ProcFs
{
    /// <summary>Nanoseconds per /proc start-time tick (<see cref="ProcStat.NsPerTick"/>).</summary>
    public const ulong NsPerTick = ProcStat.NsPerTick;

    public static IEnumerable<int> Pids() =>
        Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Select(name => int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
            .Where(pid => pid > 0);

    public static ProcProcess? Read(int pid)
    {
        try
        {
            if (ProcStat.Read(pid) is not { } stat)
            {
                return null;
            }

            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Replace('\0', ' ');
            return new ProcProcess(pid, stat.Ppid, stat.StartTicks, Uid(pid), stat.Comm, ExeLink(pid), cmdline.Length == 0 ? $"[{stat.Comm}]" : cmdline);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Target of /proc/&lt;pid&gt;/exe as the process's own mount namespace names it; null for kernel threads.</summary>
    public static string? ExeLink(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/exe").LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Processes whose cgroup path names the container id (podman, containerd and CRI-O all embed it).</summary>
    public static List<ProcProcess> InContainer(string containerId)
    {
        var found = new List<ProcProcess>();
        foreach (var pid in Pids())
        {
            string cgroup;
            try
            {
                cgroup = File.ReadAllText($"/proc/{pid}/cgroup");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (cgroup.Contains(containerId, StringComparison.Ordinal) && Read(pid) is { } process)
            {
                found.Add(process);
            }
        }

        return found;
    }

    /// <summary>The chain from <paramref name="pid"/>'s parent up to pid 1, parent first.</summary>
    public static List<ProcProcess> Ancestors(int pid, int limit = 64)
    {
        var chain = new List<ProcProcess>();
        var current = Read(pid);
        while (current is { Ppid: > 0 } && chain.Count < limit && Read(current.Ppid) is { } parent)
        {
            chain.Add(parent);
            current = parent;
        }

        return chain;
    }

    /// <summary>
    /// The overlay upper directory of the process's root file system (its writable layer), or null when the root
    /// is not an overlay mount.
    /// </summary>
    public static string? UpperDir(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/mountinfo"))
            {
                // id parent major:minor root mountpoint options ... - fstype source superoptions
                var fields = line.Split(' ');
                if (fields.Length < 5 || fields[4] != "/")
                {
                    continue;
                }

                var dash = Array.IndexOf(fields, "-");
                if (dash < 0 || dash + 3 >= fields.Length || fields[dash + 1] != "overlay")
                {
                    continue;
                }

                foreach (var option in fields[dash + 3].Split(','))
                {
                    if (option.StartsWith("upperdir=", StringComparison.Ordinal))
                    {
                        return option["upperdir=".Length..];
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>Open TCP and UDP sockets of the processes, resolved through each process's own network namespace.</summary>
    public static List<ProcSocket> Sockets(IEnumerable<int> pids)
    {
        var sockets = new List<ProcSocket>();
        var tables = new Dictionary<string, Dictionary<ulong, (string Proto, string Local, string Remote, string State)>>(StringComparer.Ordinal);
        foreach (var pid in pids)
        {
            var inodes = SocketInodes(pid);
            if (inodes.Count == 0)
            {
                continue;
            }

            string netns;
            try
            {
                netns = new FileInfo($"/proc/{pid}/ns/net").LinkTarget ?? pid.ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (!tables.TryGetValue(netns, out var table))
            {
                table = NetTables(pid);
                tables[netns] = table;
            }

            foreach (var (fd, inode) in inodes)
            {
                var (proto, local, remote, state) = table.TryGetValue(inode, out var row) ? row : ("other", "", "", "");
                sockets.Add(new ProcSocket(pid, fd, proto, local, remote, state, inode));
            }
        }

        return sockets;
    }

    private static List<(int Fd, ulong Inode)> SocketInodes(int pid)
    {
        var result = new List<(int, ulong)>();
        try
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                string? target;
                try
                {
                    target = new FileInfo(entry).LinkTarget;
                }
                catch (IOException)
                {
                    continue;
                }

                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)
                    && ulong.TryParse(target.AsSpan(8, target.Length - 9), CultureInfo.InvariantCulture, out var inode)
                    && int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var fd))
                {
                    result.Add((fd, inode));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return result;
    }

    private static readonly string[] TcpStates =
        ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"];

    private static Dictionary<ulong, (string, string, string, string)> NetTables(int pid)
    {
        var table = new Dictionary<ulong, (string, string, string, string)>();
        foreach (var proto in new[] { "tcp", "tcp6", "udp", "udp6" })
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{pid}/net/{proto}").Skip(1))
                {
                    var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (f.Length < 10 || !ulong.TryParse(f[9], CultureInfo.InvariantCulture, out var inode))
                    {
                        continue;
                    }

                    var st = int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    var state = proto.StartsWith("tcp", StringComparison.Ordinal) && st < TcpStates.Length ? TcpStates[st] : st == 7 ? "UNCONN" : "ESTABLISHED";
                    table[inode] = (proto, Endpoint(f[1]), Endpoint(f[2]), state);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
            }
        }

        return table;
    }

    /// <summary>Decodes /proc/net's "0100007F:1F90" (address bytes in host order, port big-endian hex).</summary>
    internal static string Endpoint(string hex)
    {
        var colon = hex.IndexOf(':', StringComparison.Ordinal);
        var addressHex = hex[..colon];
        var port = int.Parse(hex[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var bytes = Convert.FromHexString(addressHex);

        // Each 32-bit word is stored in host (little-endian) order.
        for (var i = 0; i < bytes.Length; i += 4)
        {
            Array.Reverse(bytes, i, 4);
        }

        var address = new IPAddress(bytes);
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"[{address}]:{port}"
            : $"{address}:{port}";
    }

    private static int Uid(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                return int.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }
}
