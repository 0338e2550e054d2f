// EventIndex: what the honeywall's events.json says about flows, for the
// analysis commands to join with what they read from the pcaps: which
// honeypot a flow belongs to, whether Data Control allowed or dropped it and
// why, the budget hits with their times.
//
// Flows are matched by Community ID (the events carry it; CommunityId() of a
// packet's 5-tuple gives the same string) and, when one Community ID names
// several flows over time (a reused 5-tuple), by the time of the flow's first
// packet: the event whose time is the latest not after it (+1 s slack).
// Addresses are those of the capture's inside port (NAT mode: the honeypots'
// own addresses), as in the events.
//
// A missing events.json is not an error (pcaps from elsewhere have none):
// Load() gives an empty index. Lines that are not JSON are counted in
// bad_lines() and skipped. Memory: one small entry per flow event.
//
// Who may call: the analysis commands.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace hn {

// The honeywall's verdict on one flow (from its "honeywall" event).
struct FlowVerdict {
  uint64_t flow_id = 0;
  int64_t ts_ns = 0;          // time of the verdict (the flow's first packet)
  std::string community_id;
  std::string honeypot;       // "" when none
  std::string action;         // "allowed" | "dropped"
  std::string direction;      // "inbound" | "outbound" | ...
  std::string reason;         // e.g. "budget_exhausted"
  std::string proto;          // "TCP", "UDP", "ICMP", ...
  std::string src_ip, dest_ip;
  uint16_t src_port = 0, dest_port = 0;
};

// A budget running out: the first drop for budget_exhausted of a honeypot and
// class after it had room (one entry per hit, not per dropped attempt).
struct BudgetHit {
  int64_t ts_ns = 0;
  std::string honeypot;
  std::string cls;            // "TCP", "UDP", "ICMP", "OTHER"
  uint32_t limit = 0;
};

// An alert of an inline rule ([rules]): its "alert" event.
struct AlertRecord {
  int64_t ts_ns = 0;
  uint64_t flow_id = 0;
  std::string community_id;
  std::string honeypot;
  uint32_t sid = 0, rev = 0;
  int severity = 3;
  std::string signature;
  std::string action;     // "allowed" | "blocked"
  bool replaced = false;
  std::string src_ip, dest_ip;
};

// Nanoseconds since the epoch of an EVE timestamp
// ("2026-11-26T18:42:29.123456+0000", also "+00:00" or "Z", any number of
// fraction digits); nullopt when it is not one.
std::optional<int64_t> ParseEveTimestamp(std::string_view text);

class EventIndex {
 public:
  // Reads DIR/events.json (or the file itself when path names a file).
  static Result<EventIndex> Load(const std::string& path);
  // The events.json next to a set of input paths: the first path that is a
  // directory holding events.json, or the directory of the first file when it
  // holds one; "" when none.
  static std::string FindFor(const std::vector<std::string>& paths);

  bool empty() const { return verdicts_.empty(); }
  // The verdict for a flow with this Community ID whose first packet was at
  // first_ns; nullptr when the events do not know it.
  const FlowVerdict* Find(std::string_view community_id, int64_t first_ns) const;
  const FlowVerdict* ByFlowId(uint64_t flow_id) const;
  // What a user passes as FLOW_ID (`read --flow`, `session`): a Community ID
  // ("1:...") is returned as is; a number is the honeywall's flow_id from
  // events.json and gives that flow's Community ID; anything else, or a number
  // the events do not know, is an error that says which forms are accepted.
  Result<std::string> ResolveFlowArg(std::string_view arg) const;
  // Every verdict in file order.
  const std::vector<FlowVerdict>& verdicts() const { return verdicts_; }
  // Honeypot name -> its addresses seen in the events (inside addresses).
  const std::map<std::string, std::set<std::string>>& honeypot_addresses() const { return hp_addrs_; }
  const std::vector<BudgetHit>& budget_hits() const { return hits_; }
  // Every alert in file order, and those of one flow (by flow_id).
  const std::vector<AlertRecord>& alerts() const { return alerts_; }
  std::vector<const AlertRecord*> AlertsOf(uint64_t flow_id) const;
  uint64_t bad_lines() const { return bad_lines_; }

 private:
  std::vector<FlowVerdict> verdicts_;
  std::vector<AlertRecord> alerts_;
  std::unordered_map<uint64_t, std::vector<size_t>> alerts_by_id_;
  std::unordered_map<std::string, std::vector<size_t>> by_cid_;  // -> indexes, in time order
  std::unordered_map<uint64_t, size_t> by_id_;
  std::map<std::string, std::set<std::string>> hp_addrs_;
  std::vector<BudgetHit> hits_;
  uint64_t bad_lines_ = 0;
};

}  // namespace hn
