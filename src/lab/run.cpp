// Running host tools and entering network namespaces (see run.h).
#include "lab/run.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hn {
namespace {

constexpr size_t kKeepOutput = 64 * 1024;  // RunCommandLines keeps this much

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Full path of a program: argv[0] as it is when it has a '/', else searched in
// PATH and then in the sbin directories (root's tools live there and some
// environments drop them from PATH). Empty when not found.
std::string Which(const std::string& name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return IsExecutableFile(name) ? name : std::string();
  const char* env = std::getenv("PATH");
  std::string path = env ? env : "";
  path += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string full = dir + "/" + name;
    if (IsExecutableFile(full)) return full;
  }
  return {};
}

// The command as a user would type it, shortened for messages.
std::string CommandText(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  if (s.size() > 300) s = s.substr(0, 297) + "...";
  return s;
}

// The last n lines of text, for error messages.
std::string LastLines(const std::string& text, int n) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t pos = t.size();
  for (int i = 0; i < n && pos != std::string::npos && pos > 0; ++i) pos = t.rfind('\n', pos - 1);
  return (pos == std::string::npos || pos == 0) ? t : t.substr(pos + 1);
}

// Starts argv with stdin from /dev/null and stdout+stderr into a pipe whose
// read end is returned in *out_fd. Returns the pid, or -1 with *err set.
pid_t Spawn(const std::vector<std::string>& argv, int* out_fd, std::string* err) {
  if (argv.empty()) {
    *err = "no command given";
    return -1;
  }
  std::string exe = Which(argv[0]);
  if (exe.empty()) {
    *err = "cannot run " + argv[0] + ": program not found (searched PATH and the sbin directories)";
    return -1;
  }
  // Everything the child needs is prepared before fork: after fork in a
  // threaded process only async-signal-safe calls are allowed.
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  int out[2], ex[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    *err = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  if (::pipe2(ex, O_CLOEXEC) != 0) {
    *err = std::string("pipe: ") + std::strerror(errno);
    ::close(out[0]);
    ::close(out[1]);
    return -1;
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::execv(exe.c_str(), cargv.data());
    int e = errno;
    ssize_t w = ::write(ex[1], &e, sizeof e);
    (void)w;
    ::_exit(127);
  }
  int fork_errno = errno;
  if (devnull >= 0) ::close(devnull);
  ::close(out[1]);
  ::close(ex[1]);
  if (pid < 0) {
    *err = std::string("fork: ") + std::strerror(fork_errno);
    ::close(out[0]);
    ::close(ex[0]);
    return -1;
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(ex[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(ex[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    *err = "cannot run " + exe + ": " + std::strerror(child_errno);
    ::close(out[0]);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  *out_fd = out[0];
  return pid;
}

// Waits for pid and turns its status into an exit code (128+N for signal N).
int Reap(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

// Reads fd to EOF, calling chunk() with each piece.
template <class F>
void Drain(int fd, F chunk) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    chunk(buf, static_cast<size_t>(n));
  }
}

}  // namespace

RunResult RunCommand(const std::vector<std::string>& argv) {
  RunResult r;
  int fd = -1;
  std::string err;
  pid_t pid = Spawn(argv, &fd, &err);
  if (pid < 0) {
    r.out = err;
    return r;
  }
  Fd out(fd);
  Drain(fd, [&](const char* p, size_t n) { r.out.append(p, n); });
  r.exit_code = Reap(pid);
  return r;
}

RunResult RunCommandLines(const std::vector<std::string>& argv,
                          const std::function<void(const std::string&)>& on_line) {
  RunResult r;
  int fd = -1;
  std::string err;
  pid_t pid = Spawn(argv, &fd, &err);
  if (pid < 0) {
    r.out = err;
    if (on_line) on_line(err);
    return r;
  }
  Fd out(fd);
  std::string partial;
  auto emit = [&](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (on_line) on_line(line);
  };
  Drain(fd, [&](const char* p, size_t n) {
    r.out.append(p, n);
    if (r.out.size() > 2 * kKeepOutput) r.out.erase(0, r.out.size() - kKeepOutput);
    partial.append(p, n);
    size_t start = 0, nl;
    while ((nl = partial.find('\n', start)) != std::string::npos) {
      emit(partial.substr(start, nl - start));
      start = nl + 1;
    }
    partial.erase(0, start);
  });
  if (!partial.empty()) emit(partial);
  if (r.out.size() > kKeepOutput) r.out.erase(0, r.out.size() - kKeepOutput);
  r.exit_code = Reap(pid);
  return r;
}

Status RunChecked(const std::vector<std::string>& argv) { return RunChecked(argv, ""); }

Status RunChecked(const std::vector<std::string>& argv, const std::string& package_hint) {
  RunResult r = RunCommand(argv);
  if (r.exit_code == 0) return Status::Ok();
  std::string msg;
  if (r.exit_code < 0) {
    msg = r.out;
    if (!package_hint.empty()) msg += "; install it: apt-get install " + package_hint;
  } else {
    msg = "`" + CommandText(argv) + "` failed (exit " + std::to_string(r.exit_code) + ")";
    std::string tail = LastLines(r.out, 15);
    if (!tail.empty()) msg += ":\n" + tail;
  }
  return Status::Error(msg);
}

bool HaveProgram(const std::string& name) { return !Which(name).empty(); }
std::string FindProgram(const std::string& name) { return Which(name); }

Status LeaveIpNetnsExecMountNs() {
  char self[64] = {}, parent[64] = {};
  const std::string pp = "/proc/" + std::to_string(::getppid()) + "/ns/mnt";
  if (::readlink("/proc/self/ns/mnt", self, sizeof self - 1) <= 0 ||
      ::readlink(pp.c_str(), parent, sizeof parent - 1) <= 0 || std::string(self) == parent)
    return Status::Ok();
  // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - ..."
  std::ifstream mi("/proc/self/mountinfo");
  bool slave_netns = false;
  for (std::string line; std::getline(mi, line);) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string w; ls >> w && w != "-";) f.push_back(w);
    if (f.size() < 6 || f[4] != "/run/netns") continue;
    bool master = false, shared = false;
    for (size_t i = 6; i < f.size(); i++) {
      master |= f[i].rfind("master:", 0) == 0;
      shared |= f[i].rfind("shared:", 0) == 0;
    }
    slave_netns = master && !shared;
  }
  if (!slave_netns) return Status::Ok();
  char cwd[4096];
  const bool have_cwd = ::getcwd(cwd, sizeof cwd) != nullptr;
  Fd target(::open(pp.c_str(), O_RDONLY | O_CLOEXEC));
  if (target.fd < 0 || ::setns(target.fd, CLONE_NEWNS) != 0) {
    return Status::Error(std::string("this runs under `ip netns exec` and cannot return to the caller's mount "
                                     "namespace (") +
                         std::strerror(errno) +
                         "): the namespaces it makes would be invisible outside it. Run it as `nsenter "
                         "--net=/run/netns/NS honeynet ...` instead");
  }
  if (have_cwd && ::chdir(cwd) != 0) (void)::chdir("/");
  return Status::Ok();
}

Status InNetns(const std::string& netns, const std::function<Status()>& fn) {
  if (netns.empty() || netns.find('/') != std::string::npos || netns == "." || netns == "..") {
    return Status::Error("invalid network namespace name '" + netns + "'");
  }
  const std::string path = "/run/netns/" + netns;
  Fd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (target.fd < 0) {
    return Status::Error("network namespace " + netns + " not found (" + path + ": " + std::strerror(errno) +
                         "): create it with `ip netns add " + netns + "`");
  }
  Fd orig(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (orig.fd < 0) {
    return Status::Error(std::string("cannot open this thread's network namespace: ") + std::strerror(errno));
  }
  if (::setns(target.fd, CLONE_NEWNET) != 0) {
    return Status::Error("cannot enter network namespace " + netns + ": " + std::strerror(errno) +
                         " (needs root: CAP_SYS_ADMIN)");
  }
  // Moves the thread back whatever fn does (returns or throws).
  struct Back {
    int fd;
    ~Back() {
      if (::setns(fd, CLONE_NEWNET) != 0) {
        // Staying in the wrong namespace would silently misplace every later
        // interface or socket: stop here instead.
        std::fprintf(stderr, "honeynet: cannot return to the original network namespace: %s\n",
                     std::strerror(errno));
        std::abort();
      }
    }
  } back{orig.fd};
  return fn();
}

}  // namespace hn
