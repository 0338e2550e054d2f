// EventIndex: see event_index.h.
#include "analysis/event_index.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/term_safe.h"

namespace hn {

namespace {

constexpr int64_t kMatchSlackNs = kNsPerSec;  // an event may be stamped up to 1 s after the packet

bool IsDir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsFile(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Reads exactly n decimal digits at s[*i]; advances *i.
bool Digits(std::string_view s, size_t* i, size_t n, int* out) {
  if (*i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; k++) {
    const char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  ++*i;
  return true;
}

// A string field, control characters as \xNN: names and reasons end up in
// tables on a terminal, and the file is only as trustworthy as its directory.
std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? EscapeControls(it->get<std::string>()) : std::string();
}

uint64_t U64(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return uint64_t(it->get<int64_t>());
  return 0;
}

// True for drops whose source address is not the honeypot's own (it lied or is unknown).
bool SourceUntrusted(const std::string& reason) {
  return reason == "spoofed_source" || reason == "unknown_source";
}

}  // namespace

std::optional<int64_t> ParseEveTimestamp(std::string_view s) {
  size_t i = 0;
  int Y, M, D, h, m, sec;
  if (!Digits(s, &i, 4, &Y) || !Expect(s, &i, '-') || !Digits(s, &i, 2, &M) || !Expect(s, &i, '-') ||
      !Digits(s, &i, 2, &D) || !Expect(s, &i, 'T') || !Digits(s, &i, 2, &h) || !Expect(s, &i, ':') ||
      !Digits(s, &i, 2, &m) || !Expect(s, &i, ':') || !Digits(s, &i, 2, &sec))
    return std::nullopt;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return std::nullopt;
  int64_t frac_ns = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t scale = 100'000'000;
    size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      frac_ns += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
      ++n;
    }
    if (n == 0) return std::nullopt;
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh, om;
    if (!Digits(s, &i, 2, &oh)) return std::nullopt;
    if (i < s.size() && s[i] == ':') ++i;
    if (!Digits(s, &i, 2, &om)) return std::nullopt;
    offset_s = sign * (int64_t(oh) * 3600 + int64_t(om) * 60);
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  tm t{};
  t.tm_year = Y - 1900;
  t.tm_mon = M - 1;
  t.tm_mday = D;
  t.tm_hour = h;
  t.tm_min = m;
  t.tm_sec = sec;
  const time_t utc = timegm(&t);
  return (int64_t(utc) - offset_s) * kNsPerSec + frac_ns;
}

std::string EventIndex::FindFor(const std::vector<std::string>& paths) {
  for (const std::string& p : paths) {
    if (IsDir(p) && IsFile(p + "/events.json")) return p + "/events.json";
  }
  for (const std::string& p : paths) {
    if (IsDir(p)) continue;
    const size_t slash = p.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : p.substr(0, slash);
    if (IsFile(dir + "/events.json")) return dir + "/events.json";
    break;  // only the first file counts
  }
  return "";
}

Result<EventIndex> EventIndex::Load(const std::string& path) {
  EventIndex idx;
  if (path.empty()) return idx;
  std::string file = path;
  if (IsDir(path)) {
    file = path + "/events.json";
    if (!IsFile(file)) return idx;  // a capture directory without events: nothing to join
  }
  FILE* f = fopen(file.c_str(), "re");
  if (f == nullptr) {
    if (errno == ENOENT) return idx;
    return Status::Error("cannot read " + file + ": " + strerror(errno) + " (check its permissions)");
  }
  // Budget state per "honeypot\nclass": true once a budget_exhausted drop was
  // seen and no counted start since.
  std::unordered_map<std::string, bool> exhausted;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    std::string_view text(line, size_t(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    if (text.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      idx.bad_lines_++;
      continue;
    }
    if (Str(j, "event_type") == "alert") {
      auto al = j.find("alert");
      const std::optional<int64_t> ts = ParseEveTimestamp(Str(j, "timestamp"));
      if (al == j.end() || !al->is_object() || !ts) {
        idx.bad_lines_++;
        continue;
      }
      AlertRecord a;
      a.ts_ns = *ts;
      a.flow_id = U64(j, "flow_id");
      a.community_id = Str(j, "community_id");
      a.honeypot = Str(j, "honeypot");
      a.sid = uint32_t(U64(*al, "signature_id"));
      a.rev = uint32_t(U64(*al, "rev"));
      a.severity = int(U64(*al, "severity"));
      a.signature = Str(*al, "signature");
      a.action = Str(*al, "action");
      auto rp = al->find("replaced");
      a.replaced = rp != al->end() && rp->is_boolean() && rp->get<bool>();
      a.src_ip = Str(j, "src_ip");
      a.dest_ip = Str(j, "dest_ip");
      if (a.flow_id != 0) idx.alerts_by_id_[a.flow_id].push_back(idx.alerts_.size());
      idx.alerts_.push_back(std::move(a));
      continue;
    }
    if (Str(j, "event_type") != "honeywall") continue;
    auto hw = j.find("honeywall");
    if (hw == j.end() || !hw->is_object()) continue;
    const std::optional<int64_t> ts = ParseEveTimestamp(Str(j, "timestamp"));
    if (!ts) {
      idx.bad_lines_++;
      continue;
    }
    FlowVerdict v;
    v.ts_ns = *ts;
    v.flow_id = U64(j, "flow_id");
    v.community_id = Str(j, "community_id");
    v.honeypot = Str(j, "honeypot");
    v.action = Str(*hw, "action");
    v.direction = Str(*hw, "direction");
    v.reason = Str(*hw, "reason");
    v.proto = Str(j, "proto");
    v.src_ip = Str(j, "src_ip");
    v.dest_ip = Str(j, "dest_ip");
    v.src_port = uint16_t(U64(j, "src_port"));
    v.dest_port = uint16_t(U64(j, "dest_port"));

    // Budget hits: the first budget_exhausted drop after the class had room.
    auto budget = hw->find("budget");
    if (budget != hw->end() && budget->is_object() && !v.honeypot.empty()) {
      const std::string cls = Str(*budget, "class");
      bool& ex = exhausted[v.honeypot + "\n" + cls];
      if (v.action == "dropped" && v.reason == "budget_exhausted") {
        if (!ex) {
          BudgetHit h;
          h.ts_ns = v.ts_ns;
          h.honeypot = v.honeypot;
          h.cls = cls;
          h.limit = uint32_t(U64(*budget, "limit"));
          idx.hits_.push_back(std::move(h));
        }
        ex = true;
      } else if (v.action == "allowed") {
        ex = false;
      }
    }

    // Addresses of the honeypots (inside addresses, as the events give them).
    if (!v.honeypot.empty() && !SourceUntrusted(v.reason)) {
      auto& addrs = idx.hp_addrs_[v.honeypot];
      if ((v.direction == "outbound" || v.direction == "internal") && !v.src_ip.empty()) addrs.insert(v.src_ip);
      if (v.direction == "inbound" && !v.dest_ip.empty()) addrs.insert(v.dest_ip);
    }

    const size_t at = idx.verdicts_.size();
    if (!v.community_id.empty()) idx.by_cid_[v.community_id].push_back(at);
    if (v.flow_id != 0) idx.by_id_.try_emplace(v.flow_id, at);
    idx.verdicts_.push_back(std::move(v));
  }
  const bool read_error = ferror(f) != 0;
  free(line);
  fclose(f);
  if (read_error) return Status::Error("error reading " + file + " (after " + std::to_string(idx.verdicts_.size()) +
                                       " events): " + strerror(errno));
  // The file is in write order, which is time order save for clock steps: make the
  // per-Community-ID lists sorted by time for Find().
  for (auto& [cid, list] : idx.by_cid_) {
    std::stable_sort(list.begin(), list.end(),
                     [&](size_t a, size_t b) { return idx.verdicts_[a].ts_ns < idx.verdicts_[b].ts_ns; });
  }
  return idx;
}

const FlowVerdict* EventIndex::Find(std::string_view community_id, int64_t first_ns) const {
  auto it = by_cid_.find(std::string(community_id));
  if (it == by_cid_.end()) return nullptr;
  const FlowVerdict* best = nullptr;
  for (size_t i : it->second) {
    const FlowVerdict& v = verdicts_[i];
    if (v.ts_ns > first_ns + kMatchSlackNs) break;
    best = &v;
  }
  return best;
}

const FlowVerdict* EventIndex::ByFlowId(uint64_t flow_id) const {
  auto it = by_id_.find(flow_id);
  return it == by_id_.end() ? nullptr : &verdicts_[it->second];
}

Result<std::string> EventIndex::ResolveFlowArg(std::string_view arg) const {
  if (arg.size() > 2 && arg.substr(0, 2) == "1:") return std::string(arg);
  uint64_t id = 0;
  const char* end = arg.data() + arg.size();
  auto [p, ec] = std::from_chars(arg.data(), end, id);
  if (arg.empty() || ec != std::errc() || p != end) {
    return Status::Error("'" + std::string(arg) +
                         "' is not a flow id: give the Community ID (\"1:...\") or the honeywall's numeric "
                         "flow_id, both as `honeynet flows` shows them");
  }
  if (verdicts_.empty()) {
    return Status::Error("flow_id " + std::string(arg) +
                         " cannot be looked up: there is no events.json beside these captures; give the "
                         "Community ID (\"1:...\") that `honeynet flows` shows instead");
  }
  const FlowVerdict* v = ByFlowId(id);
  if (v == nullptr) {
    return Status::Error("flow_id " + std::string(arg) +
                         " is not in events.json; `honeynet flows` lists the flows with their ids "
                         "(the Community ID \"1:...\" works for any flow)");
  }
  if (v->community_id.empty()) {
    return Status::Error("flow_id " + std::string(arg) + " has no community_id in events.json (not an IP flow)");
  }
  return v->community_id;
}

std::vector<const AlertRecord*> EventIndex::AlertsOf(uint64_t flow_id) const {
  std::vector<const AlertRecord*> out;
  auto it = alerts_by_id_.find(flow_id);
  if (it == alerts_by_id_.end()) return out;
  for (size_t i : it->second) out.push_back(&alerts_[i]);
  return out;
}

}  // namespace hn
