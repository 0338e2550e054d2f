// `honeynet tty list|play`: the honeypots' recorded terminal sessions
// (docs/tty.md). The reading itself is src/analysis/ttylog.*.
// `honeynet tty capture`: records a namespace honeypot's terminals with eBPF
// (src/capture/tty_bpf.*, docs/tty-log.md).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/ttylog.h"
#include "capture/tty_bpf.h"
#include "cli/commands.h"
#include "common/term_safe.h"
#include "common/time_format.h"

namespace hn {
namespace {

constexpr const char* kDefaultDataDir = "/var/lib/honeynet";

struct TtyArgs {
  std::string data_dir = kDefaultDataDir;
  std::vector<std::string> paths;
  bool json = false;
  bool wide = false;
  std::string session;
  double speed = 1.0;
  bool no_wait = false;
  bool input = false;
  bool real_gaps = false;
  bool no_children = false;
  bool raw = false;
} g_tty;

struct TtyCaptureArgs {
  int pid = 0;
  std::string out;
  std::string name;
  std::string ready_file;
} g_capture;

// Exit code of `tty capture` when this host cannot run the eBPF capture at all
// (not root, no BTF, no ring buffer): callers may go on without tty capture.
constexpr int kCaptureUnsupported = 3;

std::string DefaultTtyDir() { return g_tty.data_dir + "/lab/capture/tty"; }

// Times of TTY logs are microseconds; shown as events.json shows times.
std::string IsoTime(int64_t us) { return IsoTimeLocal(us * 1000); }

// "0.4s", "12s", "3m05s", "2h03m".
std::string Duration(int64_t us) {
  char b[32];
  const int64_t s = us / 1'000'000;
  if (s < 10) std::snprintf(b, sizeof b, "%.1fs", double(us) / 1e6);
  else if (s < 60) std::snprintf(b, sizeof b, "%llds", static_cast<long long>(s));
  else if (s < 3600) std::snprintf(b, sizeof b, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else std::snprintf(b, sizeof b, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60));
  return b;
}

std::string Bytes(uint64_t b) {
  char buf[32];
  if (b < 10000) std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(b));
  else if (b < (10ull << 20)) std::snprintf(buf, sizeof buf, "%.1fK", double(b) / 1024);
  else if (b < (10ull << 30)) std::snprintf(buf, sizeof buf, "%.1fM", double(b) / double(1ull << 20));
  else std::snprintf(buf, sizeof buf, "%.1fG", double(b) / double(1ull << 30));
  return buf;
}

// Control characters of an attacker's command line (C0, DEL, C1, bytes that
// are not UTF-8) shown as \xNN, so they cannot move the cursor of the person
// reading the table or talk to their terminal.
std::string Printable(const std::string& s) { return EscapeControls(s); }

std::string CommandsText(const TtySession& s, bool wide) {
  std::string text;
  for (const TtyCommand& c : s.commands) {
    if (!text.empty()) text += "; ";
    text += Printable(c.Text());
  }
  constexpr size_t kMax = 60;
  if (!wide && text.size() > kMax) {
    size_t cut = kMax - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) cut--;  // not inside a UTF-8 character
    text = text.substr(0, cut) + "...";
  }
  return text;
}

nlohmann::ordered_json SessionJson(const TtySession& s, const std::string& file) {
  nlohmann::ordered_json j;
  j["id"] = s.id;
  j["honeypot"] = s.honeypot;
  j["file"] = file;
  j["tty"] = s.tty;
  j["name"] = s.name;
  j["parent"] = s.parent.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.parent);
  j["parent_tty"] = s.parent_tty;
  j["children"] = s.children;
  j["start"] = IsoTime(s.start_us);
  j["start_unix"] = double(s.start_us) / 1e6;
  j["end"] = IsoTime(s.end_us);
  j["duration"] = double(s.DurationUs()) / 1e6;
  j["opened"] = s.opened;
  j["closed"] = s.closed;
  j["bytes_in"] = s.bytes_in;
  j["bytes_out"] = s.bytes_out;
  nlohmann::ordered_json cmds = nlohmann::ordered_json::array();
  for (const TtyCommand& c : s.commands)
    cmds.push_back({{"time", IsoTime(c.time_us)}, {"command", c.Text()}, {"argv", c.argv}});
  j["commands"] = std::move(cmds);
  return j;
}

