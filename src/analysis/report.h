// Report: the one-screen summary of a honeywall capture directory, for
// `honeynet report` (text or JSON; the printing is in src/cli/cmd_flows.cpp).
//
// What comes from where:
// - events.json (EventIndex): the honeypots and their addresses, per
//   honeypot the inbound flows with their sources and destination ports,
//   the outbound attempts allowed and dropped per protocol (and why they were
//   dropped), the budget hits with their times.
// - the pcaps (CaptureSet + FlowSummarizer, one pass): the time span, frame
//   and flow totals, the busiest flows (by bytes) and the TCP sessions that
//   carried interactive text (FlowRecord::interactive_text()).
// A directory without events.json still gets the pcap half; pcaps that
// cannot be read are listed in errors, with what came before them counted.
//
// Memory: the pcaps stream through the FlowSummarizer's bounds; the report
// keeps only counters, the top_flows busiest flows and the first
// max_interactive interactive sessions.
//
// Who may call: the analysis commands.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/event_index.h"
#include "analysis/flow_summary.h"
#include "common/status.h"

namespace hn {

struct ReportOptions {
  std::string port = "inside";   // which pcap series of a capture directory: inside, outside, all
  size_t top_flows = 10;         // busiest flows kept
  size_t top_sources = 10;       // inbound sources and ports kept per honeypot
  size_t max_interactive = 20;   // interactive sessions kept (all are counted)
  FlowSummaryOptions flows;      // bounds of the flow pass (events is set by BuildReport)
  // Called now and then while the pcaps are read (bytes read, total bytes).
  std::function<void(uint64_t, uint64_t)> progress;
};

// Allowed and dropped outbound attempts of one protocol.
struct OutboundCount {
  uint64_t allowed = 0, dropped = 0;
  std::map<std::string, uint64_t> drop_reasons;  // reason -> count
};

struct HoneypotSummary {
  std::string name;
  std::vector<std::string> addresses;                        // from the events
  uint64_t inbound_flows = 0;
  std::vector<std::pair<std::string, uint64_t>> sources;     // inbound source IP -> flows, most first
  std::vector<std::pair<std::string, uint64_t>> ports;       // inbound "TCP/23" -> flows, most first
  uint64_t distinct_sources = 0, distinct_ports = 0;
  std::map<std::string, OutboundCount> outbound;             // by proto ("TCP", "UDP", "ICMP", ...)
  std::vector<BudgetHit> budget_hits;
};

struct Report {
  std::vector<std::string> inputs;     // as given
  std::vector<std::string> files;      // pcaps read
  std::string events_path;             // "" when none
  uint64_t events = 0, bad_event_lines = 0;
  int64_t first_ns = 0, last_ns = 0;   // of the packets (0 when none)
  FlowTotals totals;
  std::vector<HoneypotSummary> honeypots;  // by name
  std::vector<FlowRecord> busiest;         // by total bytes, most first
  std::vector<FlowRecord> interactive;     // in order of first packet
  uint64_t interactive_total = 0;
  std::vector<std::string> errors;         // damaged pcaps (file, offset, what)
  // Inline-rule alerts from events.json, by signature: (sid, signature) -> counts.
  struct AlertSummary {
    uint32_t sid = 0;
    std::string signature;
    uint64_t alerts = 0, blocked = 0, replaced = 0;
    std::set<std::string> honeypots;
    int64_t first_ns = 0, last_ns = 0;
  };
  std::vector<AlertSummary> alerts;        // most alerts first
};

// Reads the capture directory (or files) at paths and summarizes it. Fails
// only when nothing can be read at all.
Result<Report> BuildReport(const std::vector<std::string>& paths, const ReportOptions& opts);

// The report as JSON (the shape `honeynet report --json` prints).
nlohmann::ordered_json ReportToJson(const Report& r);

// One flow as JSON (the shape `honeynet flows --json` prints per flow).
nlohmann::ordered_json FlowToJson(const FlowRecord& f);

}  // namespace hn
