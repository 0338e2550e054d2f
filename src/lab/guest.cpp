// Guests: one User-Mode Linux process per honeypot (see guest.h).
#include "common/fs.h"
#include "lab/guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/term_safe.h"
#include "lab/kernel.h"
#include "lab/mconsole.h"
#include "lab/run.h"

namespace hn {
namespace {

constexpr size_t kSettingsDiskBytes = 64 * 1024;  // small, but big enough that the partition scan is quiet
constexpr const char* kInit = "/sbin/hn-init";    // the images' init (images/<kind>/init)
// hostfs is built into Debian's UML kernel: a guest's root could mount the
// host's file system with the rights of the UML process (`mount -t hostfs -o
// /etc none /mnt` reads the host's /etc). Its root prefix is set to a path
// that does not exist, so every hostfs mount fails: the host resolves
// PREFIX/<what the guest asks>, and ".." cannot climb out of a directory that
// does not exist. StartGuest refuses to run if it exists.
constexpr const char* kHostfsRoot = "/nonexistent/hostfs";
// The TTY log's descriptor in the UML process is at least this (UML closes
// and reuses fd 3 at start-up; the child's pipes sit just above 3).
constexpr int kTtyLogMinFd = 10;

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool FileExists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}



// The arguments of a process (empty for a zombie or a process that is gone).
std::vector<std::string> ProcArgs(int pid) {
  std::string raw = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\0') {
      args.push_back(raw.substr(start, i - start));
      start = i + 1;
    }
  }
  return args;
}

// True when args are those of this guest's UML process.
bool IsGuestCmdline(const GuestSpec& g, const std::vector<std::string>& args) {
  bool umid = false, dir = false;
  for (const auto& a : args) {
    if (a == "umid=" + g.name) umid = true;
    if (a == "uml_dir=" + GuestUmlDir(g)) dir = true;
  }
  return umid && dir;
}

std::string SettingsPath(const GuestSpec& g) { return g.dir + "/settings.disk"; }
std::string BaseInfoPath(const GuestSpec& g) { return g.dir + "/disk.base"; }

// What the COW file was made over: path, size and mtime of the base image.
std::string BaseInfo(const std::string& image) {
  struct stat st {};
  if (::stat(image.c_str(), &st) != 0) return {};
  return image + "\n" + std::to_string(st.st_size) + "\n" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + "\n";
}

