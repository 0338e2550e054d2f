// SPDX-License-Identifier: GPL-2.0
/* TTY capture of namespace honeypots, the kernel half (docs/tty-log.md,
 * src/capture/tty_bpf.h). Raw tracepoints only (no kprobes, no fentry):
 *
 *   sys_exit            read/readv/pread64/preadv/preadv2 (READ) and write/
 *                       writev/pwrite64/pwritev/pwritev2 (WRITE) that moved
 *                       bytes on a tty slave or console: the bytes, copied from
 *                       the user buffer; a successful execve/execveat: the new
 *                       program's argv (from mm->arg_start..arg_end).
 *   sched_process_exit  the last thread of a session leader that has a
 *                       controlling tty: the session on that tty ended.
 *
 * Only processes of a watched pid namespace (or of any namespace nested in
 * one: every level of the task's struct pid is checked) are recorded. Events
 * go to one ring buffer; userspace turns them into tty log records.
 *
 * CO-RE: the kernel structures are declared below with only the fields used,
 * marked preserve_access_index, so libbpf relocates the offsets against the
 * running kernel's BTF and the build needs no vmlinux.h. x86_64 only (syscall
 * numbers, pt_regs). */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "tty_capture.h"

_Static_assert(__builtin_offsetof(struct tty_event, data) == TTY_EV_HEADER_BYTES, "tty_event header");

char LICENSE[] SEC("license") = "GPL";

/* ---- kernel structures (CO-RE: names and fields only, offsets relocated) -- */

struct pt_regs {
  unsigned long bx;
  unsigned long cx;
  unsigned long dx;
  unsigned long si;
  unsigned long di;
  unsigned long r10;
  unsigned long r8;
  unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));

struct pid_namespace {
  struct ns_common ns;
} __attribute__((preserve_access_index));

struct upid {
  int nr;
  struct pid_namespace *ns;
} __attribute__((preserve_access_index));

struct pid {
  unsigned int level;
  struct upid numbers[1];
} __attribute__((preserve_access_index));

struct tty_driver {
  int major;
  int minor_start;
} __attribute__((preserve_access_index));

struct tty_struct {
  int index;
  struct tty_driver *driver;
} __attribute__((preserve_access_index));

struct tty_file_private {
  struct tty_struct *tty;
} __attribute__((preserve_access_index));

struct inode {
  unsigned short i_mode;
  unsigned int i_rdev;
} __attribute__((preserve_access_index));

struct file {
  struct inode *f_inode;
  void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
  unsigned int max_fds;
  struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
  struct fdtable *fdt;
} __attribute__((preserve_access_index));

typedef struct {
  int counter;
} atomic_t;

struct signal_struct {
  atomic_t live;
  int leader;
  struct tty_struct *tty;
} __attribute__((preserve_access_index));

struct mm_struct {
  unsigned long arg_start;
  unsigned long arg_end;
} __attribute__((preserve_access_index));

struct thread_info {
  __u32 status;
} __attribute__((preserve_access_index));

struct task_struct {
  struct thread_info thread_info;
  int tgid;
  struct pid *thread_pid;
  struct files_struct *files;
  struct signal_struct *signal;
  struct mm_struct *mm;
  struct task_struct *real_parent;
} __attribute__((preserve_access_index));

struct iovec {
  void *iov_base;
  __u64 iov_len;
};

#define TS_COMPAT 0x0002 /* x86 thread_info.status: in a 32-bit syscall */
#define S_IFMT 00170000
#define S_IFCHR 0020000
#define MAX_PID_NS_LEVEL 32

/* x86_64 syscall numbers */
#define NR_read 0
#define NR_write 1
#define NR_pread64 17
#define NR_pwrite64 18
#define NR_readv 19
#define NR_writev 20
#define NR_execve 59
#define NR_preadv 295
#define NR_pwritev 296
#define NR_execveat 322
#define NR_preadv2 327
#define NR_pwritev2 328
/* i386 syscall numbers (32-bit programs; no vectored I/O) */
#define NR32_read 3
#define NR32_write 4
#define NR32_execve 11
#define NR32_pread64 180
#define NR32_pwrite64 181
#define NR32_execveat 358

