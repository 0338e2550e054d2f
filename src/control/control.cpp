// Data Control: the decision for a new flow's first packet. See control.h and
// docs/data-control.md. Pure: the only state touched is the Budget passed in.
#include "control/control.h"

#include <algorithm>

namespace hn {

namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint16_t kNoHoneypotId = 0xffff;  // FlowStart's "no honeypot"

// Names indexed by Reason; must list every Reason in declaration order.
constexpr const char* kReasonNames[] = {
    "inbound",          "outbound",        "reply",           "exempt_dns",
    "exempt_internal",  "exempt_broadcast", "exempt_dhcp",    "budget_exhausted",
    "roach_motel",      "not_flow_start",  "spoofed_source",  "unknown_source",
    "ipv6_disabled",    "vlan_tagged",     "non_ip",          "malformed",
    "link_local_control", "fragment_no_head", "flow_table_full", "ttl_exceeded",
    "no_route",         "fragment_overlap", "source_route", "dhcp_server",
    "rogue_router",     "reply_overrun",   "neighbor_rate", "rule_drop", "bandwidth",
};
static_assert(std::size(kReasonNames) == size_t(Reason::kCount), "a Reason has no name");

// DHCP client traffic: UDP 68 -> 67. Where it may go is decided by the caller.
bool IsDhcpClient(const FlowStart& f) { return f.ip_proto == kProtoUdp && f.sport == 68 && f.dport == 67; }

bool Listed(const std::vector<Ip4>& list, Ip4 a) { return std::find(list.begin(), list.end(), a) != list.end(); }

// DNS (UDP or TCP port 53) to one of the configured servers.
bool IsDnsToServer(const ControlPolicy& policy, const FlowStart& f) {
  if (f.dport != 53 || (f.ip_proto != kProtoUdp && f.ip_proto != kProtoTcp)) return false;
  return Listed(policy.dns_servers, f.dst_ip);
}

Decision Pass(Reason r, ProtoClass cls) {
  Decision d;
  d.verdict = Verdict::kPass;
  d.reason = r;
  d.cls = cls;
  return d;
}

Decision Drop(Reason r, ProtoClass cls) {
  Decision d;
  d.verdict = Verdict::kDrop;
  d.reason = r;
  d.cls = cls;
  return d;
}

// Fills the budget figures of an outbound decision (after any start was taken).
void FillBudget(Decision* d, const Budget* budget, int64_t now_ns) {
  if (!budget) return;
  d->used = budget->Used(d->cls, now_ns);
  d->left = budget->Left(d->cls, now_ns);
  d->limit = budget->Limit(d->cls);
}

// One start of class cls from the budget: pass for `granted` (counted), or
// budget_exhausted; with the budget's figures either way.
Decision TakeStart(Budget* budget, ProtoClass cls, Reason granted, int64_t now_ns) {
  Decision d;
  if (budget->TryConsume(cls, now_ns)) {
    d = Pass(granted, cls);
    d.counted = true;
  } else {
    d = Drop(Reason::kBudgetExhausted, cls);
  }
  FillBudget(&d, budget, now_ns);
  return d;
}

// The roach motel, an unknown sender, else TakeStart(): the tail of every
// decision that may count a start in a protocol's budget.
Decision StartOrRefuse(const ControlPolicy& policy, Budget* budget, ProtoClass cls, Reason granted, int64_t now_ns) {
  if (policy.roach_motel) {
    Decision d = Drop(Reason::kRoachMotel, cls);
    FillBudget(&d, budget, now_ns);
    return d;
  }
  if (!budget) return Drop(Reason::kUnknownSource, cls);
  return TakeStart(budget, cls, granted, now_ns);
}

}  // namespace

const char* ReasonName(Reason r) {
  size_t i = size_t(r);
  return i < std::size(kReasonNames) ? kReasonNames[i] : "unknown";
}

Decision Decide(const ControlPolicy& policy, const FlowStart& f, Budget* budget, int64_t now_ns) {
  const ProtoClass cls = ClassOfProto(f.ip_proto);
  // Inbound is never limited, whatever it is addressed to.
  if (!f.from_inside) return Pass(Reason::kInbound, cls);

  // DHCP server or relay traffic never leaves a honeypot (a rogue DHCP
  // server on the outside LAN); the engine drops such frames before flows,
  // this keeps the decision right for any caller.
  if (Reason r = ForbiddenFromInside(false, f.ip_proto, f.sport, 0); r != Reason::kCount) return Drop(r, cls);

  // Exemptions from the protocol budgets.
  if (f.dst_honeypot != kNoHoneypotId) return Pass(Reason::kExemptInternal, cls);
  if (IsDhcpClient(f) && !f.dst_broadcast && Listed(policy.dhcp_servers, f.dst_ip)) return Pass(Reason::kExemptDhcp, cls);
  if (IsDnsToServer(policy, f)) return Pass(Reason::kExemptDns, cls);
  if (f.dst_broadcast) {
    // Real broadcast/multicast (a DHCP discover too) stays on the segment, but
    // it still reaches every host there: it has a budget of its own.
    if (!budget) {
      // Only a DHCP discover comes here without a honeypot: from a MAC not
      // learned yet, while some honeypot's is unknown (the engine's rule). It
      // may be that honeypot asking for its address; nobody to charge.
      if (IsDhcpClient(f)) return Pass(Reason::kExemptDhcp, ProtoClass::kBroadcast);
      return Drop(Reason::kUnknownSource, ProtoClass::kBroadcast);
    }
    return TakeStart(budget, ProtoClass::kBroadcast, IsDhcpClient(f) ? Reason::kExemptDhcp : Reason::kExemptBroadcast,
                     now_ns);
  }

  // A TCP segment that is not a SYN cannot start a flow; a SYN+ACK without a
  // flow included, or a honeypot could open state by answering nobody.
  if (f.ip_proto == kProtoTcp && !f.tcp_syn_only) return Drop(Reason::kNotFlowStart, cls);

  return StartOrRefuse(policy, budget, cls, Reason::kOutbound, now_ns);
}

bool ReplyOverrun(uint8_t ip_proto, uint64_t hp_pkts, uint64_t hp_bytes, uint64_t out_pkts, uint64_t out_bytes) {
  if (ip_proto == kProtoTcp) return hp_pkts > 64 * out_pkts + 64;
  return hp_pkts > out_pkts || hp_bytes > 4 * out_bytes + 4096;
}

Decision DecideOverrun(const ControlPolicy& policy, uint8_t ip_proto, Budget* budget, int64_t now_ns) {
  return StartOrRefuse(policy, budget, ClassOfProto(ip_proto), Reason::kReplyOverrun, now_ns);
}

Reason ForbiddenFromInside(bool ipv6, uint8_t ip_proto, uint16_t sport, uint8_t icmp_type) {
  if (ip_proto == kProtoUdp && (sport == 67 || sport == 547)) return Reason::kDhcpServer;
  if (ipv6 && ip_proto == 58 && (icmp_type == 134 || icmp_type == 137 || icmp_type == 138)) return Reason::kRogueRouter;
  return Reason::kCount;
}

}  // namespace hn