// The files to read: the paths given, or the lab's tty directory. *missing_default:
// no paths were given and the lab has not written any tty log yet.
Result<std::vector<std::string>> Files(bool* missing_default) {
  *missing_default = false;
  std::vector<std::string> paths = g_tty.paths;
  if (paths.empty()) {
    if (access(DefaultTtyDir().c_str(), F_OK) != 0) {
      *missing_default = true;
      return std::vector<std::string>{};
    }
    paths.push_back(DefaultTtyDir());
  }
  return FindTtyLogs(paths);
}

const char* kNoLogsHint =
    "(the lab writes CAPTURE/tty/<honeypot>.ttylog when its honeypots run the project's kernel: "
    "`honeynet kernel build`; or name a directory or file)";

int RunTtyList() {
  bool missing_default = false;
  auto files = Files(&missing_default);
  if (!files.ok()) {
    std::cerr << "honeynet tty list: " << files.status().message() << "\n";
    return 1;
  }
  std::vector<TtyLogScan> scans;
  int rc = 0;
  for (const std::string& f : *files) {
    scans.push_back(ScanTtyLog(f));
    const TtyLogScan& s = scans.back();
    if (!s.error.ok()) {
      std::cerr << "honeynet tty list: " << s.error.message() << "\n";
      rc = 1;
    } else if (s.truncated) {
      std::cerr << "honeynet tty list: " << f << ": the last record is incomplete (" << s.truncated_bytes
                << " bytes at offset " << s.truncated_at
                << ": the guest stopped mid-write, or is writing it now); listed what came before\n";
    }
  }

  // Top-level sessions by start time; each followed by its children (depth-first).
  std::map<std::string, std::pair<const TtySession*, const std::string*>> by_id;
  std::vector<std::pair<const TtySession*, const std::string*>> roots;
  for (const TtyLogScan& scan : scans)
    for (const TtySession& s : scan.sessions) by_id[s.id + "\n" + scan.path] = {&s, &scan.path};
  for (const TtyLogScan& scan : scans)
    for (const TtySession& s : scan.sessions)
      if (s.parent.empty() || !by_id.count(s.parent + "\n" + scan.path)) roots.push_back({&s, &scan.path});
  std::stable_sort(roots.begin(), roots.end(),
                   [](const auto& a, const auto& b) { return a.first->start_us < b.first->start_us; });
  std::vector<std::pair<int, std::pair<const TtySession*, const std::string*>>> rows;  // depth, session
  std::function<void(std::pair<const TtySession*, const std::string*>, int)> add = [&](auto node, int depth) {
    rows.push_back({depth, node});
    if (depth > 64) return;  // a parent loop cannot happen, but never recurse without end
    for (const std::string& child : node.first->children) {
      auto it = by_id.find(child + "\n" + *node.second);
      if (it != by_id.end()) add(it->second, depth + 1);
    }
  };
  for (const auto& r : roots) add(r, 0);

  if (g_tty.json) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& [depth, node] : rows) arr.push_back(SessionJson(*node.first, *node.second));
    std::cout << JsonC1Escape(arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) << std::endl;
    return rc;
  }
  if (rows.empty()) {
    if (missing_default)
      std::cout << "no tty logs in " << DefaultTtyDir() << " " << kNoLogsHint << "\n";
    else
      std::cout << "no tty sessions in " << files->size() << " file(s)\n";
    return rc;
  }
  std::printf("%-14s %-10s %-8s %-19s %9s %7s %7s  %s\n", "SESSION", "HONEYPOT", "TTY", "START", "DURATION", "IN",
              "OUT", "COMMANDS");
  bool any_open = false;
  for (const auto& [depth, node] : rows) {
    const TtySession& s = *node.first;
    const std::string id = std::string(size_t(depth) * 2, ' ') + s.id;
    std::string dur = Duration(s.DurationUs());
    if (!s.closed) {
      dur += "+";
      any_open = true;
    }
    std::printf("%-14s %-10s %-8s %-19s %9s %7s %7s  %s\n", id.c_str(), s.honeypot.c_str(),
                (s.name.empty() ? std::string("?") : Printable(s.name)).c_str(), LocalDateTime(s.start_us * 1000).c_str(),
                dur.c_str(), Bytes(s.bytes_in).c_str(), Bytes(s.bytes_out).c_str(),
                CommandsText(s, g_tty.wide).c_str());
  }
  if (any_open) std::printf("(+: no CLOSE recorded: still open, or the guest stopped)\n");
  return rc;
}

