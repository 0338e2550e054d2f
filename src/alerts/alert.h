// Alerts: the honeywall's events (events.json lines) turned into short
// messages for the operator (docs/alerts.md). This file holds the pure parts,
// unit-tested without sockets or files:
//   EventMapper  one EVE line (parsed) -> the alerts it raises, keeping the
//                little state that needs (sources seen, budgets exhausted,
//                the latest inbound TCP flow per honeypot)
//   RateLimiter  a token bucket per (kind, source key), bounded, counting
//                what it held back
//   AlertLine    an Alert as the one JSON line every sink gets
// The runner (runner.h) tails the file, polls health, and hands the lines to
// the sinks (sinks.h).
//
// Who may call: the alerts runner and tests. Never the honeywall process.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

namespace hn {

enum class AlertKind : uint8_t {
  kNewAttacker,      // the first inbound flow from a source address
  kLogin,            // a terminal session opened on a honeypot (TTY capture)
  kOutboundBlocked,  // an outbound flow of a honeypot was dropped
  kBudgetExhausted,  // a honeypot's budget of a class ran out (first drop after it had room)
  kRuleAlert,        // a rule matched ([rules])
  kHoneypotDown,     // a honeypot stopped running
  kHoneywallDown,    // the honeywall stopped running
  kDiskFull,         // the capture filesystem passed alerts.disk_full
  kCount,
};

const char* AlertKindName(AlertKind k);
std::optional<AlertKind> AlertKindFromName(const std::string& name);

struct Alert {
  AlertKind kind = AlertKind::kNewAttacker;
  int severity = 2;                 // 1 high .. 3 low
  std::string message;              // one sentence for people
  std::string timestamp;            // as events.json ("2026-11-26T18:42:29.123456+0100")
  std::string key;                  // rate-limit source: an address, a honeypot, "honeywall", ...
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();  // src_ip, dest_port, honeypot, reason, ...
};

// The JSON object of an alert, on one line (no newline): timestamp, kind,
// severity, message, the alert's fields, suppressed (when > 0), host.
// Every string is a JSON value (ASCII-only escapes); nothing is ever pasted
// into a command line.
std::string AlertLine(const Alert& a, uint64_t suppressed, const std::string& host);

// Event lines -> alerts. Keeps per-source state; Save/Load carry it over a
// restart (so a restart does not call known attackers new).
class EventMapper {
 public:
  static constexpr size_t kMaxSources = 65536;  // new_attacker memory (oldest forgotten first)

  // The alerts one parsed event line raises (usually none).
  std::vector<Alert> Map(const nlohmann::json& ev);

  nlohmann::json Save() const;
  void Load(const nlohmann::json& j);
  size_t sources() const { return seen_.size(); }

 private:
  struct Inbound {
    std::string src_ip, dest_ip, community_id;
    int64_t src_port = -1, dest_port = -1, flow_id = 0;
  };
  void Remember(const std::string& src);

  std::unordered_set<std::string> seen_;
  std::deque<std::string> seen_order_;
  std::map<std::string, bool> exhausted_;  // "honeypot/CLASS" -> its budget ran out (no allowed start since)
  std::map<std::string, Inbound> last_inbound_;  // honeypot -> its latest inbound TCP flow
  std::unordered_set<std::string> sessions_;     // login: tty sessions already reported
  std::deque<std::string> sessions_order_;
};

// Token bucket per (kind, key): burst alerts at once, then rate per minute.
// On top, one bucket per kind with kKindFactor times both, so that many
// sources at once (a distributed scan: each its own new_attacker) cannot
// flood either. What it refuses is counted per key and handed to the next
// alert it lets through for that key (Decision::suppressed), and in total.
class RateLimiter {
 public:
  struct Decision {
    bool send = false;
    uint64_t suppressed = 0;  // refused for this (kind, key) since the last one sent
  };
  static constexpr int64_t kKindFactor = 10;
  RateLimiter(int64_t per_minute, int64_t burst, size_t max_keys = 4096);
  Decision Take(AlertKind kind, const std::string& key, int64_t now_ns);
  uint64_t suppressed_total(AlertKind k) const { return suppressed_total_[size_t(k)]; }
  size_t keys() const { return table_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_ns = 0;
    uint64_t suppressed = 0;
  };
  void Refill(Bucket& b, int64_t now_ns, double per_ns, double burst) const;
  double per_ns_;
  double burst_;
  Bucket kind_[size_t(AlertKind::kCount)];
  size_t max_keys_;
  std::unordered_map<std::string, Bucket> table_;
  uint64_t suppressed_total_[size_t(AlertKind::kCount)] = {};
};

}  // namespace hn
