// Lab: small helpers (time, files, paths, text), the lab's processes (start
// in a namespace, stop, wait for a log line) and the signal flag of up/reset.
#include "lab/lab_internal.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/term_safe.h"

namespace hn::lab_detail {

// Set by the signal handlers while `up` runs.
std::atomic<int> g_signal{0};

namespace {

void OnSignal(int sig) { g_signal.store(sig); }

}  // namespace

SignalScope::SignalScope() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; i++) ::sigaction(kSigs[i], &sa, &old_[i]);
}

SignalScope::~SignalScope() {
  for (int i = 0; i < 3; i++) ::sigaction(kSigs[i], &old_[i], nullptr);
}

Status CheckInterrupt() {
  if (int sig = g_signal.load()) return Status::Error(std::string("interrupted by ") + strsignal(sig));
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Small helpers

std::string Errno() { return std::strerror(errno); }

int64_t MonoMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

bool FileExists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::optional<std::string> ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

namespace {

// A line of a log quoted in an error message: what a guest wrote there is
// hostile, so control characters (an escape sequence, a carriage return that
// would overwrite the line) are shown as \xNN; a CRLF's CR is dropped.
std::string TailLine(std::string_view l) {
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  return EscapeControls(l, /*keep_tab=*/true);
}

}  // namespace

// The last n lines of a file, for error messages (control characters as \xNN).
std::string Tail(const std::string& path, size_t n) {
  auto text = ReadFile(path);
  if (!text || text->empty()) return "(" + path + " is empty)";
  std::vector<std::string> lines;
  std::stringstream ss(*text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); i++) out += "\n  | " + TailLine(lines[i]);
  return out;
}

// The end of a guest's console log without kernel stack-trace lines, so the
// message that explains (a panic, a failed mount) is what shows; control
// characters as \xNN (TailLine).
std::string ConsoleTail(const std::string& path) {
  auto text = ReadFile(path);
  if (!text || text->empty()) return "\n  | (" + path + " is empty)";
  std::vector<std::string> lines;
  std::stringstream ss(*text);
  for (std::string l; std::getline(ss, l);) {
    if (l.find("[<") != std::string::npos || l.find("Call Trace") != std::string::npos || l == "Stack:") continue;
    bool hex_words = !l.empty();  // a stack dump line: "606944ba 607e7fcd ..."
    for (char ch : l) hex_words = hex_words && (std::isxdigit(static_cast<unsigned char>(ch)) || ch == ' ');
    if (hex_words && l.find(' ') != std::string::npos) continue;
    lines.push_back(l);
  }
  std::string out;
  for (size_t i = lines.size() > 12 ? lines.size() - 12 : 0; i < lines.size(); i++)
    out += "\n  | " + TailLine(lines[i]);
  return out;
}

std::string LabDir(const std::string& dd) { return dd + "/lab"; }
std::string StatePath(const std::string& dd) { return LabDir(dd) + "/state.json"; }
std::string WallConfigPath(const std::string& dd) { return LabDir(dd) + "/wall.toml"; }
std::string WallLogPath(const std::string& dd) { return LabDir(dd) + "/wall.log"; }
std::string ServicesLogPath(const std::string& dd) { return LabDir(dd) + "/services.log"; }
std::string AlertsLogPath(const std::string& dd) { return LabDir(dd) + "/alerts.log"; }
std::string CaptureDir(const std::string& dd) { return LabDir(dd) + "/capture"; }
std::string GuestDir(const std::string& dd, const std::string& name) { return dd + "/guests/" + name; }
std::string TapName(size_t i) { return "hn-tap" + std::to_string(i); }
std::string VethName(size_t i) { return "hn-veth" + std::to_string(i); }  // a namespace honeypot's host end
std::string TtyLogPath(const std::string& dd, const std::string& name) {
  return CaptureDir(dd) + "/tty/" + name + ".ttylog";
}

std::string PrefixText(const Ip4Prefix& p) { return p.addr.ToString() + "/" + std::to_string(p.len); }

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) out += (i ? sep : "") + v[i];
  return out;
}

std::string Seconds(double s) { return fmt::format("{:.1f} s", s); }

