// TTY capture of namespace honeypots from the host kernel with eBPF.
//
// A namespace honeypot (src/lab/nsguest.h) is a set of processes in their own
// pid/mount/uts/net namespaces, chrooted into a rootfs. Its terminals are host
// kernel ptys, so there is no guest kernel to patch: a small CO-RE eBPF
// program (bpf/tty_capture.bpf.c, built with clang -target bpf, embedded in
// the binary, loaded with libbpf) on the raw tracepoints sys_exit (read/write
// on a tty fd; a successful execve/execveat: argv) and sched_process_exit (the
// session leader of a tty ends) writes the same records as the UML kernel
// patch (docs/tty-log.md): OPEN/CLOSE/WRITE/EXEC, READ = what the user typed,
// WRITE = what the user saw. Only processes whose pid namespace, or any of its
// ancestors (every level: nesting cannot hide), is a watched honeypot's are
// recorded. Only tty slaves and consoles are recorded, never the pty master
// side (telnetd's own I/O). x86_64 only.
//
// Nothing of it is visible inside the honeypot: the program and its maps live
// in the host kernel, the log file on the host, no traffic.
//
// Who may call: `honeynet tty capture` (src/cli/cmd_tty.cpp), which the lab
// starts per namespace honeypot before the honeypot's init runs. The helpers
// at the bottom (event decoding, record writing) are the userspace half,
// public for the unit tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hn {

struct TtyBpfTarget {
  std::string name;        // honeypot name (for messages)
  uint64_t pidns_inode;    // inode of /proc/PID/ns/pid of the honeypot's init
  std::string log_path;    // records appended here (docs/tty-log.md format)
  int init_pid = 0;        // host pid of the namespace's init (0: unknown). Run() ends when
                           // it exits; without it, when no process in /proc has the namespace
};

struct TtyBpfStats {
  uint64_t records = 0;    // records written
  uint64_t bytes = 0;      // data bytes written (READ + WRITE records)
  uint64_t lost = 0;       // records the kernel could not queue (ring buffer full)
  uint64_t lost_bytes = 0; // their data bytes
  uint64_t cut_bytes = 0;  // bytes of huge reads/writes not copied (past 256 KiB per call or 8 iovecs)
  uint64_t faults = 0;     // user buffers that could not be read (their bytes are missing)
};

// True when this host can run the capture: x86_64, root (CAP_BPF+CAP_PERFMON
// or CAP_SYS_ADMIN), kernel BTF at /sys/kernel/btf/vmlinux, raw tracepoints,
// BPF ring buffer. Otherwise an error that says what is missing.
Status TtyBpfSupported();

class TtyBpfCapture {
 public:
  ~TtyBpfCapture();
  // Loads and attaches the program, watching the targets' pid namespaces.
  // Errors name what failed (verifier log tail, missing BTF, privilege, a log
  // file that cannot be opened, an init_pid that is not in its namespace, a
  // target that is the caller's own pid namespace: the whole host).
  // Once it returns, every tty I/O of the targets is recorded.
  static Result<std::unique_ptr<TtyBpfCapture>> Start(const std::vector<TtyBpfTarget>& targets);
  // Polls the ring buffer and appends records (written per batch, no fsync)
  // until stop is set (checked at least every 100 ms) or every target's
  // namespace is gone (no process left in it). Flushes and closes the logs
  // before returning. Error: a log file could not be written.
  Status Run(const std::atomic<bool>& stop);
  // Safe to call from another thread while Run() runs.
  TtyBpfStats stats() const;
  // Least privilege once Start() has loaded and attached the program (docs/
  // security.md): gives each log file and its directory the owner and
  // group of the directory above (the capture dir, which the honeywall made
  // capture.user's) so the honeywall can read them, then drops every
  // capability (polling the ring buffer and reading the stats map through
  // their fds need none on kernels >= 6.5; CAP_SYS_PTRACE is kept when a
  // target has no init pid: /proc/PID/ns/pid of root processes), sets
  // no_new_privs and a seccomp allow-list (bpf() only for map lookups;
  // HONEYNET_SECCOMP as for the honeywall). *summary: one line saying what is
  // kept. Call once, from the main thread, before Run(); never in a process
  // that goes on doing other things (tests).
  Status LockDown(std::string* summary);

