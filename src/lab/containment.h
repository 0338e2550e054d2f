// Containment of honeypot processes on the host: what keeps root in a guest
// from reaching the host (docs/security.md).
//
//   GuestLimits    the per-honeypot resource limits ([[honeypot]] keys
//                  pids_max, memory_max, swap_max, cpu_max, io_weight, disk_max).
//   GuestCgroup    one cgroup per honeypot: "honeynet/<name>" in cgroup v2
//                  (/sys/fs/cgroup, or /sys/fs/cgroup/unified when it has the
//                  controllers), else in each cgroup v1 hierarchy (pids,
//                  memory, cpu, blkio) of a hybrid host. The limits are
//                  written before any guest process joins it.
//   GuestIds       the unprivileged host uid/gid range a guest runs as: a
//                  namespace honeypot's root (uid 0 inside) maps to base;
//                  a UML guest's `linux` process runs as base itself.
//   Seccomp        a filter as a BPF program built (with libseccomp) before a
//                  fork, so that a child installs it with one prctl() and no
//                  allocation (async-signal-safe).
//
// Who may call: the lab (nsguest, guest, lab) and `honeynet audit`.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace hn {

struct GuestLimits {
  int64_t pids_max = 512;                // processes and threads
  int64_t memory_max = 256ll << 20;      // bytes of RAM (page cache and tmpfs included)
  int64_t swap_max = 0;                  // bytes of swap on top (0: none)
  int64_t cpu_max_percent = 50;          // share of one CPU, 1..100*ncpu
  int64_t io_weight = 50;                // 1..10000 (v2 io.weight / v1 blkio.weight where present)
  int64_t disk_max = 1ll << 30;          // bytes a namespace honeypot may write (its upper layer)
};

// The limits of honeypot hp as configured (memory_max 0: the default of its
// kind: 256M for netns, mem + 256M for a UML guest's host processes; cpu_max
// 0: 50 % of a CPU for netns, 100 % for UML).
GuestLimits GuestLimitsFrom(const HoneypotConfig& hp);

// The uid/gid range of honeypot number index (0-based): 65536 ids each,
// from kGuestIdBase. Fixed and high (not in /etc/subuid of anyone), so a
// file owned by a guest is never owned by a user of the host.
inline constexpr uint32_t kGuestIdBase = 0x20000000;  // 536870912
inline constexpr uint32_t kGuestIdSpan = 65536;
struct GuestIds {
  uint32_t base = 0;  // host uid = host gid of the guest's root
  uint32_t span = kGuestIdSpan;
};
GuestIds GuestIdsFor(size_t index);
// The range every namespace honeypot's root maps to (they share the image's
// tree, owned by this range; each is alone in its own pid, mount, ipc and
// network namespaces, so sharing ids gives one no handle on another).
inline constexpr uint32_t kNsGuestIdBase = 0x30000000;  // 805306368

// Where cgroups are on this host, and which controllers the honeynet uses.
struct CgroupLayout {
  bool v2 = false;
  std::string v2_root;                   // v2: the unified mount with the controllers
  std::vector<std::string> v1_roots;     // v1: the pids, memory, cpu, blkio mounts found
  std::string Describe() const;
};
// Reads /proc/self/mountinfo; an error when neither v2 with the memory and
// pids controllers nor v1 pids+memory hierarchies are there.
Result<CgroupLayout> FindCgroups();

class GuestCgroup {
 public:
  // Makes honeynet/<name> (anew: an old one is emptied of processes and
  // removed first) and writes the limits. Errors name the file and the value.
  static Result<GuestCgroup> Create(const std::string& name, const GuestLimits& limits);
  // The cgroup of a guest from an earlier run (for Remove and status).
  static GuestCgroup Existing(const std::string& name);

  // Files a process joins by writing its pid (or "0": itself) into: one per
  // hierarchy (v2: one). Open them before a fork; the child writes "0".
  const std::vector<std::string>& ProcsFiles() const { return procs_files_; }
  Status Attach(int pid) const;
  // Kills what is left in it (SIGKILL) and removes it. Idempotent.
  Status Remove() const;
  // The limits as the kernel holds them, by file name ("pids.max": "512").
  std::vector<std::pair<std::string, std::string>> Read() const;
  // The cgroup paths (for messages and status).
  const std::vector<std::string>& Dirs() const { return dirs_; }

 private:
  std::vector<std::string> dirs_;
  std::vector<std::string> procs_files_;
};

// A seccomp filter, exported to classic BPF before a fork.
struct SeccompProgram {
  std::vector<sock_filter> insns;
  // Installs it on the calling thread (all threads with tsync: use
  // InstallAllThreads in a multithreaded process). Async-signal-safe.
  int Install() const;
};

// The filter of a namespace honeypot (every process in it): Docker's and
// nsjail's dangerous calls refused with EPERM (module loading, kexec, bpf,
// perf_event_open, userfaultfd, keyrings, open_by_handle_at, clock and time
// setting, mount and namespaces, swap, acct, quotas, io_uring, ptrace of
// others is left to the user namespace), clone3 with ENOSYS (so libc falls
// back to clone, whose flags are checked: no new namespaces), and any other
// architecture's calls (x32, i386) killed.
Result<SeccompProgram> GuestSeccomp();

}  // namespace hn
