// Privilege drop and seccomp allow-lists (see privilege.h). Raw capset/prctl
// syscalls rather than libcap: four calls do not justify a dependency.
#include "common/privilege.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/fs.h"

namespace hn {
namespace {

std::string Errno(int e) { return std::strerror(e); }

constexpr int kMaxCap = 63;  // capability numbers are bits of a 64-bit mask

int CapSet(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = uint32_t(effective);
  data[1].effective = uint32_t(effective >> 32);
  data[0].permitted = uint32_t(permitted);
  data[1].permitted = uint32_t(permitted >> 32);
  data[0].inheritable = uint32_t(inheritable);
  data[1].inheritable = uint32_t(inheritable >> 32);
  return int(::syscall(SYS_capset, &hdr, data));
}

int CapGet(uint64_t* effective, uint64_t* permitted) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &hdr, data) != 0) return -1;
  *effective = uint64_t(data[0].effective) | uint64_t(data[1].effective) << 32;
  *permitted = uint64_t(data[0].permitted) | uint64_t(data[1].permitted) << 32;
  return 0;
}

// Makes the open file fd (at path, for messages) user's, with mode.
Status Own(int fd, const std::string& path, const RunAs& user, mode_t mode) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return Status::Error("capture.dir: cannot stat " + path + ": " + Errno(errno));
  if ((st.st_uid != user.uid || st.st_gid != user.gid) && ::fchown(fd, user.uid, user.gid) != 0)
    return Status::Error("capture.dir: cannot give " + path + " to user " + user.name + ": " + Errno(errno));
  if ((st.st_mode & 07777) != mode && ::fchmod(fd, mode) != 0)
    return Status::Error("capture.dir: cannot chmod " + path + ": " + Errno(errno));
  return Status::Ok();
}

