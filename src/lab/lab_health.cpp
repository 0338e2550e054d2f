// Restarts and disk use of a lab (see lab_health.h).
#include "lab/lab_health.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "common/fs.h"
#include "config/config.h"

namespace hn::lab_detail {

namespace {

// The systemd unit this process runs in: under systemd ($INVOCATION_ID set),
// the last "*.service" component of its cgroup path.
std::string SystemdUnit() {
  const char* inv = std::getenv("INVOCATION_ID");
  if (inv == nullptr || inv[0] == '\0') return "";
  std::ifstream f("/proc/self/cgroup");
  std::string unit;
  for (std::string line; std::getline(f, line);) {
    size_t a = 0;
    for (size_t b; a <= line.size(); a = b + 1) {
      b = line.find_first_of("/:", a);
      if (b == std::string::npos) b = line.size();
      const std::string part = line.substr(a, b - a);
      if (part.size() > 8 && part.compare(part.size() - 8, 8, ".service") == 0) unit = part.substr(0, part.size() - 8);
    }
  }
  return unit;
}

}  // namespace

std::string RestartsPath(const std::string& dd) { return LabDir(dd) + "/restarts.json"; }

RestartRecord LoadRestarts(const std::string& dd) {
  RestartRecord r;
  const std::string text = ReadFileOrEmpty(RestartsPath(dd));
  if (text.empty()) return r;
  try {
    const json j = json::parse(text);
    r.restarts = j.value("restarts", int64_t(0));
    r.last = j.value("last", int64_t(0));
    r.unclean = j.value("unclean", false);
    r.detached = j.value("detached", false);
    r.up.pid = j.value("up_pid", 0);
    r.up.start = j.value("up_start", int64_t(0));
    r.systemd_unit = j.value("systemd_unit", std::string());
  } catch (const json::exception&) {
    return RestartRecord{};
  }
  return r;
}

Status SaveRestarts(const std::string& dd, const RestartRecord& r) {
  json j = {{"restarts", r.restarts}, {"last", r.last},        {"unclean", r.unclean},
            {"detached", r.detached}, {"up_pid", r.up.pid},    {"up_start", r.up.start},
            {"systemd_unit", r.systemd_unit}};
  if (Status s = MakeDirs(LabDir(dd), 0750); !s.ok()) return s;
  return WriteFileAtomic(RestartsPath(dd), j.dump(2) + "\n", 0640);
}

int64_t NoteLabStarting(const std::string& dd, bool left_behind, bool detached) {
  RestartRecord r = LoadRestarts(dd);
  if (left_behind || r.unclean) {
    r.restarts++;
    r.last = ::time(nullptr);
  }
  r.unclean = true;
  r.detached = detached;
  r.up = RefOf(::getpid());
  r.systemd_unit = SystemdUnit();
  (void)SaveRestarts(dd, r);  // a counter must never stop the lab
  return r.restarts;
}

void NoteLabStopped(const std::string& dd) {
  RestartRecord r = LoadRestarts(dd);
  if (!r.unclean) return;
  r.unclean = false;
  (void)SaveRestarts(dd, r);
}

void NoteLabDown(const std::string& dd) {
  RestartRecord r = LoadRestarts(dd);
  if (!r.unclean) return;
  if (r.detached || Alive(r.up)) NoteLabStopped(dd);
}

json LabDiskJson(const std::string& dd, const std::string& capture_dir) {
  namespace fs = std::filesystem;
  uint64_t bytes = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(capture_dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) {
      const uintmax_t n = it->file_size(e2);
      if (!e2) bytes += uint64_t(n);
    }
  }
  json d;
  d["dir"] = capture_dir;
  d["capture_bytes"] = bytes;
  struct statvfs vfs {};
  if (::statvfs(capture_dir.c_str(), &vfs) == 0) {
    d["free_bytes"] = uint64_t(vfs.f_bavail) * vfs.f_frsize;
    d["total_bytes"] = uint64_t(vfs.f_blocks) * vfs.f_frsize;
  } else {
    d["free_bytes"] = nullptr;
    d["total_bytes"] = nullptr;
  }
  d["max_total"] = nullptr;
  d["min_free"] = nullptr;
  d["min_free_pct"] = nullptr;
  if (PathExists(WallConfigPath(dd))) {
    if (auto cfg = LoadConfig(WallConfigPath(dd)); cfg.ok()) {
      const CaptureConfig& c = cfg->capture;
      if (c.max_total) d["max_total"] = c.max_total;
      if (c.min_free) d["min_free"] = c.min_free;
      if (c.min_free_pct > 0) d["min_free_pct"] = c.min_free_pct;
    }
  }
  return d;
}

void AddLabHealth(json* status, const std::string& dd, const std::string& capture_dir) {
  const RestartRecord r = LoadRestarts(dd);
  (*status)["restarts"] = r.restarts;
  (*status)["restart_last_unix"] = r.last ? json(r.last) : json(nullptr);
  if (!r.systemd_unit.empty()) (*status)["systemd_unit"] = r.systemd_unit;
  (*status)["disk"] = LabDiskJson(dd, capture_dir);
}

std::string FormatLabHealth(const json& s) {
  std::string o;
  const int64_t n = s.value("restarts", int64_t(0));
  o += fmt::format("restarts: {}", n);
  if (n > 0 && s.value("restart_last_unix", json()).is_number()) {
    const int64_t ago = int64_t(::time(nullptr)) - s["restart_last_unix"].get<int64_t>();
    o += fmt::format(" (after an unclean end; the latest {} ago)", UptimeText(ago));
  }
  if (s.contains("systemd")) {
    const json& sd = s["systemd"];
    o += fmt::format("; systemd unit {}", sd.value("unit", std::string()));
    if (sd.value("n_restarts", json()).is_number()) o += fmt::format(", NRestarts {}", sd["n_restarts"].get<int64_t>());
  } else if (s.contains("systemd_unit")) {
    o += "; systemd unit " + s["systemd_unit"].get<std::string>();
  }
  o += "\n";
  const json d = s.value("disk", json::object());
  if (!d.empty()) {
    o += "disk: capture " + BytesText(d.value("capture_bytes", uint64_t(0)));
    if (d.value("free_bytes", json()).is_number() && d.value("total_bytes", json()).is_number()) {
      o += "; filesystem " + BytesText(d["free_bytes"].get<uint64_t>()) + " free of " +
           BytesText(d["total_bytes"].get<uint64_t>());
    }
    std::vector<std::string> bounds;
    if (d.value("max_total", json()).is_number()) bounds.push_back("max_total " + BytesText(d["max_total"].get<uint64_t>()));
    if (d.value("min_free", json()).is_number()) bounds.push_back("min_free " + BytesText(d["min_free"].get<uint64_t>()));
    if (d.value("min_free_pct", json()).is_number())
      bounds.push_back(fmt::format("min_free {:g}%", d["min_free_pct"].get<double>()));
    o += bounds.empty() ? "; no retention bounds ([capture] max_total, min_free)" : "; retention " + Join(bounds, ", ");
    o += "\n";
  }
  return o;
}

std::string UptimeText(int64_t s) {
  if (s < 0) s = 0;
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string BytesText(uint64_t b) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (b < 1024) return fmt::format("{} B", b);
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

}  // namespace hn::lab_detail