/* ---- maps ---------------------------------------------------------------- */

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20); /* bytes: 8 MiB; full = events dropped and counted */
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TTY_MAX_TARGETS);
  __type(key, __u32);   /* pid namespace inode */
  __type(value, __u32); /* target index */
} watched SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TTY_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* One event under construction per CPU (too big for the 512-byte stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tty_event);
} scratch SEC(".maps");

/* ---- helpers ------------------------------------------------------------- */

static __always_inline void stat_add(__u32 slot, __u64 n) {
  __u64 *v = bpf_map_lookup_elem(&stats, &slot);
  if (v) *v += n;
}

/* The lowest level of the watched pid namespaces (0 = the host's), set by
 * userspace before load: a task at a lower level (every host process when
 * the honeypots are at level 1) is ruled out without looking further. */
const volatile __u32 min_level = 0;

/* The target index when t's pid namespace, or one of its ancestors, is
 * watched. struct pid has one upid per level, from the init namespace (0) to
 * the task's own: every ancestor namespace is numbers[i].ns, no pointer walk,
 * and no nesting depth (at most 32 levels) escapes it. */
static __always_inline int watched_target(struct task_struct *t, __u32 *target) {
  struct pid *pid = BPF_CORE_READ(t, thread_pid);
  if (!pid) return 0;
  unsigned int level = BPF_CORE_READ(pid, level);
  if (level < min_level) return 0;
  const __u64 upid_size = bpf_core_type_size(struct upid);
  const char *numbers = (const char *)pid + bpf_core_field_offset(struct pid, numbers);
  for (unsigned int i = 0; i <= MAX_PID_NS_LEVEL; i++) {
    unsigned int lvl = min_level + i;
    if (lvl > level || lvl > MAX_PID_NS_LEVEL) break;
    struct upid *up = (struct upid *)(numbers + lvl * upid_size);
    struct pid_namespace *ns = BPF_CORE_READ(up, ns);
    if (!ns) return 0;
    __u32 inum = BPF_CORE_READ(ns, ns.inum);
    __u32 *idx = bpf_map_lookup_elem(&watched, &inum);
    if (idx) {
      *target = *idx;
      return 1;
    }
  }
  return 0;
}

/* TTY_DEV() of a tty that is recorded: a virtual console or serial port
 * (major 4) or a pty slave (136..143). 0 for anything else, pty masters
 * (major 128..135) included. */
static __always_inline __u32 tty_dev(struct tty_struct *tty) {
  if (!tty) return 0;
  struct tty_driver *drv = BPF_CORE_READ(tty, driver);
  if (!drv) return 0;
  int major = BPF_CORE_READ(drv, major);
  if (!(major == 4 || (major >= 136 && major <= 143))) return 0;
  int minor = BPF_CORE_READ(drv, minor_start) + BPF_CORE_READ(tty, index);
  return TTY_DEV(major, minor);
}

/* The recorded tty behind fd of t, 0 when fd is not one. The inode must be a
 * character device of a tty major (4 tty/ttyS, 5 /dev/tty /dev/console
 * /dev/ptmx, 136..143 pts); the tty itself comes from the open file (so
 * /dev/tty and /dev/console count as the tty they stand for, /dev/ptmx as the
 * master, which is not recorded). */
static __always_inline __u32 fd_tty_dev(struct task_struct *t, __u64 fd) {
  struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
  if (!fdt) return 0;
  unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
  if (fd >= max_fds) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *f = 0;
  if (bpf_probe_read_kernel(&f, sizeof f, fds + fd) || !f) return 0;
  struct inode *inode = BPF_CORE_READ(f, f_inode);
  if (!inode) return 0;
  unsigned short mode = BPF_CORE_READ(inode, i_mode);
  if ((mode & S_IFMT) != S_IFCHR) return 0;
  __u32 major = TTY_DEV_MAJOR(BPF_CORE_READ(inode, i_rdev));
  if (!(major == 4 || major == 5 || (major >= 136 && major <= 143))) return 0;
  struct tty_file_private *priv = BPF_CORE_READ(f, private_data);
  if (!priv) return 0;
  return tty_dev(BPF_CORE_READ(priv, tty));
}

