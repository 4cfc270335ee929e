// SPDX-License-Identifier: GPL-2.0
/* Kernel side of the sensor. Only hooks that work on the target kernels are used (see shared/docs/environment.md):
 * tp_btf for the process lifecycle, one classic syscall tracepoint per syscall of interest (so a syscall nobody asked
 * for costs nothing), cgroup/connect4/6 for deny. Events are fixed-size and submitted without a wake-up; user space
 * drains the ring buffer on a short timer, which is what keeps the per-exec cost near 1%. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "sensor.h"

char LICENSE[] SEC("license") = "GPL";

_Static_assert(sizeof(struct event) == EVENT_SIZE, "EVENT_SIZE must match struct event");
_Static_assert(sizeof(struct deny_key) == 32, "deny_key size");

#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_INET 2
#define AF_INET6 10
#define EPERM 1

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* Per-category counters of events lost because the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* 1 when user space wants events of that kind (set from the loaded rules). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u32);
} interest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sensor_config);
} sensor_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct path_prefix);
} open_prefixes SEC(".maps");

/* An open is also reported when its path ends with one of these (rules on fd.name endswith, fd.filename). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct path_prefix);
} open_suffixes SEC(".maps");

/* Syscall entered, waiting for its exit to learn the result. Keyed by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct event);
} inflight SEC(".maps");

/* Scratch space: an event is too large for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

/* Connects to these (cgroup, address) pairs are refused with EPERM; cgroup 0 means every cgroup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct deny_key);
	__type(value, __u32);
} deny_connect SEC(".maps");

static __always_inline void count_drop(__u32 kind)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &kind);
	if (n)
		*n += 1;
}

static __always_inline int wanted(__u32 kind)
{
	__u32 *on = bpf_map_lookup_elem(&interest, &kind);
	return on && *on;
}

static __always_inline struct sensor_config *cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&sensor_cfg, &zero);
}

/* t is a BTF pointer everywhere this is called (tp_btf arguments, bpf_get_current_task_btf), so the fields are
 * read with plain loads (the verifier turns them into fault-safe loads, CO-RE relocates the offsets) instead of one
 * bpf_probe_read_kernel call per field: fork, exec and exit each read about forty fields, and the helper calls were
 * most of what these programs cost per fork+exec. */
static __always_inline void fill_task(struct event *e, struct task_struct *t, __u32 kind)
{
	struct task_struct *leader = t->group_leader;
	struct task_struct *parent = t->real_parent;
	const struct cred *cred = t->cred;
	struct nsproxy *ns = t->nsproxy;
	struct tty_struct *tty = t->signal->tty;
	struct kernfs_node *kn = t->cgroups->dfl_cgrp->kn;

	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->pid = t->tgid;
	e->tid = t->pid;
	e->ppid = parent->tgid;
	e->start_ns = leader->start_time;
	e->start_boottime = leader->start_boottime;
	e->parent_start_ns = parent->group_leader->start_boottime;
	e->uid = cred->uid.val;
	e->gid = cred->gid.val;
	e->loginuid = t->loginuid.val;
	/* nsproxy is NULL for a task past exit_task_namespaces (the exit event): the loads then read 0. */
	e->mntns = ns ? ns->mnt_ns->ns.inum : 0;
	e->pidns = ns ? ns->pid_ns_for_children->ns.inum : 0;
	e->netns = ns ? ns->net_ns->ns.inum : 0;
	if (tty) {
		__u32 major = tty->driver->major;
		__u32 minor = tty->driver->minor_start + tty->index;
		e->tty = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
	} else {
		e->tty = 0;
	}
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), t->comm);
	bpf_probe_read_kernel_str(e->cgname, sizeof(e->cgname), kn->name);
	e->cgroup_id = kn->id;
}

/* Clears only what may be left from a previous event and is not always written. */
static __always_inline void clear_event(struct event *e)
{
	e->flags = 0;
	e->ret = 0;
	e->argv_len = 0;
	e->exe_ino = 0;
	e->path[0] = 0;
	e->path2[0] = 0;
	e->argv[0] = 0;
	e->addr[0] = 0;
	e->addr[1] = 0;
}

static __always_inline struct event *new_scratch(void)
{
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	clear_event(e);
	return e;
}

