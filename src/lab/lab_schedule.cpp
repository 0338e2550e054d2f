// The reset schedule of a foreground lab (lab_internal.h: ResetSchedule;
// the decision itself is reset_schedule.h).
#include "lab/reset_schedule.h"

#include <sys/random.h>

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "lab/lab_internal.h"

namespace hn {

const char* ResetDueReason(const HoneypotConfig& hp, int64_t now, int64_t booted, int64_t last_flow, int64_t jitter_s) {
  constexpr int64_t kSec = 1'000'000'000;
  if (hp.reset_max_age_ns > 0 && now - booted >= hp.reset_max_age_ns / kSec + jitter_s) return "max_age";
  if (hp.reset_idle_ns > 0 && now - std::max(booted, last_flow) >= hp.reset_idle_ns / kSec) return "idle";
  return nullptr;
}

int64_t ResetJitterSeconds(const HoneypotConfig& hp, uint64_t random) {
  const int64_t span = hp.reset_jitter_ns / 1'000'000'000;
  return span > 0 ? int64_t(random % uint64_t(span)) : 0;
}

namespace lab_detail {
ResetSchedule::ResetSchedule(std::string data_dir) : dd_(std::move(data_dir)) {}

void ResetSchedule::Tick(const nlohmann::json& status, const Say& say) {
  if (!loaded_) {
    loaded_ = true;
    auto c = LoadConfig(WallConfigPath(dd_));
    if (!c.ok()) return;
    for (const HoneypotConfig& hp : c->honeypots) {
      if (hp.reset_idle_ns > 0 || hp.reset_max_age_ns > 0) cfg_[hp.name] = hp;
    }
    for (const auto& [name, hp] : cfg_) {
      say(fmt::format("  reset schedule: {}{}{}{}", name,
                      hp.reset_idle_ns ? " after " + FormatDuration(hp.reset_idle_ns) + " idle" : "",
                      hp.reset_max_age_ns ? " at most every " + FormatDuration(hp.reset_max_age_ns) +
                                                (hp.reset_jitter_ns ? " (+ up to " + FormatDuration(hp.reset_jitter_ns) + ")" : "")
                                          : "",
                      hp.reset_archive ? ", archiving its changes" : ""));
    }
  }
  if (cfg_.empty()) return;
  const int64_t now = ::time(nullptr);
  if (now < next_look_) return;
  next_look_ = now + 2;
  // The honeywall's per-honeypot activity (stats.json, every second).
  nlohmann::json stats;
  if (auto text = ReadFile(CaptureDir(dd_) + "/stats.json")) {
    stats = nlohmann::json::parse(*text, nullptr, false);
  }
  for (const auto& h : status.value("honeypots", nlohmann::json::array())) {
    const std::string name = h.value("name", "");
    auto it = cfg_.find(name);
    if (it == cfg_.end() || !h.value("running", false) || !h["uptime_s"].is_number()) continue;
    const int64_t booted = now - h["uptime_s"].get<int64_t>();
    Boot& b = boots_[name];
    if (b.booted == 0 || std::llabs(b.booted - booted) > 2) {  // a new boot: a new jitter
      uint64_t r = 0;
      if (::getrandom(&r, sizeof r, 0) != sizeof r) r = uint64_t(now) * 0x9e3779b97f4a7c15ULL;
      b = Boot{booted, ResetJitterSeconds(it->second, r)};
    }
    int64_t last_flow = 0;
    if (stats.is_object()) {
      const auto hs = stats.value("honeypots", nlohmann::json::object()).value(name, nlohmann::json::object());
      if (hs.contains("last_flow_unix") && hs["last_flow_unix"].is_number())
        last_flow = int64_t(hs["last_flow_unix"].get<double>());
    }
    const char* reason = ResetDueReason(it->second, now, b.booted, last_flow, b.jitter_s);
    if (reason == nullptr) continue;
    say(fmt::format("\nscheduled reset of {} ({})", name, reason));
    if (Status s = LabReset(dd_, name, say, reason, it->second.reset_archive); !s.ok()) {
      say("  scheduled reset of " + name + " failed: " + s.message());
      next_look_ = now + 60;  // not again at once
    }
    boots_.erase(name);
    return;  // one at a time; the next look sees the new boot
  }
}

}  // namespace lab_detail
}  // namespace hn
