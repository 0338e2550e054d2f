// Containment of honeypot processes (see containment.h).
#include "lab/containment.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/fs.h"

namespace hn {
namespace {

std::string Errno() { return std::strerror(errno); }

bool Exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

Status WriteCg(const std::string& file, const std::string& value) {
  Status s = WriteKnob(file, value);
  return s.ok() ? s : Status::Error("cgroup: " + s.message());
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool HasWord(const std::string& list, const std::string& word) {
  std::stringstream ss(list);
  for (std::string w; ss >> w;)
    if (w == word) return true;
  return false;
}

std::vector<std::string> DirsOf(const CgroupLayout& l, const std::string& rel) {
  std::vector<std::string> d;
  if (l.v2) d.push_back(l.v2_root + "/" + rel);
  else
    for (const auto& r : l.v1_roots) d.push_back(r + "/" + rel);
  return d;
}

}  // namespace

GuestLimits GuestLimitsFrom(const HoneypotConfig& hp) {
  GuestLimits l;
  l.pids_max = hp.pids_max;
  l.memory_max = hp.memory_max != 0         ? int64_t(hp.memory_max)
                 : hp.kind == "netns"       ? int64_t(256) << 20
                                            : (int64_t(hp.mem_mb) + 256) << 20;
  l.swap_max = int64_t(hp.swap_max);
  // A UML guest is one busy process when it boots (its kernel); a namespace
  // honeypot's processes are the attacker's only.
  l.cpu_max_percent = hp.cpu_max != 0 ? hp.cpu_max : hp.kind == "netns" ? 50 : 100;
  l.io_weight = hp.io_weight;
  l.disk_max = int64_t(hp.disk_max);
  return l;
}

GuestIds GuestIdsFor(size_t index) {
  GuestIds ids;
  ids.base = kGuestIdBase + uint32_t(index) * kGuestIdSpan;
  return ids;
}

std::string CgroupLayout::Describe() const {
  if (v2) return "cgroup v2 at " + v2_root;
  std::string s = "cgroup v1:";
  for (const auto& r : v1_roots) s += " " + r;
  return s;
}

Result<CgroupLayout> FindCgroups() {
  CgroupLayout l;
  std::stringstream ss(ReadFileOrEmpty("/proc/self/mountinfo"));
  std::vector<std::string> v2_mounts;
  std::string pids, memory, cpu, blkio;
  for (std::string line; std::getline(ss, line);) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
    std::stringstream ls(line);
    std::vector<std::string> f;
    for (std::string w; ls >> w;) f.push_back(w);
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") dash++;
    if (f.size() < 5 || dash + 1 >= f.size()) continue;
    const std::string& mnt = f[4];
    const std::string& type = f[dash + 1];
    const std::string opts = dash + 3 < f.size() ? f[dash + 3] : "";
    if (type == "cgroup2") v2_mounts.push_back(mnt);
    if (type == "cgroup") {
      std::string o = "," + opts + ",";
      if (o.find(",pids,") != std::string::npos) pids = mnt;
      if (o.find(",memory,") != std::string::npos) memory = mnt;
      if (o.find(",cpu,") != std::string::npos) cpu = mnt;
      if (o.find(",blkio,") != std::string::npos) blkio = mnt;
    }
  }
  for (const auto& m : v2_mounts) {
    const std::string c = ReadFileOrEmpty(m + "/cgroup.controllers");
    if (HasWord(c, "memory") && HasWord(c, "pids")) {
      l.v2 = true;
      l.v2_root = m;
      return l;
    }
  }
  if (pids.empty() || memory.empty()) {
    return Status::Error(
        "no usable cgroups: need cgroup v2 with the memory and pids controllers, or cgroup v1 pids and memory "
        "hierarchies (mounted under /sys/fs/cgroup); without them a honeypot's processes and memory are not "
        "limited");
  }
  for (const auto& r : {pids, memory, cpu, blkio})
    if (!r.empty()) l.v1_roots.push_back(r);
  return l;
}

Result<GuestCgroup> GuestCgroup::Create(const std::string& name, const GuestLimits& lim) {
  Result<CgroupLayout> lay = FindCgroups();
  if (!lay.ok()) return lay.status();
  const CgroupLayout& l = *lay;
  GuestCgroup cg = Existing(name);
  if (Status s = cg.Remove(); !s.ok()) return s;
  cg.dirs_.clear();
  cg.procs_files_.clear();
  const int64_t period = 100000;
  const int64_t quota = std::max<int64_t>(1000, lim.cpu_max_percent * period / 100);
  if (l.v2) {
    const std::string top = l.v2_root + "/honeynet";
    std::string want;
    const std::string avail = ReadFileOrEmpty(l.v2_root + "/cgroup.controllers");
    for (const char* c : {"pids", "memory", "cpu", "io"})
      if (HasWord(avail, c)) want += std::string(want.empty() ? "" : " ") + "+" + c;
    if (Status s = WriteCg(l.v2_root + "/cgroup.subtree_control", want); !s.ok()) return s;
    if (::mkdir(top.c_str(), 0755) != 0 && errno != EEXIST) return Status::Error("cgroup: mkdir " + top + ": " + Errno());
    if (Status s = WriteCg(top + "/cgroup.subtree_control", want); !s.ok()) return s;
    const std::string dir = top + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) return Status::Error("cgroup: mkdir " + dir + ": " + Errno());
    cg.dirs_.push_back(dir);
    cg.procs_files_.push_back(dir + "/cgroup.procs");
    if (Status s = WriteCg(dir + "/pids.max", std::to_string(lim.pids_max)); !s.ok()) return s;
    if (Status s = WriteCg(dir + "/memory.max", std::to_string(lim.memory_max)); !s.ok()) return s;
    if (Exists(dir + "/memory.swap.max"))
      if (Status s = WriteCg(dir + "/memory.swap.max", std::to_string(lim.swap_max)); !s.ok()) return s;
    if (Exists(dir + "/cpu.max"))
      if (Status s = WriteCg(dir + "/cpu.max", std::to_string(quota) + " " + std::to_string(period)); !s.ok())
        return s;
    if (Exists(dir + "/io.weight"))
      if (Status s = WriteCg(dir + "/io.weight", "default " + std::to_string(lim.io_weight)); !s.ok()) return s;
    return cg;
  }
  for (const auto& root : l.v1_roots) {
    const std::string top = root + "/honeynet";
    if (::mkdir(top.c_str(), 0755) != 0 && errno != EEXIST) return Status::Error("cgroup: mkdir " + top + ": " + Errno());
    const std::string dir = top + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) return Status::Error("cgroup: mkdir " + dir + ": " + Errno());
    cg.dirs_.push_back(dir);
    cg.procs_files_.push_back(dir + "/cgroup.procs");
    if (Exists(dir + "/pids.max")) {
      if (Status s = WriteCg(dir + "/pids.max", std::to_string(lim.pids_max)); !s.ok()) return s;
    } else if (Exists(dir + "/memory.limit_in_bytes")) {
      if (Status s = WriteCg(dir + "/memory.limit_in_bytes", std::to_string(lim.memory_max)); !s.ok()) return s;
      // memsw = memory + swap; present only with swap accounting.
      if (Exists(dir + "/memory.memsw.limit_in_bytes"))
        if (Status s = WriteCg(dir + "/memory.memsw.limit_in_bytes", std::to_string(lim.memory_max + lim.swap_max));
            !s.ok())
          return s;
      WriteCg(dir + "/memory.swappiness", lim.swap_max == 0 ? "0" : "60");
    } else if (Exists(dir + "/cpu.cfs_quota_us")) {
      if (Status s = WriteCg(dir + "/cpu.cfs_period_us", std::to_string(period)); !s.ok()) return s;
      if (Status s = WriteCg(dir + "/cpu.cfs_quota_us", std::to_string(quota)); !s.ok()) return s;
    } else if (Exists(dir + "/blkio.weight")) {
      // Only with a proportional I/O scheduler (BFQ); otherwise no weight to set.
      WriteCg(dir + "/blkio.weight", std::to_string(std::clamp<int64_t>(lim.io_weight, 10, 1000)));
    }
  }
  return cg;
}