static __always_inline struct tty_event *new_event(struct task_struct *t, __u32 kind, __u32 target, __u32 dev) {
  __u32 zero = 0;
  struct tty_event *ev = bpf_map_lookup_elem(&scratch, &zero);
  if (!ev) return 0;
  ev->time_ns = bpf_ktime_get_boot_ns();
  ev->kind = kind;
  ev->target = target;
  ev->dev = dev;
  ev->ctty = tty_dev(BPF_CORE_READ(t, signal, tty));
  ev->pctty = tty_dev(BPF_CORE_READ(t, real_parent, signal, tty));
  ev->pid = BPF_CORE_READ(t, tgid);
  ev->len = 0;
  ev->reserved = 0;
  return ev;
}

static __always_inline void submit(struct tty_event *ev, __u32 n) {
  if (n > TTY_EV_MAX_DATA) n = TTY_EV_MAX_DATA;
  ev->len = n;
  if (bpf_ringbuf_output(&events, ev, TTY_EV_HEADER_BYTES + n, 0)) {
    stat_add(TTY_STAT_LOST_EVENTS, 1);
    stat_add(TTY_STAT_LOST_BYTES, n);
  }
}

/* Sends len bytes at user address buf as events of at most TTY_EV_MAX_DATA
 * bytes, at most budget of them, with the header the caller left in this
 * CPU's scratch event; the bytes left over are counted as cut. Returns the
 * events used, or -1 when the buffer could not be read.
 *
 * A global (not inlined) function: the verifier checks it once, on its own,
 * instead of once per call site and loop iteration of its callers. */
__noinline int emit_chunks(__u64 buf, __u64 len, __u32 budget) {
  __u32 zero = 0;
  struct tty_event *ev = bpf_map_lookup_elem(&scratch, &zero);
  if (!ev) return -1;
  int used = 0;
#pragma clang loop unroll(disable)
  for (int i = 0; i < TTY_EV_MAX_CHUNKS; i++) {
    if (len == 0 || (__u32)used >= budget) break;
    __u32 n = len > TTY_EV_MAX_DATA ? TTY_EV_MAX_DATA : (__u32)len;
    asm volatile("" : "+r"(n)); /* keep the bound check below on the register the helper gets */
    if (n > TTY_EV_MAX_DATA) n = TTY_EV_MAX_DATA;
    if (n == 0) break;
    if (bpf_probe_read_user(ev->data, n, (const void *)buf)) {
      stat_add(TTY_STAT_FAULTS, 1);
      return -1;
    }
    submit(ev, n);
    used++;
    buf += n;
    len -= n;
  }
  if (len) stat_add(TTY_STAT_CUT_BYTES, len);
  return used;
}

/* readv/writev family: the first TTY_EV_MAX_IOV iovecs, up to total bytes. */
static __always_inline void emit_iov(const struct iovec *iov, __u64 iovcnt, __u64 total) {
  __u32 budget = TTY_EV_MAX_CHUNKS;
#pragma clang loop unroll(disable)
  for (int i = 0; i < TTY_EV_MAX_IOV; i++) {
    if (i >= iovcnt || total == 0) return;
    struct iovec v;
    if (bpf_probe_read_user(&v, sizeof v, iov + i)) {
      stat_add(TTY_STAT_FAULTS, 1);
      return;
    }
    __u64 n = v.iov_len < total ? v.iov_len : total;
    int used = emit_chunks((__u64)v.iov_base, n, budget);
    if (used < 0) return;
    budget = (__u32)used >= budget ? 0 : budget - (__u32)used;
    total -= n;
  }
  if (total) stat_add(TTY_STAT_CUT_BYTES, total);
}

/* EXEC: argv of the program now running (the kernel laid the strings out
 * NUL-terminated at arg_start on the new stack). */
static __always_inline void emit_exec(struct task_struct *t, __u32 target) {
  __u32 ctty = tty_dev(BPF_CORE_READ(t, signal, tty));
  if (!ctty) return;
  struct tty_event *ev = new_event(t, TTY_EV_EXEC, target, ctty);
  if (!ev) return;
  unsigned long start = BPF_CORE_READ(t, mm, arg_start);
  unsigned long end = BPF_CORE_READ(t, mm, arg_end);
  __u64 len = end > start ? end - start : 0;
  __u32 n = len > TTY_EV_MAX_DATA ? TTY_EV_MAX_DATA : (__u32)len;
  asm volatile("" : "+r"(n));
  if (n > TTY_EV_MAX_DATA) n = TTY_EV_MAX_DATA;
  if (n && bpf_probe_read_user(ev->data, n, (const void *)start)) {
    stat_add(TTY_STAT_FAULTS, 1);
    return;
  }
  submit(ev, n);
}

