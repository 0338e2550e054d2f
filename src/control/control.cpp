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
    "no_route",         "fragment_overlap", "source_route",
};
static_assert(std::size(kReasonNames) == size_t(Reason::kCount), "a Reason has no name");

bool IsDhcpPort(uint16_t p) { return p == 67 || p == 68; }

// DHCP/BOOTP: client 68 <-> server 67, relay 67 <-> 67.
bool IsDhcp(const FlowStart& f) {
  return f.ip_proto == kProtoUdp && IsDhcpPort(f.sport) && IsDhcpPort(f.dport);
}

// DNS (UDP or TCP port 53) to one of the configured servers.
bool IsDnsToServer(const ControlPolicy& policy, const FlowStart& f) {
  if (f.dport != 53 || (f.ip_proto != kProtoUdp && f.ip_proto != kProtoTcp)) return false;
  return std::find(policy.dns_servers.begin(), policy.dns_servers.end(), f.dst_ip) !=
         policy.dns_servers.end();
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

}  // namespace

const char* ReasonName(Reason r) {
  size_t i = size_t(r);
  return i < std::size(kReasonNames) ? kReasonNames[i] : "unknown";
}

Decision Decide(const ControlPolicy& policy, const FlowStart& f, Budget* budget, int64_t now_ns) {
  const ProtoClass cls = ClassOfProto(f.ip_proto);
  // Inbound is never limited, whatever it is addressed to.
  if (!f.from_inside) return Pass(Reason::kInbound, cls);

  // Exemptions: not counted against the budget.
  if (f.dst_honeypot != kNoHoneypotId) return Pass(Reason::kExemptInternal, cls);
  if (f.dst_broadcast) return Pass(Reason::kExemptBroadcast, cls);
  if (IsDhcp(f)) return Pass(Reason::kExemptDhcp, cls);
  if (IsDnsToServer(policy, f)) return Pass(Reason::kExemptDns, cls);

  // A TCP segment that is not a SYN cannot start a flow; a SYN+ACK without a
  // flow included, or a honeypot could open state by answering nobody.
  if (f.ip_proto == kProtoTcp && !f.tcp_syn_only) return Drop(Reason::kNotFlowStart, cls);

  Decision d;
  if (policy.roach_motel) {
    d = Drop(Reason::kRoachMotel, cls);
  } else if (!budget) {
    return Drop(Reason::kUnknownSource, cls);
  } else if (budget->TryConsume(cls, now_ns)) {
    d = Pass(Reason::kOutbound, cls);
    d.counted = true;
  } else {
    d = Drop(Reason::kBudgetExhausted, cls);
  }
  FillBudget(&d, budget, now_ns);
  return d;
}

}  // namespace hn