GuestCgroup GuestCgroup::Existing(const std::string& name) {
  GuestCgroup cg;
  Result<CgroupLayout> lay = FindCgroups();
  if (!lay.ok()) return cg;
  for (const auto& d : DirsOf(*lay, "honeynet/" + name)) {
    if (!Exists(d)) continue;
    cg.dirs_.push_back(d);
    cg.procs_files_.push_back(d + "/cgroup.procs");
  }
  return cg;
}

Status GuestCgroup::Attach(int pid) const {
  for (const auto& f : procs_files_)
    if (Status s = WriteCg(f, std::to_string(pid)); !s.ok()) return s;
  return Status::Ok();
}

Status GuestCgroup::Remove() const {
  for (const auto& d : dirs_) {
    if (!Exists(d)) continue;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      std::stringstream ss(ReadFileOrEmpty(d + "/cgroup.procs"));
      bool any = false;
      for (int pid; ss >> pid;) {
        any = true;
        ::kill(pid, SIGKILL);
      }
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Error("cgroup: cannot remove " + d + ": " + Errno() + (any ? " (processes left)" : ""));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // honeynet/ itself once its last guest is gone (busy while others run).
    ::rmdir(d.substr(0, d.rfind('/')).c_str());
  }
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> GuestCgroup::Read() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : dirs_) {
    for (const char* f : {"pids.max", "memory.max", "memory.swap.max", "cpu.max", "io.weight", "memory.limit_in_bytes",
                          "memory.memsw.limit_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us", "blkio.weight"}) {
      const std::string p = d + "/" + f;
      if (Exists(p)) out.emplace_back(f, Trim(ReadFileOrEmpty(p)));
    }
  }
  return out;
}