// What the capture writes in capture.dir (and its temporary files beside them).
bool IsCaptureFile(const std::string& name, bool in_tty_dir) {
  auto ends = [&](const char* suffix) {
    const size_t n = std::strlen(suffix);
    return name.size() >= n && name.compare(name.size() - n, n, suffix) == 0;
  };
  if (in_tty_dir) return ends(".ttylog");
  if (ends(".pcap") || ends(".pcap.tmp")) return true;
  for (const char* prefix : {"events.json", "honeywall.log", "stats.json", "budgets.json", "tty-offsets.json"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

// dir_fd is an open directory at path: the capture's files in it (and, at the
// top, its tty/ directory), then itself. Nothing else is touched: capture.dir
// may be a data directory that holds other things (images, the lab's state).
Status OwnCaptureDir(int dir_fd, const std::string& path, const RunAs& user, bool in_tty_dir) {
  int list_fd = ::dup(dir_fd);
  if (list_fd < 0) return Status::Error("capture.dir: " + path + ": " + Errno(errno));
  DIR* d = ::fdopendir(list_fd);
  if (d == nullptr) {
    ::close(list_fd);
    return Status::Error("capture.dir: cannot list " + path + ": " + Errno(errno));
  }
  Status result;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const bool tty_dir = !in_tty_dir && name == "tty";
    if (!tty_dir && !IsCaptureFile(name, in_tty_dir)) continue;
    // O_NOFOLLOW: a symlink is never followed (and left as it is); O_NONBLOCK: a FIFO does not hang us.
    int fd = ::openat(dir_fd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) continue;  // a symlink (ELOOP), or gone meanwhile
    struct stat st{};
    Status s;
    if (::fstat(fd, &st) == 0) {
      if (tty_dir && S_ISDIR(st.st_mode)) s = OwnCaptureDir(fd, path + "/" + name, user, true);
      else if (!tty_dir && S_ISREG(st.st_mode)) s = Own(fd, path + "/" + name, user, 0640);
    }
    ::close(fd);
    if (!s.ok() && result.ok()) result = s;
  }
  ::closedir(d);
  if (!result.ok()) return result;
  return Own(dir_fd, path, user, 0750);
}

const char* const kCapNames[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore"};

}  // namespace

Result<RunAs> CaptureUser(const std::string& name) {
  const std::string want = name.empty() ? "honeynet" : name;
  errno = 0;
  const passwd* pw = ::getpwnam(want.c_str());
  if (pw == nullptr) {
    if (name.empty()) return RunAs{"root", 0, 0};
    return Status::Error("capture.user: no user \"" + name + "\" on this machine (create it, e.g. `useradd --system " +
                         name + "`, or leave capture.user out for the default)");
  }
  return RunAs{pw->pw_name, pw->pw_uid, pw->pw_gid};
}

Status PrepareCaptureDir(const std::string& dir, const RunAs& user) {
  if (Status s = MakeDirs(dir, 0750); !s.ok()) return Status::Error("capture.dir: " + s.message());
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Error("capture.dir: cannot open " + dir + ": " + Errno(errno));
  Status s = OwnCaptureDir(fd, dir, user, false);
  ::close(fd);
  return s;
}

Status DropPrivileges(const std::vector<int>& keep, const RunAs* user) {
  uint64_t keep_mask = 0;
  for (int c : keep)
    if (c >= 0 && c <= kMaxCap) keep_mask |= uint64_t(1) << c;
  uint64_t eff = 0, perm = 0;
  if (CapGet(&eff, &perm) != 0) return Status::Error("capget: " + Errno(errno));
  if ((perm & keep_mask) != keep_mask)
    return Status::Error("dropping privileges: needs capabilities " + CapabilityNames(keep_mask & ~perm) +
                         " (run as root)");

  // The bounding set (what an execve could ever gain): emptied, while we still have CAP_SETPCAP.
  for (int c = 0; c <= kMaxCap; c++) {
    if (::prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;  // not in the set, or no such capability
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0)
      return Status::Error("dropping privileges: PR_CAPBSET_DROP " + CapabilityNames(uint64_t(1) << c) + ": " +
                           Errno(errno));
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return Status::Error("dropping privileges: clearing the ambient capabilities: " + Errno(errno));

  if (user != nullptr && (user->uid != ::geteuid() || user->gid != ::getegid() || user->uid != ::getuid())) {
    // KEEPCAPS: the permitted set survives the uid change; the effective set is raised again below.
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return Status::Error("PR_SET_KEEPCAPS: " + Errno(errno));
    const gid_t groups[1] = {user->gid};
    if (::setgroups(1, groups) != 0) return Status::Error("setgroups(" + user->name + "): " + Errno(errno));
    if (::setresgid(user->gid, user->gid, user->gid) != 0)
      return Status::Error("setresgid(" + std::to_string(user->gid) + "): " + Errno(errno));
    if (::setresuid(user->uid, user->uid, user->uid) != 0)
      return Status::Error("setresuid(" + user->name + "): " + Errno(errno));
    (void)::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  }
  if (CapSet(keep_mask, keep_mask, 0) != 0) return Status::Error("capset: " + Errno(errno));
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Status::Error("PR_SET_NO_NEW_PRIVS: " + Errno(errno));
  // Check: what the kernel says we have now.
  if (CapGet(&eff, &perm) != 0 || eff != keep_mask || perm != keep_mask)
    return Status::Error("dropping privileges: the capabilities are not what was asked for");
  return Status::Ok();
}

std::string ProcStatusField(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = field + ":";
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    size_t b = line.find_first_not_of(" \t", key.size());
    return b == std::string::npos ? std::string() : line.substr(b);
  }
  return "";
}

std::string CapabilityNames(uint64_t mask) {
  if (mask == 0) return "none";
  std::string out;
  for (int c = 0; c <= kMaxCap; c++) {
    if (!(mask & (uint64_t(1) << c))) continue;
    if (!out.empty()) out += ",";
    out += c < int(sizeof kCapNames / sizeof kCapNames[0]) ? kCapNames[c] : "cap" + std::to_string(c);
  }
  return out;
}

Result<SeccompMode> SeccompModeFromEnv() {
  const char* v = std::getenv("HONEYNET_SECCOMP");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "kill") == 0) return SeccompMode::kKill;
  if (std::strcmp(v, "log") == 0) return SeccompMode::kLog;
  if (std::strcmp(v, "off") == 0) return SeccompMode::kOff;
  return Status::Error(std::string("HONEYNET_SECCOMP: must be \"kill\" (the default), \"log\" or \"off\", got \"") +
                       v + "\"");
}

