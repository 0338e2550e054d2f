// Alerts: event -> alert mapping, rate limiter, JSON line. See alert.h.
#include "alerts/alert.h"

#include <algorithm>
#include <climits>
#include <cmath>

namespace hn {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr const char* kNames[] = {"new_attacker",  "login",         "outbound_blocked", "budget_exhausted",
                                  "rule_alert",    "honeypot_down", "honeywall_down",   "disk_full"};
static_assert(std::size(kNames) == size_t(AlertKind::kCount), "an AlertKind has no name");

constexpr size_t kMaxSessions = 4096;  // login: sessions already reported

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t Int(const json& j, const char* key, int64_t def = -1) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : def;
}

// Copies the flow keys an EVE line has into the alert's fields.
void CopyFlow(const json& ev, ojson& f) {
  for (const char* k : {"src_ip", "src_port", "dest_ip", "dest_port", "proto", "icmp_type", "icmp_code", "honeypot",
                        "community_id", "flow_id"}) {
    auto it = ev.find(k);
    if (it != ev.end() && (it->is_string() || it->is_number_integer() || it->is_number_unsigned())) f[k] = *it;
  }
}

// "192.0.2.66:40000" / "192.0.2.66" (no port for ICMP and the like).
std::string Endpoint(const json& ev, const char* ip, const char* port) {
  std::string s = Str(ev, ip);
  const int64_t p = Int(ev, port);
  if (p >= 0) s += ":" + std::to_string(p);
  return s;
}

std::string ProtoPort(const json& ev) {
  std::string proto = Str(ev, "proto");
  const int64_t p = Int(ev, "dest_port");
  return p >= 0 ? proto + " port " + std::to_string(p) : proto;
}

Alert Make(AlertKind kind, int severity, const json& ev) {
  Alert a;
  a.kind = kind;
  a.severity = severity;
  a.timestamp = Str(ev, "timestamp");
  return a;
}

}  // namespace