/* A lifecycle event is built in place in the ring buffer: no scratch copy (1.2 kB per fork, exec and exit). The
 * record is not zeroed, so clear_event plus fill_task must write every field the consumer reads. */
static __always_inline struct event *new_ring_event(__u32 kind)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(kind);
		return 0;
	}
	clear_event(e);
	e->syscall = 0;
	e->args[0] = 0;
	e->args[1] = 0;
	e->args[2] = 0;
	e->args[3] = 0;
	e->args[4] = 0;
	e->args[5] = 0;
	e->reserved = 0;
	return e;
}

static __always_inline void submit_copy(struct event *src)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(src->kind);
		return;
	}
	bpf_probe_read_kernel(e, sizeof(*e), src);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* ---- process lifecycle ---- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct event *e;
	struct file *file;
	struct inode *inode;
	unsigned long arg_start, arg_end, len;

	if (!wanted(EV_EXEC))
		return 0;
	e = new_ring_event(EV_EXEC);
	if (!e)
		return 0;
	fill_task(e, p, EV_EXEC);
	e->syscall = 59;
	bpf_probe_read_kernel_str(e->path, sizeof(e->path), BPF_CORE_READ(bprm, filename));

	file = BPF_CORE_READ(bprm, file);
	inode = BPF_CORE_READ(file, f_inode);
	e->exe_ino = BPF_CORE_READ(inode, i_ino);
	if (BPF_CORE_READ(inode, i_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		/* container_of(inode, struct ovl_inode, vfs_inode): an upper dentry means the file was written or
		 * modified after the container started (drift). */
		struct ovl_inode *oi = (void *)((char *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode));
		e->flags |= EF_EXE_OVERLAY;
		if (BPF_CORE_READ(oi, __upperdentry))
			e->flags |= EF_EXE_UPPER_LAYER;
	}
	const unsigned char *dname = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	bpf_probe_read_kernel_str(e->path2, sizeof(e->path2), dname);
	if (e->path2[0] == 'm' && e->path2[1] == 'e' && e->path2[2] == 'm' && e->path2[3] == 'f' && e->path2[4] == 'd' &&
	    e->path2[5] == ':')
		e->flags |= EF_EXE_FROM_MEMFD;

	arg_start = BPF_CORE_READ(p, mm, arg_start);
	arg_end = BPF_CORE_READ(p, mm, arg_end);
	len = arg_end - arg_start;
	if (len > ARGV_LEN) {
		len = ARGV_LEN;
		e->flags |= EF_TRUNCATED_ARGS;
	}
	len &= (ARGV_LEN * 2 - 1);
	if (len > 0 && len <= ARGV_LEN && bpf_probe_read_user(e->argv, len, (void *)arg_start) == 0)
		e->argv_len = len;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct event *e;

	/* Threads share the process: only new thread groups matter to the process tree. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	if (!wanted(EV_FORK))
		return 0;
	e = new_ring_event(EV_FORK);
	if (!e)
		return 0;
	fill_task(e, child, EV_FORK);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	struct event *e;

	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;
	if (!wanted(EV_EXIT))
		return 0;
	e = new_ring_event(EV_EXIT);
	if (!e)
		return 0;
	fill_task(e, p, EV_EXIT);
	e->ret = BPF_CORE_READ(p, exit_code);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- syscalls: enter records the arguments, exit adds the result and submits ---- */

/* The cheap filters of every syscall event (interest, the sensor itself, container-only): the current task when the
 * event may be recorded, else null. */
static __always_inline struct task_struct *recordable(__u32 kind)
{
	struct sensor_config *c;
	struct task_struct *t;
	__u64 id;

	if (!wanted(kind))
		return 0;
	c = cfg();
	if (!c)
		return 0;
	id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) == c->self_tgid)
		return 0;
	t = (struct task_struct *)bpf_get_current_task_btf();
	if (c->container_only && BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum) == c->host_mntns)
		return 0;
	return t;
}

/* Fills a syscall event of the current task t (after recordable) with the task and the raw arguments.
 * nargs must be a constant: the kernel refuses to attach a program that reads past the tracepoint's last argument,
 * so the reads of absent arguments have to be compiled out. */
