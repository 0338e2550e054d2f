// Lab: the virtual honeynet as a whole (see lab.h).
#include "common/fs.h"
#include "lab/lab.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "lab/audit.h"
#include "lab/containment.h"
#include "lab/guest.h"
#include "lab/image.h"
#include "lab/kernel.h"
#include "lab/nsguest.h"
#include "lab/run.h"
#include "lab/services.h"
#include "common/term_safe.h"

namespace hn {
namespace {

using json = nlohmann::json;

constexpr int kStateVersion = 1;
constexpr int kMaxGuests = 64;          // hn-tap0..hn-tap63, MACs ..:00:02..:41
constexpr int kTelnetPort = 23;
constexpr int64_t kLabStatsIntervalNs = 1'000'000'000;  // stats.json every second (status, the live line)
constexpr int kWallReadyMs = 30000;      // `honeynet wall` prints "ready" (waits up to 3 s for ARP)
constexpr int kServicesReadyMs = 10000;
constexpr int kWallStopMs = 10000;       // SIGTERM, then SIGKILL
constexpr int kGuestStopMs = 10000;      // mconsole halt, then SIGKILL
constexpr int kTtyCaptureReadyMs = 20000;  // `honeynet tty capture` writes its ready file (BPF load: ~1 s, more when busy)
constexpr int kTtyCaptureStopMs = 3000;
constexpr const char* kKindUml = "uml";
constexpr const char* kKindNetns = "netns";
constexpr const char* kUmlUplink = "uplink";  // a UML guest's veth end in its own namespace
const char* const kInetNet = "192.0.2.0";  // the lab's "internet" /24 (TEST-NET-1)

// Set by the signal handlers while `up` runs.
std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

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

// A line of a log quoted in an error message: what a guest wrote there is
// hostile, so control characters (an escape sequence, a carriage return that
// would overwrite the line) are shown as \xNN; a CRLF's CR is dropped.
std::string TailLine(std::string_view l) {
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  return EscapeControls(l, /*keep_tab=*/true);
}

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

// Writes a file atomically: temp file, fsync, rename.


std::string LabDir(const std::string& dd) { return dd + "/lab"; }
std::string StatePath(const std::string& dd) { return LabDir(dd) + "/state.json"; }
std::string WallConfigPath(const std::string& dd) { return LabDir(dd) + "/wall.toml"; }
std::string WallLogPath(const std::string& dd) { return LabDir(dd) + "/wall.log"; }
std::string ServicesLogPath(const std::string& dd) { return LabDir(dd) + "/services.log"; }
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

// A process we started, known by pid and start time (so a pid reused by
// another process after ours ended is never mistaken for it).
struct ProcRef {
  int pid = 0;
  int64_t start = 0;  // /proc/PID/stat field 22 (clock ticks since boot)
};

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

bool WaitGone(const ProcRef& p, int timeout_ms) {
  int64_t end = MonoMs() + timeout_ms;
  for (;;) {
    ReapChildren();
    if (!Alive(p)) return true;
    if (MonoMs() >= end) return false;
    SleepMs(20);
  }
}

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
  int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return Status::Error("network namespace " + ns + " not found: " + Errno());
  int logfd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  if (logfd < 0) {
    std::string e = Errno();
    ::close(nsfd);
    return Status::Error("cannot create " + log_path + ": " + e);
  }
  int nullfd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int gate[2], errp[2];
  if (::pipe2(gate, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0) {
    ::close(nsfd);
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
    if (!step && ::setns(nsfd, CLONE_NEWNET) != 0) step = 2;
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
  ::close(nsfd);
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

// ---------------------------------------------------------------------------
// Namespaces and interfaces

bool NetnsExists(const std::string& ns) { return FileExists("/run/netns/" + ns); }

// hn-wall, hn-inet and every namespace honeypot's hn-g-* and UML guest's
// hn-u-* on this machine (what `down --force` removes without a state file).
std::vector<std::string> LabNamespacesOnHost() {
  std::vector<std::string> out = {kWallNs, kInetNs};
  if (DIR* d = ::opendir("/run/netns")) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind(NsGuestNetnsName(""), 0) == 0 && n.size() > NsGuestNetnsName("").size()) out.push_back(n);
      if (n.rfind(GuestNetnsName(""), 0) == 0 && n.size() > GuestNetnsName("").size()) out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin() + 2, out.end());
  return out;
}

// Pids of the processes whose network namespace is ns (what `ip netns pids` shows).
std::vector<int> PidsInNetns(const std::string& ns) {
  std::vector<int> pids;
  struct stat target {};
  if (::stat(("/run/netns/" + ns).c_str(), &target) != 0) return pids;
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end || pid <= 0 || pid == ::getpid()) continue;
    struct stat st {};
    if (::stat(("/proc/" + std::string(e->d_name) + "/ns/net").c_str(), &st) != 0) continue;
    if (st.st_ino == target.st_ino && st.st_dev == target.st_dev) pids.push_back(int(pid));
  }
  ::closedir(d);
  return pids;
}

Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunChecked(argv, "iproute2");
}

Status Sysctl(const std::string& ns, const std::vector<std::string>& settings) {
  std::vector<std::string> argv = {"ip", "netns", "exec", ns, "sysctl", "-q", "-w"};
  argv.insert(argv.end(), settings.begin(), settings.end());
  return RunChecked(argv, "procps");
}

// ---------------------------------------------------------------------------
// State (DATA/lab/state.json)

// One honeypot of the lab. spec holds what both kinds share (name, dir, MAC,
// addresses, host name, DNS, image); st is a UML guest's, ns/nst/tty a
// namespace honeypot's (tty: its `honeynet tty capture` process).
struct GuestRec {
  std::string kind = kKindUml;  // "uml" | "netns"
  GuestSpec spec;
  GuestState st;
  NsGuestSpec ns;
  NsGuestState nst;
  ProcRef tty;
  std::string image_kind;
  std::optional<Ip4> public_ip;  // nat
  Ip4 target;                    // where telnet answers from hn-inet
};

struct LabState {
  std::string data_dir;
  std::string config_source;  // "built-in" or the config file
  std::string mode;           // "nat" | "bridge"
  int64_t started_unix = 0;
  bool ready = false;
  double ready_seconds = 0;
  ProcRef up;                 // the `honeynet up` process
  std::vector<std::string> namespaces;
  std::vector<std::pair<std::string, std::string>> links;  // {namespace, interface}
  ProcRef wall, services;
  std::string capture_dir;
  std::vector<GuestRec> guests;
};

json ProcJson(const ProcRef& p) { return {{"pid", p.pid}, {"start", p.start}}; }
ProcRef ProcFrom(const json& j) {
  ProcRef p;
  if (j.is_object()) {
    p.pid = j.value("pid", 0);
    p.start = j.value("start", int64_t(0));
  }
  return p;
}

// A UML guest's cgroup limits in the state (reset starts it with them again).
json UmlLimitsJson(const GuestLimits& l) {
  return {{"pids_max", l.pids_max},     {"memory_max", l.memory_max}, {"swap_max", l.swap_max},
          {"cpu_max_percent", l.cpu_max_percent}, {"io_weight", l.io_weight}};
}

GuestLimits UmlLimitsFrom(const json& j) {
  GuestLimits l;
  if (!j.is_object()) return l;
  l.pids_max = j.value("pids_max", l.pids_max);
  l.memory_max = j.value("memory_max", l.memory_max);
  l.swap_max = j.value("swap_max", l.swap_max);
  l.cpu_max_percent = j.value("cpu_max_percent", l.cpu_max_percent);
  l.io_weight = j.value("io_weight", l.io_weight);
  return l;
}

json SpecJson(const GuestSpec& g) {
  json dns = json::array();
  for (const Ip4& d : g.dns) dns.push_back(d.ToString());
  return {{"name", g.name},         {"image", g.image},       {"dir", g.dir},
          {"netns", g.netns},       {"tap", g.tap},           {"mac", g.mac.ToString()},
          {"ip", PrefixText(g.ip)}, {"gateway", g.gateway.ToString()}, {"hostname", g.hostname},
          {"dns", dns},             {"mem_mb", g.mem_mb},     {"kernel", g.kernel},
          {"tty_log", g.tty_log},   {"uid", g.uid},           {"cgroup", g.cgroup},
          {"limits", UmlLimitsJson(g.limits)}};
}

GuestSpec SpecFrom(const json& j) {
  GuestSpec g;
  g.name = j.value("name", "");
  g.image = j.value("image", "");
  g.dir = j.value("dir", "");
  g.netns = j.value("netns", "");
  g.tap = j.value("tap", "");
  if (auto m = Mac::Parse(j.value("mac", ""))) g.mac = *m;
  if (auto p = Ip4Prefix::Parse(j.value("ip", ""))) g.ip = *p;
  if (auto gw = Ip4::Parse(j.value("gateway", ""))) g.gateway = *gw;
  g.hostname = j.value("hostname", "");
  if (j.contains("dns") && j["dns"].is_array()) {
    for (const auto& d : j["dns"]) {
      if (auto ip = Ip4::Parse(d.get<std::string>())) g.dns.push_back(*ip);
    }
  }
  g.mem_mb = j.value("mem_mb", 64u);
  g.kernel = j.value("kernel", "/usr/bin/linux");
  g.tty_log = j.value("tty_log", "");
  g.uid = j.value("uid", 0u);
  g.cgroup = j.value("cgroup", "");
  g.limits = UmlLimitsFrom(j.value("limits", json::object()));
  return g;
}

