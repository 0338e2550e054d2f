// Data Control: every rule of Decide() in order, every exemption, budget
// figures in decisions, and the rc.firewall token-bucket semantic.
#include "control/control.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace hn {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSec;
constexpr int64_t kT0 = 1'700'000'000LL * kSec;
constexpr uint16_t kNone = 0xffff;

const Ip4 kDns{0x0a000001};          // 10.0.0.1, configured DNS server
const Ip4 kOutsideHost{0xc6336401};  // 198.51.100.1

// A TCP SYN from honeypot 0 to an outside web server.
FlowStart OutboundSyn() {
  FlowStart f;
  f.from_inside = true;
  f.src_honeypot = 0;
  f.dst_honeypot = kNone;
  f.ip_proto = 6;
  f.sport = 40000;
  f.dport = 80;
  f.dst_ip = kOutsideHost;
  f.tcp_syn_only = true;
  return f;
}

FlowStart OutboundUdp(uint16_t sport, uint16_t dport, Ip4 dst = kOutsideHost) {
  FlowStart f = OutboundSyn();
  f.ip_proto = 17;
  f.sport = sport;
  f.dport = dport;
  f.dst_ip = dst;
  return f;
}

ControlPolicy PolicyWithDns() {
  ControlPolicy p;
  p.dns_servers = {Ip4{0x08080808}, kDns};
  return p;
}

void ExpectExempt(const Decision& d, Reason r) {
  EXPECT_EQ(d.verdict, Verdict::kPass);
  EXPECT_EQ(d.reason, r) << ReasonName(d.reason);
  EXPECT_FALSE(d.counted);
}

TEST(ControlTest, ReasonNames) {
  EXPECT_STREQ(ReasonName(Reason::kInbound), "inbound");
  EXPECT_STREQ(ReasonName(Reason::kOutbound), "outbound");
  EXPECT_STREQ(ReasonName(Reason::kReply), "reply");
  EXPECT_STREQ(ReasonName(Reason::kExemptDns), "exempt_dns");
  EXPECT_STREQ(ReasonName(Reason::kExemptInternal), "exempt_internal");
  EXPECT_STREQ(ReasonName(Reason::kExemptBroadcast), "exempt_broadcast");
  EXPECT_STREQ(ReasonName(Reason::kExemptDhcp), "exempt_dhcp");
  EXPECT_STREQ(ReasonName(Reason::kBudgetExhausted), "budget_exhausted");
  EXPECT_STREQ(ReasonName(Reason::kRoachMotel), "roach_motel");
  EXPECT_STREQ(ReasonName(Reason::kNotFlowStart), "not_flow_start");
  EXPECT_STREQ(ReasonName(Reason::kSpoofedSource), "spoofed_source");
  EXPECT_STREQ(ReasonName(Reason::kUnknownSource), "unknown_source");
  EXPECT_STREQ(ReasonName(Reason::kIpv6Disabled), "ipv6_disabled");
  EXPECT_STREQ(ReasonName(Reason::kVlanTagged), "vlan_tagged");
  EXPECT_STREQ(ReasonName(Reason::kNonIp), "non_ip");
  EXPECT_STREQ(ReasonName(Reason::kMalformed), "malformed");
  EXPECT_STREQ(ReasonName(Reason::kLinkLocalControl), "link_local_control");
  EXPECT_STREQ(ReasonName(Reason::kFragmentNoHead), "fragment_no_head");
  EXPECT_STREQ(ReasonName(Reason::kFlowTableFull), "flow_table_full");
  EXPECT_STREQ(ReasonName(Reason::kTtlExceeded), "ttl_exceeded");
  EXPECT_STREQ(ReasonName(Reason::kNoRoute), "no_route");
  std::set<std::string> names;
  for (int r = 0; r < int(Reason::kCount); r++) names.insert(ReasonName(Reason(r)));
  EXPECT_EQ(names.size(), size_t(Reason::kCount));
}

