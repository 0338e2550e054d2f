// Namespace honeypots (see nsguest.h).
#include "lab/nsguest.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "common/fd.h"
#include "common/fs.h"
#include "lab/guest.h"
#include "lab/upper_layer.h"
#include "lab/run.h"

namespace hn {
namespace {

// Where init is in the image, and the argument that selects its namespace mode.
constexpr const char* kInit = "/sbin/hn-init";
constexpr const char* kInitMode = "netns";

// FNV-1a, 64 bit, as hex: names a rootfs tree after its image.
std::string Fnv64Hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

int RemoveOne(const char* path, const struct stat*, int type, FTW*) {
  if (type == FTW_DP) ::rmdir(path);
  else ::unlink(path);
  return 0;
}

// rm -rf that never crosses into another file system (FTW_MOUNT) and never
// follows a symlink (FTW_PHYS): a guest's upper/ is the guest's to fill.
void RemoveTree(const std::string& dir) {
  if (dir.empty() || dir == "/" || !PathExists(dir)) return;
  ::nftw(dir.c_str(), RemoveOne, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

// ---------------------------------------------------------------------------
// The rootfs tree

std::string RootfsDir(const std::string& dd) { return dd + "/images/rootfs"; }

// Every directory below tree (tree itself as "/"), as paths inside the image.
std::vector<std::string> DirsBelow(const std::string& tree) {
  std::vector<std::string> dirs = {"/"};
  std::vector<std::string> todo = {""};
  while (!todo.empty()) {
    std::string rel = todo.back();
    todo.pop_back();
    DIR* d = ::opendir((tree + rel).c_str());
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st {};
      if (::lstat((tree + rel + "/" + n).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      dirs.push_back(rel + "/" + n);
      todo.push_back(rel + "/" + n);
    }
    ::closedir(d);
  }
  return dirs;
}

// debugfs rdump keeps rwx bits only: puts back set-uid, set-gid and sticky
// bits from the image (one debugfs run listing every directory with `ls -p`,
// whose lines are "/INODE/MODE/UID/GID/NAME/SIZE/"; MODE in octal).
Status RestoreSpecialBits(const std::string& image, const std::string& tree) {
  std::string cmds;
  std::vector<std::string> dirs;
  for (const std::string& d : DirsBelow(tree)) {
    if (d.find_first_of("\"\n\\") != std::string::npos) continue;  // names debugfs cannot quote
    cmds += "ls -p \"" + d + "\"\n";
    dirs.push_back(d);
  }
  const std::string cmdfile = tree + ".debugfs-cmds";
  if (Status s = WriteFileAtomic(cmdfile, cmds, 0600, Sync::kNone); !s.ok()) return s;
  RunResult r = RunCommand({"debugfs", "-f", cmdfile, image});
  ::unlink(cmdfile.c_str());
  if (r.exit_code != 0) return Status::Error("debugfs -f (listing " + image + "): " + r.out);
  std::string dir;
  std::stringstream ss(r.out);
  for (std::string line; std::getline(ss, line);) {
    const std::string prompt = "debugfs: ls -p \"";
    if (line.rfind(prompt, 0) == 0) {
      dir = line.substr(prompt.size());
      if (!dir.empty() && dir.back() == '"') dir.pop_back();
      continue;
    }
    if (line.empty() || line[0] != '/' || dir.empty()) continue;
    std::vector<std::string> f;
    size_t a = 1;
    for (size_t b; (b = line.find('/', a)) != std::string::npos; a = b + 1) f.push_back(line.substr(a, b - a));
    if (f.size() < 5 || f[4] == "." || f[4] == "..") continue;
    const unsigned long mode = std::strtoul(f[1].c_str(), nullptr, 8);
    if (!(mode & 07000)) continue;
    const std::string path = tree + (dir == "/" ? "" : dir) + "/" + f[4];
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    if (::chmod(path.c_str(), mode_t(mode & 07777)) != 0) return Status::Error("chmod " + path + ": " + ErrnoText());
  }
  return Status::Ok();
}

// Adds base to the owner and group of every file under tree (symlinks
// themselves, never followed). Before RestoreSpecialBits: chown clears them.
uint32_t g_shift_base = 0;
int ShiftOne(const char* path, const struct stat* st, int, FTW*) {
  if (::lchown(path, g_shift_base + st->st_uid, g_shift_base + st->st_gid) != 0) return -1;
  return 0;
}
Status ShiftOwners(const std::string& tree, uint32_t base) {
  if (base == 0) return Status::Ok();
  g_shift_base = base;
  if (::nftw(tree.c_str(), ShiftOne, 32, FTW_PHYS | FTW_MOUNT) != 0) {
    return Status::Error("cannot shift the owners of " + tree + ": " + ErrnoText());
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Processes and namespaces

// Field 22 (start time) and field 3 (state) of /proc/PID/stat; false if gone.
bool ProcStart(int pid, int64_t* start, char* state) {
  std::string text = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  size_t rp = text.rfind(')');
  if (rp == std::string::npos) return false;
  std::stringstream ss(text.substr(rp + 1));
  std::string field;
  for (int i = 3; i <= 22 && ss >> field; i++) {
    if (i == 3) *state = field.empty() ? '?' : field[0];
    if (i == 22) {
      *start = std::strtoll(field.c_str(), nullptr, 10);
      return true;
    }
  }
  return false;
}

// The inode of /proc/PID/ns/pid; 0 when gone (or a zombie).
uint64_t PidnsOf(int pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid) + "/ns/pid").c_str(), &st) != 0) return 0;
  return uint64_t(st.st_ino);
}

bool NetnsExists(const std::string& ns) { return PathExists("/run/netns/" + ns); }

Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(argv, "iproute2");
}

// A user namespace whose root is kNsGuestIdBase, and a network namespace it
// owns, named netns (`ip netns attach`): made by a short-lived child, which
// unshares both and is gone once the name holds the network namespace.
// Returns an open descriptor of the user namespace (the guest's pid 1 joins
// it last). Root in the guest so holds its network's capabilities (raw
// sockets: ping, scanners) but no other namespace's; the bounding set it
// gets drops CAP_NET_ADMIN (ChildMain).
Result<int> MakeOwnedNetns(const std::string& netns) {
  int to_child[2], to_parent[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0) return Status::Error("pipe: " + ErrnoText());
  Fd tc_r(to_child[0]), tc_w(to_child[1]);
  if (::pipe2(to_parent, O_CLOEXEC) != 0) return Status::Error("pipe: " + ErrnoText());
  Fd tp_r(to_parent[0]), tp_w(to_parent[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Status::Error("fork: " + ErrnoText());
  if (pid == 0) {
    char c = 0;
    int step = ::unshare(CLONE_NEWUSER) == 0 ? 0 : 1;
    if (::write(tp_w.fd, &step, sizeof step) != ssize_t(sizeof step) || step != 0) ::_exit(1);
    if (::read(tc_r.fd, &c, 1) != 1) ::_exit(1);  // maps written
    step = ::unshare(CLONE_NEWNET) == 0 ? 0 : 2;
    if (::write(tp_w.fd, &step, sizeof step) != ssize_t(sizeof step) || step != 0) ::_exit(1);
    ssize_t r = ::read(tc_r.fd, &c, 1);  // until the parent is done with us
    (void)r;
    ::_exit(0);
  }
  ::close(tp_w.fd);
  tp_w.fd = -1;
  ::close(tc_r.fd);
  tc_r.fd = -1;
  auto finish = [&](Status s) -> Result<int> {
    ::close(tc_w.fd);
    tc_w.fd = -1;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return s;
  };
  int step = -1;
  if (::read(tp_r.fd, &step, sizeof step) != ssize_t(sizeof step) || step != 0) {
    return finish(Status::Error("cannot make a user namespace (user.max_user_namespaces; or set unsafe = true)"));
  }
  const std::string proc = "/proc/" + std::to_string(pid);
  const std::string map = "0 " + std::to_string(kNsGuestIdBase) + " " + std::to_string(kGuestIdSpan) + "\n";
  if (Status s = WriteKnob(proc + "/uid_map", map); !s.ok()) return finish(s);
  if (Status s = WriteKnob(proc + "/gid_map", map); !s.ok()) return finish(s);
  char go = 1;
  if (::write(tc_w.fd, &go, 1) != 1) return finish(Status::Error("user namespace helper: " + ErrnoText()));
  if (::read(tp_r.fd, &step, sizeof step) != ssize_t(sizeof step) || step != 0) {
    return finish(Status::Error("cannot make a network namespace in the guest's user namespace"));
  }
  int userns = ::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC);
  if (userns < 0) return finish(Status::Error("cannot open " + proc + "/ns/user: " + ErrnoText()));
  if (Status s = RunChecked({"ip", "netns", "attach", netns, std::to_string(pid)}, "iproute2"); !s.ok()) {
    ::close(userns);
    return finish(s);
  }
  finish(Status::Ok());
  // Above 2: the guest's pid 1 puts its stdio over 0-2 before it joins.
  const int high = ::fcntl(userns, F_DUPFD_CLOEXEC, 10);
  ::close(userns);
  if (high < 0) return Status::Error("fcntl: " + ErrnoText());
  return high;
}

// The guest's network, made anew: a fresh namespace (nothing the previous
// run changed in it survives) and the veth pair into the bridge.
// Contained (userns_fd != nullptr): the namespace is owned by a new user
// namespace of the guest's ids, whose descriptor goes to *userns_fd.
Status MakeNetwork(const NsGuestSpec& g, int* userns_fd) {
  if (NetnsExists(g.netns)) {
    RunResult r = RunCommand({"ip", "netns", "del", g.netns});
    if (NetnsExists(g.netns)) return Status::Error("cannot delete the old namespace " + g.netns + ": " + r.out);
  }
  // A host end left from before (its peer went with the old namespace, normally).
  RunCommand({"ip", "-n", g.bridge_netns, "link", "del", g.veth});
  if (userns_fd) {
    Result<int> u = MakeOwnedNetns(g.netns);
    if (!u.ok()) return u.status();
    *userns_fd = *u;
  } else if (Status s = Ip({"netns", "add", g.netns}); !s.ok()) {
    return s;
  }
  // IPv6 off before eth0 exists: no DAD, MLD or router solicitations.
  if (Status s = RunChecked({"ip", "netns", "exec", g.netns, "sysctl", "-q", "-w",
                             "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"},
                            "procps");
      !s.ok())
    return s;
  if (Status s = Ip({"-n", g.netns, "link", "set", "lo", "up"}); !s.ok()) return s;
  if (Status s = Ip({"-n", g.bridge_netns, "link", "add", g.veth, "type", "veth", "peer", "name", "eth0", "address",
                     g.mac.ToString(), "netns", g.netns});
      !s.ok())
    return s;
  // A veth sends 64 KB TCP segments (TSO/GSO) as they are: through the lab
  // bridge they would reach the honeywall whole, and it forwards only frames of
  // the link's MTU. Segments of wire size, as a UML guest's NIC sends them.
  if (Status s = RunChecked({"ip", "netns", "exec", g.netns, "ethtool", "-K", "eth0", "tso", "off", "gso", "off"},
                            "ethtool");
      !s.ok())
    return s;
  if (Status s = Ip({"-n", g.bridge_netns, "link", "set", g.veth, "master", g.bridge, "up"}); !s.ok()) return s;
  // The guest's network is configured from here: root in a contained guest
  // has no CAP_NET_ADMIN (nsguest.h).
  if (g.ip.addr.v != 0) {
    if (Status s = Ip({"-n", g.netns, "addr", "add", g.ip.addr.ToString() + "/" + std::to_string(g.ip.len), "dev",
                       "eth0"});
        !s.ok())
      return s;
  }
  if (Status s = Ip({"-n", g.netns, "link", "set", "eth0", "up"}); !s.ok()) return s;
  if (g.gateway.v != 0) {
    if (Status s = Ip({"-n", g.netns, "route", "add", "default", "via", g.gateway.ToString()}); !s.ok()) return s;
  }
  return Status::Ok();
}

// The settings as the UML guests' settings disk holds them (images/common/settings.sh).
std::string SettingsText(const NsGuestSpec& g) {
  std::string s;
  if (g.ip.addr.v != 0) s += "HN_IP=" + g.ip.addr.ToString() + "/" + std::to_string(g.ip.len) + "\n";
  if (g.gateway.v != 0) s += "HN_GW=" + g.gateway.ToString() + "\n";
  if (!g.hostname.empty()) s += "HN_HOSTNAME=" + g.hostname + "\n";
  if (!g.dns.empty()) {
    s += "HN_DNS=";
    for (size_t i = 0; i < g.dns.size(); ++i) s += (i ? " " : "") + g.dns[i].ToString();
    s += "\n";
  }
  return s;
}

std::string LowerLink(const NsGuestSpec& g) { return g.dir + "/lower"; }
std::string WorkDir(const NsGuestSpec& g) { return g.dir + "/work"; }
std::string RootMount(const NsGuestSpec& g) { return g.dir + "/root"; }

// Everything the guest's pid 1 needs before it execs init, made before the
// fork (the child calls nothing that allocates).
struct ChildPlan {
  std::string dir;       // chdir here; the rest is relative to it
  bool contained = true; // user namespace, masks, seccomp (not unsafe)
  uint32_t id_base = 0;  // host uid/gid of the guest's root (contained)
  std::vector<std::string> cgroup_procs;  // written "0" before anything else
  std::string loop_dev;  // the writable layer's loop device, mounted on "rw" (contained)
  std::string tmpfs_opts, dev_opts, devpts_opts, run_opts, shm_opts;
  std::string inittab;   // /run/hn-inittab, bound over /etc/inittab
  const SeccompProgram* seccomp = nullptr;
  int userns_fd = -1;    // the user namespace it joins last (contained)
  std::string overlay;   // "lowerdir=lower,upperdir=upper,workdir=work"
  std::string settings;  // /run/hn-settings
  std::string hostname;
  struct Node {
    std::string path;
    unsigned major, minor;
  };
  std::vector<Node> nodes;
  std::vector<std::pair<std::string, std::string>> links;  // {target, path}
  std::vector<std::string> argv_s, env_s;
  std::vector<char*> argv, envp;
};

ChildPlan MakePlan(const NsGuestSpec& g) {
  ChildPlan p;
  p.dir = g.dir;
  // Relative layer names: the guest's /proc/mounts shows these, not host paths.
  p.overlay = "lowerdir=lower,upperdir=upper,workdir=work";
  p.contained = !g.unsafe;
  p.id_base = p.contained ? kNsGuestIdBase : 0;
  if (p.contained) p.overlay = "lowerdir=lower,upperdir=rw/upper,workdir=rw/work";
  const std::string own = p.contained ? ",uid=" + std::to_string(p.id_base) + ",gid=" + std::to_string(p.id_base) : "";
  p.dev_opts = "mode=755,size=1024k" + own;
  p.shm_opts = "mode=1777" + own;
  p.run_opts = "mode=0755" + own;
  p.tmpfs_opts = "mode=1777" + own;
  p.devpts_opts = "newinstance,ptmxmode=0666,mode=0620,gid=" + std::to_string(p.id_base + 5);
  p.inittab = "# busybox init of a namespace honeypot (no console: no getty)\n::respawn:/usr/sbin/telnetd -F -l /bin/login\n";
  p.settings = SettingsText(g);
  p.hostname = g.hostname.empty() ? g.name : g.hostname;
  p.nodes = {{"root/dev/null", 1, 3},   {"root/dev/zero", 1, 5},    {"root/dev/full", 1, 7},
             {"root/dev/random", 1, 8}, {"root/dev/urandom", 1, 9}, {"root/dev/tty", 5, 0}};
  p.links = {{"pts/ptmx", "root/dev/ptmx"},        {"/proc/self/fd", "root/dev/fd"},
             {"/proc/self/fd/0", "root/dev/stdin"}, {"/proc/self/fd/1", "root/dev/stdout"},
             {"/proc/self/fd/2", "root/dev/stderr"}};
  p.argv_s = {kInit, kInitMode};
  p.env_s = {"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "HOME=/", "TERM=linux"};
  for (auto& a : p.argv_s) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  for (auto& e : p.env_s) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  return p;
}

// Steps of the child, for the error message when one fails.
enum Step : int {
  kOk = 0,
  kFork,
  kSetns,
  kUnsharePid,
  kSetsid,
  kUnshare,
  kPrivate,
  kChdir,
  kOverlay,
  kProc,
  kSys,
  kDev,
  kNodes,
  kDevpts,
  kShm,
  kRun,
  kTmp,
  kSettings,
  kHostname,
  kPivot,
  kExec,
  kCgroup,
  kLayer,
  kMask,
  kInittab,
  kUserns,
  kIds,
  kSeccomp,
};

const char* StepName(int s) {
  switch (s) {
    case kFork: return "fork";
    case kSetns: return "entering the network namespace";
    case kUnsharePid: return "new pid namespace";
    case kSetsid: return "setsid";
    case kUnshare: return "new mount/uts/ipc/cgroup namespaces";
    case kPrivate: return "making the mount namespace private";
    case kChdir: return "chdir to the guest directory";
    case kOverlay: return "mounting the overlay (lower, upper, work) on root";
    case kProc: return "mounting /proc";
    case kSys: return "mounting /sys";
    case kDev: return "mounting /dev";
    case kNodes: return "making the /dev nodes";
    case kDevpts: return "mounting a new devpts instance";
    case kShm: return "mounting /dev/shm";
    case kRun: return "mounting /run";
    case kTmp: return "mounting /tmp";
    case kSettings: return "writing /run/hn-settings";
    case kHostname: return "setting the host name";
    case kPivot: return "pivot_root into the guest's root";
    case kExec: return "exec /sbin/hn-init (is the image a busybox image with the project's init?)";
    case kCgroup: return "joining its cgroup";
    case kLayer: return "mounting its writable layer (upper.img on a loop device)";
    case kMask: return "masking /proc and /sys";
    case kInittab: return "binding /run/hn-inittab over /etc/inittab";
    case kUserns: return "joining its user namespace";
    case kIds: return "becoming root of its user namespace";
    case kSeccomp: return "installing the seccomp filter";
    default: return "start";
  }
}

void Report(int fd, int step, int err) {
  int msg[2] = {step, err};
  ssize_t w = ::write(fd, msg, sizeof msg);
  (void)w;
}

// Bind-mounts src over dst, read-only when ro; a missing dst is no error
// (not every kernel has every /proc file).
bool MaskPath(const char* src, const char* dst, bool ro) {
  struct stat st {};
  if (::lstat(dst, &st) != 0) return true;
  if (::mount(src, dst, nullptr, MS_BIND | MS_REC, nullptr) != 0) return false;
  if (ro && ::mount(nullptr, dst, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REC,
                    nullptr) != 0)
    return false;
  return true;
}

// An empty read-only tmpfs over dir (if it exists).
bool EmptyDir(const char* dir) {
  struct stat st {};
  if (::lstat(dir, &st) != 0) return true;
  return ::mount("tmpfs", dir, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=555") == 0;
}

// Capabilities root in a contained guest keeps (in its user namespace):
// Docker's default set. CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
constexpr uint64_t kKeepCaps = (1ull << 0) | (1ull << 1) | (1ull << 3) | (1ull << 4) | (1ull << 5) | (1ull << 6) |
                               (1ull << 7) | (1ull << 8) | (1ull << 10) | (1ull << 13) | (1ull << 18) |
                               (1ull << 27) | (1ull << 29) | (1ull << 31);

bool WriteAll(int fd, const std::string& s) { return ::write(fd, s.data(), s.size()) == ssize_t(s.size()); }

// The guest's pid 1, from the fork to exec (async-signal-safe calls only).
// Reports {kOk, 0} on status_fd once set up (contained: in its new user
// namespace, whose maps the parent then writes), waits for one byte on
// gate_fd, then becomes root of its user namespace, installs the seccomp
// filter and execs init; any failure is reported as {step, errno} and ends it.
[[noreturn]] void ChildMain(const ChildPlan& p, int status_fd, int gate_fd, int log_fd, int null_fd) {
  auto fail = [&](int step) {
    Report(status_fd, step, errno);
    ::_exit(127);
  };
  if (::setsid() < 0) fail(kSetsid);
  // Into its cgroup before anything is charged, and before the cgroup
  // namespace: the guest then sees its own cgroup as the root.
  for (const std::string& f : p.cgroup_procs) {
    int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || !WriteAll(fd, "0")) fail(kCgroup);
    ::close(fd);
  }
  if (::unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP) != 0) fail(kUnshare);
  // Nothing mounted from here on propagates to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(kPrivate);
  if (::chdir(p.dir.c_str()) != 0) fail(kChdir);
  if (!p.loop_dev.empty()) {
    if (::mount(p.loop_dev.c_str(), "rw", "ext4", MS_NODEV, nullptr) != 0) fail(kLayer);
    for (const char* d : {"rw/upper", "rw/work"}) {
      if (::mkdir(d, 0755) != 0 && errno != EEXIST) fail(kLayer);
      if (::lchown(d, p.id_base, p.id_base) != 0) fail(kLayer);
    }
  }
  if (::mount("overlay", "root", "overlay", 0, p.overlay.c_str()) != 0) fail(kOverlay);
  const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (::mount("tmpfs", "root/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, p.dev_opts.c_str()) != 0) fail(kDev);
  ::umask(0);
  for (const auto& n : p.nodes) {
    if (::mknod(n.path.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)) != 0) fail(kNodes);
    if (p.contained && ::lchown(n.path.c_str(), p.id_base, p.id_base) != 0) fail(kNodes);
  }
  for (const auto& [target, path] : p.links) {
    if (::symlink(target.c_str(), path.c_str()) != 0) fail(kNodes);
    if (p.contained && ::lchown(path.c_str(), p.id_base, p.id_base) != 0) fail(kNodes);
  }
  if (::mkdir("root/dev/pts", 0755) != 0 || ::mkdir("root/dev/shm", 01777) != 0) fail(kNodes);
  if (p.contained && (::lchown("root/dev/pts", p.id_base, p.id_base) != 0)) fail(kNodes);
  if (::mount("devpts", "root/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, p.devpts_opts.c_str()) != 0) fail(kDevpts);
  if (::mount("tmpfs", "root/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, p.shm_opts.c_str()) != 0) fail(kShm);
  if (::mount("proc", "root/proc", "proc", nse, nullptr) != 0) fail(kProc);
  if (::mount("sysfs", "root/sys", "sysfs", nse | MS_RDONLY, nullptr) != 0) fail(kSys);
  if (p.contained) {
    // As container runtimes mask them: kernel-wide knobs read-only, what
    // shows the host's memory, keys or timers hidden, firmware tables empty.
    for (const char* d : {"root/proc/sys", "root/proc/bus", "root/proc/fs", "root/proc/irq"})
      if (!MaskPath(d, d, true)) fail(kMask);
    for (const char* f : {"root/proc/kcore", "root/proc/keys", "root/proc/timer_list", "root/proc/sched_debug",
                          "root/proc/sysrq-trigger", "root/proc/kallsyms", "root/proc/kpagecount",
                          "root/proc/kpageflags", "root/proc/kpagecgroup", "root/proc/config.gz"})
      if (!MaskPath("root/dev/null", f, false)) fail(kMask);
    for (const char* d : {"root/proc/acpi", "root/proc/scsi", "root/sys/firmware", "root/sys/kernel/debug",
                          "root/sys/kernel/security", "root/sys/fs/bpf"})
      if (!EmptyDir(d)) fail(kMask);
  }
  if (::mount("tmpfs", "root/run", "tmpfs", MS_NOSUID | MS_NODEV, p.run_opts.c_str()) != 0) fail(kRun);
  if (::mount("tmpfs", "root/tmp", "tmpfs", MS_NOSUID | MS_NODEV, p.tmpfs_opts.c_str()) != 0) fail(kTmp);
  ::umask(022);
  int sf = ::open("root/run/hn-settings", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (sf < 0) fail(kSettings);
  if (!WriteAll(sf, p.settings)) fail(kSettings);
  if (p.contained && ::fchown(sf, p.id_base, p.id_base) != 0) fail(kSettings);
  ::close(sf);
  // busybox init's inittab without the console getty (the image's stays as it is).
  int it = ::open("root/run/hn-inittab", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (it < 0 || !WriteAll(it, p.inittab)) fail(kInittab);
  if (p.contained && ::fchown(it, p.id_base, p.id_base) != 0) fail(kInittab);
  ::close(it);
  if (::mount("root/run/hn-inittab", "root/etc/inittab", nullptr, MS_BIND, nullptr) != 0) fail(kInittab);
  if (::sethostname(p.hostname.data(), p.hostname.size()) != 0) fail(kHostname);
  // pivot_root(".", "."): the old root ends up stacked on the new one, and
  // is detached right away; nothing of the host's tree stays reachable.
  if (::chdir("root") != 0) fail(kPivot);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) fail(kPivot);
  if (::umount2(".", MNT_DETACH) != 0) fail(kPivot);
  if (::chdir("/") != 0) fail(kPivot);

  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(s, SIG_DFL);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(log_fd, 1);
  ::dup2(log_fd, 2);
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

  Report(status_fd, kOk, 0);
  char go = 0;
  ssize_t r;
  do {
    r = ::read(gate_fd, &go, 1);
  } while (r < 0 && errno == EINTR);
  if (r != 1) ::_exit(126);  // the lab gave up on us (or died): never run init
  if (p.contained) {
    // Last: into the guest's user namespace (root = id_base on the host).
    // Every namespace but the network's stays the host's, so root in here
    // holds no capability over its mounts, host name, pids or the clock.
    if (::setns(p.userns_fd, CLONE_NEWUSER) != 0) fail(kUserns);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) fail(kIds);
    // Root's capabilities after exec: Docker's default set (no NET_ADMIN,
    // SYS_ADMIN, SYS_PTRACE, ...), each only over its own network namespace.
    for (int cap = 0; cap < 64; cap++) {
      if (kKeepCaps & (1ull << cap)) continue;
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(kIds);
    }
    if (p.seccomp && p.seccomp->Install() != 0) fail(kSeccomp);
  }
  ::execve(kInit, p.argv.data(), p.envp.data());
  fail(kExec);
  ::_exit(127);
}

// Reads one {step, errno} message; false on EOF.
bool ReadReport(int fd, int msg[2]) {
  ssize_t n;
  do {
    n = ::read(fd, msg, 2 * sizeof(int));
  } while (n < 0 && errno == EINTR);
  return n == ssize_t(2 * sizeof(int));
}

Status CheckSpec(const NsGuestSpec& g) {
  if (!ValidGuestName(g.name)) {
    return Status::Error("invalid guest name '" + g.name + "': use letters, digits, '-', '_', '.' (at most 32)");
  }
  if (g.dir.empty() || g.dir[0] != '/') return Status::Error("guest " + g.name + ": dir must be an absolute path");
  if (g.rootfs.empty() || g.rootfs[0] != '/' || !PathExists(g.rootfs + kInit)) {
    return Status::Error("guest " + g.name + ": rootfs " + g.rootfs + " has no " + kInit +
                         " (not a tree of a project image: see NsRootfs)");
  }
  if (g.netns.empty() || g.netns.find('/') != std::string::npos) {
    return Status::Error("guest " + g.name + ": invalid network namespace name '" + g.netns + "'");
  }
  if (g.veth.empty() || g.veth.size() >= IFNAMSIZ) {
    return Status::Error("guest " + g.name + ": veth name '" + g.veth + "' must be 1 to 15 characters");
  }
  if (g.bridge_netns.empty() || !NetnsExists(g.bridge_netns)) {
    return Status::Error("guest " + g.name + ": namespace " + g.bridge_netns + " (the bridge's) does not exist");
  }
  if (!g.hostname.empty() && !ValidGuestHostname(g.hostname)) {
    return Status::Error("guest " + g.name + ": invalid hostname '" + g.hostname + "'");
  }
  return Status::Ok();
}

// Until no process of the pid namespace is left, or the deadline.
bool WaitNoProcesses(const NsGuestState& s, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (NsGuestProcesses(s).empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

std::string NsGuestNetnsName(const std::string& honeypot) { return "hn-g-" + honeypot; }
std::string NsGuestConsoleLog(const NsGuestSpec& g) { return g.dir + "/console.log"; }
std::string NsGuestUpperDir(const NsGuestSpec& g) { return g.dir + "/upper"; }
std::string NsGuestUpperImage(const NsGuestSpec& g) { return g.dir + "/upper.img"; }

Result<std::string> NsRootfs(const std::string& data_dir, const std::string& kind, const std::string& image_path,
                             uint32_t id_base) {
  struct stat st {};
  if (::stat(image_path.c_str(), &st) != 0) {
    return Status::Error("image " + image_path + ": " + ErrnoText() + " (build it with `honeynet image build " + kind + "`)");
  }
  const std::string key = Fnv64Hex(image_path + "\n" + std::to_string(st.st_size) + "\n" +
                                   std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
                                   "\n" + std::to_string(st.st_ino) +
                                   (id_base ? "\nids " + std::to_string(id_base) : std::string()));
  const std::string dir = RootfsDir(data_dir);
  const std::string tree = dir + "/" + kind + "-" + key;
  if (PathExists(tree + kInit)) return tree;  // complete: made under a temporary name, then renamed
  if (!HaveProgram("debugfs")) return Status::Error("debugfs not found: apt-get install e2fsprogs");
  if (Status s = MakeDirs(dir, 0755); !s.ok()) return s;
  Fd lock(::open((dir + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.fd < 0 || ::flock(lock.fd, LOCK_EX) != 0) return Status::Error("cannot lock " + dir + "/.lock: " + ErrnoText());
  if (PathExists(tree + kInit)) return tree;  // made while we waited

  const std::string tmp = dir + "/.tmp-" + kind + "-" + std::to_string(::getpid());
  RemoveTree(tmp);
  if (::mkdir(tmp.c_str(), 0755) != 0) return Status::Error("cannot create " + tmp + ": " + ErrnoText());
  struct Cleanup {
    std::string t;
    ~Cleanup() { RemoveTree(t); }
  } cleanup{tmp};
  RunResult r = RunCommand({"debugfs", "-R", "rdump / " + tmp, image_path});
  // debugfs exits 0 after most errors: the tree must hold init to count.
  if (r.exit_code != 0 || !PathExists(tmp + kInit)) {
    return Status::Error("cannot extract " + image_path + " with debugfs rdump (exit " +
                         std::to_string(r.exit_code) + "): " + r.out);
  }
  if (Status s = ShiftOwners(tmp, id_base); !s.ok()) return s;
  if (Status s = RestoreSpecialBits(image_path, tmp); !s.ok()) return s;
  ::chmod(tmp.c_str(), 0755);
  RemoveTree(tree);  // an incomplete one (no init), if any
  if (::rename(tmp.c_str(), tree.c_str()) != 0) return Status::Error("cannot rename " + tmp + ": " + ErrnoText());
  return tree;
}

void PruneNsRootfs(const std::string& data_dir, const std::string& kind, const std::vector<std::string>& keep) {
  const std::string dir = RootfsDir(data_dir);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> old;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    const std::string path = dir + "/" + n;
    if (std::find(keep.begin(), keep.end(), path) == keep.end() && (n.rfind(kind + "-", 0) == 0 || n.rfind(".tmp-" + kind + "-", 0) == 0)) old.push_back(path);
  }
  ::closedir(d);
  for (const std::string& o : old) RemoveTree(o);
}

std::vector<int> NsGuestProcesses(const NsGuestState& s) {
  std::vector<int> pids;
  if (s.pidns == 0) return pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end != '\0' || pid <= 0) continue;
    if (PidnsOf(int(pid)) != s.pidns) continue;
    // A zombie is over (pid 1's waits for its parent, the host's init, to reap it).
    int64_t start = 0;
    char state = '?';
    if (ProcStart(int(pid), &start, &state) && state != 'Z' && state != 'X') pids.push_back(int(pid));
  }
  ::closedir(d);
  return pids;
}

bool NsGuestRunning(const NsGuestState& s) {
  if (s.pid <= 0 || s.pidns == 0) return false;
  int64_t start = 0;
  char state = '?';
  if (!ProcStart(s.pid, &start, &state) || start != s.start_ticks || state == 'Z' || state == 'X') return false;
  return PidnsOf(s.pid) == s.pidns;
}

bool NsGuestListening(const NsGuestState& s, uint16_t port) {
  if (!NsGuestRunning(s)) return false;
  // Lines: "sl local_address rem_address st ...", addresses as HEXIP:HEXPORT; st 0A = LISTEN.
  // tcp6 too: busybox telnetd listens on [::] (dual stack) even with IPv6 off.
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::stringstream ss(ReadFileOrEmpty("/proc/" + std::to_string(s.pid) + table));
    std::string line;
    std::getline(ss, line);  // the header
    while (std::getline(ss, line)) {
      std::stringstream ls(line);
      std::string sl, local, remote, st;
      if (!(ls >> sl >> local >> remote >> st)) continue;
      if (st == "0A" && local.size() > 5 && local.compare(local.size() - 5, 5, want) == 0) return true;
    }
  }
  return false;
}

Result<NsGuestState> StartNsGuest(const NsGuestSpec& g, const std::function<Status(const NsGuestState&)>& before_init) {
  if (Status s = CheckSpec(g); !s.ok()) return s;
  const bool contained = !g.unsafe;
  if (contained) {
    if (std::strtol(ReadFileOrEmpty("/proc/sys/user/max_user_namespaces").c_str(), nullptr, 10) <= 0) {
      return Status::Error("guest " + g.name +
                           ": user namespaces are off (user.max_user_namespaces = 0): set it > 0, or set unsafe = "
                           "true for this honeypot");
    }
  }
  for (const std::string& d : {g.dir, contained ? g.dir + "/rw" : NsGuestUpperDir(g), WorkDir(g), RootMount(g)}) {
    if (Status s = MakeDirs(d, 0750); !s.ok()) return s;
  }
  if (!contained) ::chmod(NsGuestUpperDir(g).c_str(), 0755);  // the guest's / takes the upper dir's mode
  // lower -> the tree (relative names in the overlay's options).
  ::unlink(LowerLink(g).c_str());
  if (::symlink(g.rootfs.c_str(), LowerLink(g).c_str()) != 0) {
    return Status::Error("cannot link " + LowerLink(g) + " to " + g.rootfs + ": " + ErrnoText());
  }
  Fd userns;
  if (Status s = MakeNetwork(g, contained ? &userns.fd : nullptr); !s.ok()) {
    return Status::Error("guest " + g.name + ": " + s.message());
  }

  const std::string log = NsGuestConsoleLog(g);
  if (PathExists(log)) ::rename(log.c_str(), (log + ".1").c_str());
  Fd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
  if (log_fd.fd < 0) return Status::Error("cannot create " + log + ": " + ErrnoText());
  Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd netns_fd(::open(("/run/netns/" + g.netns).c_str(), O_RDONLY | O_CLOEXEC));
  if (netns_fd.fd < 0) return Status::Error("guest " + g.name + ": namespace " + g.netns + ": " + ErrnoText());
  int pidp[2], statp[2], gatep[2];
  if (::pipe2(pidp, O_CLOEXEC) != 0) return Status::Error("pipe: " + ErrnoText());
  Fd pid_r(pidp[0]), pid_w(pidp[1]);
  if (::pipe2(statp, O_CLOEXEC) != 0) return Status::Error("pipe: " + ErrnoText());
  Fd stat_r(statp[0]), stat_w(statp[1]);
  if (::pipe2(gatep, O_CLOEXEC) != 0) return Status::Error("pipe: " + ErrnoText());
  Fd gate_r(gatep[0]), gate_w(gatep[1]);
  ChildPlan plan = MakePlan(g);
  plan.userns_fd = userns.fd;
  // Containment, made before the fork (the child only uses it).
  std::optional<GuestCgroup> cgroup;
  SeccompProgram seccomp;
  Fd loop;
  if (contained) {
    Result<GuestCgroup> cg = GuestCgroup::Create(g.name, g.limits);
    if (!cg.ok()) {
      return Status::Error("guest " + g.name + ": " + cg.status().message() +
                           " (or set unsafe = true for this honeypot: no limits)");
    }
    cgroup = *cg;
    plan.cgroup_procs = cgroup->ProcsFiles();
    Result<SeccompProgram> sp = GuestSeccomp();
    if (!sp.ok()) return Status::Error("guest " + g.name + ": " + sp.status().message());
    seccomp = *sp;
    plan.seccomp = &seccomp;
    if (Status s = MakeUpperImage(NsGuestUpperImage(g), g.limits.disk_max, kNsGuestIdBase); !s.ok()) {
      return Status::Error("guest " + g.name + ": " + s.message());
    }
    Result<int> lf = AttachLoop(NsGuestUpperImage(g), &plan.loop_dev);
    if (!lf.ok()) return Status::Error("guest " + g.name + ": " + lf.status().message());
    loop.fd = *lf;
  }
  auto undo = [&] {
    if (cgroup) cgroup->Remove();
  };

  pid_t mid = ::fork();
  if (mid == 0) {
    // Intermediate: into the guest's network namespace, a new pid namespace
    // for the next child (its pid 1), report that child's pid, leave.
    ::close(gate_w.fd);
    int pid = 0;
    if (::setns(netns_fd.fd, CLONE_NEWNET) != 0) {
      Report(stat_w.fd, kSetns, errno);
    } else if (::unshare(CLONE_NEWPID) != 0) {
      Report(stat_w.fd, kUnsharePid, errno);
    } else {
      pid = ::fork();
      if (pid == 0) ChildMain(plan, stat_w.fd, gate_r.fd, log_fd.fd, null_fd.fd);
      if (pid < 0) Report(stat_w.fd, kFork, errno);
    }
    ssize_t w = ::write(pid_w.fd, &pid, sizeof pid);
    (void)w;
    ::_exit(0);
  }
  const int fork_errno = errno;
  ::close(pid_w.fd);
  pid_w.fd = -1;
  ::close(stat_w.fd);
  stat_w.fd = -1;
  ::close(gate_r.fd);
  gate_r.fd = -1;
  if (mid < 0) return Status::Error("fork: " + std::string(std::strerror(fork_errno)));
  while (::waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {
  }
  int pid = 0;
  if (::read(pid_r.fd, &pid, sizeof pid) != ssize_t(sizeof pid)) pid = 0;

  auto failed = [&](int msg[2]) {
    return Status::Error("guest " + g.name + ": cannot start (" + StepName(msg[0]) + "): " + std::strerror(msg[1]) +
                         "; its output: " + log);
  };
  int msg[2] = {0, 0};
  if (!ReadReport(stat_r.fd, msg)) {
    undo();
    return Status::Error("guest " + g.name + ": its first process ended before it was set up (see " + log + ")");
  }
  if (msg[0] != kOk) {
    undo();
    return failed(msg);
  }
  // Its layer is mounted: the mount holds the loop device from here on.
  ::close(loop.fd);
  loop.fd = -1;
  NsGuestState st;
  st.pid = pid;
  char state = '?';
  if (pid <= 0 || !ProcStart(pid, &st.start_ticks, &state)) {
    return Status::Error("guest " + g.name + ": its pid 1 is gone before init (see " + log + ")");
  }
  st.pidns = PidnsOf(pid);
  st.started_unix = ::time(nullptr);
  if (Status s = before_init(st); !s.ok()) {
    ::kill(pid, SIGKILL);  // also closing the gate would end it; this is sooner
    WaitNoProcesses(st, 2000);
    undo();
    return s;
  }
  char go = 1;
  if (::write(gate_w.fd, &go, 1) != 1) return Status::Error("guest " + g.name + ": cannot release it: " + ErrnoText());
  // EOF: init was exec'd (the pipe is close-on-exec); a message: exec failed.
  if (ReadReport(stat_r.fd, msg)) {
    WaitNoProcesses(st, 2000);
    undo();
    return failed(msg);
  }
  return st;
}

Status StopNsGuest(const NsGuestSpec& g, const NsGuestState& s, int timeout_ms) {
  if (NsGuestRunning(s)) ::kill(s.pid, SIGKILL);
  // pid 1 gone: the kernel kills the rest of the namespace; wait for it.
  for (int pid : NsGuestProcesses(s)) ::kill(pid, SIGKILL);
  if (!WaitNoProcesses(s, timeout_ms)) {
    auto left = NsGuestProcesses(s);
    return Status::Error("guest " + g.name + ": processes still there after SIGKILL (pid " +
                         std::to_string(left.empty() ? 0 : left[0]) + ")");
  }
  return GuestCgroup::Existing(g.name).Remove();
}

Result<NsGuestState> ResetNsGuest(const NsGuestSpec& g, const NsGuestState& s,
                                  const std::function<Status(const NsGuestState&)>& before_init) {
  if (Status st = StopNsGuest(g, s); !st.ok()) return st;
  RemoveTree(NsGuestUpperDir(g));
  RemoveTree(WorkDir(g));
  ::unlink(NsGuestUpperImage(g).c_str());
  if (PathExists(NsGuestUpperDir(g))) return Status::Error("cannot remove " + NsGuestUpperDir(g));
  return StartNsGuest(g, before_init);
}

}  // namespace hn
