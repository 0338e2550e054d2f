// Event: what the forwarding thread tells the event writer. A fixed-size,
// trivially copyable record (no strings, no allocation) so it can go through
// an SpscRing; the writer turns it into an EVE JSON line, an rc.firewall-style
// log line, and budget persistence.
#pragma once

#include <cstdint>

#include "control/budget.h"
#include "control/control.h"
#include "flow/flow_key.h"
#include "flow/flow_table.h"

namespace hn {

enum class EventKind : uint8_t {
  kFlowNew,    // a flow was allowed: inbound, outbound (budget counted) or exempt
  kFlowDrop,   // a flow's first packet was dropped (budget, roach motel, spoofing, ...)
  kFlowEnd,    // a flow ended (timeout, close, stop): packets and bytes each way
  kFrameDrop,  // a frame that is not a flow was dropped (non-IP, VLAN, malformed, ...)
  kSuppressed, // drop events over the rate limit: how many were not written one by one
  kAlert,      // a rule matched (src/rules/): EVE event_type "alert"
  kRuleDrop,   // a drop rule dropped a packet: Suricata-style EVE event_type "drop"
};

// Bytes of the packet's payload an alert carries (EVE payload_printable).
inline constexpr size_t kEventPayload = 256;

struct Event {
  EventKind kind = EventKind::kFlowNew;
  int64_t ts_ns = 0;           // wall clock
  int64_t budget_ns = 0;       // counted starts: when, on the budget clock (common/clock.h)
  uint64_t flow_id = 0;
  FlowKey key;                 // initiator view, inside addresses in nat mode
  uint8_t icmp_type = 0, icmp_code = 0;
  char community_id[32] = {};
  uint16_t honeypot = kNoHoneypot;
  uint8_t in_port = 0;         // 0 inside, 1 outside: where the first packet came in
  FlowDir dir = FlowDir::kOther;
  Reason reason = Reason::kInbound;
  bool counted = false;        // a budget start was taken (kFlowNew outbound)
  ProtoClass cls = ProtoClass::kOther;
  uint32_t budget_used = 0, budget_left = 0, budget_limit = 0;
  // Header bits of the first packet, for the iptables-style log line.
  uint16_t ip_len = 0;
  uint8_t ttl = 0;
  uint8_t tcp_flags = 0;
  uint16_t ethertype = 0;      // kFrameDrop of non-IP
  uint8_t src_mac[6] = {}, dst_mac[6] = {};
  // kFlowEnd
  int64_t start_ns = 0;
  uint64_t pkts_toserver = 0, pkts_toclient = 0, bytes_toserver = 0, bytes_toclient = 0;
  uint8_t end_reason = 0;      // 0 timeout, 1 closed (FIN/RST), 2 shutdown, 3 evicted (table full)
  bool allowed = false;        // kFlowEnd: the flow's verdict; kSuppressed: summary of allowed flows
  uint8_t tcp_state = 0;
  // kSuppressed: drop events of this reason (and honeypot) not written in
  // the second that ended at ts_ns; frame_drop tells frame or flow drops.
  uint64_t suppressed = 0;
  bool frame_drop = false;
  // kAlert / kRuleDrop: the rule (index into the honeywall's rule set), the
  // packet's own direction (key above is then the packet's src -> dst), what
  // happened to it, and the start of its payload.
  uint32_t rule = 0;
  bool blocked = false;        // the packet was dropped (drop/reject rule)
  bool replaced = false;       // replace rewrote bytes of it
  bool to_server = true;
  uint16_t payload_len = 0;    // bytes in payload[]
  uint8_t payload[kEventPayload] = {};
};

}  // namespace hn
