// Data Control: the pure decision taken for a packet that starts a new flow.
//
// Decide() gets what the forwarding stage knows about the packet (which side
// it came in on, which honeypot sent it or is its target, protocol, ports,
// broadcast-ness) and the honeypot's Budget, and returns a verdict and the
// reason for it. It does no I/O; the only state it touches is the Budget it is
// given (a start is recorded when an outbound flow is allowed). Packets of
// flows that already exist never come here: the flow keeps its verdict.
//
// Who may call: the forwarding thread; unit tests.
#pragma once

#include <cstdint>
#include <vector>

#include "common/addr.h"
#include "control/budget.h"

namespace hn {

enum class Verdict : uint8_t { kPass, kDrop };

enum class Reason : uint8_t {
  kInbound = 0,        // started from outside: always allowed
  kOutbound,           // honeypot started it, within budget
  kReply,              // part of a flow the other side started (not counted)
  kExemptDns,          // DNS to a configured server
  kExemptInternal,     // honeypot to honeypot
  kExemptBroadcast,    // broadcast/multicast at layer 2 and 3: the broadcast budget, not the protocol's
  kExemptDhcp,         // DHCP client (UDP 68 -> 67) to the broadcast address or a listed dhcp_servers entry
  kBudgetExhausted,    // outbound over budget
  kRoachMotel,         // roach_motel = true: no new outbound at all
  kNotFlowStart,       // TCP without SYN (or SYN+ACK) and no flow: cannot start one
  kSpoofedSource,      // source IP/MAC is not the honeypot learned on this port/MAC
  kUnknownSource,      // frame from inside that no honeypot owns
  kIpv6Disabled,       // IPv6 while ipv6 support is off
  kVlanTagged,         // 802.1Q/QinQ tagged frame from inside
  kNonIp,              // ethertype other than IPv4/ARP/IPv6 from inside
  kMalformed,          // decode error, policy drop
  kLinkLocalControl,   // STP/LLDP/pause (01:80:c2:00:00:0x): a bridge does not forward them
  kFragmentNoHead,     // non-first fragment whose first fragment was not seen
  kFlowTableFull,      // no room to track it: fail closed (outbound), counted
  kTtlExceeded,        // nat: TTL reached 0, answered with ICMP time exceeded
  kNoRoute,            // nat: no honeypot owns the destination / next hop unknown
  kFragmentOverlap,    // TCP fragment from inside starting within the TCP header (offset 8/16): rewrites its flags (RFC 1858)
  kSourceRoute,        // IPv4 loose/strict source route option (or a malformed option list), IPv6 routing
                       // header with segments left, from inside: the route goes on past the checked hop
  kDhcpServer,         // DHCP/DHCPv6 server or relay traffic (UDP source port 67 / 547) from a honeypot
  kRogueRouter,        // ICMPv6 router advertisement, redirect or router renumbering from a honeypot
  kReplyOverrun,       // a flow the outside started carried more from the honeypot than a reply would:
                       // counted as outbound from then on (allowed within budget, else budget_exhausted)
  kNeighborRate,       // ARP / neighbour discovery from a honeypot over its rate (limits: 20/s, burst 100)
  kRuleDrop,           // a drop/reject rule matched this flow ([rules], src/rules/): dropped from then on, both ways
  kBandwidth,          // over the honeypot's outbound bandwidth with its queue full (limits.bandwidth)
  kCount
};
const char* ReasonName(Reason r);  // short snake_case names used in events: "budget_exhausted", ...

// What a new flow's first packet looks like to Data Control.
struct FlowStart {
  bool from_inside = false;     // came in on the inside (honeypot) port
  uint16_t src_honeypot = 0xffff;  // honeypot that sent it (identified by port+MAC), or 0xffff
  uint16_t dst_honeypot = 0xffff;  // honeypot it is addressed to, or 0xffff
  uint8_t ip_proto = 0;
  uint16_t sport = 0, dport = 0;
  Ip4 dst_ip;                   // IPv4 destination (0 for IPv6)
  bool dst_broadcast = false;   // broadcast or multicast at layer 2 AND layer 3, the MAC matching the
                                // group (ff:ff:ff:ff:ff:ff + 255.255.255.255, 01:00:5e + 224/4, 33:33 + ff00::/8)
  bool tcp_syn_only = true;     // TCP: SYN set and ACK clear (a connection attempt)
  bool tcp_syn_ack = false;     // TCP: SYN+ACK (a reply to something we never saw)
};

struct ControlPolicy {
  bool roach_motel = false;
  std::vector<Ip4> dns_servers;
  std::vector<Ip4> dhcp_servers;
};

struct Decision {
  Verdict verdict = Verdict::kDrop;
  Reason reason = Reason::kUnknownSource;
  bool counted = false;         // a start was taken from the budget
  ProtoClass cls = ProtoClass::kOther;
  uint32_t used = 0, left = 0, limit = 0;  // budget after the decision (outbound only)
};

// budget: the source honeypot's budget (nullptr when there is none, e.g. inbound).
Decision Decide(const ControlPolicy& policy, const FlowStart& f, Budget* budget, int64_t now_ns);

// Replies. A flow the outside started is a reply channel for the honeypot: one
// spoofed packet "from" a victim would open an uncounted channel to it. So a
// reply may only be about as big as what it answers. Packets and bytes are the
// flow's so far, the packet in hand included. True when the honeypot's side has
// sent more than a reply would (docs/data-control.md, "Replies"):
//   TCP:        more than 64 x the outside's packets + 64 (ACK compression and
//               big downloads stay replies; a flow the outside never ACKs does not)
//   other:      more packets than the outside's (a reply answers one
//               request), or more than 4 x the outside's bytes + 4096 bytes.
bool ReplyOverrun(uint8_t ip_proto, uint64_t hp_pkts, uint64_t hp_bytes, uint64_t out_pkts, uint64_t out_bytes);

// The decision for a flow that ReplyOverrun() turns into an outbound one: a
// start of its class from the honeypot's budget (reason reply_overrun, counted),
// else budget_exhausted (or roach_motel): the flow is dropped from then on.
Decision DecideOverrun(const ControlPolicy& policy, uint8_t ip_proto, Budget* budget, int64_t now_ns);

// Frames a honeypot may never send, whatever flow they are in: DHCP/DHCPv6
// server traffic (UDP source port 67 / 547) and IPv6 router messages (ICMPv6
// 134 advertisement, 137 redirect, 138 renumbering). Returns the drop reason, or
// Reason::kCount when the frame may go on. icmp_type is only read for ICMPv6.
Reason ForbiddenFromInside(bool ipv6, uint8_t ip_proto, uint16_t sport, uint8_t icmp_type);

}  // namespace hn
