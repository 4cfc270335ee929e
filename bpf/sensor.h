/* Shared between the kernel programs and the C# mirror in Sensor/Native/KernelEvent.cs.
 * Keep the field order: the C# struct is sequential and the loader checks its size against this file's BTF. */
#ifndef SENSOR_H
#define SENSOR_H

#define TASK_COMM_LEN 16
#define CGNAME_LEN 96
#define PATH_LEN 256
#define PATH2_LEN 128
#define ARGV_LEN 512
#define ADDR_LEN 28
#define MAX_PREFIXES 16 /* also the number of suffixes */
#define PREFIX_LEN 64   /* a pattern holds at most PREFIX_LEN - 1 bytes */

/* Event kinds; also the index of the interest table and of the drop counters. */
enum event_kind {
	EV_NONE = 0,
	EV_EXEC = 1,
	EV_FORK = 2,
	EV_EXIT = 3,
	EV_CONNECT = 4,
	EV_OPEN = 5,
	EV_SETNS = 6,
	EV_UNSHARE = 7,
	EV_MOUNT = 8,
	EV_PTRACE = 9,
	EV_MODULE = 10,
	EV_BPF = 11,
	EV_MEMFD_CREATE = 12,
	EV_DUP = 13,
	EV_CONNECT_DENIED = 14,
	EV_MAX = 16,
};

/* Flags of struct event.flags. */
#define EF_EXE_UPPER_LAYER (1u << 0)
#define EF_EXE_FROM_MEMFD (1u << 1)
#define EF_EXE_OVERLAY (1u << 2)
#define EF_DUP_SOCKET (1u << 3)
#define EF_TRUNCATED_ARGS (1u << 4)
#define EF_CONNECT_DENIED (1u << 5) /* the sensor's cgroup/connect deny refused this connect */
#define EF_DUP_SERVER (1u << 6)     /* the duplicated socket is a listener or was accepted from one (server side) */

struct event {
	__u64 ts_ns;           /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id;       /* cgroup v2 id: inode of the cgroup dir under /sys/fs/cgroup/unified */
	__u64 start_ns;        /* thread group leader's start_time (monotonic) */
	__u64 start_boottime;  /* start_boottime (what /proc/<pid>/stat reports, in ns) */
	__u64 parent_start_ns;  /* parent's start_boottime */
	__s64 ret;             /* syscall return; exit code for EV_EXIT */
	__u64 args[6];         /* raw syscall arguments */
	__u32 kind;
	__u32 syscall;         /* x86_64 syscall number, 0 for lifecycle events */
	__u32 pid;             /* tgid */
	__u32 tid;
	__u32 ppid;            /* real_parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 mntns;
	__u32 pidns;
	__u32 netns;
	__u32 tty;
	__u32 flags;
	__u32 exe_ino;
	__u32 argv_len;
	__u32 loginuid;
	__u32 reserved;
	__u8 addr[ADDR_LEN];   /* sockaddr_in / sockaddr_in6 as the caller passed it */
	char comm[TASK_COMM_LEN];
	char cgname[CGNAME_LEN]; /* leaf name of the unified-hierarchy cgroup, e.g. libpod-<id> */
	char path[PATH_LEN];   /* exec filename, open path, mount target, memfd name */
	char path2[PATH2_LEN]; /* mount source, exe dentry name */
	char argv[ARGV_LEN];   /* NUL-separated argv of an exec */
};

#define EVENT_SIZE 1200

struct sensor_config {
	__u32 self_tgid;       /* the sensor itself: never reported */
	__u32 container_only;  /* 1: syscall events only from processes outside the host mount namespace */
	__u32 host_mntns;
	__u32 prefix_count;    /* number of watched path prefixes in use */
	__u32 suffix_count;    /* number of watched path suffixes in use */
};

struct path_prefix {
	__u32 len;
	char text[PREFIX_LEN];
};

struct deny_key {
	__u64 cgroup_id;       /* 0: every cgroup */
	__u32 family;          /* 4 or 6 */
	__u8 addr[16];         /* network byte order; IPv4 in the first 4 bytes */
	__u32 pad;
};

#endif