const char* SeccompModeName(SeccompMode m) {
  switch (m) {
    case SeccompMode::kKill: return "kill";
    case SeccompMode::kLog: return "log";
    case SeccompMode::kOff: return "off";
  }
  return "?";
}

SyscallAllowList SyscallAllowList::Base() {
  SyscallAllowList l;
  l.Allow({// memory
           "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "membarrier",
           // threads and their synchronisation (std::thread, glibc's pthread_create uses clone3)
           "clone", "clone3", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "futex",
           "futex_waitv", "sched_yield", "sched_getaffinity", "gettid", "getpid", "getppid", "exit", "exit_group",
           "restart_syscall",
           // signals
           "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
           // clocks and sleeping
           "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
           // waiting on fds
           "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
           "eventfd2", "pipe2",
           // files
           "read", "write", "readv", "writev", "pread64", "pwrite64", "pwritev", "lseek", "sync_file_range", "fadvise64", "close", "openat", "fstat",
           "newfstatat", "statx", "fstatfs", "fsync", "fdatasync", "ftruncate", "fallocate", "rename", "renameat",
           "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "getdents64", "fcntl", "dup", "dup3",
           "readlink", "readlinkat", "faccessat", "faccessat2", "access", "umask", "getcwd",
           // sockets already open, or opened with socket() allowed separately
           "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "bind", "connect",
           "setsockopt", "getsockopt", "getsockname", "shutdown",
           // who we are, limits, randomness
           "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid", "getrlimit",
           "prlimit64", "getrandom", "uname", "sysinfo"});
  // abort() and raise() signal ourselves; other processes of the same uid are not ours to signal.
  l.AllowIf("tgkill", 0, {uint32_t(::getpid())});
  // Threads name themselves (common/thread_name.h); no other prctl.
  l.AllowIf("prctl", 0, {PR_SET_NAME});
  return l;
}

SyscallAllowList& SyscallAllowList::Allow(std::initializer_list<const char*> names) {
  for (const char* n : names) rules_.push_back(Rule{n, true, 0, {}});
  return *this;
}

SyscallAllowList& SyscallAllowList::AllowIf(const char* name, unsigned arg, std::vector<uint32_t> values) {
  rules_.push_back(Rule{name, false, arg, std::move(values)});
  return *this;
}

Status InstallSeccomp(const SyscallAllowList& list, SeccompMode mode) {
  if (mode == SeccompMode::kOff) return Status::Ok();
  scmp_filter_ctx ctx = seccomp_init(mode == SeccompMode::kLog ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
  if (ctx == nullptr) return Status::Error("seccomp_init failed");
  struct Free {
    scmp_filter_ctx c;
    ~Free() { seccomp_release(c); }
  } free_ctx{ctx};
  // All threads, now (the writer's, the transmit threads...) and later.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0)
    return Status::Error("seccomp: SCMP_FLTATR_CTL_TSYNC: " + Errno(-rc));
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1); rc != 0)
    return Status::Error("seccomp: SCMP_FLTATR_CTL_NNP: " + Errno(-rc));
  for (const auto& r : list.rules_) {
    const int nr = seccomp_syscall_resolve_name(r.name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (r.any) {
      if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc != 0)
        return Status::Error("seccomp: allowing " + r.name + ": " + Errno(-rc));
      continue;
    }
    for (uint32_t v : r.values) {
      const scmp_arg_cmp cmp = SCMP_CMP(r.arg, SCMP_CMP_MASKED_EQ, 0xffffffffULL, v);
      if (int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp); rc != 0)
        return Status::Error("seccomp: allowing " + r.name + "(arg" + std::to_string(r.arg) + "=" +
                             std::to_string(v) + "): " + Errno(-rc));
    }
  }
  if (int rc = seccomp_load(ctx); rc != 0) return Status::Error("seccomp: loading the filter: " + Errno(-rc));
  return Status::Ok();
}

}  // namespace hn
