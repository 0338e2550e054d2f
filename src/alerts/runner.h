// The alerts process (`honeynet alerts`, docs/alerts.md): follows the
// honeywall's events.json, turns events into alerts (alert.h), polls the
// honeywall's and the honeypots' health and the capture disk about once a
// second, rate-limits, and hands each alert to the sinks (sinks.h).
//
// It is never the honeywall process: that one is confined (seccomp, no
// privileges, its own network namespace) and must never wait on a sink. The
// lab (`honeynet up`) starts this process in the host's network namespace
// when the config has [alerts]; beside a standalone `honeynet wall` the
// operator runs `honeynet alerts --config CONFIG`.
//
// Files (lab: DATA/lab/; --config: CAPTURE/alerts/ or --state-dir):
//   alerts-state.json   events.json's inode and read offset, the sources
//                       already seen, budgets exhausted (a restart repeats
//                       nothing and misses nothing it had not read)
//   alerts-stats.json   counters: raised, suppressed, filtered per kind; per
//                       sink sent, failed, dropped (queue full), queued
//
// Who may call: the CLI.
#pragma once

#include <string>

#include "common/status.h"

namespace hn {

struct AlertsOptions {
  std::string data_dir;     // a lab's data dir (its wall.toml, state.json, capture)
  std::string config_path;  // or: a honeywall config (standalone `honeynet wall`)
  std::string state_dir;    // override where alerts-state.json / alerts-stats.json go
  bool test = false;        // send one test alert through every sink, report, exit
};

// Runs until SIGTERM/SIGINT (or, for a lab, until the lab is down).
// Returns the process exit code; messages go to stdout/stderr.
int RunAlerts(const AlertsOptions& opt);

}  // namespace hn