TEST(ControlTest, InboundAlwaysPassesAndIsNotCounted) {
  ControlPolicy p;
  p.roach_motel = true;  // roach motel limits outbound only
  Budget b{Limits{}};
  FlowStart f;
  f.from_inside = false;
  f.ip_proto = 6;
  f.dport = 23;
  f.dst_honeypot = 0;
  for (uint16_t dst : {uint16_t(0), kNone}) {  // to a honeypot or to anything else
    f.dst_honeypot = dst;
    for (Budget* bp : {&b, static_cast<Budget*>(nullptr)}) {
      Decision d = Decide(p, f, bp, kT0);
      EXPECT_EQ(d.verdict, Verdict::kPass);
      EXPECT_EQ(d.reason, Reason::kInbound);
      EXPECT_FALSE(d.counted);
    }
  }
  // Even a non-SYN TCP segment from outside: inbound is never judged.
  f.tcp_syn_only = false;
  EXPECT_EQ(Decide(p, f, &b, kT0).reason, Reason::kInbound);
  EXPECT_EQ(b.Used(ProtoClass::kTcp, kT0), 0u);
}

TEST(ControlTest, HoneypotToHoneypotIsExempt) {
  Budget b(Limits{});
  FlowStart f = OutboundSyn();
  f.dst_honeypot = 1;
  ExpectExempt(Decide({}, f, &b, kT0), Reason::kExemptInternal);
  EXPECT_EQ(b.Used(ProtoClass::kTcp, kT0), 0u);
}

TEST(ControlTest, BroadcastHasABudgetOfItsOwn) {
  Limits l;
  l.max[size_t(ProtoClass::kBroadcast)] = 2;
  Budget b(l);
  FlowStart f = OutboundUdp(137, 137, Ip4{0xe00000fb});
  f.dst_broadcast = true;
  for (int i = 0; i < 2; i++) {
    f.sport = uint16_t(137 + i);
    Decision d = Decide({}, f, &b, kT0);
    EXPECT_EQ(d.verdict, Verdict::kPass);
    EXPECT_EQ(d.reason, Reason::kExemptBroadcast);
    EXPECT_TRUE(d.counted);
    EXPECT_EQ(d.cls, ProtoClass::kBroadcast);
    EXPECT_EQ(d.used, uint32_t(i + 1));
  }
  f.sport = 200;
  Decision d = Decide({}, f, &b, kT0);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, Reason::kBudgetExhausted);
  EXPECT_EQ(d.cls, ProtoClass::kBroadcast);
  EXPECT_EQ(b.Used(ProtoClass::kUdp, kT0), 0u);  // not the protocol's budget
  EXPECT_EQ(Decide({}, f, nullptr, kT0).verdict, Verdict::kDrop);
  // The same IP broadcast in a frame to one host's MAC is not a broadcast
  // (the engine says so): an ordinary UDP flow.
  f.dst_broadcast = false;
  EXPECT_EQ(Decide({}, f, &b, kT0).reason, Reason::kOutbound);
  EXPECT_EQ(b.Used(ProtoClass::kUdp, kT0), 1u);
}

TEST(ControlTest, DhcpOnlyClientToBroadcastOrListedServers) {
  Budget b(Limits{});
  ControlPolicy p;
  const Ip4 server{0xc0000243};  // 192.0.2.67
  p.dhcp_servers = {server};
  FlowStart discover = OutboundUdp(68, 67, Ip4{0xffffffff});
  discover.dst_broadcast = true;
  Decision d = Decide(p, discover, &b, kT0);
  EXPECT_EQ(d.verdict, Verdict::kPass);
  EXPECT_EQ(d.reason, Reason::kExemptDhcp);
  EXPECT_EQ(d.cls, ProtoClass::kBroadcast);  // a broadcast: its budget
  ExpectExempt(Decide(p, OutboundUdp(68, 67, server), &b, kT0), Reason::kExemptDhcp);
  EXPECT_EQ(b.Used(ProtoClass::kUdp, kT0), 0u);
  // Client traffic to anyone else is ordinary UDP.
  EXPECT_EQ(Decide(p, OutboundUdp(68, 67), &b, kT0).reason, Reason::kOutbound);
  EXPECT_EQ(Decide({}, OutboundUdp(68, 67, server), &b, kT0).reason, Reason::kOutbound);
  // Server or relay traffic (source port 67) never leaves a honeypot.
  EXPECT_EQ(Decide(p, OutboundUdp(67, 68), &b, kT0).reason, Reason::kDhcpServer);
  EXPECT_EQ(Decide(p, OutboundUdp(67, 67, server), &b, kT0).reason, Reason::kDhcpServer);
  EXPECT_EQ(Decide(p, discover, &b, kT0).verdict, Verdict::kPass);
  FlowStart offer = OutboundUdp(67, 68, Ip4{0xffffffff});
  offer.dst_broadcast = true;
  EXPECT_EQ(Decide(p, offer, &b, kT0).verdict, Verdict::kDrop);
  EXPECT_EQ(b.Used(ProtoClass::kUdp, kT0), 2u);
  // One DHCP port is not enough, and TCP on those ports is ordinary traffic.
  EXPECT_EQ(Decide({}, OutboundUdp(68, 53), &b, kT0).reason, Reason::kOutbound);
  FlowStart tcp = OutboundSyn();
  tcp.sport = 67;
  tcp.dport = 68;
  EXPECT_EQ(Decide({}, tcp, &b, kT0).reason, Reason::kOutbound);
}