const char* AlertKindName(AlertKind k) {
  const size_t i = size_t(k);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

std::optional<AlertKind> AlertKindFromName(const std::string& name) {
  for (size_t i = 0; i < std::size(kNames); i++) {
    if (name == kNames[i]) return AlertKind(i);
  }
  return std::nullopt;
}

std::string AlertLine(const Alert& a, uint64_t suppressed, const std::string& host) {
  ojson j;
  j["timestamp"] = a.timestamp;
  j["kind"] = AlertKindName(a.kind);
  j["severity"] = a.severity;
  j["message"] = a.message;
  for (const auto& [k, v] : a.fields.items()) j[k] = v;
  if (suppressed > 0) j["suppressed"] = suppressed;
  if (!host.empty()) j["host"] = host;
  // ensure_ascii: control characters and anything not ASCII as \uXXXX, bad
  // UTF-8 replaced; the line can never be split or carry an escape sequence.
  return j.dump(-1, ' ', true, json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------
// EventMapper

void EventMapper::Remember(const std::string& src) {
  if (!seen_.insert(src).second) return;
  seen_order_.push_back(src);
  while (seen_order_.size() > kMaxSources) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
}

std::vector<Alert> EventMapper::Map(const json& ev) {
  std::vector<Alert> out;
  if (!ev.is_object()) return out;
  const std::string type = Str(ev, "event_type");
  const std::string hp = Str(ev, "honeypot");

  if (type == "honeywall") {
    auto hit = ev.find("honeywall");
    if (hit == ev.end() || !hit->is_object()) return out;
    const json& h = *hit;
    const std::string action = Str(h, "action"), dir = Str(h, "direction"), reason = Str(h, "reason");
    if (h.contains("suppressed")) {
      // The honeywall's own summary of drops over its log rate (100/s per
      // honeypot and reason): one alert for the lot.
      const int64_t n = Int(h, "suppressed", 0);
      if (action == "dropped" && Str(h, "what") == "flows" && !hp.empty() && n > 0 &&
          (reason == "budget_exhausted" || reason == "roach_motel")) {
        Alert a = Make(AlertKind::kOutboundBlocked, 2, ev);
        a.key = hp;
        a.message = std::to_string(n) + " more outbound attempts of " + hp + " were blocked (" + reason +
                    ") in one second; the honeywall logged them as a summary";
        a.fields["honeypot"] = hp;
        a.fields["reason"] = reason;
        a.fields["count"] = n;
        out.push_back(std::move(a));
      }
      return out;
    }
    if (dir == "inbound") {
      const std::string src = Str(ev, "src_ip");
      if (src.empty()) return out;
      if (action == "allowed" && Str(ev, "proto") == "TCP" && !hp.empty()) {
        Inbound& in = last_inbound_[hp];
        in.src_ip = src;
        in.src_port = Int(ev, "src_port");
        in.dest_ip = Str(ev, "dest_ip");
        in.dest_port = Int(ev, "dest_port");
        in.community_id = Str(ev, "community_id");
        in.flow_id = Int(ev, "flow_id", 0);
      }
      if (seen_.count(src)) return out;
      Remember(src);
      Alert a = Make(AlertKind::kNewAttacker, 2, ev);
      a.key = src;
      a.message = "new attacker " + src + ": first inbound connection, to " + (hp.empty() ? Str(ev, "dest_ip") : hp) +
                  " " + ProtoPort(ev) + (action == "dropped" ? " (dropped: " + reason + ")" : "");
      CopyFlow(ev, a.fields);
      if (action == "dropped") a.fields["reason"] = reason;
      out.push_back(std::move(a));
      return out;
    }
    if (dir != "outbound") return out;
    const json budget = h.value("budget", json::object());
    const std::string cls = budget.is_object() ? Str(budget, "class") : std::string();
    if (action == "allowed") {
      if (!cls.empty() && !hp.empty()) exhausted_[hp + "/" + cls] = false;  // it had room again
      return out;
    }
    if (action != "dropped") return out;
    const std::string who = hp.empty() ? Str(ev, "src_ip") : hp;
    Alert a = Make(AlertKind::kOutboundBlocked, 2, ev);
    a.key = who;
    a.message = "outbound " + Str(ev, "proto") + " attempt blocked (" + reason + "): " +
                (hp.empty() ? std::string() : hp + " ") + Endpoint(ev, "src_ip", "src_port") + " -> " +
                Endpoint(ev, "dest_ip", "dest_port");
    CopyFlow(ev, a.fields);
    a.fields["reason"] = reason;
    out.push_back(std::move(a));
    if (reason == "budget_exhausted" && !hp.empty() && !cls.empty()) {
      bool& ex = exhausted_[hp + "/" + cls];
      if (!ex) {
        ex = true;
        Alert b = Make(AlertKind::kBudgetExhausted, 1, ev);
        b.key = hp;
        const int64_t limit = Int(budget, "limit");
        b.message = hp + " used up its outbound " + cls + " budget" +
                    (limit >= 0 ? " (" + std::to_string(limit) + " in the window)" : std::string()) +
                    ": further new " + cls + " connections are dropped";
        b.fields["honeypot"] = hp;
        b.fields["class"] = cls;
        if (limit >= 0) b.fields["limit"] = limit;
        b.fields["reason"] = reason;
        for (const char* k : {"src_ip", "dest_ip", "dest_port", "proto", "flow_id"}) {
          if (a.fields.contains(k)) b.fields[k] = a.fields[k];
        }
        out.push_back(std::move(b));
      }
    }
    return out;
  }

  if (type == "alert") {
    const json al = ev.value("alert", json::object());
    if (!al.is_object()) return out;
    const int64_t prio = Int(al, "severity", 3);
    Alert a = Make(AlertKind::kRuleAlert, int(std::clamp<int64_t>(prio, 1, 3)), ev);
    a.key = Str(ev, "src_ip");
    const std::string sig = Str(al, "signature");
    const int64_t sid = Int(al, "signature_id", 0);
    a.message = "rule " + std::to_string(sid) + " \"" + sig + "\" " +
                (Str(al, "action") == "blocked" ? "blocked" : "matched") + ": " + Endpoint(ev, "src_ip", "src_port") +
                " -> " + Endpoint(ev, "dest_ip", "dest_port") + " " + Str(ev, "proto") +
                (hp.empty() ? std::string() : " (" + hp + ")");
    CopyFlow(ev, a.fields);
    a.fields["signature"] = sig;
    a.fields["signature_id"] = sid;
    if (!Str(al, "category").empty()) a.fields["category"] = Str(al, "category");
    a.fields["action"] = Str(al, "action");
    out.push_back(std::move(a));
    return out;
  }

  if (type == "tty") {
    // A login: the first program a terminal session runs that is not login
    // itself (the shell login starts; sshd's session starts with it). The
    // lab's readiness probe (OPEN, EXEC /bin/login, CLOSE) is no login.
    const json t = ev.value("tty", json::object());
    if (!t.is_object() || Str(t, "action") != "exec" || hp.empty()) return out;
    const std::string session = Str(t, "session");
    const std::string name = Str(t, "name");
    if (session.empty() || name.rfind("tty", 0) == 0) return out;  // consoles: the operator's
    std::string prog;
    if (auto it = t.find("argv"); it != t.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
      prog = (*it)[0].get<std::string>();
    }
    if (const size_t slash = prog.rfind('/'); slash != std::string::npos) prog = prog.substr(slash + 1);
    if (prog == "login") return out;
    if (!sessions_.insert(session).second) return out;
    sessions_order_.push_back(session);
    while (sessions_order_.size() > kMaxSessions) {
      sessions_.erase(sessions_order_.front());
      sessions_order_.pop_front();
    }
    Alert a = Make(AlertKind::kLogin, 1, ev);
    a.fields["honeypot"] = hp;
    auto in = last_inbound_.find(hp);
    if (in != last_inbound_.end()) {
      const Inbound& i = in->second;
      a.fields["src_ip"] = i.src_ip;
      if (i.src_port >= 0) a.fields["src_port"] = i.src_port;
      a.fields["dest_ip"] = i.dest_ip;
      if (i.dest_port >= 0) a.fields["dest_port"] = i.dest_port;
      a.fields["proto"] = "TCP";
      if (!i.community_id.empty()) a.fields["community_id"] = i.community_id;
      if (i.flow_id) a.fields["flow_id"] = i.flow_id;
    }
    a.fields["session"] = session;
    a.fields["tty"] = name;
    a.fields["command"] = Str(t, "command");
    a.key = in != last_inbound_.end() ? in->second.src_ip : hp;
    a.message = "login on " + hp + " (session " + session + (name.empty() ? "" : ", " + name) + ")" +
                (in != last_inbound_.end() ? ", likely from " + in->second.src_ip + " (its latest inbound TCP connection)"
                                           : std::string());
    out.push_back(std::move(a));
    return out;
  }
  return out;
}

json EventMapper::Save() const {
  json j;
  j["sources"] = json(std::vector<std::string>(seen_order_.begin(), seen_order_.end()));
  json ex = json::object();
  for (const auto& [k, v] : exhausted_) ex[k] = v;
  j["exhausted"] = ex;
  j["sessions"] = json(std::vector<std::string>(sessions_order_.begin(), sessions_order_.end()));
  json in = json::object();
  for (const auto& [hp, i] : last_inbound_) {
    in[hp] = {{"src_ip", i.src_ip},         {"src_port", i.src_port}, {"dest_ip", i.dest_ip},
              {"dest_port", i.dest_port},   {"community_id", i.community_id}, {"flow_id", i.flow_id}};
  }
  j["last_inbound"] = in;
  return j;
}

void EventMapper::Load(const json& j) {
  if (!j.is_object()) return;
  for (const auto& s : j.value("sources", json::array())) {
    if (s.is_string()) Remember(s.get<std::string>());
  }
  const json exhausted = j.value("exhausted", json::object());
  for (const auto& [k, v] : exhausted.items()) {
    if (v.is_boolean()) exhausted_[k] = v.get<bool>();
  }
  for (const auto& s : j.value("sessions", json::array())) {
    if (s.is_string() && sessions_.insert(s.get<std::string>()).second) sessions_order_.push_back(s.get<std::string>());
  }
  const json last_inbound = j.value("last_inbound", json::object());
  for (const auto& [hp, v] : last_inbound.items()) {
    if (!v.is_object()) continue;
    Inbound i;
    i.src_ip = Str(v, "src_ip");
    i.src_port = Int(v, "src_port");
    i.dest_ip = Str(v, "dest_ip");
    i.dest_port = Int(v, "dest_port");
    i.community_id = Str(v, "community_id");
    i.flow_id = Int(v, "flow_id", 0);
    last_inbound_[hp] = i;
  }
}

// ---------------------------------------------------------------------------
// RateLimiter

RateLimiter::RateLimiter(int64_t per_minute, int64_t burst, size_t max_keys)
    : per_ns_(double(std::max<int64_t>(per_minute, 1)) / 60e9),
      burst_(double(std::max<int64_t>(burst, 1))),
      max_keys_(std::max<size_t>(max_keys, 2)) {
  for (Bucket& b : kind_) b.tokens = burst_ * kKindFactor, b.last_ns = INT64_MIN;
}

void RateLimiter::Refill(Bucket& b, int64_t now_ns, double per_ns, double burst) const {
  if (b.last_ns == INT64_MIN) {
    b.last_ns = now_ns;
  } else if (now_ns > b.last_ns) {
    b.tokens = std::min(burst, b.tokens + double(now_ns - b.last_ns) * per_ns);
    b.last_ns = now_ns;
  }
}

RateLimiter::Decision RateLimiter::Take(AlertKind kind, const std::string& key, int64_t now_ns) {
  const std::string k = std::string(AlertKindName(kind)) + "|" + key;
  auto it = table_.find(k);
  if (it == table_.end()) {
    if (table_.size() >= max_keys_) {
      // Full: forget a bucket that is full again (the same as a new one),
      // else the one used longest ago (its held-back count stays in the totals).
      auto victim = table_.end();
      for (auto j = table_.begin(); j != table_.end(); ++j) {
        const double t = std::min(burst_, j->second.tokens + double(now_ns - j->second.last_ns) * per_ns_);
        if (t >= burst_ && j->second.suppressed == 0) {
          victim = j;
          break;
        }
        if (victim == table_.end() || j->second.last_ns < victim->second.last_ns) victim = j;
      }
      table_.erase(victim);
    }
    it = table_.emplace(k, Bucket{burst_, now_ns, 0}).first;
  }
  Bucket& b = it->second;
  Refill(b, now_ns, per_ns_, burst_);
  Bucket& kb = kind_[size_t(kind)];
  Refill(kb, now_ns, per_ns_ * kKindFactor, burst_ * kKindFactor);
  Decision d;
  if (b.tokens >= 1.0 && kb.tokens >= 1.0) {
    b.tokens -= 1.0;
    kb.tokens -= 1.0;
    d.send = true;
    d.suppressed = b.suppressed;
    b.suppressed = 0;
  } else {
    b.suppressed++;
    suppressed_total_[size_t(kind)]++;
  }
  return d;
}

}  // namespace hn