 private:
  TtyBpfCapture();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The inode of /proc/PID/ns/pid (the pid namespace PID is in).
Result<uint64_t> PidNamespaceInode(int pid);

// ---- the userspace half (public for tests) ---------------------------------

// One event of the kernel program (bpf/tty_capture.h), decoded.
struct TtyBpfEvent {
  enum Kind : uint32_t { kRead = 1, kWrite = 2, kExec = 3, kExit = 4 };
  uint32_t kind = 0;
  uint32_t target = 0;   // index into Start()'s targets
  uint32_t dev = 0;      // READ/WRITE: the tty; EXEC/EXIT: the controlling tty (major << 20 | minor)
  uint32_t ctty = 0;     // the process's controlling tty, 0: none
  uint32_t pctty = 0;    // its parent's controlling tty, 0: none
  uint32_t pid = 0;      // host tgid
  uint64_t time_ns = 0;  // CLOCK_BOOTTIME
  std::string_view data; // points into the sample
};

// Decodes one ring buffer sample. False: shorter than its header, or than the
// data length it claims, or longer data than an event can hold.
bool DecodeTtyBpfEvent(const void* sample, size_t size, TtyBpfEvent* ev);

// The tty's name as the log's OPEN record carries it, from a device number as
// the kernel keeps it (major << 20 | minor): "pts/3" (majors 136..143), "tty1"
// (4, minor < 64), "ttyS0" (4, minor >= 64), else "tty<major>:<minor>".
std::string TtyDeviceName(uint32_t dev);

// The first tty id for a capture that appends to path: start_sec × 65536
// (like the UML producer), or one past the largest id already in the file,
// whichever is larger (ids stay unique across restarts of the capture). A
// missing or unreadable file counts as empty; a corrupt tail is ignored.
uint64_t FirstTtyId(int64_t start_sec, const std::string& path);

// One target's events in, tty log records out (docs/tty-log.md, "What the
// eBPF capture writes"): the first event of a tty (after a CLOSE: again)
// writes an OPEN with a new id; READ/WRITE data is gathered per tty and
// direction for up to kGatherUs or kGatherBytes into one record; EXEC opens
// the controlling tty if needed; EXIT writes the CLOSE.
class TtyBpfLog {
 public:
  static constexpr int64_t kGatherUs = 20'000;
  static constexpr size_t kGatherBytes = 4096;

  explicit TtyBpfLog(uint64_t first_id) : next_id_(first_id) {}
  // Appends the records ev completes to *out (data may stay gathered: Flush).
  // time_us: ev's wall-clock time, microseconds since 1970.
  void Feed(const TtyBpfEvent& ev, int64_t time_us, std::string* out);
  // Writes gathered data whose first byte is kGatherUs older than now_us, or
  // all of it when now_us < 0.
  void Flush(int64_t now_us, std::string* out);

  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_; }
  // Ttys opened and not closed: device number -> tty id.
  const std::map<uint32_t, uint64_t>& open_ttys() const { return open_; }

 private:
  uint64_t Id(uint32_t dev, const TtyBpfEvent& ev, int64_t time_us, std::string* out);
  void Emit(uint64_t what, uint64_t tty, uint64_t direction, int64_t time_us, std::string_view data,
            std::string* out);
  void EmitPending(std::string* out);

  uint64_t next_id_;
  std::map<uint32_t, uint64_t> open_;
  struct Pending {
    uint64_t tty = 0;
    uint64_t direction = 0;
    int64_t time_us = 0;
    std::string data;
  } pending_;
  bool has_pending_ = false;
  uint64_t records_ = 0, bytes_ = 0;
};

}  // namespace hn