TEST(ControlTest, ForbiddenFromInside) {
  EXPECT_EQ(ForbiddenFromInside(false, 17, 67, 0), Reason::kDhcpServer);
  EXPECT_EQ(ForbiddenFromInside(true, 17, 547, 0), Reason::kDhcpServer);
  EXPECT_EQ(ForbiddenFromInside(true, 58, 0, 134), Reason::kRogueRouter);
  EXPECT_EQ(ForbiddenFromInside(true, 58, 0, 137), Reason::kRogueRouter);
  EXPECT_EQ(ForbiddenFromInside(true, 58, 0, 138), Reason::kRogueRouter);
  EXPECT_EQ(ForbiddenFromInside(true, 58, 0, 135), Reason::kCount);
  EXPECT_EQ(ForbiddenFromInside(false, 1, 0, 134), Reason::kCount);  // ICMPv4 type 134 is nothing
  EXPECT_EQ(ForbiddenFromInside(false, 17, 68, 0), Reason::kCount);
  EXPECT_EQ(ForbiddenFromInside(false, 6, 67, 0), Reason::kCount);
}

TEST(ControlTest, ReplyOverrunThresholds) {
  // UDP: one reply per request is a reply; a second one to a host that sent one packet is not.
  EXPECT_FALSE(ReplyOverrun(17, 1, 100, 1, 50));
  EXPECT_TRUE(ReplyOverrun(17, 2, 200, 1, 50));
  EXPECT_FALSE(ReplyOverrun(17, 3, 300, 3, 50));
  EXPECT_TRUE(ReplyOverrun(17, 2, 4096 + 4 * 50 + 1, 1, 50));  // amplification
  EXPECT_FALSE(ReplyOverrun(17, 100, 10000, 100, 5000));
  // TCP: downloads with compressed ACKs stay replies.
  EXPECT_FALSE(ReplyOverrun(6, 64 * 10 + 64, 1 << 20, 10, 600));
  EXPECT_TRUE(ReplyOverrun(6, 65, 65 * 1400, 0, 0));
}

TEST(ControlTest, DecideOverrunTakesAStartOrDrops) {
  Limits l;
  l.max[size_t(ProtoClass::kUdp)] = 1;
  Budget b(l);
  Decision d = DecideOverrun({}, 17, &b, kT0);
  EXPECT_EQ(d.verdict, Verdict::kPass);
  EXPECT_EQ(d.reason, Reason::kReplyOverrun);
  EXPECT_TRUE(d.counted);
  EXPECT_EQ(d.used, 1u);
  d = DecideOverrun({}, 17, &b, kT0);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, Reason::kBudgetExhausted);
  ControlPolicy motel;
  motel.roach_motel = true;
  EXPECT_EQ(DecideOverrun(motel, 6, &b, kT0).reason, Reason::kRoachMotel);
}

