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
// It also follows the honeypots' tty logs, DIR/tty/*.ttylog (written by their
// kernels, docs/tty-log.md): every ~200 ms it reads the complete records
// appended since, and writes event_type "tty" lines for OPEN, CLOSE and EXEC
// (not for the data). How far each file was read is kept in
// DIR/tty-offsets.json, so a restart neither repeats nor skips events.
// The forwarding thread Post()s (never blocks; a full queue counts a drop).
//
// The writer thread looks at the queue every 20 ms when idle (Post() stays a
// plain store: no syscall, no lock on the forwarding path).
//
// Who may call: Post() from the forwarding thread only (single producer);
// the rest from the main thread.
#pragma once

#include "rules/rule.h"

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

class CaptureDisk;

class EventWriter {
 public:
  // Events the queue holds; Post() beyond that counts in dropped().
  static constexpr size_t kQueueCapacity = 16384;

  // budgets: the forwarding thread's budgets as loaded at start (the writer keeps
  // its own mirror, replaying counted starts from events).
  static Result<std::unique_ptr<EventWriter>> Open(const Config& cfg, const std::vector<Budget>& budgets);
  ~EventWriter();  // Stop()s

  // Fills *budgets with one Budget per cfg.honeypots entry (same order, limits
  // from HoneypotConfig::limits) and restores each from DIR/budgets.json;
  // missing file or honeypot = full budget, honeypots in the file but not in
  // cfg are ignored. Status error only for an unreadable/corrupt file (the
  // message names it).
  static Status LoadBudgets(const Config& cfg, std::vector<Budget>* budgets, int64_t now_ns);

  // Retention (capture/retention.h): writes to events.json and honeywall.log
  // are reserved there, the files rotate at its cap (else at
  // capture.rotate_size), the writer thread sweeps it once a second and
  // writes every deletion as an event. Call before Start(); disk outlives us.
  void AttachDisk(CaptureDisk* disk);
  // The rule set alerts refer to (Event::rule indexes it). Call before
  // Start(); the rules outlive the writer.
  void SetRules(const std::vector<Rule>* rules);

  // events.json and honeywall.log are closed and opened again by name (after
  // logrotate moved them; SIGHUP). Any thread, also a signal handler: it only
  // sets a flag the writer thread looks at within 20 ms.
  void RequestReopen() { reopen_.store(true, std::memory_order_relaxed); }

  void Start();
  // Writes what is queued, flushes, closes. Idempotent.
  void Stop();

  // Verdicts (drops, budget hits, counted starts) may use the whole queue;
  // routine events (uncounted allowed flows, flow ends, summaries of allowed
  // flows) only its first three quarters, so a flood of routine events can
  // never crowd a verdict out. A routine event over that counts in shed().
  bool Post(const Event& e) {
    if (IsRoutine(e) && queue_.SizeApprox() >= queue_.Capacity() / 4 * 3) {
      shed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (queue_.Push(e)) return true;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  static bool IsRoutine(const Event& e) {
    return (e.kind == EventKind::kFlowNew && !e.counted) || e.kind == EventKind::kFlowEnd ||
           (e.kind == EventKind::kSuppressed && e.allowed);
  }
  // Routine events not queued because the queue was three quarters full.
  uint64_t shed() const { return shed_.load(std::memory_order_relaxed); }
  // Writes a stats event now (called from the main thread with a JSON object's text).
  void PostStats(const std::string& stats_json_object);
  // Writes an event_type "notice" line to events.json ({"notice":{"what":..,"message":..}},
  // in_iface when iface is not empty) and "NOTICE <message>" to honeywall.log (and
  // syslog). For what the honeywall itself went through: a port down/up/gone/reopened,
  // capture failing/resumed. A line the disk refused is written again later (up to 256
  // are kept). Any thread but the forwarding one (it locks).
  void PostNotice(const std::string& what, const std::string& iface, const std::string& message);

  // Events lost: queue full, or events.json could not be written.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Events written to events.json (stats and tty events not included).
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  // tty events written to events.json.
  uint64_t tty_events() const { return tty_written_.load(std::memory_order_relaxed); }

 private:
  explicit EventWriter(const Config& cfg);
  void Run();
  size_t DrainBatch();  // writes up to one batch of queued events; returns how many
  bool PollTty(bool force);  // tty logs: reads what is new (when due, or force); true: more is waiting
  void Housekeeping();       // reopen on request, rotate, retention sweep and its events
  struct Impl;
  std::unique_ptr<Impl> impl_;
  SpscRing<Event> queue_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  std::atomic<uint64_t> shed_{0};
  std::atomic<uint64_t> dropped_{0}, written_{0}, tty_written_{0};
};

}  // namespace hn