static __always_inline void fill_syscall(struct event *e, struct task_struct *t, __u32 kind, __u32 nr,
					 struct trace_event_raw_sys_enter *ctx, const int nargs)
{
	fill_task(e, t, kind);
	e->syscall = nr;
	e->args[0] = nargs > 0 ? ctx->args[0] : 0;
	e->args[1] = nargs > 1 ? ctx->args[1] : 0;
	e->args[2] = nargs > 2 ? ctx->args[2] : 0;
	e->args[3] = nargs > 3 ? ctx->args[3] : 0;
	e->args[4] = nargs > 4 ? ctx->args[4] : 0;
	e->args[5] = 0;
}

/* Returns the scratch event filled with the task when the syscall of this kind should be recorded. */
static __always_inline struct event *begin(__u32 kind, __u32 nr, struct trace_event_raw_sys_enter *ctx, const int nargs)
{
	struct task_struct *t = recordable(kind);
	struct event *e;

	if (!t)
		return 0;
	e = new_scratch();
	if (!e)
		return 0;
	fill_syscall(e, t, kind, nr, ctx, nargs);
	return e;
}

static __always_inline void park(struct event *e)
{
	__u32 tid = e->tid;
	if (bpf_map_update_elem(&inflight, &tid, e, BPF_ANY) != 0)
		count_drop(e->kind);
}

static __always_inline int finish(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&inflight, &tid);
	if (!e)
		return 0;
	e->ret = ctx->ret;
	submit_copy(e);
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tp/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	struct event *e = begin(EV_CONNECT, 42, ctx, 3);
	__u16 family = 0;
	if (!e)
		return 0;
	bpf_probe_read_user(&family, sizeof(family), (void *)ctx->args[1]);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	bpf_probe_read_user(e->addr, family == AF_INET ? 16 : 28, (void *)ctx->args[1]);
	park(e);
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

/* The watched paths come from the loaded rules (user space derives them from the rules' fd.name, fd.directory and
 * fd.filename conditions): an open is reported when its path, as the process passed it, starts with a watched prefix
 * or ends with a watched suffix. len is bpf_probe_read_user_str's result (bytes with the NUL). */
static __always_inline int path_watched(struct event *e, long len)
{
	struct sensor_config *c = cfg();
	__u32 n, i, j, plen;

	if (!c)
		return 0;
	n = c->prefix_count;
	for (i = 0; i < MAX_PREFIXES; i++) {
		__u32 key = i;
		struct path_prefix *p;
		int match = 1;

		if (i >= n)
			break;
		p = bpf_map_lookup_elem(&open_prefixes, &key);
		if (!p)
			break;
		for (j = 0; j < PREFIX_LEN; j++) {
			if (j >= p->len)
				break;
			if (e->path[j] != p->text[j]) {
				match = 0;
				break;
			}
		}
		if (match)
			return 1;
	}
	if (len <= 1)
		return 0;
	plen = (__u32)len - 1;
	n = c->suffix_count;
	for (i = 0; i < MAX_PREFIXES; i++) {
		__u32 key = i;
		struct path_prefix *p;
		__u32 slen;
		int match = 1;

		if (i >= n)
			break;
		p = bpf_map_lookup_elem(&open_suffixes, &key);
		if (!p)
			break;
		slen = p->len;
		if (slen > plen || slen >= PREFIX_LEN)
			continue;
		/* Compared from the end: the last bytes tell paths apart soonest. */
		for (j = 1; j < PREFIX_LEN; j++) {
			if (j > slen)
				break;
			if (e->path[(plen - j) & (PATH_LEN - 1)] != p->text[(slen - j) & (PREFIX_LEN - 1)]) {
				match = 0;
				break;
			}
		}
		if (match)
			return 1;
	}
	return 0;
}

/* Every open on the node passes here (a dynamically linked exec alone opens six files): the path is read and
 * matched first, and only a watched open pays for the task's context. */