json NsSpecJson(const NsGuestSpec& g) {
  return {{"rootfs", g.rootfs},
          {"netns", g.netns},
          {"bridge_netns", g.bridge_netns},
          {"bridge", g.bridge},
          {"veth", g.veth},
          {"unsafe", g.unsafe},
          {"limits",
           {{"pids_max", g.limits.pids_max},
            {"memory_max", g.limits.memory_max},
            {"swap_max", g.limits.swap_max},
            {"cpu_max", g.limits.cpu_max_percent},
            {"io_weight", g.limits.io_weight},
            {"disk_max", g.limits.disk_max}}}};
}

// The rest of a namespace honeypot's spec is the shared one (spec).
NsGuestSpec NsSpecFrom(const json& j, const GuestSpec& spec) {
  NsGuestSpec g;
  g.name = spec.name;
  g.image = spec.image;
  g.dir = spec.dir;
  g.mac = spec.mac;
  g.ip = spec.ip;
  g.gateway = spec.gateway;
  g.hostname = spec.hostname;
  g.dns = spec.dns;
  if (j.is_object()) {
    g.rootfs = j.value("rootfs", "");
    g.netns = j.value("netns", "");
    g.bridge_netns = j.value("bridge_netns", "");
    g.bridge = j.value("bridge", "");
    g.veth = j.value("veth", "");
    g.unsafe = j.value("unsafe", false);
    const json l = j.value("limits", json::object());
    g.limits.pids_max = l.value("pids_max", g.limits.pids_max);
    g.limits.memory_max = l.value("memory_max", g.limits.memory_max);
    g.limits.swap_max = l.value("swap_max", g.limits.swap_max);
    g.limits.cpu_max_percent = l.value("cpu_max", g.limits.cpu_max_percent);
    g.limits.io_weight = l.value("io_weight", g.limits.io_weight);
    g.limits.disk_max = l.value("disk_max", g.limits.disk_max);
  }
  return g;
}

json StateJson(const LabState& s) {
  json j;
  j["version"] = kStateVersion;
  j["data_dir"] = s.data_dir;
  j["config"] = s.config_source;
  j["mode"] = s.mode;
  j["started_unix"] = s.started_unix;
  j["ready"] = s.ready;
  j["ready_seconds"] = s.ready_seconds;
  j["up"] = ProcJson(s.up);
  j["namespaces"] = s.namespaces;
  json links = json::array();
  for (const auto& [ns, name] : s.links) links.push_back({{"netns", ns}, {"name", name}});
  j["links"] = links;
  j["wall"] = ProcJson(s.wall);
  j["services"] = ProcJson(s.services);
  j["capture_dir"] = s.capture_dir;
  json guests = json::array();
  for (const GuestRec& g : s.guests) {
    json gj = {{"kind", g.kind},
               {"spec", SpecJson(g.spec)},
               {"pid", g.st.pid},
               {"started_unix", g.st.started_unix},
               {"image_kind", g.image_kind},
               {"target", g.target.ToString()}};
    if (g.kind == kKindNetns) {
      gj["ns"] = NsSpecJson(g.ns);
      gj["pid"] = g.nst.pid;  // the host pid of its pid 1
      gj["started_unix"] = g.nst.started_unix;
      gj["start_ticks"] = g.nst.start_ticks;
      gj["pidns"] = g.nst.pidns;
      gj["tty_capture"] = ProcJson(g.tty);
    }
    if (g.public_ip) gj["public_ip"] = g.public_ip->ToString();
    guests.push_back(gj);
  }
  j["guests"] = guests;
  return j;
}

Result<LabState> StateFrom(const json& j, const std::string& path) {
  if (!j.is_object() || j.value("version", 0) != kStateVersion) {
    return Status::Error(path + ": not a lab state file of this honeynet version; remove what it names by hand "
                         "or `honeynet down --force`");
  }
  LabState s;
  s.data_dir = j.value("data_dir", "");
  s.config_source = j.value("config", "");
  s.mode = j.value("mode", "");
  s.started_unix = j.value("started_unix", int64_t(0));
  s.ready = j.value("ready", false);
  s.ready_seconds = j.value("ready_seconds", 0.0);
  s.up = ProcFrom(j.value("up", json::object()));
  s.namespaces = j.value("namespaces", std::vector<std::string>{});
  for (const auto& l : j.value("links", json::array())) s.links.emplace_back(l.value("netns", ""), l.value("name", ""));
  s.wall = ProcFrom(j.value("wall", json::object()));
  s.services = ProcFrom(j.value("services", json::object()));
  s.capture_dir = j.value("capture_dir", "");
  for (const auto& gj : j.value("guests", json::array())) {
    GuestRec g;
    g.kind = gj.value("kind", std::string(kKindUml));
    g.spec = SpecFrom(gj.value("spec", json::object()));
    if (g.kind == kKindNetns) {
      g.ns = NsSpecFrom(gj.value("ns", json::object()), g.spec);
      g.nst.pid = gj.value("pid", 0);
      g.nst.started_unix = gj.value("started_unix", int64_t(0));
      g.nst.start_ticks = gj.value("start_ticks", int64_t(0));
      g.nst.pidns = gj.value("pidns", uint64_t(0));
      g.tty = ProcFrom(gj.value("tty_capture", json::object()));
    } else {
      g.st.pid = gj.value("pid", 0);
      g.st.started_unix = gj.value("started_unix", int64_t(0));
    }
    g.image_kind = gj.value("image_kind", "");
    if (gj.contains("public_ip")) g.public_ip = Ip4::Parse(gj.value("public_ip", ""));
    if (auto t = Ip4::Parse(gj.value("target", ""))) g.target = *t;
    s.guests.push_back(g);
  }
  return s;
}

Status SaveState(const LabState& s) {
  return WriteFileAtomic(StatePath(s.data_dir), StateJson(s).dump(2) + "\n", 0640);
}

// The state of the lab in data dir dd; nullopt when there is none.
Result<std::optional<LabState>> LoadState(const std::string& dd) {
  const std::string path = StatePath(dd);
  auto text = ReadFile(path);
  if (!text) return std::optional<LabState>();
  try {
    auto s = StateFrom(json::parse(*text), path);
    if (!s.ok()) return s.status();
    s->data_dir = dd;
    return std::optional<LabState>(std::move(s.value()));
  } catch (const json::exception& e) {
    return Status::Error(path + ": corrupt (" + std::string(e.what()) +
                         "); `honeynet down --force` removes the lab's namespaces without it");
  }
}

// ---------------------------------------------------------------------------
// The two kinds of guest, behind one set of questions.

bool IsNetns(const GuestRec& g) { return g.kind == kKindNetns; }

bool GuestRecRunning(const GuestRec& g) { return IsNetns(g) ? NsGuestRunning(g.nst) : GuestRunning(g.spec, g.st); }

// Any process of the guest left (also after a crash that lost the main one).
bool GuestRecAnyProcess(const GuestRec& g) {
  return IsNetns(g) ? !NsGuestProcesses(g.nst).empty() : !GuestProcesses(g.spec).empty();
}

int GuestRecPid(const GuestRec& g) { return IsNetns(g) ? g.nst.pid : g.st.pid; }

int64_t GuestRecStarted(const GuestRec& g) { return IsNetns(g) ? g.nst.started_unix : g.st.started_unix; }

std::string GuestRecLog(const GuestRec& g) { return IsNetns(g) ? NsGuestConsoleLog(g.ns) : GuestConsoleLog(g.spec); }

// Stops a guest (a namespace honeypot's TTY capture too).
Status StopGuestRec(const GuestRec& g) {
  if (!IsNetns(g)) return StopGuest(g.spec, g.st, kGuestStopMs);
  Status s = StopNsGuest(g.ns, g.nst);
  StopProc(g.tty, kTtyCaptureStopMs);  // it ends by itself once the pid namespace is gone
  return s;
}

// ---------------------------------------------------------------------------
// Lock: up, down and reset of one data dir never run at the same time.

class LabLock {
 public:
  static Result<LabLock> Take(const std::string& dd, const Say& say) {
    if (Status s = MakeDirs(LabDir(dd), 0750); !s.ok()) return s;
    const std::string path = LabDir(dd) + "/lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return Status::Error("cannot open " + path + ": " + Errno());
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (say) say("waiting for another honeynet up/down/reset on " + dd + " to finish ...");
      while (::flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
          std::string e = Errno();
          ::close(fd);
          return Status::Error("cannot lock " + path + ": " + e);
        }
      }
    }
    return LabLock(fd);
  }
  LabLock(LabLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LabLock(const LabLock&) = delete;
  LabLock& operator=(const LabLock&) = delete;
  ~LabLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit LabLock(int fd) : fd_(fd) {}
  int fd_;
};

// ---------------------------------------------------------------------------
// Telnet readiness

