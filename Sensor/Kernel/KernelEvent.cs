using System.Buffers.Binary;
using System.Net;
using System.Text;
using Sensor.Native;

namespace Sensor.Kernel;

/// <summary>Event kinds as numbered in bpf/sensor.h (enum event_kind); also the drop-counter categories.</summary>
internal enum EventKind : uint
{
    None = 0,
    Exec = 1,
    Fork = 2,
    Exit = 3,
    Connect = 4,
    Open = 5,
    Setns = 6,
    Unshare = 7,
    Mount = 8,
    Ptrace = 9,
    Module = 10,
    Bpf = 11,
    MemfdCreate = 12,
    Dup = 13,
    ConnectDenied = 14,
}

[Flags]
internal enum EventFlags : uint
{
    None = 0,
    ExeUpperLayer = 1 << 0,
    ExeFromMemfd = 1 << 1,
    ExeOverlay = 1 << 2,
    DupSocket = 1 << 3,
    TruncatedArgs = 1 << 4,

    /// <summary>The sensor's own connect deny (cgroup/connect4/6) refused this connect.</summary>
    ConnectDenied = 1 << 5,

    /// <summary>A dup'd socket is a listener or was accepted from one (this process is the server end).</summary>
    DupServer = 1 << 6,
}

/// <summary>
/// The six raw arguments of a syscall, stored in the event itself: an array of them was one more object for every
/// event (fork and exit included), about a tenth of what the sensor allocated per fork+exec.
/// </summary>
[System.Runtime.CompilerServices.InlineArray(Count)]
internal struct SyscallArgs
{
    public const int Count = 6;

    private ulong _first;
}

/// <summary>A kernel event copied out of the ring buffer (the buffer's memory is only valid inside the callback).</summary>
internal sealed record KernelEvent
{
    public EventKind Kind { get; init; }
    public uint Syscall { get; init; }
    public ulong TimestampNs { get; init; }
    public ulong CgroupId { get; init; }
    public int Pid { get; init; }
    public int Tid { get; init; }
    public int Ppid { get; init; }
    public ulong StartNs { get; init; }
    public ulong StartBoottimeNs { get; init; }
    public ulong ParentStartNs { get; init; }
    public long Result { get; init; }
    /// <summary>The syscall's six raw arguments (zero where the kernel set none).</summary>
    public SyscallArgs Args { get; init; }
    public int Uid { get; init; }
    public int Gid { get; init; }
    public uint LoginUid { get; init; }
    public uint MntNs { get; init; }
    public uint PidNs { get; init; }
    public uint NetNs { get; init; }
    public int Tty { get; init; }
    public EventFlags Flags { get; init; }
    public ulong ExeInode { get; init; }
    public string Comm { get; init; } = "";
    public string CgroupName { get; init; } = "";
    public string Path { get; init; } = "";
    public string Path2 { get; init; } = "";
    public IReadOnlyList<string> Argv { get; init; } = [];
    public IPEndPoint? Address { get; init; }

    /// <summary>Copies one event out of the ring buffer, taking its strings from <paramref name="strings"/>.</summary>
    internal static unsafe KernelEvent From(RawEvent* e, DecodedStrings strings)
    {
        var args = new SyscallArgs();
        for (var i = 0; i < SyscallArgs.Count; i++)
            args[i] = e->Args[i];
        return new KernelEvent
        {
            Kind = (EventKind)e->Kind,
            Syscall = e->Syscall,
            TimestampNs = e->TsNs,
            CgroupId = e->CgroupId,
            Pid = (int)e->Pid,
            Tid = (int)e->Tid,
            Ppid = (int)e->Ppid,
            StartNs = e->StartNs,
            StartBoottimeNs = e->StartBoottime,
            ParentStartNs = e->ParentStartNs,
            Result = e->Ret,
            Args = args,
            Uid = (int)e->Uid,
            Gid = (int)e->Gid,
            LoginUid = e->LoginUid,
            MntNs = e->MntNs,
            PidNs = e->PidNs,
            NetNs = e->NetNs,
            Tty = (int)e->Tty,
            Flags = (EventFlags)e->Flags,
            ExeInode = e->ExeIno,
            Comm = CString(e->Comm, 16, strings),
            CgroupName = CString(e->CgName, 96, strings),
            Path = CString(e->Path, 256, strings),
            Path2 = CString(e->Path2, 128, strings),
            Argv = e->ArgvLen == 0 ? [] : SplitArgv(new ReadOnlySpan<byte>(e->Argv, (int)Math.Min(e->ArgvLen, 512u)), strings),
            Address = DecodeSockaddr(new ReadOnlySpan<byte>(e->Addr, 28)),
        };
    }

    private static unsafe string CString(byte* p, int max, DecodedStrings strings)
    {
        var span = new ReadOnlySpan<byte>(p, max);
        var n = span.IndexOf((byte)0);
        return strings.Get(n < 0 ? span : span[..n]);
    }

    /// <summary>NUL-separated words (argv as the kernel or /proc/&lt;pid&gt;/cmdline has it); <paramref name="strings"/>
    /// reuses repeated words (the ring-buffer consumer passes its table; a one-off /proc read does not).</summary>
    internal static string[] SplitArgv(ReadOnlySpan<byte> raw, DecodedStrings? strings = null)
    {
        if (raw.Length > 0 && raw[^1] == 0)
            raw = raw[..^1];
        var parts = new string[raw.Count((byte)0) + 1];
        for (var i = 0; ; i++)
        {
            var n = raw.IndexOf((byte)0);
            var word = n < 0 ? raw : raw[..n];
            parts[i] = strings?.Get(word) ?? Encoding.UTF8.GetString(word);
            if (n < 0)
                return parts;
            raw = raw[(n + 1)..];
        }
    }

    /// <summary>sockaddr_in / sockaddr_in6 as the caller passed it to connect().</summary>
    internal static IPEndPoint? DecodeSockaddr(ReadOnlySpan<byte> sa)
    {
        var family = BinaryPrimitives.ReadUInt16LittleEndian(sa);
        var port = BinaryPrimitives.ReadUInt16BigEndian(sa[2..]);
        return family switch
        {
            2 => new IPEndPoint(new IPAddress(sa.Slice(4, 4)), port),
            10 => new IPEndPoint(new IPAddress(sa.Slice(8, 16)), port),
            _ => null,
        };
    }
}
