// The alerts process. See runner.h and docs/alerts.md.
#include "alerts/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/alert.h"
#include "alerts/sinks.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/time_format.h"
#include "config/config.h"
#include "lab/lab.h"

namespace hn {

using json = nlohmann::json;

namespace {

constexpr int kPollMs = 100;                // events.json is looked at this often
constexpr int64_t kHealthNs = kNsPerSec;     // honeywall, honeypots, disk
constexpr int64_t kStatsNs = 2 * kNsPerSec;  // alerts-stats.json
constexpr size_t kReadChunk = 1 << 20;       // per look, so health polls go on during a long backlog
constexpr size_t kMaxLine = 1 << 20;         // a longer "line" is skipped
constexpr int kStateVersion = 1;

std::atomic<int> g_stop{0};

void OnSignal(int sig) { g_stop.store(sig); }

void Log(const std::string& s) {
  std::fprintf(stderr, "honeynet alerts: %s\n", s.c_str());
  std::fflush(stderr);
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

// Up/down of one watched thing; a down alert once per transition, and only
// after it was seen up (a guest still booting is not "down").
enum class Health : uint8_t { kUnknown, kUp, kDown };

class Runner {
 public:
  Runner(const AlertsOptions& opt, Config cfg, std::string state_dir)
      : opt_(opt),
        cfg_(std::move(cfg)),
        a_(*cfg_.alerts),
        state_dir_(std::move(state_dir)),
        events_path_(cfg_.capture.dir + "/events.json"),
        host_(HostName()),
        limiter_(a_.rate, a_.burst),
        dispatcher_(MakeSinks(a_), a_.timeout_ns) {
    for (size_t k = 0; k < size_t(AlertKind::kCount); k++) enabled_[k] = a_.kinds.empty();
    for (const std::string& k : a_.kinds) {
      if (auto kind = AlertKindFromName(k)) enabled_[size_t(*kind)] = true;
    }
  }

  int Run() {
    LoadState();
    std::string sinks;
    if (!a_.command.empty()) sinks += "command";
    if (!a_.webhook.empty()) sinks += std::string(sinks.empty() ? "" : ", ") + "webhook";
    if (a_.syslog) sinks += std::string(sinks.empty() ? "" : ", ") + "syslog";
    std::printf("honeynet alerts: following %s from offset %llu (sinks: %s; state in %s)\nready\n",
                events_path_.c_str(), static_cast<unsigned long long>(offset_), sinks.c_str(), state_dir_.c_str());
    std::fflush(stdout);
    int64_t next_health = 0, next_stats = 0, next_save = 0;
    bool lab_gone = false;
    while (!g_stop.load()) {
      ReadEvents();
      const int64_t now = MonoNowNs();
      if (now >= next_health) {
        next_health = now + kHealthNs;
        lab_gone = !PollHealth();
        if (lab_gone) break;
      }
      if (dirty_ && now >= next_save) {
        next_save = now + kNsPerSec;
        SaveState();
      }
      if (now >= next_stats) {
        next_stats = now + kStatsNs;
        WriteStats();
      }
      if (!more_) ::usleep(kPollMs * 1000);
    }
    if (lab_gone) {
      std::printf("honeynet alerts: the lab in %s is down; stopping\n", opt_.data_dir.c_str());
    } else {
      std::printf("honeynet alerts: stopping (%s)\n", strsignal(g_stop.load()));
    }
    std::fflush(stdout);
    SaveState();
    // What is queued gets a moment (a lab going down: its last alerts);
    // never more than ~2 s, whatever a sink does.
    dispatcher_.Drain(lab_gone ? 1500 : 500);
    const bool clean = dispatcher_.Stop(1000);
    WriteStats();
    if (!clean) {
      Log("a sink call did not end in time; exiting without it");
      std::fflush(nullptr);
      ::_exit(0);
    }
    return 0;
  }

 private:
  std::string StatePath() const { return state_dir_ + "/alerts-state.json"; }
  std::string StatsPath() const { return state_dir_ + "/alerts-stats.json"; }

  void LoadState() {
    const std::string text = ReadFileOrEmpty(StatePath());
    if (text.empty()) return;  // fresh: events.json from its beginning
    try {
      const json j = json::parse(text);
      if (j.value("version", 0) != kStateVersion) return;
      const json ev = j.value("events", json::object());
      inode_ = ev.value("inode", uint64_t(0));
      offset_ = ev.value("offset", uint64_t(0));
      mapper_.Load(j.value("mapper", json::object()));
    } catch (const json::exception& e) {
      Log(StatePath() + " is damaged (" + e.what() + "); starting from the beginning of events.json");
      inode_ = 0;
      offset_ = 0;
    }
  }

  void SaveState() {
    json j;
    j["version"] = kStateVersion;
    j["events"] = {{"file", events_path_}, {"inode", inode_}, {"offset", offset_}};
    j["mapper"] = mapper_.Save();
    if (Status s = WriteFileAtomic(StatePath(), j.dump() + "\n", 0600, Sync::kNone); !s.ok()) {
      if (!state_error_logged_) Log("cannot save " + StatePath() + ": " + s.message());
      state_error_logged_ = true;
    } else {
      state_error_logged_ = false;
      dirty_ = false;
    }
  }

  void WriteStats() {
    json j;
    j["timestamp"] = IsoTimeLocal(WallNowNs());
    j["pid"] = ::getpid();
    j["events"] = {{"file", events_path_}, {"offset", offset_}, {"lines", lines_}, {"bad_lines", bad_lines_}};
    json raised = json::object(), suppressed = json::object(), filtered = json::object();
    for (size_t k = 0; k < size_t(AlertKind::kCount); k++) {
      const char* n = AlertKindName(AlertKind(k));
      raised[n] = raised_[k];
      suppressed[n] = limiter_.suppressed_total(AlertKind(k));
      filtered[n] = filtered_[k];
    }
    j["raised"] = raised;          // handed to the sinks
    j["suppressed"] = suppressed;  // held back by the rate limit
    j["filtered"] = filtered;      // kinds not in alerts.kinds
    j["sinks"] = dispatcher_.Counters();
    (void)WriteFileAtomic(StatsPath(), j.dump(2) + "\n", 0644, Sync::kNone);
  }

  void Emit(Alert a) {
    const size_t k = size_t(a.kind);
    if (!enabled_[k]) {
      filtered_[k]++;
      return;
    }
    const RateLimiter::Decision d = limiter_.Take(a.kind, a.key, MonoNowNs());
    if (!d.send) return;
    if (a.timestamp.empty()) a.timestamp = IsoTimeLocal(WallNowNs());
    raised_[k]++;
    dispatcher_.Post(a.kind, AlertLine(a, d.suppressed, host_));
  }

  void HandleLine(const std::string& line) {
    lines_++;
    json ev;
    try {
      ev = json::parse(line);
    } catch (const json::exception&) {
      bad_lines_++;
      return;
    }
    for (Alert& a : mapper_.Map(ev)) Emit(std::move(a));
    dirty_ = true;
  }

  // Reads what was appended to events.json since the last look (up to
  // kReadChunk), follows rotation (a new inode at the path) and truncation.
  void ReadEvents() {
    more_ = false;
    if (fd_ < 0) {
      fd_ = ::open(events_path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) return;  // not there yet
      struct stat st {};
      ::fstat(fd_, &st);
      if (uint64_t(st.st_ino) != inode_ || uint64_t(st.st_size) < offset_) {
        if (inode_ != 0) dirty_ = true;
        inode_ = uint64_t(st.st_ino);
        offset_ = 0;
      }
      partial_.clear();
    }
    std::string buf(kReadChunk, '\0');
    const uint64_t pos = offset_ + partial_.size();
    const ssize_t n = ::pread(fd_, buf.data(), buf.size(), off_t(pos));
    if (n > 0) {
      buf.resize(size_t(n));
      more_ = size_t(n) == kReadChunk;
      size_t start = 0;
      for (;;) {
        const size_t nl = buf.find('\n', start);
        if (nl == std::string::npos) break;
        std::string line = partial_ + buf.substr(start, nl - start);
        const uint64_t consumed = partial_.size() + (nl - start) + 1;
        partial_.clear();
        offset_ += consumed;
        if (!line.empty() && line.size() <= kMaxLine) HandleLine(line);
        start = nl + 1;
      }
      partial_ += buf.substr(start);
      if (partial_.size() > kMaxLine) {  // no newline in sight: skip it
        offset_ += partial_.size();
        partial_.clear();
        bad_lines_++;
      }
      dirty_ = true;
      return;
    }
    // At the end: rotated (another file at the path) or truncated?
    struct stat path_st {}, fd_st {};
    if (::fstat(fd_, &fd_st) == 0 && uint64_t(fd_st.st_size) < offset_ + partial_.size()) {
      offset_ = 0;  // cut shorter (truncate, copytruncate): from its start
      partial_.clear();
      dirty_ = true;
      return;
    }
    if (::stat(events_path_.c_str(), &path_st) == 0 && uint64_t(path_st.st_ino) != inode_) {
      ::close(fd_);
      fd_ = -1;
      inode_ = uint64_t(path_st.st_ino);
      offset_ = 0;
      partial_.clear();
      dirty_ = true;
      more_ = true;
    }
  }

  Alert HealthAlert(AlertKind kind, int severity, const std::string& key, const std::string& message) {
    Alert a;
    a.kind = kind;
    a.severity = severity;
    a.key = key;
    a.message = message;
    a.timestamp = IsoTimeLocal(WallNowNs());
    return a;
  }

  void Transition(Health& h, bool up, const std::function<void()>& on_down) {
    if (up) {
      h = Health::kUp;
    } else if (h == Health::kUp) {
      h = Health::kDown;
      on_down();
    }
  }

  // false: the lab is gone (stop).
  bool PollHealth() {
    if (!opt_.data_dir.empty()) {
      auto st = LabStatus(opt_.data_dir);
      if (st.ok() && !st->value("up", false)) return false;
      if (st.ok()) {
        const json w = st->value("wall", json::object());
        Transition(wall_, w.value("running", false), [&] {
          Alert a = HealthAlert(AlertKind::kHoneywallDown, 1, "honeywall",
                                "the honeywall (pid " + std::to_string(w.value("pid", 0)) +
                                    ") is not running: nothing passes to or from the honeypots until it is back "
                                    "(see " + w.value("log", std::string("its log")) + ")");
          a.fields["pid"] = w.value("pid", 0);
          Emit(std::move(a));
        });
        for (const auto& h : st->value("honeypots", json::array())) {
          const std::string name = h.value("name", std::string());
          Transition(guests_[name], h.value("running", false), [&] {
            Alert a = HealthAlert(AlertKind::kHoneypotDown, 2, name,
                                  "honeypot " + name + " is not running (stopped, crashed, or being reset)");
            a.fields["honeypot"] = name;
            Emit(std::move(a));
          });
        }
      }
    } else {
      // Beside a standalone honeywall: its stats.json is rewritten every
      // capture.stats_interval; much older than that, it is not running.
      struct stat s {};
      const std::string stats = cfg_.capture.dir + "/stats.json";
      if (::stat(stats.c_str(), &s) == 0) {
        const int64_t age = WallNowNs() - (int64_t(s.st_mtim.tv_sec) * kNsPerSec + s.st_mtim.tv_nsec);
        const int64_t limit = std::max<int64_t>(3 * cfg_.capture.stats_interval_ns, 10 * kNsPerSec);
        Transition(wall_, age < limit, [&] {
          Emit(HealthAlert(AlertKind::kHoneywallDown, 1, "honeywall",
                           "the honeywall's counters (" + stats + ") were last written " +
                               std::to_string(age / kNsPerSec) + " s ago: it is not running, or hung"));
        });
      }
    }
    // The capture filesystem.
    struct statvfs v {};
    if (::statvfs(cfg_.capture.dir.c_str(), &v) == 0 && v.f_blocks > 0) {
      const double used = double(v.f_blocks - v.f_bfree);
      const double pct = used * 100.0 / (used + double(v.f_bavail));
      if (pct >= a_.disk_full_pct) {
        if (!disk_full_) {
          disk_full_ = true;
          char text[64];
          std::snprintf(text, sizeof text, "%.1f%%", pct);
          char lim[32];
          std::snprintf(lim, sizeof lim, "%g%%", a_.disk_full_pct);
          Alert a = HealthAlert(AlertKind::kDiskFull, 1, cfg_.capture.dir,
                                "the capture filesystem (" + cfg_.capture.dir + ") is " + text +
                                    " full (alerts.disk_full = " + lim + ")");
          a.fields["dir"] = cfg_.capture.dir;
          a.fields["used_pct"] = double(int(pct * 10)) / 10;
          a.fields["free_bytes"] = uint64_t(v.f_bavail) * v.f_frsize;
          Emit(std::move(a));
        }
      } else {
        disk_full_ = false;
      }
    }
    return true;
  }

  const AlertsOptions& opt_;
  Config cfg_;
  const AlertsConfig& a_;
  std::string state_dir_;
  std::string events_path_;
  std::string host_;
  EventMapper mapper_;
  RateLimiter limiter_;
  Dispatcher dispatcher_;
  bool enabled_[size_t(AlertKind::kCount)] = {};
  uint64_t raised_[size_t(AlertKind::kCount)] = {};
  uint64_t filtered_[size_t(AlertKind::kCount)] = {};
  int fd_ = -1;
  uint64_t inode_ = 0, offset_ = 0;
  std::string partial_;
  bool more_ = false, dirty_ = false, state_error_logged_ = false;
  uint64_t lines_ = 0, bad_lines_ = 0;
  Health wall_ = Health::kUnknown;
  std::map<std::string, Health> guests_;
  bool disk_full_ = false;
};

int SendTest(const Config& cfg) {
  const AlertsConfig& a = *cfg.alerts;
  nlohmann::ordered_json j;
  j["timestamp"] = IsoTimeLocal(WallNowNs());
  j["kind"] = "test";
  j["severity"] = 3;
  j["message"] = "test alert from honeynet alerts --test: this sink works";
  j["host"] = HostName();
  const std::string line = j.dump(-1, ' ', true);
  std::atomic<bool> stop{false};
  int failed = 0;
  for (auto& sink : MakeSinks(a)) {
    const int64_t t0 = MonoNowNs();
    Status s = sink->Send(line, a.timeout_ns, stop);
    const double ms = double(MonoNowNs() - t0) / 1e6;
    if (s.ok()) {
      std::printf("%-8s ok (%.0f ms)\n", sink->name().c_str(), ms);
    } else {
      std::printf("%-8s FAILED (%.0f ms): %s\n", sink->name().c_str(), ms, s.message().c_str());
      failed++;
    }
  }
  std::fflush(stdout);
  return failed ? 1 : 0;
}

}  // namespace

int RunAlerts(const AlertsOptions& opt) {
  if (opt.data_dir.empty() == opt.config_path.empty()) {
    Log("give either --data-dir DIR (a lab) or --config FILE (beside `honeynet wall`)");
    return 2;
  }
  const std::string config_path = opt.config_path.empty() ? opt.data_dir + "/lab/wall.toml" : opt.config_path;
  auto cfg = LoadConfig(config_path);
  if (!cfg.ok()) {
    Log(cfg.status().message());
    return 2;
  }
  if (!cfg->alerts) {
    Log(config_path + " has no [alerts] table: nothing to send (docs/alerts.md)");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (opt.test) return SendTest(cfg.value());

  std::string state_dir = opt.state_dir;
  if (state_dir.empty()) state_dir = opt.data_dir.empty() ? cfg->capture.dir + "/alerts" : opt.data_dir + "/lab";
  if (Status s = MakeDirs(state_dir, 0750); !s.ok()) {
    Log(s.message());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  Runner r(opt, cfg.value(), state_dir);
  return r.Run();
}

}  // namespace hn