int SeccompProgram::Install() const {
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(insns.size());
  prog.filter = const_cast<sock_filter*>(insns.data());
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

Result<SeccompProgram> GuestSeccomp() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return Status::Error("seccomp_init failed");
  struct Ctx {
    scmp_filter_ctx c;
    ~Ctx() { seccomp_release(c); }
  } guard{ctx};
  // Another architecture's calls (x32, i386 int 0x80) would skip the rules.
  seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  // Refused outright: the kernel-wide state a container must not touch.
  const char* deny[] = {
      "init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms",
      "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "userfaultfd", "add_key", "request_key", "keyctl", "open_by_handle_at",
      "name_to_handle_at", "settimeofday", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64",
      "adjtimex", "stime", "mount", "umount", "umount2", "pivot_root", "unshare", "setns",
      "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr", "swapon", "swapoff",
      "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "iopl", "ioperm", "syslog", "io_uring_setup",
      "io_uring_enter", "io_uring_register", "nfsservctl", "vm86", "vm86old", "uselib", "sysfs", "_sysctl",
      "fanotify_init", "kcmp", "process_vm_readv", "process_vm_writev", "lsm_set_self_attr"};
  for (const char* n : deny) {
    int nr = seccomp_syscall_resolve_name(n);
    if (nr == __NR_SCMP_ERROR) continue;
    if (seccomp_rule_add(ctx, eperm, nr, 0) != 0) return Status::Error(std::string("seccomp rule for ") + n);
  }
  // clone3's flags are in memory a filter cannot read: ENOSYS makes libc use clone.
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  // clone with a new namespace flag: refused (each flag a rule; rules OR).
  for (uint64_t flag : {uint64_t(CLONE_NEWUSER), uint64_t(CLONE_NEWNS), uint64_t(CLONE_NEWPID), uint64_t(CLONE_NEWNET),
                        uint64_t(CLONE_NEWUTS), uint64_t(CLONE_NEWIPC), uint64_t(CLONE_NEWCGROUP)}) {
    if (seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)) != 0)
      return Status::Error("seccomp rule for clone");
  }
  // Faking input on a terminal the guest shares (TIOCSTI) and console ioctls.
  for (uint64_t req : {uint64_t(TIOCSTI), uint64_t(TIOCLINUX)}) {
    if (seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, req)) != 0)
      return Status::Error("seccomp rule for ioctl");
  }
  int fd = ::memfd_create("hn-seccomp", MFD_CLOEXEC);
  if (fd < 0) return Status::Error("memfd_create: " + Errno());
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc != 0) {
    ::close(fd);
    return Status::Error("seccomp_export_bpf: " + std::string(std::strerror(-rc)));
  }
  off_t len = ::lseek(fd, 0, SEEK_END);
  SeccompProgram p;
  if (len <= 0 || len % sizeof(sock_filter) != 0) {
    ::close(fd);
    return Status::Error("seccomp: exported program has a bad size");
  }
  p.insns.resize(size_t(len) / sizeof(sock_filter));
  ssize_t r = ::pread(fd, p.insns.data(), size_t(len), 0);
  ::close(fd);
  if (r != len) return Status::Error("seccomp: cannot read the exported program");
  return p;
}

}  // namespace hn