TEST(ControlTest, DnsToConfiguredServersIsExempt) {
  Budget b(Limits{});
  ControlPolicy p = PolicyWithDns();
  ExpectExempt(Decide(p, OutboundUdp(5353, 53, kDns), &b, kT0), Reason::kExemptDns);
  ExpectExempt(Decide(p, OutboundUdp(5353, 53, Ip4{0x08080808}), &b, kT0), Reason::kExemptDns);
  FlowStart tcp = OutboundSyn();
  tcp.dport = 53;
  tcp.dst_ip = kDns;
  ExpectExempt(Decide(p, tcp, &b, kT0), Reason::kExemptDns);
  EXPECT_EQ(b.Used(ProtoClass::kUdp, kT0), 0u);
  EXPECT_EQ(b.Used(ProtoClass::kTcp, kT0), 0u);

  // Not exempt: DNS to another server, another port to the server, ICMP to it,
  // or any DNS when no servers are configured.
  EXPECT_EQ(Decide(p, OutboundUdp(5353, 53, Ip4{0x01010101}), &b, kT0).reason, Reason::kOutbound);
  EXPECT_EQ(Decide(p, OutboundUdp(5353, 54, kDns), &b, kT0).reason, Reason::kOutbound);
  FlowStart icmp = OutboundUdp(0, 53, kDns);
  icmp.ip_proto = 1;
  EXPECT_EQ(Decide(p, icmp, &b, kT0).reason, Reason::kOutbound);
  EXPECT_EQ(Decide({}, OutboundUdp(5353, 53, kDns), &b, kT0).reason, Reason::kOutbound);
  EXPECT_EQ(b.Used(ProtoClass::kUdp, kT0), 3u);
}

TEST(ControlTest, TcpThatIsNotAConnectionAttemptIsDropped) {
  Budget b(Limits{});
  FlowStart synack = OutboundSyn();
  synack.tcp_syn_only = false;
  synack.tcp_syn_ack = true;  // a honeypot "answering" a SYN we never saw
  Decision d = Decide({}, synack, &b, kT0);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, Reason::kNotFlowStart);
  EXPECT_FALSE(d.counted);
  FlowStart ack = OutboundSyn();
  ack.tcp_syn_only = false;
  EXPECT_EQ(Decide({}, ack, &b, kT0).reason, Reason::kNotFlowStart);
  EXPECT_EQ(b.Used(ProtoClass::kTcp, kT0), 0u);
  // Checked before the roach motel and before the budget.
  ControlPolicy motel;
  motel.roach_motel = true;
  EXPECT_EQ(Decide(motel, ack, &b, kT0).reason, Reason::kNotFlowStart);
  EXPECT_EQ(Decide({}, ack, nullptr, kT0).reason, Reason::kNotFlowStart);
  // tcp_syn_only means nothing for other protocols.
  FlowStart udp = OutboundUdp(40000, 9999);
  udp.tcp_syn_only = false;
  EXPECT_EQ(Decide({}, udp, &b, kT0).reason, Reason::kOutbound);
}

TEST(ControlTest, RoachMotelDropsNewOutboundButKeepsExemptions) {
  Budget b(Limits{});
  ControlPolicy p = PolicyWithDns();
  p.roach_motel = true;
  Decision d = Decide(p, OutboundSyn(), &b, kT0);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, Reason::kRoachMotel);
  EXPECT_FALSE(d.counted);
  EXPECT_EQ(d.cls, ProtoClass::kTcp);
  EXPECT_EQ(d.used, 0u);
  EXPECT_EQ(d.left, 9u);
  EXPECT_EQ(d.limit, 9u);
  EXPECT_EQ(b.Used(ProtoClass::kTcp, kT0), 0u);
  // The motel's exemptions still let the honeypot live on its network.
  ExpectExempt(Decide(p, OutboundUdp(5353, 53, kDns), &b, kT0), Reason::kExemptDns);
  p.dhcp_servers = {kOutsideHost};
  ExpectExempt(Decide(p, OutboundUdp(68, 67), &b, kT0), Reason::kExemptDhcp);
  FlowStart internal = OutboundSyn();
  internal.dst_honeypot = 2;
  ExpectExempt(Decide(p, internal, &b, kT0), Reason::kExemptInternal);
  // Without a budget the verdict is the same, with zero figures.
  Decision nb = Decide(p, OutboundSyn(), nullptr, kT0);
  EXPECT_EQ(nb.reason, Reason::kRoachMotel);
  EXPECT_EQ(nb.limit, 0u);
}

TEST(ControlTest, UnknownSourceWithoutBudgetIsDropped) {
  Decision d = Decide({}, OutboundSyn(), nullptr, kT0);
  EXPECT_EQ(d.verdict, Verdict::kDrop);
  EXPECT_EQ(d.reason, Reason::kUnknownSource);
  EXPECT_FALSE(d.counted);
}