static __always_inline int open_common(struct trace_event_raw_sys_enter *ctx, __u32 nr, const char *upath, __u64 flags,
				       const int nargs)
{
	struct task_struct *t = recordable(EV_OPEN);
	struct event *e;
	long len;

	if (!t)
		return 0;
	e = new_scratch();
	if (!e)
		return 0;
	len = bpf_probe_read_user_str(e->path, sizeof(e->path), upath);
	if (!path_watched(e, len))
		return 0;
	fill_syscall(e, t, EV_OPEN, nr, ctx, nargs);
	e->args[5] = flags; /* open flags, whatever the syscall's argument order */
	park(e);
	return 0;
}

SEC("tp/syscalls/sys_enter_open")
int enter_open(struct trace_event_raw_sys_enter *ctx) { return open_common(ctx, 2, (const char *)ctx->args[0], ctx->args[1], 3); }
SEC("tp/syscalls/sys_exit_open")
int exit_open(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

SEC("tp/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx) { return open_common(ctx, 257, (const char *)ctx->args[1], ctx->args[2], 4); }
SEC("tp/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

SEC("tp/syscalls/sys_enter_openat2")
int enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]); /* struct open_how starts with flags */
	return open_common(ctx, 437, (const char *)ctx->args[1], flags, 4);
}
SEC("tp/syscalls/sys_exit_openat2")
int exit_openat2(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

#define SIMPLE_SYSCALL(name, kind, nr, nargs)                                                                   \
	SEC("tp/syscalls/sys_enter_" #name)                                                              \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                                          \
	{                                                                                                \
		struct event *e = begin(kind, nr, ctx, nargs);                                           \
		if (e)                                                                                   \
			park(e);                                                                         \
		return 0;                                                                                \
	}                                                                                                \
	SEC("tp/syscalls/sys_exit_" #name)                                                               \
	int exit_##name(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

SIMPLE_SYSCALL(setns, EV_SETNS, 308, 2)
SIMPLE_SYSCALL(unshare, EV_UNSHARE, 272, 1)
SIMPLE_SYSCALL(ptrace, EV_PTRACE, 101, 4)
SIMPLE_SYSCALL(bpf, EV_BPF, 321, 3)

SEC("tp/syscalls/sys_enter_mount")
int enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	struct event *e = begin(EV_MOUNT, 165, ctx, 5);
	if (!e)
		return 0;
	bpf_probe_read_user_str(e->path2, sizeof(e->path2), (void *)ctx->args[0]);
	bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)ctx->args[1]);
	park(e);
	return 0;
}
SEC("tp/syscalls/sys_exit_mount")
int exit_mount(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

SEC("tp/syscalls/sys_enter_memfd_create")
int enter_memfd_create(struct trace_event_raw_sys_enter *ctx)
{
	struct event *e = begin(EV_MEMFD_CREATE, 319, ctx, 2);
	if (!e)
		return 0;
	bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)ctx->args[0]);
	park(e);
	return 0;
}
SEC("tp/syscalls/sys_exit_memfd_create")
int exit_memfd_create(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

/* The duplicated socket's peer goes into addr (as a sockaddr, like connect's), its local port into args[2], the
 * protocol into args[3]. A socket accepted from a listener (or the listener itself) inherits a non-zero
 * sk_max_ack_backlog; a socket that connected out has none: that tells an inetd-style server from a reverse shell. */
static __always_inline void dup_socket_tuple(struct event *e, struct file *f)
{
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u16 family, dport;

	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	e->args[2] = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->args[3] = BPF_CORE_READ(sk, sk_protocol);
	if (BPF_CORE_READ(sk, sk_max_ack_backlog) > 0)
		e->flags |= EF_DUP_SERVER;
	__builtin_memcpy(&e->addr[0], &family, 2);
	__builtin_memcpy(&e->addr[2], &dport, 2);
	if (family == AF_INET) {
		__u32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(&e->addr[4], &daddr, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->addr[8], sk, __sk_common.skc_v6_daddr);
	}
}

/* Only a socket duplicated onto stdin/stdout/stderr is interesting (reverse shell). */
static __always_inline int dup_common(struct trace_event_raw_sys_enter *ctx, __u32 nr, const int nargs)
{
	__u64 oldfd = ctx->args[0], newfd = ctx->args[1];
	struct task_struct *t;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = 0;
	__u32 mode;
	struct event *e;

	if (newfd > 2)
		return 0;
	t = (struct task_struct *)bpf_get_current_task_btf();
	fdt = BPF_CORE_READ(t, files, fdt);
	if (oldfd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[oldfd & 0xffff]);
	if (!f)
		return 0;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	e = begin(EV_DUP, nr, ctx, nargs);
	if (!e)
		return 0;
	e->flags |= EF_DUP_SOCKET;
	dup_socket_tuple(e, f);
	park(e);
	return 0;
}

SEC("tp/syscalls/sys_enter_dup2")
int enter_dup2(struct trace_event_raw_sys_enter *ctx) { return dup_common(ctx, 33, 2); }
SEC("tp/syscalls/sys_exit_dup2")
int exit_dup2(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }
SEC("tp/syscalls/sys_enter_dup3")
int enter_dup3(struct trace_event_raw_sys_enter *ctx) { return dup_common(ctx, 292, 3); }
SEC("tp/syscalls/sys_exit_dup3")
int exit_dup3(struct trace_event_raw_sys_exit *ctx) { return finish(ctx); }

/* init_module/finit_module have no tracepoints on kernels built without modules; the loader attaches them only when
 * the tracepoint exists. */
SIMPLE_SYSCALL(init_module, EV_MODULE, 175, 3)
SIMPLE_SYSCALL(finit_module, EV_MODULE, 313, 3)

/* ---- enforcement: refuse connects to chosen addresses from chosen cgroups ---- */

static __always_inline int deny_lookup(struct deny_key *k)
{
	if (bpf_map_lookup_elem(&deny_connect, k))
		return 1;
	k->cgroup_id = 0;
	return bpf_map_lookup_elem(&deny_connect, k) != 0;
}

/* One denied connect is one event. When the connect syscall is traced its in-flight event is marked and completes at
 * the syscall's exit with the real result (-EPERM); only an untraced connect gets a connect_denied event of its own. */
static __always_inline void report_denied(struct bpf_sock_addr *ctx, __u32 family)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	__u32 tid = BPF_CORE_READ(t, pid);
	struct event *pending = bpf_map_lookup_elem(&inflight, &tid);
	struct event *e;
	if (pending && pending->kind == EV_CONNECT) {
		pending->flags |= EF_CONNECT_DENIED;
		return;
	}
	e = new_scratch();
	if (!e)
		return;
	e->flags |= EF_CONNECT_DENIED;
	fill_task(e, t, EV_CONNECT_DENIED);
	e->syscall = 42;
	e->ret = -EPERM;
	__u16 fam = family == 4 ? AF_INET : AF_INET6;
	__u16 port = (__u16)ctx->user_port;
	__builtin_memcpy(&e->addr[0], &fam, 2);
	__builtin_memcpy(&e->addr[2], &port, 2);
	if (family == 4) {
		__u32 a = ctx->user_ip4;
		__builtin_memcpy(&e->addr[4], &a, 4);
	} else {
		__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];
		__builtin_memcpy(&e->addr[8], &a0, 4);
		__builtin_memcpy(&e->addr[12], &a1, 4);
		__builtin_memcpy(&e->addr[16], &a2, 4);
		__builtin_memcpy(&e->addr[20], &a3, 4);
	}
	submit_copy(e);
}

SEC("cgroup/connect4")
int deny_connect4(struct bpf_sock_addr *ctx)
{
	struct deny_key k = {};
	__u32 a = ctx->user_ip4;
	k.cgroup_id = bpf_get_current_cgroup_id();
	k.family = 4;
	__builtin_memcpy(k.addr, &a, 4);
	if (deny_lookup(&k)) {
		report_denied(ctx, 4);
		return 0;
	}
	return 1;
}

SEC("cgroup/connect6")
int deny_connect6(struct bpf_sock_addr *ctx)
{
	struct deny_key k = {};
	__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];
	k.cgroup_id = bpf_get_current_cgroup_id();
	k.family = 6;
	__builtin_memcpy(&k.addr[0], &a0, 4);
	__builtin_memcpy(&k.addr[4], &a1, 4);
	__builtin_memcpy(&k.addr[8], &a2, 4);
	__builtin_memcpy(&k.addr[12], &a3, 4);
	if (deny_lookup(&k)) {
		report_denied(ctx, 6);
		return 0;
	}
	return 1;
}