// A COW file records its base image's size and mtime; over a rebuilt image UML
// would switch to the new base and show a corrupt disk. Such a COW is moved
// aside (kept for forensics), so the guest boots pristine from the new image.
Status RetireStaleCow(const GuestSpec& g) {
  const std::string cow = GuestCowPath(g);
  if (!FileExists(cow)) return Status::Ok();
  const std::string want = BaseInfo(g.image);
  const std::string have = ReadFileOrEmpty(BaseInfoPath(g));
  if (!have.empty() && have == want) return Status::Ok();
  if (have.empty()) return Status::Ok();  // made elsewhere: leave it to UML
  const std::string aside = cow + ".stale-" + std::to_string(::time(nullptr));
  if (::rename(cow.c_str(), aside.c_str()) != 0) {
    return Status::Error("cannot move stale COW file " + cow + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// The settings disk: KEY=VALUE lines, NUL-padded (images/common/settings.sh reads it).
std::string SettingsDisk(const GuestSpec& g) {
  std::string s;
  if (g.ip.addr.v != 0) s += "HN_IP=" + g.ip.addr.ToString() + "/" + std::to_string(g.ip.len) + "\n";
  if (g.gateway.v != 0) s += "HN_GW=" + g.gateway.ToString() + "\n";
  if (!g.hostname.empty()) s += "HN_HOSTNAME=" + g.hostname + "\n";
  if (!g.dns.empty()) {
    s += "HN_DNS=";
    for (size_t i = 0; i < g.dns.size(); ++i) s += (i ? " " : "") + g.dns[i].ToString();
    s += "\n";
  }
  s.resize(kSettingsDiskBytes, '\0');
  return s;
}

// Where UML puts the guest's RAM (an O_TMPFILE mapped executable): /dev/shm
// unless it is mounted noexec, then the guest's own (writable) directory.
std::string GuestTmpDir(const GuestSpec& g) {
  struct statvfs v {};
  if (::statvfs("/dev/shm", &v) == 0 && !(v.f_flag & ST_NOEXEC) && ::access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  return GuestUmlDir(g);
}

// tty_fd: the TTY log's descriptor in the UML process, -1 for none.
std::vector<std::string> UmlArgs(const GuestSpec& g, int tty_fd) {
  std::vector<std::string> args = {
      g.kernel,
      "mem=" + std::to_string(g.mem_mb) + "M",
      "umid=" + g.name,
      "uml_dir=" + GuestUmlDir(g),
      "ubd0=" + GuestCowPath(g) + "," + g.image,
      // Read-only, and named relative to its working directory (g.dir): UML
      // opens it when the guest first reads it, and then needs no search
      // permission on the directories above (which others may change).
      "ubd1r=" + SettingsPath(g).substr(g.dir.size() + 1),
      "root=/dev/ubda",
      "con=null",
      "con0=null,fd:1",
      "con1=pts",
      "ssl=null",
      "pty.legacy_count=0",
      "eth0=tuntap," + g.tap + "," + g.mac.ToString(),
      std::string("init=") + kInit,
  };
  // The project kernel has no hostfs at all; there the option would end up in
  // init's environment.
  if (!KernelHasFeature(g.kernel, "no_hostfs")) args.push_back(std::string("hostfs=") + kHostfsRoot);
  // Consumed by the kernel before the command line is made: not in the guest's /proc/cmdline.
  if (tty_fd >= 0) args.push_back("tty_log_fd=" + std::to_string(tty_fd));
  return args;
}

Status CheckSpec(const GuestSpec& g) {
  if (!ValidGuestName(g.name)) {
    return Status::Error("invalid guest name '" + g.name + "': use letters, digits, '-', '_', '.' (at most 32)");
  }
  if (g.dir.empty() || g.dir[0] != '/') return Status::Error("guest " + g.name + ": dir must be an absolute path");
  if (g.image.empty() || ::access(g.image.c_str(), R_OK) != 0) {
    return Status::Error("guest " + g.name + ": image " + g.image +
                         " not readable: build it with `honeynet image build busybox`");
  }
  if (!HaveProgram(g.kernel)) {
    return Status::Error("guest " + g.name + ": UML kernel " + g.kernel +
                         " not found: apt-get install user-mode-linux");
  }
  if (GuestMconsoleSocket(g).size() >= sizeof(sockaddr_un::sun_path)) {
    return Status::Error("guest " + g.name + ": " + GuestMconsoleSocket(g) +
                         " is longer than a unix socket path may be (107 bytes): use a shorter data directory");
  }
  if (g.tap.empty() || g.tap.size() >= IFNAMSIZ) return Status::Error("guest " + g.name + ": no valid tap name");
  if (!g.hostname.empty() && !ValidGuestHostname(g.hostname)) {
    return Status::Error("guest " + g.name + ": invalid hostname '" + g.hostname + "'");
  }
  struct stat st {};
  if (::stat(kHostfsRoot, &st) == 0) {
    return Status::Error(std::string(kHostfsRoot) + " exists on this host: honeynet points UML's hostfs there so " +
                         "that guests cannot reach the host's files; remove it");
  }
  if (g.mem_mb < 16 || g.mem_mb > 65536) return Status::Error("guest " + g.name + ": mem_mb must be 16..65536");
  if (!g.tty_log.empty() && g.tty_log[0] != '/') {
    return Status::Error("guest " + g.name + ": the TTY log path must be absolute: " + g.tty_log);
  }
  if (!g.tty_log.empty() && !KernelHasFeature(g.kernel, "tty_log")) {
    return Status::Error("guest " + g.name + ": kernel " + g.kernel +
                         " cannot log TTYs (not a project kernel with tty_log_fd=): run `honeynet kernel build`");
  }
  return Status::Ok();
}

// The tap must exist beforehand in the guest's namespace: the legacy tuntap
// driver would otherwise create a new, unconnected one.
Status CheckTap(const GuestSpec& g) {
  auto check = [&]() -> Status {
    if (::if_nametoindex(g.tap.c_str()) == 0) {
      return Status::Error("guest " + g.name + ": tap " + g.tap + " not found" +
                           (g.netns.empty() ? std::string() : " in namespace " + g.netns) +
                           ": create it first (ip tuntap add dev " + g.tap + " mode tap" +
                           (g.uid ? " user " + std::to_string(g.uid) + " group " + std::to_string(g.uid) : "") + ")");
    }
    return Status::Ok();
  };
  return g.netns.empty() ? check() : InNetns(g.netns, check);
}

// Gives the guest's uid search permission (o+x, never read) on each directory
// above path that lacks it, so that it can reach its files by name. Stops at
// the first directory that already has it all the way up (the usual case:
// /var/lib/honeynet).
Status GrantTraverse(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p != "/") {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return Status::Error("cannot stat " + p + ": " + std::strerror(errno));
    if (S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH) && ::chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0) {
      return Status::Error("cannot let guests through " + p + " (chmod o+x): " + std::strerror(errno));
    }
    size_t slash = p.rfind('/');
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
  return Status::Ok();
}

// The guest's directories and the ownership containment needs (guest.h):
// g.dir root:uid 0750, g.dir/uml uid 0700 (the only place it writes), the
// base image readable by every guest. A COW file of the layout before uml/
// (g.dir/disk.cow) moves in. With uid 0 all stays root's.
Status PrepareGuestDirs(const GuestSpec& g) {
  const std::string uml = GuestUmlDir(g);
  if (Status s = MakeDirs(uml, 0700); !s.ok()) return s;
  const std::string old_cow = g.dir + "/disk.cow";
  if (FileExists(old_cow) && !FileExists(GuestCowPath(g)) && ::rename(old_cow.c_str(), GuestCowPath(g).c_str()) != 0) {
    return Status::Error("cannot move " + old_cow + " into " + uml + ": " + std::strerror(errno));
  }
  const uid_t uid = g.uid;
  // Not following links: the guest owns uml/ and may have put one there.
  auto own = [&](const std::string& p, uid_t u, gid_t gr, mode_t mode) -> Status {
    if (::fchownat(AT_FDCWD, p.c_str(), u, gr, AT_SYMLINK_NOFOLLOW) != 0 ||
        ::fchmodat(AT_FDCWD, p.c_str(), mode, 0) != 0) {
      return Status::Error("cannot set the owner and mode of " + p + ": " + std::strerror(errno));
    }
    return Status::Ok();
  };
  if (Status s = own(g.dir, 0, uid, 0750); !s.ok()) return s;
  if (Status s = own(uml, uid, uid, 0700); !s.ok()) return s;
  // What the guest's earlier boots left there (a COW of a root-run guest, its pid dir).
  struct stat st {};
  if (::lstat(GuestCowPath(g).c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return Status::Error(GuestCowPath(g) + " is not a regular file");
    if (st.st_uid != uid && ::chown(GuestCowPath(g).c_str(), uid, uid) != 0) {
      return Status::Error("cannot give " + GuestCowPath(g) + " to uid " + std::to_string(uid) + ": " +
                           std::strerror(errno));
    }
  }
  if (uid == 0) return Status::Ok();
  if (Status s = GrantTraverse(g.dir.substr(0, g.dir.rfind('/'))); !s.ok()) return s;
  // Through links (DATA/images or DATA/kernels/HASH may be one): the
  // directories above the file itself.
  auto resolve = [](const std::string& p) -> Result<std::string> {
    char* real = ::realpath(p.c_str(), nullptr);
    if (!real) return Status::Error("cannot resolve " + p + ": " + std::strerror(errno));
    std::string r = real;
    ::free(real);
    return r;
  };
  auto image = resolve(g.image);
  if (!image.ok()) return image.status();
  if (Status s = GrantTraverse(image->substr(0, image->rfind('/'))); !s.ok()) return s;
  if (::stat(image->c_str(), &st) == 0 && (st.st_mode & 0444) != 0444 &&
      ::chmod(image->c_str(), (st.st_mode & 07777) | 0444) != 0) {
    return Status::Error("cannot make the image " + *image + " readable to guests: " + std::strerror(errno));
  }
  // The kernel binary is exec'd after the switch to the uid (a project
  // kernel lives in DATA/kernels/HASH/, maybe through a link).
  auto real_kernel = resolve(FindProgram(g.kernel));
  if (!real_kernel.ok()) return real_kernel.status();
  const std::string kernel = *real_kernel;
  if (Status s = GrantTraverse(kernel.substr(0, kernel.rfind('/'))); !s.ok()) return s;
  if (::stat(kernel.c_str(), &st) == 0 && (st.st_mode & 0555) != 0555 &&
      ::chmod(kernel.c_str(), (st.st_mode & 07777) | 0555) != 0) {
    return Status::Error("cannot let guests run the kernel " + kernel + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Writes errno and a step number to fd (the child's way to report a failure).
void ReportChildError(int fd, int step) {
  int msg[2] = {step, errno};
  ssize_t w = ::write(fd, msg, sizeof msg);
  (void)w;
}

const char* ChildStepName(int step) {
  switch (step) {
    case 1: return "fork";
    case 2: return "setsid";
    case 3: return "entering the network namespace";
    case 4: return "chdir to the guest directory";
    case 5: return "exec";
    case 6: return "making its mount namespace with a /dev/net/tun it may open";
    case 7: return "joining its cgroup";
    case 8: return "dropping to its uid/gid";
    case 9: return "installing the seccomp filter";
    default: return "start";
  }
}

// Starts the UML process detached: double fork (so it is nobody's child here
// and never a zombie of ours), new session (its own process group), inside
// netns_fd's namespace, stdout/stderr to log_fd, tty_fd (the TTY log, -1:
// none) inherited under its own number. With g.uid: in its own mount
// namespace with a /dev/net/tun of its own, in the cgroup whose procs files
// are open in cgroup_fds, as uid = gid = g.uid with no groups, no
// capabilities and no_new_privs. Returns its pid.
Result<int> SpawnDetached(const GuestSpec& g, int netns_fd, int log_fd, int tty_fd, const std::string& tmpdir,
                          const std::vector<int>& cgroup_fds) {
  std::vector<std::string> args = UmlArgs(g, tty_fd);
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR=" + tmpdir,
                                  "HOME=" + GuestUmlDir(g)};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string kernel = FindProgram(g.kernel);

  int pidpipe[2], errpipe[2];
  if (::pipe2(pidpipe, O_CLOEXEC) != 0) return Status::Error(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(errpipe, O_CLOEXEC) != 0) {
    ::close(pidpipe[0]);
    ::close(pidpipe[1]);
    return Status::Error(std::string("pipe: ") + std::strerror(errno));
  }
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const char* dir = g.dir.c_str();  // settings.disk is named relative to it
  const uid_t uid = g.uid;
  // The namespace honeypots' deny-list (containment.h) on the UML host
  // processes too: what they never call (modules, kexec, bpf, keyrings,
  // userfaultfd, io_uring, mount, namespaces, clock setting) fails even if
  // code runs in them. The guest's own system calls are caught by ptrace
  // (PTRACE_SYSEMU) before seccomp looks, so the guest is unaffected.
  SeccompProgram seccomp;
  if (uid != 0) {
    Result<SeccompProgram> sp = GuestSeccomp();
    if (!sp.ok()) {
      ::close(pidpipe[0]);
      ::close(pidpipe[1]);
      ::close(errpipe[0]);
      ::close(errpipe[1]);
      return sp.status();
    }
    seccomp = *sp;
  }

  pid_t a = ::fork();
  if (a == 0) {
    // Intermediate child: fork the guest, report its pid, leave.
    pid_t b = ::fork();
    if (b == 0) {
      if (::setsid() < 0) { ReportChildError(errpipe[1], 2); ::_exit(127); }
      if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) { ReportChildError(errpipe[1], 3); ::_exit(127); }
      if (uid != 0) {
        // UML opens /dev/net/tun itself; the host's node is root's (0600 here),
        // and the tun driver lets a process attach only to a tap it owns. So
        // a mount namespace of its own where /dev/net is a tiny tmpfs holding
        // one tun node owned by the uid; the host's /dev/net/tun is untouched.
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("hn-tun", "/dev/net", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=4k,nr_inodes=4") != 0 ||
            ::mknod("/dev/net/tun", S_IFCHR | 0600, makedev(10, 200)) != 0 || ::chown("/dev/net/tun", uid, uid) != 0) {
          ReportChildError(errpipe[1], 6);
          ::_exit(127);
        }
      }
      for (int cg : cgroup_fds) {
        if (::write(cg, "0", 1) != 1) { ReportChildError(errpipe[1], 7); ::_exit(127); }
      }
      if (::chdir(dir) != 0) { ReportChildError(errpipe[1], 4); ::_exit(127); }
      if (uid != 0) {
        if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0 ||
            ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::getuid() != uid) {
          ReportChildError(errpipe[1], 8);
          ::_exit(127);
        }
        if (seccomp.Install() != 0) {
          ReportChildError(errpipe[1], 9);
          ::_exit(127);
        }
      }
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(s, SIG_DFL);
      if (devnull.fd >= 0) ::dup2(devnull.fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      // Nothing else of the caller's (sockets, pipes, capture files) reaches the guest.
      ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
      if (tty_fd >= 0) ::fcntl(tty_fd, F_SETFD, 0);  // the one the kernel writes the TTY log to
      ::execve(kernel.c_str(), argv.data(), envp.data());
      ReportChildError(errpipe[1], 5);
      ::_exit(127);
    }
    if (b < 0) ReportChildError(errpipe[1], 1);
    int pid = b;
    ssize_t w = ::write(pidpipe[1], &pid, sizeof pid);
    (void)w;
    ::_exit(0);
  }
  int fork_errno = errno;
  ::close(pidpipe[1]);
  ::close(errpipe[1]);
  Fd pid_r(pidpipe[0]), err_r(errpipe[0]);
  if (a < 0) return Status::Error(std::string("fork: ") + std::strerror(fork_errno));
  while (::waitpid(a, nullptr, 0) < 0 && errno == EINTR) {
  }
  int pid = 0;
  if (::read(pid_r.fd, &pid, sizeof pid) != static_cast<ssize_t>(sizeof pid)) pid = 0;
  // EOF on the error pipe: the guest has exec'd (the pipe is close-on-exec).
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(err_r.fd, msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    return Status::Error("guest " + g.name + ": cannot start " + kernel + " (" + ChildStepName(msg[0]) +
                         "): " + std::strerror(msg[1]));
  }
  if (pid <= 0) return Status::Error("guest " + g.name + ": cannot start " + kernel + ": no pid");
  return pid;
}

bool AnyAlive(const GuestSpec& g) { return !GuestProcesses(g).empty(); }

// Polls until no process of the guest is left or the deadline passes.
bool WaitGone(const GuestSpec& g, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (!AnyAlive(g)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::string GuestConsoleLog(const GuestSpec& g) { return g.dir + "/console.log"; }
std::string GuestNetnsName(const std::string& honeypot) { return "hn-u-" + honeypot; }
std::string GuestUmlDir(const GuestSpec& g) { return g.dir + "/uml"; }
std::string GuestCowPath(const GuestSpec& g) { return GuestUmlDir(g) + "/disk.cow"; }
std::string GuestMconsoleSocket(const GuestSpec& g) { return GuestUmlDir(g) + "/" + g.name + "/mconsole"; }

Result<std::string> GuestMconsole(const GuestSpec& g, const std::string& cmd) {
  if (!FileExists(GuestMconsoleSocket(g))) {
    return Status::Error("guest " + g.name + " has no mconsole socket (" + GuestMconsoleSocket(g) +
                         "): is it running?");
  }
  // The reply socket: abstract, in the guest's network namespace (no path
  // the guest's uid must be able to reach), else in its root-owned directory,
  // given to its uid.
  MconsoleClient client{g.netns, g.dir, g.uid != 0 ? static_cast<int>(g.uid) : -1};
  return MconsoleCommand(GuestMconsoleSocket(g), cmd, 3000, client);
}

Status RemoveGuestCgroup(const GuestSpec& g) {
  if (g.cgroup.empty()) return Status::Ok();
  return GuestCgroup::Existing(g.cgroup).Remove();
}

std::vector<int> GuestProcesses(const GuestSpec& g) {
  std::vector<int> pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end != '\0' || pid <= 0) continue;
    if (IsGuestCmdline(g, ProcArgs(static_cast<int>(pid)))) pids.push_back(static_cast<int>(pid));
  }
  ::closedir(d);
  return pids;
}

Result<GuestState> StartGuest(const GuestSpec& g) {
  if (Status s = CheckSpec(g); !s.ok()) return s;
  if (Status s = MakeDirs(g.dir, 0750); !s.ok()) return s;
  if (auto running = GuestProcesses(g); !running.empty()) {
    return Status::Error("guest " + g.name + " is already running (pid " + std::to_string(running[0]) +
                         "): stop it first");
  }
  if (Status s = CheckTap(g); !s.ok()) return s;
  if (Status s = PrepareGuestDirs(g); !s.ok()) return s;
  // No process of the guest runs (checked above), so its umid directory is
  // stale. UML refuses a umid whose pid file names a pid that still exists,
  // and the last boot's main process may linger as a zombie until init reaps
  // it (seen after `reset` on a busy machine): UML then took a random umid and
  // its mconsole socket was not where `console`, `halt` and `down` look.
  {
    const std::string umid_dir = GuestUmlDir(g) + "/" + g.name;
    for (const char* f : {"/pid", "/mconsole"}) ::unlink((umid_dir + f).c_str());  // links themselves, never followed
    ::rmdir(umid_dir.c_str());
  }
  if (Status s = RetireStaleCow(g); !s.ok()) return s;
  if (!FileExists(GuestCowPath(g))) {
    if (Status s = WriteFileAtomic(BaseInfoPath(g), BaseInfo(g.image)); !s.ok()) return s;
  }
  if (Status s = WriteFileAtomic(SettingsPath(g), SettingsDisk(g), g.uid ? 0640 : 0600); !s.ok()) return s;
  if (g.uid != 0 && ::chown(SettingsPath(g).c_str(), 0, g.uid) != 0) {
    return Status::Error("cannot give " + SettingsPath(g) + " to gid " + std::to_string(g.uid) + ": " +
                         std::strerror(errno));
  }

  // The previous boot's console stays readable as console.log.1. Root's,
  // 0640: the guest writes it only through the descriptor it is given.
  const std::string log = GuestConsoleLog(g);
  if (FileExists(log)) ::rename(log.c_str(), (log + ".1").c_str());
  Fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (log_fd.fd < 0) return Status::Error("cannot create " + log + ": " + std::strerror(errno));

  Fd netns_fd;
  if (!g.netns.empty()) {
    netns_fd.fd = ::open(("/run/netns/" + g.netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd.fd < 0) {
      return Status::Error("guest " + g.name + ": network namespace " + g.netns + " not found: " +
                           std::strerror(errno));
    }
  }
  // The TTY log: appended to, never truncated (a reboot adds to the same file).
  Fd tty_fd;
  if (!g.tty_log.empty()) {
    const std::string dir = g.tty_log.substr(0, g.tty_log.rfind('/'));
    if (Status s = MakeDirs(dir, 0750); !s.ok()) return s;
    Fd f(::open(g.tty_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (f.fd < 0) return Status::Error("cannot open the TTY log " + g.tty_log + ": " + std::strerror(errno));
    tty_fd.fd = ::fcntl(f.fd, F_DUPFD_CLOEXEC, kTtyLogMinFd);
    if (tty_fd.fd < 0) {
      return Status::Error("cannot move the TTY log's descriptor above " + std::to_string(kTtyLogMinFd) + ": " +
                           std::strerror(errno));
    }
  }
  // Its cgroup, made anew with the limits; the child joins it before exec.
  struct Fds {
    std::vector<int> v;
    ~Fds() {
      for (int f : v) ::close(f);
    }
  } cg_fds;
  if (!g.cgroup.empty()) {
    auto cg = GuestCgroup::Create(g.cgroup, g.limits);
    if (!cg.ok()) return Status::Error("guest " + g.name + ": " + cg.status().message());
    for (const std::string& f : cg->ProcsFiles()) {
      int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return Status::Error("cannot open " + f + ": " + std::strerror(errno));
      cg_fds.v.push_back(fd);
    }
  }
  auto pid = SpawnDetached(g, netns_fd.fd, log_fd.fd, tty_fd.fd, GuestTmpDir(g), cg_fds.v);
  if (!pid.ok()) {
    (void)RemoveGuestCgroup(g);
    return pid.status();
  }
  GuestState st;
  st.pid = pid.value();
  st.started_unix = ::time(nullptr);
  return st;
}

bool GuestRunning(const GuestSpec& g, const GuestState& s) {
  return s.pid > 0 && IsGuestCmdline(g, ProcArgs(s.pid));
}

Status StopGuest(const GuestSpec& g, const GuestState& s, int timeout_ms) {
  (void)s;  // the processes are found by their command line, recorded pid or not
  if (!AnyAlive(g)) return RemoveGuestCgroup(g);
  // A clean halt first: UML stops its processes and removes its socket and pid file.
  auto halt = GuestMconsole(g, "halt");
  if (halt.ok() && WaitGone(g, timeout_ms)) return RemoveGuestCgroup(g);
  // Then force: every process of the guest (main, helpers, the guest's own processes).
  for (int pid : GuestProcesses(g)) ::kill(pid, SIGKILL);
  if (!WaitGone(g, 5000)) {
    return Status::Error("guest " + g.name + ": processes still there after SIGKILL (pid " +
                         std::to_string(GuestProcesses(g).empty() ? 0 : GuestProcesses(g)[0]) + ")");
  }
  return RemoveGuestCgroup(g);
}

Result<GuestState> ResetGuest(const GuestSpec& g, const GuestState& s) {
  if (Status st = StopGuest(g, s); !st.ok()) return st;
  const std::string cow = GuestCowPath(g);
  if (::unlink(cow.c_str()) != 0 && errno != ENOENT) {
    return Status::Error("cannot remove " + cow + ": " + std::strerror(errno));
  }
  ::unlink(BaseInfoPath(g).c_str());
  return StartGuest(g);
}

Status AttachConsole(const GuestSpec& g, bool raw_output) {
  if (!::isatty(0) || !::isatty(1)) return Status::Error("honeynet console needs a terminal (stdin and stdout)");
  // UML gives console 1 its host pty when the guest first opens it (the getty,
  // a second or two into the boot), and makes a new one after each hangup:
  // ask, open, and ask again for a few seconds.
  std::string pts;
  Fd pty;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto reply = GuestMconsole(g, "config con1");
    if (!reply.ok()) return reply.status();
    const std::string& r = reply.value();
    if (r.rfind("pts", 0) != 0) {
      return Status::Error("guest " + g.name + ": console 1 is not a host pty (mconsole says '" + r + "')");
    }
    if (r.size() > 4 && r[3] == ':') {
      pts = r.substr(4);
      pty.fd = ::open(pts.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (pty.fd >= 0) break;
      if (errno != ENOENT && errno != EIO) return Status::Error("cannot open " + pts + ": " + std::strerror(errno));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Error("guest " + g.name + ": console 1 has no host pty yet (is the guest still booting?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  termios pt{};
  if (::tcgetattr(pty.fd, &pt) == 0) {
    cfmakeraw(&pt);
    ::tcsetattr(pty.fd, TCSANOW, &pt);
  }
  termios saved{};
  if (::tcgetattr(0, &saved) != 0) return Status::Error(std::string("tcgetattr: ") + std::strerror(errno));
  termios raw = saved;
  cfmakeraw(&raw);
  ::tcsetattr(0, TCSANOW, &raw);
  struct Restore {
    termios t;
    ~Restore() { ::tcsetattr(0, TCSANOW, &t); }
  } restore{saved};

  std::string hello = "Connected to " + g.name + "'s console (" + pts +
                      "). Ctrl-] leaves; the guest keeps running.\r\n";
  ssize_t w = ::write(1, hello.data(), hello.size());
  w = ::write(pty.fd, "\r", 1);
  (void)w;
  char buf[4096];
  std::string why;
  // What the guest writes is hostile (anyone root in it can write to its
  // console): filtered, so it cannot set this terminal's title or clipboard,
  // send it device strings or make it type answers into this shell.
  TermFilter filter;
  std::string safe;
  for (;;) {
    pollfd p[2] = {{0, POLLIN, 0}, {pty.fd, POLLIN, 0}};
    int n = ::poll(p, 2, 500);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { why = std::string("poll: ") + std::strerror(errno); break; }
    if (p[0].revents & (POLLIN | POLLHUP)) {
      ssize_t k = ::read(0, buf, sizeof buf);
      if (k <= 0) break;
      const void* esc = std::memchr(buf, 0x1d, static_cast<size_t>(k));  // Ctrl-]
      size_t upto = esc ? static_cast<size_t>(static_cast<const char*>(esc) - buf) : static_cast<size_t>(k);
      if (upto > 0 && ::write(pty.fd, buf, upto) < 0) { why = "the guest's console closed"; break; }
      if (esc) break;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t k = ::read(pty.fd, buf, sizeof buf);
      if (k <= 0) {
        if (!AnyAlive(g)) { why = "the guest stopped"; break; }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      std::string_view out(buf, static_cast<size_t>(k));
      if (!raw_output) {
        safe.clear();
        filter.Feed(out, &safe);
        out = safe;
      }
      bool ok = true;
      while (ok && !out.empty()) {  // the terminal may take less than all
        const ssize_t w1 = ::write(1, out.data(), out.size());
        if (w1 < 0 && errno == EINTR) continue;
        ok = w1 > 0;
        if (ok) out.remove_prefix(static_cast<size_t>(w1));
      }
      if (!ok) break;
    }
  }
  std::string bye = "\r\nLeft " + g.name + "'s console" + (why.empty() ? "" : " (" + why + ")") + ".\r\n";
  w = ::write(1, bye.data(), bye.size());
  return Status::Ok();
}

bool ValidGuestName(const std::string& s) {
  if (s.empty() || s.size() > 32 || s[0] == '.' || s[0] == '-') return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

bool ValidGuestHostname(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  }
  return true;
}

}  // namespace hn
