// Alert sinks and their delivery (docs/alerts.md):
//   command   /bin/sh -c COMMAND per alert, in its own process group, the
//             JSON line on stdin (then EOF); past the timeout the group is
//             killed (SIGKILL) and the alert counted as failed
//   webhook   an HTTP(S) POST of the line (Content-Type application/json),
//             2xx is success; connect/read/write each bounded by the timeout
//   syslog    daemon.warning, ident "honeynet-alert", the line as message
// Dispatcher: one thread and one bounded queue per sink, so a slow, failing
// or hanging sink delays only itself; the reader only ever queues. A full
// queue drops the alert for that sink (counted). Failures are counted and
// told on stderr (at most one line per sink per second; the rest counted).
//
// Who may call: the alerts runner, tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/alert.h"
#include "common/status.h"
#include "config/config.h"

namespace hn {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string name() const = 0;  // "command", "webhook", "syslog"
  // Delivers one line within timeout_ns; gives up early when *stop is set.
  virtual Status Send(const std::string& line, int64_t timeout_ns, const std::atomic<bool>& stop) = 0;
  // Called from another thread at stop: abort a call in progress if it can.
  virtual void Abort() {}
};

std::unique_ptr<Sink> MakeCommandSink(const std::string& command);
std::unique_ptr<Sink> MakeWebhookSink(const std::string& url);
std::unique_ptr<Sink> MakeSyslogSink();
// The sinks an [alerts] table names, in the order command, webhook, syslog.
std::vector<std::unique_ptr<Sink>> MakeSinks(const AlertsConfig& a);

class Dispatcher {
 public:
  static constexpr size_t kQueueMax = 1000;
  Dispatcher(std::vector<std::unique_ptr<Sink>> sinks, int64_t timeout_ns, size_t queue_max = kQueueMax);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Queues the line for every sink; never blocks on a sink.
  void Post(AlertKind kind, const std::string& line);
  // Waits until every queue is empty and no call is in progress, or the
  // deadline; true when all was delivered (or failed) by then.
  bool Drain(int timeout_ms);
  // Stops the threads: a call in progress is aborted (a command killed);
  // waits up to grace_ms for them. false: some did not finish (then the
  // caller should not wait longer; the process is about to exit).
  bool Stop(int grace_ms);
  // {"command": {"sent": N, "failed": N, "dropped": N, "queued": N,
  //  "last_error": "...", "kinds": {"new_attacker": {"sent":..,"failed":..,"dropped":..}}}, ...}
  nlohmann::json Counters() const;

 private:
  struct PerKind {
    uint64_t sent = 0, failed = 0, dropped = 0;
  };
  struct Lane {
    std::unique_ptr<Sink> sink;
    std::deque<std::pair<AlertKind, std::string>> queue;
    bool busy = false;
    PerKind kinds[size_t(AlertKind::kCount)];
    uint64_t sent = 0, failed = 0, dropped = 0, unlogged = 0;
    int64_t last_log_ms = 0;
    std::string last_error;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void Run(Lane* lane);

  int64_t timeout_ns_;
  size_t queue_max_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace hn
