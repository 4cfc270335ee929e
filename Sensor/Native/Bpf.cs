using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Sensor.Native;

/// <summary>A libbpf or kernel call failed; <see cref="Errno"/> is the positive errno value.</summary>
internal sealed class BpfException(string operation, int errno)
    : Exception($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
{
    public string Operation { get; } = operation;
    public int Errno { get; } = errno;

    internal static int Check(int rc, string operation) => rc < 0 ? throw new BpfException(operation, -rc) : rc;

    internal static nint CheckPointer(nint p, string operation)
    {
        if (p != 0)
            return p;
        var errno = Marshal.GetLastPInvokeError();
        throw new BpfException(operation, errno == 0 ? 22 : errno);
    }
}

/// <summary>Owns a <c>struct bpf_object *</c>; closing it unloads its programs and maps.</summary>
internal sealed class BpfObjectHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    protected override bool ReleaseHandle()
    {
        LibBpf.bpf_object__close(handle);
        return true;
    }
}

/// <summary>Owns a <c>struct bpf_link *</c>; releasing it detaches the program.</summary>
internal sealed class BpfLinkHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    protected override bool ReleaseHandle() => LibBpf.bpf_link__destroy(handle) == 0;
}

/// <summary>Owns a <c>struct ring_buffer *</c>.</summary>
internal sealed class RingBufferHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    protected override bool ReleaseHandle()
    {
        LibBpf.ring_buffer__free(handle);
        return true;
    }
}

/// <summary>
/// A loaded BPF object file. Programs and maps are borrowed pointers into it, valid while this object lives; links
/// are owned separately (<see cref="BpfLinkHandle"/>) and must be disposed before the object.
/// </summary>
internal sealed class BpfObject : IDisposable
{
    private readonly BpfObjectHandle _handle;

    private BpfObject(BpfObjectHandle handle) => _handle = handle;

    internal nint Pointer => _handle.DangerousGetHandle();

    /// <summary>Opens the object; call <see cref="Load"/> after adjusting maps and autoload flags.</summary>
    public static BpfObject Open(string path)
    {
        var p = BpfException.CheckPointer(LibBpf.bpf_object__open_file(path, 0), $"bpf_object__open_file({path})");
        var handle = new BpfObjectHandle();
        Marshal.InitHandle(handle, p);
        return new BpfObject(handle);
    }

    public void Load() => BpfException.Check(LibBpf.bpf_object__load(Pointer), "bpf_object__load");

    public BpfProgram Program(string name) =>
        new(BpfException.CheckPointer(LibBpf.bpf_object__find_program_by_name(Pointer, name), $"find program {name}"), name);

    public BpfMap Map(string name) =>
        new(BpfException.CheckPointer(LibBpf.bpf_object__find_map_by_name(Pointer, name), $"find map {name}"), name);

    /// <summary>Size in bytes of a struct as the C compiler laid it out (from the object's BTF); -1 when unknown.</summary>
    public long StructSize(string name)
    {
        var btf = LibBpf.bpf_object__btf(Pointer);
        if (btf == 0)
            return -1;
        var id = LibBpf.btf__find_by_name_kind(btf, name, LibBpf.BTF_KIND_STRUCT);
        return id < 0 ? -1 : LibBpf.btf__resolve_size(btf, (uint)id);
    }

    public void Dispose() => _handle.Dispose();
}

internal readonly record struct BpfProgram(nint Pointer, string Name)
{
    public void SetAutoload(bool on) => BpfException.Check(LibBpf.bpf_program__set_autoload(Pointer, on), $"set_autoload {Name}");

    public BpfLinkHandle Attach() => Own(LibBpf.bpf_program__attach(Pointer), $"attach {Name}");

    public BpfLinkHandle AttachCgroup(int cgroupFd) =>
        Own(LibBpf.bpf_program__attach_cgroup(Pointer, cgroupFd), $"attach {Name} to cgroup");

    private static BpfLinkHandle Own(nint p, string operation)
    {
        BpfException.CheckPointer(p, operation);
        var link = new BpfLinkHandle();
        Marshal.InitHandle(link, p);
        return link;
    }
}

internal readonly unsafe record struct BpfMap(nint Pointer, string Name)
{
    public int Fd => LibBpf.bpf_map__fd(Pointer);

    public void SetMaxEntries(uint n) => BpfException.Check(LibBpf.bpf_map__set_max_entries(Pointer, n), $"set_max_entries {Name}");

    public void Update<TKey, TValue>(TKey key, TValue value)
        where TKey : unmanaged
        where TValue : unmanaged =>
        BpfException.Check(
            LibBpf.bpf_map__update_elem(Pointer, &key, (nuint)sizeof(TKey), &value, (nuint)sizeof(TValue), LibBpf.BPF_ANY),
            $"update {Name}");

    /// <summary>Deletes a key; false when it was not there.</summary>
    public bool Delete<TKey>(TKey key)
        where TKey : unmanaged
    {
        var rc = LibBpf.bpf_map__delete_elem(Pointer, &key, (nuint)sizeof(TKey), 0);
        return rc == -2 ? false : BpfException.Check(rc, $"delete {Name}") == 0;
    }

    /// <summary>Every key of a hash map, in the kernel's order (a map changed meanwhile may be read partly twice).</summary>
    public List<TKey> Keys<TKey>()
        where TKey : unmanaged
    {
        var keys = new List<TKey>();
        TKey key = default;
        var rc = LibBpf.bpf_map__get_next_key(Pointer, null, &key, (nuint)sizeof(TKey));
        while (rc == 0)
        {
            keys.Add(key);
            var current = key;
            rc = LibBpf.bpf_map__get_next_key(Pointer, &current, &key, (nuint)sizeof(TKey));
        }

        // -ENOENT ends the walk.
        if (rc != -2)
            BpfException.Check(rc, $"get_next_key {Name}");
        return keys;
    }

    /// <summary>Sum over CPUs of a per-CPU array of u64 at <paramref name="index"/>.</summary>
    public ulong SumPerCpu(uint index)
    {
        var cpus = LibBpf.libbpf_num_possible_cpus();
        Span<ulong> values = stackalloc ulong[Math.Max(cpus, 1)];
        fixed (ulong* v = values)
            BpfException.Check(
                LibBpf.bpf_map__lookup_elem(Pointer, &index, sizeof(uint), v, (nuint)(values.Length * sizeof(ulong)), 0),
                $"lookup {Name}");
        ulong sum = 0;
        foreach (var x in values)
            sum += x;
        return sum;
    }
}