int RunTtyPlay() {
  if (!(g_tty.speed > 0)) {
    std::cerr << "honeynet tty play: --speed must be above 0 (2 = twice as fast)\n";
    return 2;
  }
  bool missing_default = false;
  auto files = Files(&missing_default);
  if (!files.ok()) {
    std::cerr << "honeynet tty play: " << files.status().message() << "\n";
    return 1;
  }
  if (files->empty()) {
    std::cerr << "honeynet tty play: no tty logs in "
              << (missing_default ? DefaultTtyDir() : std::string("the paths given")) << " " << kNoLogsHint << "\n";
    return 1;
  }
  TtyPlayOptions opt;
  opt.speed = g_tty.speed;
  opt.wait = !g_tty.no_wait;
  opt.max_gap_us = g_tty.real_gaps ? 0 : 5'000'000;
  opt.input = g_tty.input;
  opt.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == nullptr;
  opt.children = !g_tty.no_children;
  // Unless --raw: through a TermFilter (colours and cursor movement kept; OSC,
  // DCS, APC, PM, SOS, queries and risky modes dropped), so what the attacker
  // printed cannot set the reader's title or clipboard or type into their shell.
  TermFilter filter;
  std::string safe;
  auto out = [&](std::string_view bytes) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    if (opt.wait) std::fflush(stdout);
  };
  auto write = [&](std::string_view bytes) {
    if (g_tty.raw) return out(bytes);
    safe.clear();
    filter.Feed(bytes, &safe);
    out(safe);
  };
  auto sleep = [](int64_t us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); };
  Status st = PlayTtySession(*files, g_tty.session, opt, write, sleep);
  if (!g_tty.raw) {
    safe.clear();
    filter.Finish(&safe);
    out(safe);
  }
  std::fflush(stdout);
  if (filter.dropped() > 0)
    std::cerr << "honeynet tty play: " << filter.dropped()
              << " control sequence(s) not shown (titles, clipboard, device strings, queries; --raw shows "
                 "everything as recorded)\n";
  if (!st.ok()) {
    std::cerr << "honeynet tty play: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

std::atomic<bool> g_capture_stop{false};

void OnCaptureSignal(int) { g_capture_stop = true; }

// Writes "ok\n" to path through a temporary file and rename: whoever polls for
// it never sees it half-written.
Status WriteReadyFile(const std::string& path) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error("cannot write the ready file " + tmp + ": " + std::strerror(errno));
  const bool ok = write(fd, "ok\n", 3) == 3;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return Status::Error("cannot write the ready file " + path + ": " + std::strerror(e));
  }
  return Status::Ok();
}

