/* The records the kernel half of the namespace honeypots' TTY capture
 * (bpf/tty_capture.bpf.c) hands to its userspace half (src/capture/tty_bpf.cpp)
 * through the BPF ring buffer, and the maps they share. Included by both: plain
 * C, fixed-size types only, no padding (the layout is the ABI between them).
 *
 * x86_64 only: the syscall numbers and pt_regs fields are x86_64's. */
#ifndef HONEYNET_BPF_TTY_CAPTURE_H
#define HONEYNET_BPF_TTY_CAPTURE_H

#include <linux/types.h>

/* tty_event.kind */
#define TTY_EV_READ 1  /* read*(2) from a tty: what the user typed; dev = that tty */
#define TTY_EV_WRITE 2 /* write*(2) to a tty: what the user saw; dev = that tty */
#define TTY_EV_EXEC 3  /* successful execve/execveat; dev = the controlling tty; data = argv, NUL-separated */
#define TTY_EV_EXIT 4  /* a session leader with a controlling tty exited; dev = that tty; no data */

/* Data bytes per event; a larger read/write is split into several events. */
#define TTY_EV_MAX_DATA 4096
/* Events per syscall at most (TTY_EV_MAX_CHUNKS * TTY_EV_MAX_DATA bytes are
 * copied of one read/write; the rest is counted in TTY_STAT_CUT_BYTES). */
#define TTY_EV_MAX_CHUNKS 64
/* iovecs of one readv/writev looked at (the rest counted as cut). */
#define TTY_EV_MAX_IOV 8

/* Device numbers as the kernel keeps them: major << 20 | minor. */
#define TTY_DEV(major, minor) (((__u32)(major) << 20) | ((__u32)(minor)&0xfffff))
#define TTY_DEV_MAJOR(dev) ((__u32)(dev) >> 20)
#define TTY_DEV_MINOR(dev) ((__u32)(dev)&0xfffff)

struct tty_event {
  __u64 time_ns; /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME */
  __u32 kind;    /* TTY_EV_* */
  __u32 target;  /* index of the watched pid namespace (value in the `watched` map) */
  __u32 dev;     /* TTY_DEV() of the tty (see kind) */
  __u32 ctty;    /* TTY_DEV() of the process's controlling tty, 0: none */
  __u32 pctty;   /* TTY_DEV() of its parent process's controlling tty, 0: none */
  __u32 pid;     /* host tgid of the process */
  __u32 len;     /* bytes of data that follow (the event is cut after them) */
  __u32 reserved;
  __u8 data[TTY_EV_MAX_DATA];
};
#define TTY_EV_HEADER_BYTES 40 /* offsetof(struct tty_event, data) */

/* Slots of the per-CPU `stats` array map. */
#define TTY_STAT_LOST_EVENTS 0 /* ring buffer full: event dropped */
#define TTY_STAT_LOST_BYTES 1  /* data bytes of those events */
#define TTY_STAT_CUT_BYTES 2   /* data beyond TTY_EV_MAX_CHUNKS / TTY_EV_MAX_IOV not copied */
#define TTY_STAT_FAULTS 3      /* user memory that could not be read (event dropped) */
#define TTY_STAT_COUNT 4

/* The `watched` hash map: key = pid namespace inode (ns.inum), value = target index. */
#define TTY_MAX_TARGETS 256

#endif