/* ---- programs ------------------------------------------------------------ */

SEC("raw_tracepoint/sys_exit")
int tty_sys_exit(struct bpf_raw_tracepoint_args *ctx) {
  struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
  long ret = (long)ctx->args[1];
  long nr = BPF_CORE_READ(regs, orig_ax);
  /* Cheap filter first: every syscall of every process passes here. */
  switch (nr) {
    case NR_read: case NR_write: case NR_pread64: case NR_pwrite64: case NR_readv: case NR_writev:
    case NR_execve: case NR_preadv: case NR_pwritev: case NR_execveat: case NR_preadv2: case NR_pwritev2:
    case NR32_read: case NR32_write: case NR32_execve: case NR32_pread64: case NR32_pwrite64: case NR32_execveat:
      break;
    default:
      return 0;
  }
  if (ret < 0) return 0;
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  __u32 target = 0;
  if (!watched_target(t, &target)) return 0;

  int compat = (BPF_CORE_READ(t, thread_info.status) & TS_COMPAT) != 0;
  __u32 kind = 0;
  __u64 fd = 0, buf = 0, iovcnt = 0;
  int vectored = 0;
  if (!compat) {
    switch (nr) {
      case NR_execve: case NR_execveat:
        if (ret == 0) emit_exec(t, target);
        return 0;
      case NR_read: case NR_pread64: kind = TTY_EV_READ; break;
      case NR_write: case NR_pwrite64: kind = TTY_EV_WRITE; break;
      case NR_readv: case NR_preadv: case NR_preadv2: kind = TTY_EV_READ; vectored = 1; break;
      case NR_writev: case NR_pwritev: case NR_pwritev2: kind = TTY_EV_WRITE; vectored = 1; break;
      default: return 0;
    }
    fd = (__u32)BPF_CORE_READ(regs, di); /* the kernel takes an unsigned int fd */
    buf = BPF_CORE_READ(regs, si);
    if (vectored) iovcnt = BPF_CORE_READ(regs, dx);
  } else {
    switch (nr) {
      case NR32_execve: case NR32_execveat:
        if (ret == 0) emit_exec(t, target);
        return 0;
      case NR32_read: case NR32_pread64: kind = TTY_EV_READ; break;
      case NR32_write: case NR32_pwrite64: kind = TTY_EV_WRITE; break;
      default: return 0;
    }
    fd = (__u32)BPF_CORE_READ(regs, bx);
    buf = (__u32)BPF_CORE_READ(regs, cx);
  }
  if (ret == 0) return 0;
  __u32 dev = fd_tty_dev(t, fd);
  if (!dev) return 0;
  struct tty_event *ev = new_event(t, kind, target, dev);
  if (!ev) return 0;
  if (vectored)
    emit_iov((const struct iovec *)buf, iovcnt, (__u64)ret);
  else
    emit_chunks(buf, (__u64)ret, TTY_EV_MAX_CHUNKS);
  return 0;
}

SEC("raw_tracepoint/sched_process_exit")
int tty_process_exit(struct bpf_raw_tracepoint_args *ctx) {
  struct task_struct *t = (struct task_struct *)ctx->args[0];
  struct signal_struct *sig = BPF_CORE_READ(t, signal);
  if (!sig || !BPF_CORE_READ(sig, leader)) return 0;
  if (BPF_CORE_READ(sig, live.counter) != 0) return 0; /* not the process's last thread */
  __u32 dev = tty_dev(BPF_CORE_READ(sig, tty));
  if (!dev) return 0;
  __u32 target = 0;
  if (!watched_target(t, &target)) return 0;
  struct tty_event *ev = new_event(t, TTY_EV_EXIT, target, dev);
  if (!ev) return 0;
  submit(ev, 0);
  return 0;
}
