using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sensor.Native;

/// <summary>
/// Raw libbpf 1.x entry points, named as in C. libbpf 1.0 semantics: functions returning a pointer return NULL and
/// set errno; functions returning int return -errno. Nothing here owns anything; see <see cref="BpfObject"/>.
/// </summary>
internal static unsafe partial class LibBpf
{
    private const string Lib = "libbpf.so.1";

    [LibraryImport(Lib, EntryPoint = "bpf_object__open_file", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial nint bpf_object__open_file(string path, nint opts);

    [LibraryImport(Lib, EntryPoint = "bpf_object__load")]
    internal static partial int bpf_object__load(nint obj);

    [LibraryImport(Lib, EntryPoint = "bpf_object__close")]
    internal static partial void bpf_object__close(nint obj);

    [LibraryImport(Lib, EntryPoint = "bpf_object__find_program_by_name", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint bpf_object__find_program_by_name(nint obj, string name);

    [LibraryImport(Lib, EntryPoint = "bpf_object__find_map_by_name", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint bpf_object__find_map_by_name(nint obj, string name);

    [LibraryImport(Lib, EntryPoint = "bpf_object__btf")]
    internal static partial nint bpf_object__btf(nint obj);

    [LibraryImport(Lib, EntryPoint = "btf__find_by_name_kind", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int btf__find_by_name_kind(nint btf, string name, uint kind);

    [LibraryImport(Lib, EntryPoint = "btf__resolve_size")]
    internal static partial long btf__resolve_size(nint btf, uint typeId);

    [LibraryImport(Lib, EntryPoint = "bpf_program__set_autoload")]
    internal static partial int bpf_program__set_autoload(nint prog, [MarshalAs(UnmanagedType.U1)] bool autoload);

    [LibraryImport(Lib, EntryPoint = "bpf_program__attach", SetLastError = true)]
    internal static partial nint bpf_program__attach(nint prog);

    [LibraryImport(Lib, EntryPoint = "bpf_program__attach_cgroup", SetLastError = true)]
    internal static partial nint bpf_program__attach_cgroup(nint prog, int cgroupFd);

    [LibraryImport(Lib, EntryPoint = "bpf_link__destroy")]
    internal static partial int bpf_link__destroy(nint link);

    [LibraryImport(Lib, EntryPoint = "bpf_map__fd")]
    internal static partial int bpf_map__fd(nint map);

    [LibraryImport(Lib, EntryPoint = "bpf_map__set_max_entries")]
    internal static partial int bpf_map__set_max_entries(nint map, uint maxEntries);

    [LibraryImport(Lib, EntryPoint = "bpf_map__update_elem")]
    internal static partial int bpf_map__update_elem(nint map, void* key, nuint keySize, void* value, nuint valueSize, ulong flags);

    [LibraryImport(Lib, EntryPoint = "bpf_map__lookup_elem")]
    internal static partial int bpf_map__lookup_elem(nint map, void* key, nuint keySize, void* value, nuint valueSize, ulong flags);

    [LibraryImport(Lib, EntryPoint = "bpf_map__delete_elem")]
    internal static partial int bpf_map__delete_elem(nint map, void* key, nuint keySize, ulong flags);

    [LibraryImport(Lib, EntryPoint = "bpf_map__get_next_key")]
    internal static partial int bpf_map__get_next_key(nint map, void* curKey, void* nextKey, nuint keySize);

    [LibraryImport(Lib, EntryPoint = "libbpf_num_possible_cpus")]
    internal static partial int libbpf_num_possible_cpus();

    [LibraryImport(Lib, EntryPoint = "ring_buffer__new", SetLastError = true)]
    internal static partial nint ring_buffer__new(int mapFd, delegate* unmanaged[Cdecl]<nint, nint, nuint, int> sampleCb, nint ctx, nint opts);

    [LibraryImport(Lib, EntryPoint = "ring_buffer__consume")]
    internal static partial int ring_buffer__consume(nint rb);

    [LibraryImport(Lib, EntryPoint = "ring_buffer__free")]
    internal static partial void ring_buffer__free(nint rb);

    internal const uint BTF_KIND_STRUCT = 4;
    internal const ulong BPF_ANY = 0;
}

/// <summary>libc calls the sensor needs next to libbpf.</summary>
internal static partial class LibC
{
    [LibraryImport("libc", EntryPoint = "pidfd_open", SetLastError = true)]
    internal static partial int pidfd_open(int pid, uint flags);

    [LibraryImport("libc", EntryPoint = "pidfd_send_signal", SetLastError = true)]
    internal static partial int pidfd_send_signal(int pidfd, int sig, nint info, uint flags);

    [LibraryImport("libc", EntryPoint = "close")]
    internal static partial int close(int fd);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "mount", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int mount(string source, string target, string fsType, ulong flags, nint data);

    [LibraryImport("libc", EntryPoint = "open_by_handle_at", SetLastError = true)]
    internal static unsafe partial int open_by_handle_at(int mountFd, CgroupFileHandle* handle, int flags);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    internal static partial uint geteuid();

    internal const int O_RDONLY = 0;
    internal const int O_DIRECTORY = 0x10000;
    internal const int O_CLOEXEC = 0x80000;
    internal const int SIGKILL = 9;
    internal const int ENOENT = 2;
    internal const int ESTALE = 116;

    /// <summary>kernfs' FILEID_KERNFS: a cgroup v2 directory's file handle is its 64-bit kernfs id, the cgroup id.</summary>
    internal const int FILEID_KERNFS = 0xfe;
}

/// <summary><c>struct file_handle</c> with the 8 bytes of a cgroup v2 (kernfs) handle.</summary>
internal struct CgroupFileHandle
{
    public uint HandleBytes;
    public int HandleType;
    public ulong Id;
}