// "1:02:03" / "2:03" for an uptime in seconds.
std::string Duration(int64_t s) {
  if (s < 0) s = 0;
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

// ---------------------------------------------------------------------------
// Processes

namespace {

// Field 22 (starttime) and field 3 (state) of /proc/PID/stat; false if gone.
bool ProcStat(int pid, int64_t* start, char* state) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return false;
  size_t rp = text->rfind(')');  // the command name may hold spaces and ')'
  if (rp == std::string::npos) return false;
  std::stringstream ss(text->substr(rp + 1));
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

}  // namespace

ProcRef RefOf(int pid) {
  ProcRef r{pid, 0};
  char state;
  ProcStat(pid, &r.start, &state);
  return r;
}

bool Alive(const ProcRef& p) {
  if (p.pid <= 0) return false;
  int64_t start = 0;
  char state = '?';
  if (!ProcStat(p.pid, &start, &state)) return false;
  return start == p.start && state != 'Z' && state != 'X';
}

// Reaps children of this process that ended (the wall and services of a
// foreground `up`), so they do not linger as zombies.
void ReapChildren() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

namespace {

bool WaitGone(const ProcRef& p, int timeout_ms) {
  int64_t end = MonoMs() + timeout_ms;
  for (;;) {
    ReapChildren();
    if (!Alive(p)) return true;
    if (MonoMs() >= end) return false;
    SleepMs(20);
  }
}

}  // namespace

// SIGTERM, wait, SIGKILL. Returns how it ended ("" when it was not running).
std::string StopProc(const ProcRef& p, int term_ms) {
  if (!Alive(p)) return "";
  ::kill(p.pid, SIGTERM);
  if (WaitGone(p, term_ms)) return "stopped";
  ::kill(p.pid, SIGKILL);
  WaitGone(p, 5000);
  return "killed after " + std::to_string(term_ms / 1000) + " s";
}

// Starts argv detached (own session) inside network namespace ns with stdout
// and stderr to log_path (truncated). The child waits, before exec, until
// record(ref) has run (the caller writes the pid to the state file there), so
// nothing runs that the state does not know of; it exits if we die first.
Result<ProcRef> SpawnInNetns(const std::string& ns, const std::vector<std::string>& args,
                             const std::string& log_path, const std::function<Status(const ProcRef&)>& record) {
  // ns "": the caller's own network namespace (the host's, for `honeynet alerts`).
  int nsfd = ns.empty() ? -1 : ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (!ns.empty() && nsfd < 0) return Status::Error("network namespace " + ns + " not found: " + Errno());
  int logfd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  if (logfd < 0) {
    std::string e = Errno();
    if (nsfd >= 0) ::close(nsfd);
    return Status::Error("cannot create " + log_path + ": " + e);
  }
  int nullfd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int gate[2], errp[2];
  if (::pipe2(gate, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0) {
    if (nsfd >= 0) ::close(nsfd);
    ::close(logfd);
    return Status::Error("pipe: " + Errno());
  }
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    int step = 0;
    char go = 0;
    if (::setsid() < 0) step = 1;
    if (!step && nsfd >= 0 && ::setns(nsfd, CLONE_NEWNET) != 0) step = 2;
    if (!step) {
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(s, SIG_DFL);
      if (nullfd >= 0) ::dup2(nullfd, 0);
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
      ::close(gate[1]);
      // Nothing else of ours (a caller's pipe, the lock) stays open in the
      // detached process: close-on-exec for every other descriptor.
      ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
      ssize_t r;
      do {
        r = ::read(gate[0], &go, 1);
      } while (r < 0 && errno == EINTR);
      if (r != 1) ::_exit(126);  // the parent died before recording us
      ::execv(argv[0], argv.data());
      step = 3;
    }
    int msg[2] = {step, errno};
    ssize_t w = ::write(errp[1], msg, sizeof msg);
    (void)w;
    ::_exit(127);
  }
  int fork_errno = errno;
  if (nsfd >= 0) ::close(nsfd);
  ::close(logfd);
  if (nullfd >= 0) ::close(nullfd);
  ::close(gate[0]);
  ::close(errp[1]);
  if (pid < 0) {
    ::close(gate[1]);
    ::close(errp[0]);
    return Status::Error("fork: " + std::string(std::strerror(fork_errno)));
  }
  ProcRef ref = RefOf(pid);
  Status rec = record(ref);
  if (rec.ok()) {
    char go = 1;
    ssize_t w = ::write(gate[1], &go, 1);
    (void)w;
  }
  ::close(gate[1]);  // without the byte: the child exits
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(errp[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  ::close(errp[0]);
  if (!rec.ok()) {
    ::waitpid(pid, nullptr, 0);
    return rec;
  }
  if (n == ssize_t(sizeof msg)) {
    ::waitpid(pid, nullptr, 0);
    static const char* kStep[] = {"start", "setsid", "entering namespace " , "exec"};
    return Status::Error("cannot start " + args[0] + " (" + kStep[msg[0] & 3] + (msg[0] == 2 ? ns : "") +
                         "): " + std::strerror(msg[1]));
  }
  return ref;
}

// Waits until the log holds a line containing word, the process ends, the
// deadline passes or a signal arrives.
Status WaitForLogLine(const std::string& log, const std::string& word, const ProcRef& p, int timeout_ms,
                      const std::string& what) {
  int64_t end = MonoMs() + timeout_ms;
  for (;;) {
    auto text = ReadFile(log);
    if (text && text->find(word) != std::string::npos) return Status::Ok();
    ReapChildren();
    if (!Alive(p)) return Status::Error(what + " exited while starting; its output (" + log + "):" + Tail(log, 15));
    if (g_signal.load()) return Status::Error("interrupted");
    if (MonoMs() >= end) {
      return Status::Error(what + " did not say '" + word + "' within " + std::to_string(timeout_ms / 1000) +
                           " s; its output (" + log + "):" + Tail(log, 15));
    }
    SleepMs(25);
  }
}

}  // namespace hn::lab_detail
