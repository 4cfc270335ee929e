using System.Runtime.InteropServices;

namespace Sensor.Native;

/// <summary>
/// Mirror of <c>struct event</c> in bpf/sensor.h. Sequential layout with the same field order; the loader compares
/// <see cref="Size"/> with the size in the object's BTF and refuses to run on a mismatch.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RawEvent
{
    public const int Size = 1200;
    public const string CName = "event";

    public ulong TsNs;
    public ulong CgroupId;
    public ulong StartNs;
    public ulong StartBoottime;
    public ulong ParentStartNs;
    public long Ret;
    public fixed ulong Args[6];
    public uint Kind;
    public uint Syscall;
    public uint Pid;
    public uint Tid;
    public uint Ppid;
    public uint Uid;
    public uint Gid;
    public uint MntNs;
    public uint PidNs;
    public uint NetNs;
    public uint Tty;
    public uint Flags;
    public uint ExeIno;
    public uint ArgvLen;
    public uint LoginUid;
    public uint Reserved;
    public fixed byte Addr[28];
    public fixed byte Comm[16];
    public fixed byte CgName[96];
    public fixed byte Path[256];
    public fixed byte Path2[128];
    public fixed byte Argv[512];
}

/// <summary>Mirror of <c>struct sensor_config</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RawConfig
{
    public uint SelfTgid;
    public uint ContainerOnly;
    public uint HostMntNs;
    public uint PrefixCount;
    public uint SuffixCount;
}

/// <summary>Mirror of <c>struct path_prefix</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RawPathPrefix
{
    public uint Len;
    public fixed byte Text[64];
}

/// <summary>Mirror of <c>struct deny_key</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RawDenyKey
{
    public ulong CgroupId;
    public uint Family;
    public fixed byte Addr[16];
    public uint Pad;
}