int RunTtyCapture() {
  const char* me = "honeynet tty capture";
  struct sigaction sa {};
  sa.sa_handler = OnCaptureSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // A ready file left by an earlier run must not announce this one.
  if (!g_capture.ready_file.empty()) unlink(g_capture.ready_file.c_str());

  Status sup = TtyBpfSupported();
  if (!sup.ok()) {
    std::cerr << me << ": not supported on this host: " << sup.message() << "\n";
    return kCaptureUnsupported;
  }
  auto inode = PidNamespaceInode(g_capture.pid);
  if (!inode.ok()) {
    std::cerr << me << ": " << inode.status().message() << "\n";
    return 1;
  }
  TtyBpfTarget target;
  target.name = g_capture.name.empty() ? HoneypotOfTtyLog(g_capture.out) : g_capture.name;
  target.pidns_inode = *inode;
  target.log_path = g_capture.out;
  target.init_pid = g_capture.pid;
  auto cap = TtyBpfCapture::Start({target});
  if (!cap.ok()) {
    std::cerr << me << ": " << cap.status().message() << "\n";
    return 1;
  }
  std::string kept;  // least privilege from here on (docs/security.md)
  if (Status st = (*cap)->LockDown(&kept); !st.ok()) {
    std::cerr << me << ": " << st.message() << "\n";
    return 1;
  }
  std::cerr << me << ": " << kept << "\n";
  if (!g_capture.ready_file.empty()) {
    Status st = WriteReadyFile(g_capture.ready_file);
    if (!st.ok()) {
      std::cerr << me << ": " << st.message() << "\n";
      return 1;
    }
  }
  std::cerr << me << ": recording the ttys of pid namespace pid:[" << *inode << "] (" << target.name
            << ", init pid " << g_capture.pid << ") into " << g_capture.out << "\n";
  Status st = (*cap)->Run(g_capture_stop);
  const TtyBpfStats s = (*cap)->stats();
  std::cerr << me << ": stopped (" << (g_capture_stop.load() ? "signal" : "the namespace's init exited")
            << "): " << s.records << " records, " << s.bytes << " bytes, " << s.lost << " lost";
  if (s.lost) std::cerr << " (" << s.lost_bytes << " bytes; the ring buffer was full)";
  if (s.cut_bytes) std::cerr << ", " << s.cut_bytes << " bytes not copied (huge reads/writes)";
  if (s.faults) std::cerr << ", " << s.faults << " unreadable buffers";
  std::cerr << "\n";
  if (!st.ok()) {
    std::cerr << me << ": " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddTtyCommand(CLI::App& app) {
  CLI::App* tty = app.add_subcommand(
      "tty", "Recorded terminal sessions of the honeypots: every byte shown and typed (docs/tty.md)");
  tty->require_subcommand(1);
  auto paths = [](CLI::App* c) {
    c->add_option("--data-dir", g_tty.data_dir, "Data directory (the lab's tty logs are in DATA/lab/capture/tty)")
        ->capture_default_str();
  };
  CLI::App* list = tty->add_subcommand(
      "list",
      "List the sessions: id, honeypot, tty, start (local time), duration, bytes typed (IN) and shown (OUT), "
      "commands run. Sessions opened from another (su, screen) are shown indented under it.");
  list->add_option("paths", g_tty.paths, "Directories of *.ttylog files, or files (default: DATA/lab/capture/tty)");
  paths(list);
  list->add_flag("--json", g_tty.json, "JSON output (an array of sessions) for scripts");
  list->add_flag("--wide", g_tty.wide, "Do not shorten the commands column");
  list->callback([] { SetRun(RunTtyList); });

  CLI::App* play = tty->add_subcommand(
      "play",
      "Replay a session's output at its real pace (pauses capped at 5 s), with the sessions opened from it "
      "spliced in at their time");
  play->add_option("session", g_tty.session, "Session id from `honeynet tty list`, e.g. hp1:3")->required();
  play->add_option("paths", g_tty.paths, "Directories of *.ttylog files, or files (default: DATA/lab/capture/tty)");
  paths(play);
  play->add_option("--speed", g_tty.speed, "Play this many times faster (0.5 = slower)")->capture_default_str();
  play->add_flag("--no-wait", g_tty.no_wait, "No pauses: print everything at once");
  play->add_flag("--input", g_tty.input,
                 "Also show what was typed (passwords included): one line per Enter, prefixed \"[input] \" "
                 "(in colour on a terminal)");
  play->add_flag("--real-gaps", g_tty.real_gaps, "Do not cap pauses at 5 s");
  play->add_flag("--no-children", g_tty.no_children, "Only this tty, without the sessions opened from it");
  play->add_flag("--raw", g_tty.raw,
                 "Write the output exactly as recorded, every escape sequence included (by default OSC, DCS, "
                 "APC, PM, SOS, terminal queries and risky mode changes are dropped: a recorded session cannot "
                 "set your window title or clipboard or type into your shell)");
  play->callback([] { SetRun(RunTtyPlay); });

  CLI::App* capture = tty->add_subcommand(
      "capture",
      "Record the terminals of a namespace honeypot with eBPF from the host kernel (root; exit code 3 when "
      "this host cannot): every tty read/write and exec in the pid namespace of PID (and namespaces nested in "
      "it), appended to FILE in the tty log format. Runs until SIGTERM/SIGINT or until PID exits.");
  capture->add_option("--pid", g_capture.pid, "Host pid of the honeypot's init (pid 1 in its namespace)")
      ->required();
  capture->add_option("--out", g_capture.out, "Tty log to append to, e.g. CAPTURE/tty/hp1.ttylog")->required();
  capture->add_option("--name", g_capture.name, "Honeypot name for messages (default: from --out)");
  capture->add_option("--ready-file", g_capture.ready_file,
                      "Written (\"ok\\n\", atomically) once recording has started");
  capture->callback([] { SetRun(RunTtyCapture); });
}

}  // namespace hn
