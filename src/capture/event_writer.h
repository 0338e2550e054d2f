// EventWriter: the thread that turns Events into files, off the forwarding
// path:
//   DIR/events.json    one JSON object per line, Suricata EVE field names
//                      (event_type "flow" for flow ends, "honeywall" for new/dropped
//                      flows and frame drops, "stats" for counters)
//   DIR/honeywall.log  syslog-style lines with rc.firewall's prefixes
//                      ("INBOUND TCP: ...", "OUTBOUND UDP: ...", "Drop TCP > 9 attempts: ...")
//   DIR/budgets.json   every honeypot's budget, rewritten (atomically) after each start,
//                      so a restart or crash does not refill budgets
//   syslog             the log lines too, when capture.syslog is set
// The forwarding thread Post()s (never blocks; a full queue counts a drop).
//
// Who may call: Post() from the forwarding thread only (single producer);
// the rest from the main thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "capture/event.h"
#include "capture/spsc_ring.h"
#include "common/status.h"
#include "config/config.h"
#include "control/budget.h"

namespace hn {

class EventWriter {
 public:
  // budgets: the forwarding thread's budgets as loaded at start (the writer keeps
  // its own mirror, replaying counted starts from events).
  static Result<std::unique_ptr<EventWriter>> Open(const Config& cfg, const std::vector<Budget>& budgets);
  ~EventWriter();  // Stop()s

  // Loads DIR/budgets.json into budgets (index = honeypot order in cfg); missing
  // file or honeypot = full budget. Status error only for an unreadable/corrupt file.
  static Status LoadBudgets(const Config& cfg, std::vector<Budget>* budgets, int64_t now_ns);

  void Start();
  // Writes what is queued, flushes, closes. Idempotent.
  void Stop();

  bool Post(const Event& e) {
    if (queue_.Push(e)) return true;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Writes a stats event now (called from the main thread with a JSON object's text).
  void PostStats(const std::string& stats_json_object);

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }

 private:
  explicit EventWriter(const Config& cfg);
  void Run();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  SpscRing<Event> queue_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> dropped_{0}, written_{0};
};

}  // namespace hn