// True when target:23 accepts a connection from hn-inet and sends something
// (telnetd opens with its option requests).
bool TelnetAnswers(Ip4 target) {
  auto fd = ConnectInNetns(kInetNs, "", target.ToString(), kTelnetPort, 700);
  if (!fd.ok()) return false;
  pollfd p{fd.value(), POLLIN, 0};
  bool ok = ::poll(&p, 1, 1500) == 1 && (p.revents & POLLIN);
  if (ok) {
    char buf[256];
    ok = ::recv(fd.value(), buf, sizeof buf, MSG_DONTWAIT) > 0;
  }
  ::close(fd.value());
  return ok;
}

// Waits until every guest in idx answers telnet; fails when one stops, on a
// signal, or at the deadline.
Status WaitGuestsAnswer(const LabState& st, const std::vector<size_t>& idx, int timeout_ms, const Say& say,
                        int64_t t0_ms) {
  std::set<size_t> waiting(idx.begin(), idx.end());
  int64_t end = MonoMs() + timeout_ms;
  // A UML guest is probed every 200 ms. A namespace honeypot only once its
  // telnetd listens (a cheap look, every 20 ms): a probe into a network that
  // is not up yet would wait out its connect timeout.
  int64_t next_uml_probe = 0;
  while (!waiting.empty()) {
    const bool uml_turn = MonoMs() >= next_uml_probe;
    if (uml_turn) next_uml_probe = MonoMs() + 200;
    for (auto it = waiting.begin(); it != waiting.end();) {
      const GuestRec& g = st.guests[*it];
      const bool probe = IsNetns(g) ? NsGuestListening(g.nst, kTelnetPort) : uml_turn;
      if (probe && TelnetAnswers(g.target)) {
        say(fmt::format("  {} answers telnet at {}:23 ({} after start)", g.spec.name, g.target.ToString(),
                        Seconds(double(MonoMs() - t0_ms) / 1000)));
        it = waiting.erase(it);
        continue;
      }
      if (!GuestRecRunning(g)) {
        return Status::Error("guest " + g.spec.name + " stopped while booting; its console (" + GuestRecLog(g) +
                             "):" + ConsoleTail(GuestRecLog(g)));
      }
      ++it;
    }
    if (waiting.empty()) break;
    if (g_signal.load()) return Status::Error("interrupted");
    if (MonoMs() >= end) {
      std::vector<std::string> names;
      for (size_t i : waiting) names.push_back(st.guests[i].spec.name);
      const GuestRec& g = st.guests[*waiting.begin()];
      return Status::Error("guest" + std::string(names.size() > 1 ? "s " : " ") + Join(names, ", ") +
                           " did not answer telnet within " + std::to_string(timeout_ms / 1000) + " s; console of " +
                           g.spec.name + " (" + GuestRecLog(g) + "):" + ConsoleTail(GuestRecLog(g)));
    }
    SleepMs(20);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Down

bool AnythingAlive(const LabState& s) {
  if (Alive(s.wall) || Alive(s.services)) return true;
  for (const GuestRec& g : s.guests) {
    if (GuestRecAnyProcess(g) || Alive(g.tty)) return true;
  }
  return false;
}

// Takes down everything the state names (and, with extra_ns, those namespaces
// too). Keeps going past errors and reports them all at the end.
Status DownLocked(const std::string& dd, const std::optional<LabState>& state,
                  const std::vector<std::string>& extra_ns, const Say& say) {
  std::vector<std::string> errors, done;
  if (state) {
    const LabState& s = *state;
    // Guests: clean halt in parallel, then kill (StopGuest finds every process of a guest).
    std::vector<std::thread> stoppers;
    std::vector<Status> results(s.guests.size());
    size_t n_running = 0;
    for (size_t i = 0; i < s.guests.size(); i++) {
      if (!GuestRecAnyProcess(s.guests[i])) {
        if (!IsNetns(s.guests[i])) (void)RemoveGuestCgroup(s.guests[i].spec);  // after a crash
        if (std::string how = StopProc(s.guests[i].tty, kTtyCaptureStopMs); !how.empty()) {
          done.push_back("tty capture of " + s.guests[i].spec.name + " " + how);
        }
        continue;
      }
      n_running++;
      stoppers.emplace_back([&, i] { results[i] = StopGuestRec(s.guests[i]); });
    }
    for (auto& t : stoppers) t.join();
    for (const Status& r : results) {
      if (!r.ok()) errors.push_back(r.message());
    }
    if (n_running) done.push_back(fmt::format("halted {} guest{}", n_running, n_running == 1 ? "" : "s"));
    if (std::string how = StopProc(s.wall, kWallStopMs); !how.empty()) done.push_back("honeywall " + how);
    if (std::string how = StopProc(s.services, 2000); !how.empty()) done.push_back("services " + how);
  }
  // Whatever still runs in the lab's namespaces (only the lab's own processes
  // ever run there: a guest's helpers after a crash, a child left behind).
  std::vector<std::string> spaces = extra_ns;
  if (state) spaces.insert(spaces.end(), state->namespaces.begin(), state->namespaces.end());
  std::sort(spaces.begin(), spaces.end());
  spaces.erase(std::unique(spaces.begin(), spaces.end()), spaces.end());
  for (const std::string& ns : spaces) {
    if (!NetnsExists(ns)) continue;
    std::vector<int> pids = PidsInNetns(ns);
    if (!pids.empty()) {
      for (int pid : pids) ::kill(pid, SIGKILL);
      done.push_back(fmt::format("killed {} leftover process{} in {}", pids.size(), pids.size() == 1 ? "" : "es", ns));
      int64_t end = MonoMs() + 5000;
      while (!PidsInNetns(ns).empty() && MonoMs() < end) {
        ReapChildren();
        SleepMs(20);
      }
    }
    RunResult r = RunCommand({"ip", "netns", "del", ns});
    if (NetnsExists(ns)) {
      errors.push_back("cannot delete namespace " + ns + ": " + r.out);
    } else {
      done.push_back("removed namespace " + ns);
    }
  }
  ReapChildren();
  if (!errors.empty()) {
    return Status::Error("lab down: " + Join(errors, "; ") + " (the state stays in " + StatePath(dd) +
                         "; run `honeynet down` again)");
  }
  if (state && ::unlink(StatePath(dd).c_str()) != 0 && errno != ENOENT) {
    return Status::Error("cannot remove " + StatePath(dd) + ": " + Errno());
  }
  if (say) say("lab down: " + (done.empty() ? std::string("nothing was running") : Join(done, ", ")));
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Up

// Signal handlers for the time `up` runs; restored when it returns.
class SignalScope {
 public:
  SignalScope() {
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++) ::sigaction(kSigs[i], &sa, &old_[i]);
  }
  ~SignalScope() {
    for (int i = 0; i < 3; i++) ::sigaction(kSigs[i], &old_[i], nullptr);
  }

 private:
  static constexpr int kSigs[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3] {};
};

// The upstream gateway in hn-inet: outside.gateway (nat), else 192.0.2.1.
Ip4 UpstreamGateway(const Config& c) { return c.outside_gateway.value_or(*Ip4::Parse("192.0.2.1")); }

Status CheckInterrupt() {
  if (int sig = g_signal.load()) return Status::Error(std::string("interrupted by ") + strsignal(sig));
  return Status::Ok();
}

// Starts `honeynet tty capture` for namespace honeypot g, whose pid 1 (ns)
// is held before its init: recorded in the state before it runs, in hn-wall
// (so `down` also finds it by namespace), appending to CAPTURE/tty/NAME.ttylog
// like a UML guest's kernel. Waits for its ready file (it has attached to the
// pid namespace) so init's first process is already seen. When it fails or
// this binary has no such command, says loudly that TTY capture is off for g
// and goes on: only a failure to save the state is an error.
Status StartTtyCapture(LabState& st, GuestRec& g, const NsGuestState& ns, const std::string& self_exe,
                       const Say& say) {
  StopProc(g.tty, kTtyCaptureStopMs);  // the previous run's (reset), if it is still there
  const std::string ready = g.spec.dir + "/tty-capture.ready";
  const std::string log = g.spec.dir + "/tty-capture.log";
  const std::string out = TtyLogPath(st.data_dir, g.spec.name);
  ::unlink(ready.c_str());
  auto off = [&](const std::string& why) {
    say("  WARNING: TTY capture is OFF for honeypot " + g.spec.name + ": `honeynet tty capture` " + why +
        ". What is typed in " + g.spec.name + " is not recorded (its network traffic still is).");
    return Status::Ok();
  };
  if (Status s = MakeDirs(CaptureDir(st.data_dir) + "/tty", 0750); !s.ok()) return off(s.message());
  auto ref = SpawnInNetns(kWallNs,
                          {self_exe, "tty", "capture", "--pid", std::to_string(ns.pid), "--out", out, "--name",
                           g.spec.name, "--ready-file", ready},
                          log, [&](const ProcRef& r) {
                            g.tty = r;
                            return SaveState(st);
                          });
  if (!ref.ok()) {
    if (!Alive(g.tty)) g.tty = ProcRef{};
    if (Status s = SaveState(st); !s.ok()) return s;
    return off("could not start: " + ref.status().message());
  }
  const int64_t end = MonoMs() + kTtyCaptureReadyMs;
  for (;;) {
    if (FileExists(ready)) return Status::Ok();
    ReapChildren();
    if (!Alive(g.tty)) return off("exited while starting; its output (" + log + "):" + Tail(log, 6));
    if (MonoMs() >= end || g_signal.load()) {
      StopProc(g.tty, kTtyCaptureStopMs);
      return off("was not ready within " + std::to_string(kTtyCaptureReadyMs / 1000) + " s (stopped it); its output (" +
                 log + "):" + Tail(log, 6));
    }
    SleepMs(10);
  }
}

// Starts guest g of the lab (either kind); a namespace honeypot's network
// namespace is in the state before it is made, its pid 1 before init runs.
Status StartGuestRec(LabState& st, GuestRec& g, const std::string& self_exe, const Say& say) {
  if (!IsNetns(g)) {
    auto gs = StartGuest(g.spec);
    if (!gs.ok()) return gs.status();
    g.st = gs.value();
    return SaveState(st);
  }
  if (std::find(st.namespaces.begin(), st.namespaces.end(), g.ns.netns) == st.namespaces.end()) {
    st.namespaces.push_back(g.ns.netns);
    st.links.emplace_back(g.ns.bridge_netns, g.ns.veth);
    if (Status s = SaveState(st); !s.ok()) return s;
  }
  auto before_init = [&](const NsGuestState& ns) -> Status {
    g.nst = ns;
    if (Status s = SaveState(st); !s.ok()) return s;
    return StartTtyCapture(st, g, ns, self_exe, say);
  };
  auto ns = StartNsGuest(g.ns, before_init);
  if (!ns.ok()) return ns.status();
  g.nst = ns.value();
  return SaveState(st);
}

struct Builder {
  LabState& st;
  const Config& wc;
  const LabOptions& opt;
  const std::map<std::string, std::string>& images;  // kind -> image path
  const Say& say;

  Status Save() { return SaveState(st); }

  Status AddNamespace(const std::string& ns) {
    st.namespaces.push_back(ns);
    if (Status s = Save(); !s.ok()) return s;
    if (Status s = Ip({"netns", "add", ns}); !s.ok()) return s;
    // IPv6 off before any device exists: no MLD, DAD or router solicitations from the lab.
    if (Status s = Sysctl(ns, {"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"});
        !s.ok())
      return s;
    return Ip({"-n", ns, "link", "set", "lo", "up"});
  }

  // Records the interfaces, then runs the ip command that makes them.
  Status AddLinks(const std::vector<std::pair<std::string, std::string>>& links, const std::vector<std::string>& cmd) {
    for (const auto& l : links) st.links.push_back(l);
    if (Status s = Save(); !s.ok()) return s;
    return Ip(cmd);
  }

  // A UML guest's network: its own namespace hn-u-NAME (IPv6 off before any
  // device), a veth pair whose host end hn-vethI joins the bridge in hn-wall
  // and whose other end "uplink" stays in hn-u-NAME, and the tap the guest's
  // UML process opens, owned by its uid. Tap and uplink are joined by two tc
  // mirred redirects (ingress of one to egress of the other): the frames pass
  // as they are, with no bridge, no MAC learning and no IP stack between them
  // (docs/lab.md). Each name is in the state before it is made.
  Status UmlGuestNetwork(size_t i, const GuestSpec& g) {
    const std::string w = kWallNs, ns = g.netns, veth = VethName(i), tap = g.tap, up = kUmlUplink;
    const std::string uid = std::to_string(g.uid);
    if (Status s = AddNamespace(ns); !s.ok()) return s;
    if (Status s = AddLinks({{w, veth}, {ns, up}},
                            {"-n", w, "link", "add", veth, "type", "veth", "peer", "name", up, "netns", ns});
        !s.ok())
      return s;
    if (Status s = AddLinks({{ns, tap}}, {"-n", ns, "tuntap", "add", "dev", tap, "mode", "tap", "user", uid, "group", uid});
        !s.ok())
      return s;
    for (const auto& [from, to] : {std::pair{tap, up}, std::pair{up, tap}}) {
      if (Status s = RunChecked({"tc", "-n", ns, "qdisc", "add", "dev", from, "ingress"}, "iproute2"); !s.ok()) return s;
      if (Status s = RunChecked({"tc", "-n", ns, "filter", "add", "dev", from, "ingress", "protocol", "all", "u32",
                                 "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", to},
                                "iproute2");
          !s.ok())
        return s;
    }
    if (Status s = Ip({"-n", w, "link", "set", veth, "master", kLabBridge}); !s.ok()) return s;
    for (const auto& [n, dev] : {std::pair{w, veth}, std::pair{ns, up}, std::pair{ns, tap}}) {
      if (Status s = Ip({"-n", n, "link", "set", dev, "up"}); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // Each honeypot's bridge port is locked to its guest (issue 15): a frame
  // that enters hn-br from hn-vethI must carry guest I's MAC, its IPv4 source
  // must be guest I's address (or 0.0.0.0, DHCP), its ARP must speak for guest
  // I. Otherwise one guest could use another's MAC and IP: spend its budget,
  // blur who did what, and take over its inbound sessions (the bridge would
  // learn the stolen MAC on the wrong port). nftables' bridge family at
  // prerouting, so a dropped frame is never learned from. The rules go by
  // port name, so they hold for veths made later (netns guests, reset).
  // The ruleset is written to DATA/lab/port-lock.nft for the operator to read.
  Status PortLock() {
    std::string rules = "table bridge honeynet_port_lock {\n  chain prerouting {\n"
                        "    type filter hook prerouting priority -300; policy accept;\n";
    for (size_t i = 0; i < st.guests.size(); i++) {
      const GuestRec& g = st.guests[i];
      const std::string port = "iifname \"" + VethName(i) + "\" ";
      const std::string mac = g.spec.mac.ToString(), ip = g.spec.ip.addr.ToString();
      rules += "    " + port + "ether saddr != " + mac + " counter drop\n";
      rules += "    " + port + "ether type vlan counter drop\n";
      rules += "    " + port + "ether type 8021ad counter drop\n";
      rules += "    " + port + "ether type ip ip saddr != { " + ip + ", 0.0.0.0 } counter drop\n";
      rules += "    " + port + "ether type arp arp saddr ether != " + mac + " counter drop\n";
      rules += "    " + port + "ether type arp arp saddr ip != { " + ip + ", 0.0.0.0 } counter drop\n";
    }
    rules += "  }\n}\n";
    const std::string path = LabDir(st.data_dir) + "/port-lock.nft";
    if (Status s = WriteFileAtomic(path, rules, 0640); !s.ok()) return s;
    return RunChecked({"ip", "netns", "exec", kWallNs, "nft", "-f", path}, "nftables");
  }

  Status Namespaces() {
    if (Status s = AddNamespace(kWallNs); !s.ok()) return s;
    // The kernel never routes between the honeywall's ports.
    if (Status s = Sysctl(kWallNs, {"net.ipv4.ip_forward=0", "net.ipv4.conf.default.forwarding=0"}); !s.ok())
      return s;
    return AddNamespace(kInetNs);
  }

  Status Interfaces() {
    const std::string in = wc.inside.interface, out = wc.outside.interface;
    const std::string w = kWallNs;
    if (Status s = AddLinks({{w, in}, {w, kLabBridgeUplink}},
                            {"-n", w, "link", "add", in, "type", "veth", "peer", "name", kLabBridgeUplink});
        !s.ok())
      return s;
    if (Status s = AddLinks({{w, out}, {kInetNs, kInetIface}},
                            {"-n", w, "link", "add", out, "type", "veth", "peer", "name", kInetIface, "netns", kInetNs});
        !s.ok())
      return s;
    if (Status s = AddLinks({{w, kLabBridge}}, {"-n", w, "link", "add", kLabBridge, "type", "bridge", "stp_state", "0",
                                                "mcast_snooping", "0", "forward_delay", "0"});
        !s.ok())
      return s;
    if (Status s = Ip({"-n", w, "link", "set", kLabBridgeUplink, "master", kLabBridge}); !s.ok()) return s;
    for (size_t i = 0; i < wc.honeypots.size(); i++) {
      if (wc.honeypots[i].kind == kKindNetns) continue;  // its veth is made with it (nsguest.h)
      if (Status s = UmlGuestNetwork(i, st.guests[i].spec); !s.ok()) return s;
    }
    for (const std::string& dev : {in, out, std::string(kLabBridgeUplink), std::string(kLabBridge)}) {
      if (Status s = Ip({"-n", w, "link", "set", dev, "up"}); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // hn-inet0: the attacker first (so it is the source of connections made in
  // hn-inet), the upstream gateway, the outside hosts; routes to honeypots
  // outside those networks.
  Status Internet() {
    const std::string n = kInetNs;
    std::vector<std::string> addrs = {std::string(kAttackerIp) + "/24"};
    const Ip4 gw = UpstreamGateway(wc);
    if (gw.ToString() != kAttackerIp) addrs.push_back(gw.ToString() + "/24");
    for (int h = kOutsideHostFirst; h <= kOutsideHostLast; h++) {
      std::string a = "192.0.2." + std::to_string(h);
      if (a != gw.ToString()) addrs.push_back(a + "/24");
    }
    for (const std::string& a : addrs) {
      if (Status s = Ip({"-n", n, "addr", "add", a, "dev", kInetIface}); !s.ok()) return s;
    }
    if (Status s = Ip({"-n", n, "link", "set", kInetIface, "up"}); !s.ok()) return s;
    const Ip4Prefix lab_net{*Ip4::Parse(kInetNet), 24};
    const Ip4Prefix gw_net{gw, 24};
    for (const GuestRec& g : st.guests) {
      if (lab_net.Contains(g.target) || gw_net.Contains(g.target)) continue;
      if (Status s = Ip({"-n", n, "route", "add", g.target.ToString() + "/32", "dev", kInetIface}); !s.ok()) return s;
    }
    return Status::Ok();
  }

  Status Services() {
    std::vector<std::string> tcp, udp;
    for (uint16_t p : kLabTcpPorts) tcp.push_back(std::to_string(p));
    for (uint16_t p : kLabUdpPorts) udp.push_back(std::to_string(p));
    auto ref = SpawnInNetns(kInetNs, {opt.self_exe, "lab-services", "--tcp", Join(tcp, ","), "--udp", Join(udp, ",")},
                            ServicesLogPath(st.data_dir), [&](const ProcRef& r) {
                              st.services = r;
                              return Save();
                            });
    if (!ref.ok()) return ref.status();
    return WaitForLogLine(ServicesLogPath(st.data_dir), "ready", st.services, kServicesReadyMs,
                          "the lab services (honeynet lab-services)");
  }

  Status Wall() {
    auto ref = SpawnInNetns(kWallNs, {opt.self_exe, "wall", "--config", WallConfigPath(st.data_dir)},
                            WallLogPath(st.data_dir), [&](const ProcRef& r) {
                              st.wall = r;
                              return Save();
                            });
    if (!ref.ok()) return ref.status();
    return WaitForLogLine(WallLogPath(st.data_dir), "ready", st.wall, kWallReadyMs, "the honeywall (honeynet wall)");
  }

  Status Guests() {
    for (GuestRec& g : st.guests) {
      if (Status s = CheckInterrupt(); !s.ok()) return s;
      if (Status s = StartGuestRec(st, g, opt.self_exe, say); !s.ok()) return s;
    }
    return Status::Ok();
  }
};

// The guests' records (specs) for the lab's wall config.
// Every UML guest boots `kernel`; with TTY capture, each logs to
// CAPTURE/tty/NAME.ttylog. A namespace honeypot runs over rootfs[image] and
// joins the bridge by its veth hn-vethI (I: its index, as hn-tapI for UML);
// its TTY capture writes the same file.
std::vector<GuestRec> PlanGuests(const Config& wc, const std::string& dd,
                                 const std::map<std::string, std::string>& images,
                                 const std::map<std::string, std::string>& rootfs, const LabKernel& kernel) {
  std::vector<GuestRec> out;
  const bool nat = wc.mode == Mode::kNat;
  for (size_t i = 0; i < wc.honeypots.size(); i++) {
    const HoneypotConfig& hp = wc.honeypots[i];
    GuestRec g;
    g.image_kind = hp.image;
    g.spec.name = hp.name;
    g.spec.image = images.at(hp.image);
    g.spec.dir = GuestDir(dd, hp.name);
    g.spec.netns = GuestNetnsName(hp.name);
    g.spec.tap = TapName(i);
    // Containment: its own uid (containment.h) and cgroup; memory_max by
    // default also holds the guest's RAM file and UML's own (mem + 256M).
    g.spec.uid = GuestIdsFor(i).base;
    g.spec.cgroup = hp.name;
    g.spec.limits = GuestLimitsFrom(hp);
    g.spec.mac = hp.mac.value_or(LabGuestMac(i));
    if (nat) {
      g.spec.ip = Ip4Prefix{hp.ip, wc.inside_gateway_ip->len};
      g.spec.gateway = wc.inside_gateway_ip->addr;
      g.public_ip = hp.public_ip;
      g.target = *hp.public_ip;
    } else {
      g.spec.ip = Ip4Prefix{hp.ip, 24};
      g.spec.gateway = UpstreamGateway(wc);
      g.target = hp.ip;
    }
    g.spec.hostname = hp.hostname.empty() ? hp.name : hp.hostname;
    g.spec.dns = wc.dns_servers;
    g.spec.mem_mb = hp.mem_mb;
    g.spec.kernel = kernel.path;
    if (kernel.tty_log) g.spec.tty_log = TtyLogPath(dd, hp.name);
    if (hp.kind == kKindNetns) {
      g.kind = kKindNetns;
      g.spec.tap.clear();
      g.spec.netns.clear();
      g.spec.kernel.clear();
      g.spec.tty_log = TtyLogPath(dd, hp.name);
      NsGuestSpec& n = g.ns;
      n.name = g.spec.name;
      n.image = g.spec.image;
      n.dir = g.spec.dir;
      n.netns = NsGuestNetnsName(hp.name);
      n.bridge_netns = kWallNs;
      n.bridge = kLabBridge;
      n.veth = VethName(i);
      n.mac = g.spec.mac;
      n.ip = g.spec.ip;
      n.gateway = g.spec.gateway;
      n.hostname = g.spec.hostname;
      n.dns = g.spec.dns;
      n.unsafe = hp.unsafe;
      n.limits = GuestLimitsFrom(hp);
      const std::string key = hp.image + (hp.unsafe ? "/unsafe" : "");
      n.rootfs = rootfs.count(key) ? rootfs.at(key) : std::string();
    }
    out.push_back(g);
  }
  return out;
}

// The honeynet command as a user would type it: "honeynet" when that is on
// PATH and the same binary, else the path it was started by.
std::string CommandName(const std::string& self_exe) {
  std::string on_path = FindProgram("honeynet");
  char a[4096], b[4096];
  if (!on_path.empty() && ::realpath(on_path.c_str(), a) && ::realpath(self_exe.c_str(), b) && std::string(a) == b)
    return "honeynet";
  return self_exe;
}

// How to use the lab, printed once it is ready.
std::string HowTo(const LabState& st, const LabOptions& opt) {
  const std::string hn = CommandName(opt.self_exe);
  const std::string dd = st.data_dir == kLabDefaultDataDir ? "" : " --data-dir " + st.data_dir;
  const GuestRec& g = st.guests.front();
  const std::string telnet = HaveProgram("telnet") ? "telnet" : "busybox telnet";
  std::vector<std::pair<std::string, std::string>> lines = {
      {fmt::format("ip netns exec {} {} {}", kInetNs, telnet, g.target.ToString()),
       fmt::format("the attacker ({}) logs into {}: root / root", kAttackerIp, g.spec.name)},
      {hn + " status" + dd, "honeypots, budgets, counters, capture files"},
      IsNetns(g) ? std::pair<std::string, std::string>{hn + " console " + g.spec.name + dd,
                                                       "a namespace honeypot has no console: says how to get a shell"}
                 : std::pair<std::string, std::string>{hn + " console " + g.spec.name + dd,
                                                       "the guest's console (Ctrl-] leaves it)"},
      {hn + " selftest" + dd, "the paper's Part V, automated (spends budget)"},
      {hn + " reset " + g.spec.name + dd, "a pristine guest again"},
  };
  size_t w = 0;
  for (const auto& l : lines) w = std::max(w, l.first.size());
  std::string o = "\nTry it (as root):\n";
  for (const auto& l : lines) o += fmt::format("  {:<{}}  # {}\n", l.first, w, l.second);
  o += "Capture: " + st.capture_dir + " (pcap files, events.json, honeywall.log)\n";
  o += opt.detach ? "Stop it with: " + hn + " down" + dd + "\n"
                  : "Ctrl-C here (or " + hn + " down" + dd + ") stops it and removes everything it made.\n";
  return o;
}

// The live status line of a foreground `up`.
std::string StatusLine(const json& s, int64_t since_ms) {
  int up = 0, total = 0;
  for (const auto& h : s.value("honeypots", json::array())) {
    total++;
    if (h.value("running", false)) up++;
  }
  const json w = s.value("wall", json::object());
  const json frames = w.value("frames", json::object());
  uint64_t fr = frames.value("inside_rx", uint64_t(0)) + frames.value("outside_rx", uint64_t(0));
  return fmt::format("[{}] guests {}/{} up | wall {} | frames {} | drops {} | capture drops {} | Ctrl-C stops",
                     Duration((MonoMs() - since_ms) / 1000), up, total, w.value("running", false) ? "up" : "DOWN",
                     fr, w.value("drops", uint64_t(0)), w.value("capture_drops", uint64_t(0)));
}

// Foreground: the live status line until a signal, the wall's end or a `down`
// from elsewhere; then down.
Status RunForeground(const LabOptions& opt, const Say& say, int64_t t0_ms) {
  const bool tty = ::isatty(1);
  std::string reason;
  while (!g_signal.load()) {
    ReapChildren();
    auto st = LabStatus(opt.data_dir);
    if (!st.ok() || !st->value("up", false)) {
      if (tty) std::printf("\n");
      say("the lab was taken down by another command");
      return Status::Ok();
    }
    if (!(*st)["wall"].value("running", false)) {
      reason = "the honeywall stopped (see " + WallLogPath(opt.data_dir) + "):" + Tail(WallLogPath(opt.data_dir), 10);
      break;
    }
    if (tty) {
      std::printf("\r%s\033[K", StatusLine(*st, t0_ms).c_str());
      std::fflush(stdout);
    }
    for (int i = 0; i < 10 && !g_signal.load(); i++) SleepMs(100);
  }
  if (tty) std::printf("\n");
  if (reason.empty()) say(std::string("stopping (") + strsignal(g_signal.load()) + ") ...");
  auto lock = LabLock::Take(opt.data_dir, say);
  if (!lock.ok()) return lock.status();
  auto state = LoadState(opt.data_dir);
  if (!state.ok()) return state.status();
  Status d = DownLocked(opt.data_dir, state.value(), {}, say);
  if (!reason.empty()) return Status::Error(reason);
  return d;
}

// Reads "/proc/self/exe" when the caller gave no binary.
std::string SelfExe(const std::string& given) {
  if (!given.empty()) return given;
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string("honeynet");
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API

Mac LabGuestMac(size_t index) {
  Mac m;
  m.b = {0x52, 0x54, 0x00, 0x4e, uint8_t((index + 2) >> 8), uint8_t(index + 2)};
  return m;
}

Config BuiltinLabConfig(const std::string& data_dir) {
  Config c;
  c.source = "<built-in lab>";
  c.mode = Mode::kNat;
  c.inside_gateway_ip = Ip4Prefix{*Ip4::Parse("10.0.0.1"), 24};
  c.outside_gateway = *Ip4::Parse("192.0.2.1");
  HoneypotConfig hp;
  hp.name = "hp1";
  hp.ip = *Ip4::Parse("10.0.0.2");
  hp.public_ip = *Ip4::Parse("192.0.2.10");
  hp.limits = c.limits;
  hp.image = "busybox";
  hp.mem_mb = 64;
  hp.hostname = "hp1";
  c.honeypots.push_back(hp);
  c.capture.dir = CaptureDir(data_dir);
  c.capture.stats_interval_ns = kLabStatsIntervalNs;
  return c;
}

Result<Config> LabWallConfig(const Config& cfg, const std::string& data_dir) {
  Config c = cfg;
  std::vector<std::string> errs;
  if (c.honeypots.empty()) errs.push_back("the lab needs at least one [[honeypot]]");
  if (c.honeypots.size() > size_t(kMaxGuests)) {
    errs.push_back(fmt::format("the lab runs at most {} honeypots, the config has {}", kMaxGuests, c.honeypots.size()));
  }
  // Interface names the lab uses itself in hn-wall.
  for (const PortConfig* p : {&c.inside, &c.outside}) {
    const std::string& n = p->interface;
    if (n == kLabBridge || n == kLabBridgeUplink || n.rfind("hn-tap", 0) == 0 || n.rfind("hn-veth", 0) == 0) {
      errs.push_back("interface name " + n +
                     " is one the lab uses itself (hn-br, hn-in-br, hn-tapN, hn-vethN): pick another");
    }
  }
  const std::vector<std::string> kinds = ImageKinds();
  const Ip4 gw = UpstreamGateway(c);
  for (size_t i = 0; i < c.honeypots.size(); i++) {
    HoneypotConfig& hp = c.honeypots[i];
    if (std::find(kinds.begin(), kinds.end(), hp.image) == kinds.end()) {
      errs.push_back("honeypot " + hp.name + ": image \"" + hp.image + "\" is not one the lab can build (" +
                     Join(kinds, ", ") + ")");
    }
    if (hp.kind == kKindNetns && hp.image != "busybox") {
      errs.push_back("honeypot " + hp.name + ": kind = \"netns\" runs the busybox image only, got image \"" +
                     hp.image + "\" (use kind = \"uml\" for it)");
    }
    if (!hp.mac) hp.mac = LabGuestMac(i);  // the honeywall knows each guest by its fixed MAC
    if (hp.hostname.empty()) hp.hostname = hp.name;
    Ip4 target = c.mode == Mode::kNat ? hp.public_ip.value_or(Ip4{}) : hp.ip;
    if (target.ToString() == kAttackerIp ||
        (Ip4Prefix{*Ip4::Parse(kInetNet), 24}.Contains(target) &&
         ((target.v & 0xff) >= uint32_t(kOutsideHostFirst) && (target.v & 0xff) <= uint32_t(kOutsideHostLast)))) {
      errs.push_back("honeypot " + hp.name + ": address " + target.ToString() +
                     " is taken by the lab's internet (attacker 192.0.2.66, outside hosts 192.0.2.20-31)");
    }
    if (c.mode == Mode::kBridge && !Ip4Prefix{gw, 24}.Contains(hp.ip)) {
      errs.push_back("honeypot " + hp.name + ": in bridge mode the lab puts honeypots in the upstream gateway's "
                     "network " + gw.ToString() + "/24; ip " + hp.ip.ToString() + " is not in it");
    }
  }
  if (!errs.empty()) return Status::Error(c.source + ": " + Join(errs, "\n" + c.source + ": "));
  c.capture.dir = CaptureDir(data_dir);
  c.capture.stats_interval_ns = kLabStatsIntervalNs;
  return c;
}

Result<int> ConnectInNetns(const std::string& netns, const std::string& src_ip, const std::string& dst_ip,
                           uint16_t port, int timeout_ms) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  if (::inet_pton(AF_INET, dst_ip.c_str(), &dst.sin_addr) != 1) return Status::Error("not an IPv4 address: " + dst_ip);
  int fd = -1;
  Status made = InNetns(netns, [&]() -> Status {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return Status::Error("socket: " + Errno());
    if (!src_ip.empty()) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      if (::inet_pton(AF_INET, src_ip.c_str(), &src.sin_addr) != 1 ||
          ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        return Status::Error("cannot bind to " + src_ip + " in " + netns + ": " + Errno());
      }
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
      return Status::Error("connect to " + dst_ip + ":" + std::to_string(port) + ": " + Errno());
    }
    return Status::Ok();
  });
  if (!made.ok()) {
    if (fd >= 0) ::close(fd);
    return made;
  }
  pollfd p{fd, POLLOUT, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  int err = 0;
  socklen_t len = sizeof err;
  if (n == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (n != 1 || err != 0) {
    ::close(fd);
    return Status::Error("connect to " + dst_ip + ":" + std::to_string(port) + " from " + netns + ": " +
                         (n == 1 ? std::strerror(err) : "timed out"));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

Status LabUp(const LabOptions& opt_in, const Say& say) {
  // `honeynet up | tee up.log` and Ctrl-C: tee dies first, and the next status
  // line would kill us with SIGPIPE before the teardown. Ignored, a broken
  // stdout only makes writes fail (children reset it to the default).
  std::signal(SIGPIPE, SIG_IGN);
  LabOptions opt = opt_in;
  opt.self_exe = SelfExe(opt.self_exe);
  const std::string& dd = opt.data_dir;
  if (::geteuid() != 0) {
    return Status::Error("honeynet up needs root: it makes network namespaces, veths, taps and a bridge");
  }
  for (const char* prog : {"ip", "sysctl"}) {
    if (!HaveProgram(prog)) {
      return Status::Error(std::string("`") + prog + "` not found: apt-get install " +
                           (std::string(prog) == "ip" ? "iproute2" : "procps"));
    }
  }
  Config cfg;
  if (opt.config_path.empty()) {
    cfg = BuiltinLabConfig(dd);
  } else {
    auto c = LoadConfig(opt.config_path);
    if (!c.ok()) return c.status();
    cfg = c.value();
  }
  auto wc = LabWallConfig(cfg, dd);
  if (!wc.ok()) return wc.status();

  SignalScope signals;
  auto lock = LabLock::Take(dd, say);
  if (!lock.ok()) return lock.status();

  // A lab already here? Up, or left behind by a crash?
  auto old = LoadState(dd);
  if (!old.ok()) return old.status();
  if (old.value()) {
    if (AnythingAlive(*old.value())) {
      return Status::Error("a lab is already up in " + dd + " (state " + StatePath(dd) +
                           "): see `honeynet status`, or stop it with `honeynet down` first");
    }
    say("a previous lab in " + dd + " did not stop cleanly: removing what is left of it");
    if (Status s = DownLocked(dd, old.value(), {}, say); !s.ok()) return s;
  }
  for (const char* ns : {kWallNs, kInetNs}) {
    if (NetnsExists(ns)) {
      return Status::Error(std::string("network namespace ") + ns + " exists, but " + dd +
                           " has no lab state: it belongs to a lab of another --data-dir (stop that one with "
                           "`honeynet down --data-dir DIR`) or was left behind (`honeynet down --force` removes it)");
    }
  }

  // Images first: building one may take minutes, and nothing is made yet.
  std::map<std::string, std::string> images;
  for (const HoneypotConfig& hp : wc->honeypots) {
    if (images.count(hp.image)) continue;
    auto img = BuildImage(dd, hp.image, false, [&](const std::string& l) { say("  " + l); });
    if (!img.ok()) return img.status();
    images[hp.image] = img->path;
    if (Status s = CheckInterrupt(); !s.ok()) return s;
  }
  // Namespace honeypots run over the image's tree (extracted once per image build).
  std::map<std::string, std::string> rootfs;
  bool any_uml = false;
  for (const HoneypotConfig& hp : wc->honeypots) {
    if (hp.kind != kKindNetns) {
      any_uml = true;
      continue;
    }
    const std::string key = hp.image + (hp.unsafe ? "/unsafe" : "");
    if (rootfs.count(key)) continue;
    auto tree = NsRootfs(dd, hp.image, images.at(hp.image), hp.unsafe ? 0 : kNsGuestIdBase);
    if (!tree.ok()) return tree.status();
    rootfs[key] = tree.value();
  }
  for (const auto& [key, tree] : rootfs) {  // nothing of this data dir runs now
    const std::string image = key.substr(0, key.find('/'));
    std::vector<std::string> keep;
    for (const auto& [k2, t2] : rootfs)
      if (k2.substr(0, k2.find('/')) == image) keep.push_back(t2);
    PruneNsRootfs(dd, image, keep);
  }
  if (Status s = MakeDirs(CaptureDir(dd), 0750); !s.ok()) return s;
  if (Status s = WriteFileAtomic(WallConfigPath(dd), DumpConfig(wc.value()), 0640); !s.ok()) return s;

  const int64_t t0 = MonoMs();
  LabState st;
  st.data_dir = dd;
  st.config_source = opt.config_path.empty() ? "built-in" : opt.config_path;
  st.mode = wc->mode == Mode::kNat ? "nat" : "bridge";
  st.started_unix = ::time(nullptr);
  st.up = RefOf(::getpid());
  st.capture_dir = CaptureDir(dd);
  const LabKernel kernel = ChooseLabKernel(dd);
  if (any_uml) say(std::string(kernel.tty_log ? "  kernel: " : "  warning: ") + kernel.note);
  st.guests = PlanGuests(wc.value(), dd, images, rootfs, kernel);
  for (const GuestRec& g : st.guests) {
    if (IsNetns(g) && g.ns.unsafe) {
      say("  warning: " + g.spec.name + " has unsafe = true: root in it is root on the host kernel (no user "
          "namespace, seccomp filter, cgroup or disk limit); docs/security.md");
    }
  }
  if (Status s = SaveState(st); !s.ok()) return s;

  say(fmt::format("bringing up the lab ({} mode, {} honeypot{}) in {}", st.mode, st.guests.size(),
                  st.guests.size() == 1 ? "" : "s", dd));
  Builder b{st, wc.value(), opt, images, say};
  Status s = b.Namespaces();
  if (s.ok()) s = CheckInterrupt();
  if (s.ok()) s = b.Interfaces();
  if (s.ok()) s = b.PortLock();
  if (s.ok()) s = b.Internet();
  if (s.ok()) s = CheckInterrupt();
  if (s.ok()) s = b.Services();
  if (s.ok()) s = b.Wall();
  if (s.ok()) say(fmt::format("  honeywall ready ({} after start); booting {} guest{}", Seconds((MonoMs() - t0) / 1000.0),
                              st.guests.size(), st.guests.size() == 1 ? "" : "s"));
  if (s.ok()) s = b.Guests();
  if (s.ok()) {
    std::vector<size_t> all(st.guests.size());
    for (size_t i = 0; i < all.size(); i++) all[i] = i;
    s = WaitGuestsAnswer(st, all, opt.ready_timeout_s * 1000, say, t0);
  }
  if (s.ok()) {
    st.ready = true;
    st.ready_seconds = double(MonoMs() - t0) / 1000;
    s = SaveState(st);
  }
  if (!s.ok()) {
    say("up failed; taking down what it made ...");
    Status d = DownLocked(dd, st, {}, say);
    return Status::Error(s.message() + (d.ok() ? "" : "\nand the clean-up failed too: " + d.message()));
  }
  std::vector<std::string> names;
  for (const GuestRec& g : st.guests) {
    names.push_back(g.spec.name + " " + PrefixText(g.spec.ip) + (g.public_ip ? " = " + g.public_ip->ToString() : ""));
  }
  say(fmt::format("lab ready in {}: {}", Seconds(st.ready_seconds), Join(names, ", ")));
  say(HowTo(st, opt));
  // What still contains less than it could, and the tells (audit.h).
  if (auto facts = GatherAuditFacts(dd); facts.ok()) {
    for (const std::string& line : AuditSummaryLines(AuditFindings(facts.value()))) say(line);
  }
  if (opt.detach) return Status::Ok();
  // Later signals stop the foreground lab; the lock is for up/down/reset only.
  { auto release = std::move(lock.value()); }
  return RunForeground(opt, say, t0);
}

Status LabDown(const std::string& data_dir, const Say& say, bool force) {
  if (::geteuid() != 0) return Status::Error("honeynet down needs root (it deletes network namespaces)");
  auto lock = LabLock::Take(data_dir, say);
  if (!lock.ok()) return lock.status();
  auto state = LoadState(data_dir);
  if (!state.ok() && !force) return state.status();
  std::optional<LabState> s = state.ok() ? state.value() : std::nullopt;
  std::vector<std::string> extra;
  const std::vector<std::string> lab_ns = LabNamespacesOnHost();
  if (force) extra = lab_ns;
  if (!s) {
    std::vector<std::string> present;
    for (const std::string& ns : lab_ns) {
      if (NetnsExists(ns)) present.push_back(ns);
    }
    if (!force) {
      if (present.empty()) {
        say("no lab is up in " + data_dir + " (no " + StatePath(data_dir) + "): nothing to do");
      } else {
        say("no lab state in " + data_dir + ", but namespace" + (present.size() > 1 ? "s " : " ") +
            Join(present, " and ") + " exist: a lab of another --data-dir, or left behind; " +
            "`honeynet down --force` removes them");
      }
      return Status::Ok();
    }
    if (present.empty()) {
      say("no lab is up in " + data_dir + " and no hn-wall/hn-inet/hn-g-* namespace exists: nothing to do");
      return Status::Ok();
    }
  }
  return DownLocked(data_dir, s, extra, say);
}

Result<json> LabStatus(const std::string& dd) {
  auto state = LoadState(dd);
  if (!state.ok()) return state.status();
  if (!state.value()) return json{{"up", false}, {"data_dir", dd}};
  const LabState& s = *state.value();
  const int64_t now = ::time(nullptr);
  json j;
  j["up"] = true;
  j["ready"] = s.ready;
  j["data_dir"] = dd;
  j["config"] = s.config_source;
  j["mode"] = s.mode;
  j["started_unix"] = s.started_unix;
  j["uptime_s"] = now - s.started_unix;
  j["ready_seconds"] = s.ready_seconds;
  json ns = json::object();
  for (const std::string& n : s.namespaces) ns[n] = NetnsExists(n);
  j["namespaces"] = ns;

  // The honeywall's latest counters (stats.json, rewritten every second).
  json stats;
  if (auto text = ReadFile(s.capture_dir + "/stats.json")) {
    try {
      stats = json::parse(*text);
    } catch (const json::exception&) {
      stats = json();
    }
  }
  json w;
  w["pid"] = s.wall.pid;
  w["running"] = Alive(s.wall);
  w["log"] = WallLogPath(dd);
  // What the running wall kept after start (docs/security.md), as the kernel shows it.
  if (w["running"].get<bool>()) {
    if (auto text = ReadFile("/proc/" + std::to_string(s.wall.pid) + "/status")) {
      const AuditProc p = ParseProcStatus(*text);
      w["privileges"] = {{"cap_eff", fmt::format("{:016x}", p.cap_eff)},
                         {"seccomp", p.seccomp},
                         {"no_new_privs", p.no_new_privs},
                         {"uid", p.uid}};
    }
  }
  if (stats.is_object()) {
    auto port = [&](const char* name, const char* key) { return stats.value(name, json::object()).value(key, uint64_t(0)); };
    w["frames"] = {{"inside_rx", port("inside", "rx_frames")},
                   {"inside_tx", port("inside", "tx_frames")},
                   {"outside_rx", port("outside", "rx_frames")},
                   {"outside_tx", port("outside", "tx_frames")}};
    w["drops"] = stats.value("drops_total", uint64_t(0));
    w["drops_by_reason"] = stats.value("drops", json::object());
    const json cap = stats.value("capture", json::object());
    w["capture_frames"] = cap.value("frames", uint64_t(0));
    w["capture_drops"] = cap.value("kernel_drops", uint64_t(0)) + cap.value("write_drops", uint64_t(0));
    w["events_dropped"] = stats.value("events", json::object()).value("dropped", uint64_t(0));
    w["flows_active"] = stats.value("flows", json::object()).value("active", uint64_t(0));
    if (stats.contains("time_unix")) w["stats_age_s"] = double(now) - stats["time_unix"].get<double>();
  }
  j["wall"] = w;
  j["services"] = {{"pid", s.services.pid}, {"running", Alive(s.services)}, {"log", ServicesLogPath(dd)}};

  json hps = json::array();
  const json stat_hps = stats.is_object() ? stats.value("honeypots", json::object()) : json::object();
  for (const GuestRec& g : s.guests) {
    json h;
    h["name"] = g.spec.name;
    h["kind"] = g.kind;
    const bool running = GuestRecRunning(g);
    h["running"] = running;
    h["pid"] = GuestRecPid(g);
    h["address"] = PrefixText(g.spec.ip);
    h["public_address"] = g.public_ip ? json(g.public_ip->ToString()) : json(nullptr);
    h["telnet"] = g.target.ToString() + ":23";
    h["mac"] = g.spec.mac.ToString();
    h["image"] = g.image_kind;
    h["mem_mb"] = IsNetns(g) ? json(nullptr) : json(g.spec.mem_mb);  // a namespace honeypot has no RAM of its own
    h["hostname"] = g.spec.hostname;
    h["uptime_s"] = running ? json(now - GuestRecStarted(g)) : json(nullptr);
    h["console_log"] = GuestRecLog(g);
    // TTY capture: a UML guest's kernel writes the log (project kernel); a
    // namespace honeypot's `honeynet tty capture` process does.
    h["tty_capture"] = IsNetns(g) ? Alive(g.tty) : !g.spec.tty_log.empty();
    h["tty_log"] = g.spec.tty_log.empty() ? json(nullptr) : json(g.spec.tty_log);
    if (!IsNetns(g)) {  // a UML guest: the host uid its processes run as, its namespace
      h["uid"] = g.spec.uid;
      h["netns"] = g.spec.netns;
    }
    if (IsNetns(g)) {
      h["netns"] = g.ns.netns;
      h["upper_dir"] = g.ns.unsafe ? NsGuestUpperDir(g.ns) : NsGuestUpperImage(g.ns);
      h["unsafe"] = g.ns.unsafe;
      if (g.nst.pid > 0) {
        std::string map = ReadFileOrEmpty("/proc/" + std::to_string(g.nst.pid) + "/uid_map");
        h["uid_map"] = map;
      }
    }
    {
      json cg = json::object();
      for (const auto& [file, value] : GuestCgroup::Existing(g.spec.name).Read()) cg[file] = value;
      h["cgroup"] = cg;
    }
    json budgets = nullptr;
    if (stat_hps.contains(g.spec.name)) {
      budgets = json::object();
      const json per_class = stat_hps[g.spec.name].value("budget", json::object());
      for (const auto& [cls, b] : per_class.items()) {
        std::string key = cls;
        std::transform(key.begin(), key.end(), key.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
        budgets[key] = b;
      }
    }
    h["budgets"] = budgets;
    hps.push_back(h);
  }
  j["honeypots"] = hps;

  json files = json::array();
  if (DIR* d = ::opendir(s.capture_dir.c_str())) {
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n.size() > 4 && n.substr(n.size() - 4) != ".tmp") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      struct stat st {};
      if (::stat((s.capture_dir + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        files.push_back({{"name", n}, {"bytes", uint64_t(st.st_size)}});
      }
    }
  }
  j["capture"] = {{"dir", s.capture_dir}, {"files", files}};
  return j;
}

std::string FormatLabStatus(const json& s) {
  if (!s.value("up", false)) return "no lab is up in " + s.value("data_dir", std::string("?")) + "\n";
  std::string o;
  o += fmt::format("lab in {} ({} mode, config {}): {}, up {}\n", s.value("data_dir", ""), s.value("mode", ""),
                   s.value("config", ""), s.value("ready", false) ? "ready" : "NOT READY (starting, or `up` failed)",
                   Duration(s.value("uptime_s", int64_t(0))));
  o += "\nhoneypots:\n";
  o += fmt::format("  {:<10} {:<5} {:<8} {:<14} {:<14} {:>8}  {}\n", "name", "kind", "state", "address", "public",
                   "uptime", "budgets used/limit (left): tcp udp icmp other broadcast");
  for (const auto& h : s.value("honeypots", json::array())) {
    std::string budgets = "(no counters yet)";
    if (h["budgets"].is_object()) {
      std::vector<std::string> parts;
      for (const char* cls : {"tcp", "udp", "icmp", "other", "broadcast"}) {
        const json b = h["budgets"].value(cls, json::object());
        parts.push_back(fmt::format("{} {}/{} ({})", cls, b.value("used", 0), b.value("limit", 0), b.value("left", 0)));
      }
      budgets = Join(parts, ", ");
    }
    const bool running = h.value("running", false);
    o += fmt::format("  {:<10} {:<5} {:<8} {:<14} {:<14} {:>8}  {}\n", h.value("name", ""),
                     h.value("kind", std::string(kKindUml)), running ? "running" : "STOPPED",
                     h.value("address", ""), h["public_address"].is_string() ? h["public_address"].get<std::string>() : "-",
                     running ? Duration(h.value("uptime_s", int64_t(0))) : "-", budgets);
  }
  const json w = s.value("wall", json::object());
  o += fmt::format("\nhoneywall: {} (pid {})", w.value("running", false) ? "running" : "NOT RUNNING", w.value("pid", 0));
  if (w.contains("frames")) {
    const json f = w["frames"];
    o += fmt::format("; frames inside rx {} tx {}, outside rx {} tx {}; drops {}; capture drops {}; events dropped {}",
                     f.value("inside_rx", 0), f.value("inside_tx", 0), f.value("outside_rx", 0),
                     f.value("outside_tx", 0), w.value("drops", 0), w.value("capture_drops", 0),
                     w.value("events_dropped", 0));
    if (w.contains("stats_age_s") && w["stats_age_s"].get<double>() > 5) {
      o += fmt::format(" (counters {:.0f} s old)", w["stats_age_s"].get<double>());
    }
  } else {
    o += "; no counters yet";
  }
  o += "\n";
  const json svc = s.value("services", json::object());
  o += fmt::format("internet ({}): attacker {}, outside hosts 192.0.2.{}-{}, services {}\n", kInetNs, kAttackerIp,
                   kOutsideHostFirst, kOutsideHostLast, svc.value("running", false) ? "running" : "NOT RUNNING");
  const json cap = s.value("capture", json::object());
  o += "\ncapture in " + cap.value("dir", std::string()) + ":\n";
  for (const auto& f : cap.value("files", json::array())) {
    o += fmt::format("  {:>12}  {}\n", f.value("bytes", uint64_t(0)), f.value("name", ""));
  }
  return o;
}

Status LabReset(const std::string& dd, const std::string& name, const Say& say) {
  if (::geteuid() != 0) return Status::Error("honeynet reset needs root");
  SignalScope signals;
  auto lock = LabLock::Take(dd, say);
  if (!lock.ok()) return lock.status();
  auto state = LoadState(dd);
  if (!state.ok()) return state.status();
  if (!state.value()) return Status::Error("no lab is up in " + dd + ": start one with `honeynet up`");
  LabState st = *state.value();
  auto it = std::find_if(st.guests.begin(), st.guests.end(), [&](const GuestRec& g) { return g.spec.name == name; });
  if (it == st.guests.end()) {
    std::vector<std::string> names;
    for (const GuestRec& g : st.guests) names.push_back(g.spec.name);
    return Status::Error("no honeypot named " + name + " in the lab (it has " + Join(names, ", ") + ")");
  }
  const int64_t t0 = MonoMs();
  if (IsNetns(*it)) {
    GuestRec& g = *it;
    say("resetting " + name + ": stopping it, dropping its changes (" + NsGuestUpperDir(g.ns) +
        "), starting it pristine");
    const std::string exe = SelfExe("");
    auto before_init = [&](const NsGuestState& ns) -> Status {
      g.nst = ns;
      if (Status s = SaveState(st); !s.ok()) return s;
      return StartTtyCapture(st, g, ns, exe, say);
    };
    auto ns = ResetNsGuest(g.ns, g.nst, before_init);
    if (!ns.ok()) return ns.status();
    g.nst = ns.value();
  } else {
    say("resetting " + name + ": halting it, dropping its disk changes (" + GuestCowPath(it->spec) +
        "), booting it pristine");
    auto gs = ResetGuest(it->spec, it->st);
    if (!gs.ok()) return gs.status();
    it->st = gs.value();
  }
  if (Status s = SaveState(st); !s.ok()) return s;
  size_t idx = size_t(it - st.guests.begin());
  if (Status s = WaitGuestsAnswer(st, {idx}, 120000, say, t0); !s.ok()) return s;
  say(fmt::format("{} is pristine again ({})", name, Seconds(double(MonoMs() - t0) / 1000)));
  return Status::Ok();
}

Status LabConsole(const std::string& dd, const std::string& name, bool raw) {
  auto state = LoadState(dd);
  if (!state.ok()) return state.status();
  if (!state.value()) return Status::Error("no lab is up in " + dd + ": start one with `honeynet up`");
  for (const GuestRec& g : state.value()->guests) {
    if (g.spec.name != name) continue;
    if (!GuestRecRunning(g)) return Status::Error("honeypot " + name + " is not running");
    if (IsNetns(g)) {
      const std::string dd_opt = dd == kLabDefaultDataDir ? "" : " --data-dir " + dd;
      return Status::Error(
          "honeypot " + name + " is a namespace honeypot (kind = \"netns\"): it has no console.\n"
          "  Log in as the attacker does:  ip netns exec " + std::string(kInetNs) + " telnet " + g.target.ToString() +
          "   (root / root)\n"
          "  Or, as root here, a shell in all its namespaces:  nsenter -t " + std::to_string(g.nst.pid) +
          " -a /bin/sh\n"
          "  (that shell is one of its processes: the guest's ps shows it and its TTY capture records it;\n"
          "  `honeynet reset " + name + dd_opt + "` gives a pristine guest)");
    }
    return AttachConsole(g.spec, raw);
  }
  return Status::Error("no honeypot named " + name + " in the lab");
}

}  // namespace hn