TEST(ControlTest, NineTcpAllowedThenTenthDeniedUntilTheWindowPasses) {
  Budget b(Limits{});  // sliding, 9 TCP per hour
  for (uint32_t i = 1; i <= 9; i++) {
    FlowStart f = OutboundSyn();
    f.sport = uint16_t(40000 + i);
    Decision d = Decide({}, f, &b, kT0 + i * kSec);
    EXPECT_EQ(d.verdict, Verdict::kPass) << i;
    EXPECT_EQ(d.reason, Reason::kOutbound);
    EXPECT_TRUE(d.counted);
    EXPECT_EQ(d.cls, ProtoClass::kTcp);
    EXPECT_EQ(d.used, i);
    EXPECT_EQ(d.left, 9 - i);
    EXPECT_EQ(d.limit, 9u);
  }
  Decision tenth = Decide({}, OutboundSyn(), &b, kT0 + 20 * kSec);
  EXPECT_EQ(tenth.verdict, Verdict::kDrop);
  EXPECT_EQ(tenth.reason, Reason::kBudgetExhausted);
  EXPECT_FALSE(tenth.counted);
  EXPECT_EQ(tenth.used, 9u);
  EXPECT_EQ(tenth.left, 0u);
  EXPECT_EQ(tenth.limit, 9u);
  // UDP has its own budget.
  EXPECT_EQ(Decide({}, OutboundUdp(40000, 123), &b, kT0 + 20 * kSec).reason, Reason::kOutbound);
  // The first start (at +1 s) leaves the window one hour later.
  EXPECT_EQ(Decide({}, OutboundSyn(), &b, kT0 + kSec + kHour - 1).reason, Reason::kBudgetExhausted);
  Decision again = Decide({}, OutboundSyn(), &b, kT0 + kSec + kHour);
  EXPECT_EQ(again.reason, Reason::kOutbound);
  EXPECT_EQ(again.used, 9u);
  EXPECT_EQ(again.left, 0u);
}

// rc.firewall: iptables -m limit --limit 9/hour --limit-burst 9.
TEST(ControlTest, TokenBucketMatchesRcFirewallLimit) {
  Limits l;
  l.kind = WindowKind::kTokenBucket;
  Budget b(l);
  for (int i = 0; i < 9; i++) EXPECT_EQ(Decide({}, OutboundSyn(), &b, kT0).reason, Reason::kOutbound) << i;
  EXPECT_EQ(Decide({}, OutboundSyn(), &b, kT0).reason, Reason::kBudgetExhausted);
  for (int k = 1; k <= 5; k++) {
    const int64_t t = kT0 + k * 400 * kSec;
    EXPECT_EQ(Decide({}, OutboundSyn(), &b, t - 1).reason, Reason::kBudgetExhausted) << k;
    Decision d = Decide({}, OutboundSyn(), &b, t);
    EXPECT_EQ(d.reason, Reason::kOutbound) << k;
    EXPECT_EQ(d.used, 9u);
    EXPECT_EQ(d.left, 0u);
    EXPECT_EQ(Decide({}, OutboundSyn(), &b, t).reason, Reason::kBudgetExhausted) << k;
  }
}

TEST(ControlTest, LimitZeroDeniesEveryOutboundStart) {
  Limits l;
  l.max = {0, 0, 0, 0, 0};
  Budget b(l);
  Decision d = Decide({}, OutboundSyn(), &b, kT0);
  EXPECT_EQ(d.reason, Reason::kBudgetExhausted);
  EXPECT_EQ(d.limit, 0u);
  EXPECT_EQ(d.left, 0u);
  // Exemptions do not need a budget.
  ExpectExempt(Decide(PolicyWithDns(), OutboundUdp(5353, 53, kDns), &b, kT0), Reason::kExemptDns);
}

TEST(ControlTest, ExemptionsComeBeforeTheTcpStartCheck) {
  // The order is part of the contract: an exempt destination is passed
  // whatever the TCP flags (the flow table then tracks it).
  FlowStart f = OutboundSyn();
  f.tcp_syn_only = false;
  f.dst_honeypot = 3;
  EXPECT_EQ(Decide({}, f, nullptr, kT0).reason, Reason::kExemptInternal);
  f.dst_honeypot = kNone;
  f.dst_broadcast = true;
  Budget b(Limits{});
  EXPECT_EQ(Decide({}, f, &b, kT0).reason, Reason::kExemptBroadcast);
}

}  // namespace
}  // namespace hn
