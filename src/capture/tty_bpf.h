// TTY capture of namespace honeypots from the host kernel with eBPF.
//
// A namespace honeypot (src/lab/nsguest.h) is a set of processes in their own
// pid/mount/uts/net namespaces, chrooted into a rootfs. Its terminals are host
// kernel ptys, so there is no guest kernel to patch: a small CO-RE eBPF
// program (bpf/tty_capture.bpf.c, built with clang -target bpf, embedded in
// the binary, loaded with libbpf) on the raw tracepoints sys_exit (read/write
// on a tty fd), sys_enter (execve/execveat argv) and sched_process_exit (the
// session leader of a tty ends) writes the same records as the UML kernel
// patch (docs/tty-log.md): OPEN/CLOSE/WRITE/EXEC, READ = what the user typed,
// WRITE = what the user saw. Only processes whose pid namespace, or any of its
// ancestors up to a fixed depth, is a watched honeypot's are recorded (an
// attacker who nests a new pid namespace is still seen). Only tty slaves and
// consoles are recorded, never the pty master side (telnetd's own I/O).
//
// Nothing of it is visible inside the honeypot: the program and its maps live
// in the host kernel, the log file on the host, no traffic.
//
// Who may call: `honeynet tty capture` (src/cli/cmd_tty.cpp), which the lab
// starts per namespace honeypot before the honeypot's init runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

struct TtyBpfTarget {
  std::string name;        // honeypot name (for messages)
  uint64_t pidns_inode;    // inode of /proc/PID/ns/pid of the honeypot's init
  std::string log_path;    // records appended here (docs/tty-log.md format)
};

struct TtyBpfStats {
  uint64_t records = 0;    // records written
  uint64_t bytes = 0;      // data bytes written
  uint64_t lost = 0;       // records the kernel could not queue (ring buffer full)
};

// True when this host can run the capture: root (CAP_BPF/CAP_SYS_ADMIN),
// kernel BTF at /sys/kernel/btf/vmlinux, raw tracepoints, BPF ring buffer.
// Otherwise an error that says what is missing.
Status TtyBpfSupported();

class TtyBpfCapture {
 public:
  ~TtyBpfCapture();
  // Loads and attaches the program, watching the targets' pid namespaces.
  // Errors name what failed (verifier log tail, missing BTF, privilege).
  static Result<std::unique_ptr<TtyBpfCapture>> Start(const std::vector<TtyBpfTarget>& targets);
  // Polls the ring buffer and appends records until stop is set (checked at
  // least every 100 ms) or every target's namespace is gone (no process left
  // in it). Flushes and closes the logs before returning.
  Status Run(const std::atomic<bool>& stop);
  TtyBpfStats stats() const;

 private:
  TtyBpfCapture();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The inode of /proc/PID/ns/pid (the pid namespace PID is in).
Result<uint64_t> PidNamespaceInode(int pid);

}  // namespace hn
