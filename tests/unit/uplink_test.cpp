// Uplink planning, ruleset and the operator-lockout check (src/lab/uplink.h):
// pure functions, no host touched.
#include "lab/uplink.h"

#include <gtest/gtest.h>

#include "config/config.h"

namespace hn {
namespace {

Ip4 IP(const char* s) { return *Ip4::Parse(s); }
Ip4Prefix NET(const char* s) { return *Ip4Prefix::Parse(s); }

// The held-out shape: nat, hp1 on the host's own address, hp2 on an extra
// address of the host's /24, management from one admin.
const char* kConfig = R"(mode = "nat"
[inside]
gateway_ip = "10.0.0.1/24"
[uplink]
interface = "eth0"
management_ports = [22]
management_from = ["198.51.100.200/32"]
[[honeypot]]
name = "hp1"
ip = "10.0.0.2"
public_ip = "203.0.113.10"
[[honeypot]]
name = "hp2"
ip = "10.0.0.3"
public_ip = "203.0.113.20"
)";

UplinkHost Host() {
  UplinkHost h;
  h.iface = "eth0";
  h.exists = true;
  h.addrs = {Ip4Prefix{IP("203.0.113.10"), 24}};
  h.default_gw = IP("203.0.113.1");
  h.other_nets = {NET("172.17.0.0/16"), NET("172.17.0.1/32")};
  return h;
}

Config Cfg(const char* text = kConfig) {
  auto c = ParseConfig(text, "up.toml");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

TEST(UplinkPlan, SharedAndExtraAddressesGetTransitAddressesAndTheRouter) {
  auto p = PlanUplink(Cfg(), Host());
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->gateway, IP("203.0.113.1"));
  EXPECT_EQ(p->host_transit, IP("198.18.254.1"));
  ASSERT_EQ(p->honeypots.size(), 2u);
  EXPECT_TRUE(p->honeypots[0].shared);
  EXPECT_FALSE(p->honeypots[0].proxy_arp);
  EXPECT_EQ(p->honeypots[0].transit_ip, IP("198.18.254.2"));
  EXPECT_FALSE(p->honeypots[1].shared);
  EXPECT_TRUE(p->honeypots[1].proxy_arp) << "an extra address on the /24: the host answers ARP for it";
  EXPECT_EQ(p->honeypots[1].transit_ip, IP("198.18.254.3"));
  // Never reached by a honeypot: link-local (metadata) and the host's other networks.
  EXPECT_NE(std::find(p->blocked.begin(), p->blocked.end(), NET("169.254.0.0/16")), p->blocked.end());
  EXPECT_NE(std::find(p->blocked.begin(), p->blocked.end(), NET("172.17.0.0/16")), p->blocked.end());
}

TEST(UplinkPlan, RoutedExtraAddressNeedsNoProxyAndGatewayMayBeGiven) {
  Config c = Cfg();
  c.honeypots[1].public_ip = IP("192.0.2.77");  // routed to the host by the provider
  c.outside_gateway = IP("203.0.113.254");
  auto p = PlanUplink(c, Host());
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_FALSE(p->honeypots[1].proxy_arp);
  EXPECT_EQ(p->gateway, IP("203.0.113.254"));
}

TEST(UplinkPlan, RefusesWhatCannotWork) {
  UplinkHost none = Host();
  none.exists = false;
  auto p = PlanUplink(Cfg(), none);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("uplink.interface: this host has no interface eth0"), std::string::npos);

  // A dedicated NIC (no address): the router must be named.
  UplinkHost bare = Host();
  bare.addrs.clear();
  p = PlanUplink(Cfg(), bare);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("outside.gateway: eth0 has no address (a dedicated NIC"), std::string::npos)
      << p.status().message();

  UplinkHost no_gw = Host();
  no_gw.default_gw.reset();
  no_gw.other_nets.push_back(NET("198.18.0.0/16"));
  Config c = Cfg();
  c.honeypots[1].public_ip = IP("172.17.0.9");
  p = PlanUplink(c, no_gw);
  ASSERT_FALSE(p.ok());
  const std::string m = p.status().message();
  EXPECT_NE(m.find("outside.gateway: the host has no default route via eth0"), std::string::npos) << m;
  EXPECT_NE(m.find("uplink.transit: 198.18.254.0/24 overlaps the host's network 198.18.0.0/16"), std::string::npos)
      << m;
  EXPECT_NE(m.find("honeypot hp2: public_ip 172.17.0.9 is on the host's other network"), std::string::npos) << m;
}

TEST(UplinkPlan, DedicatedNicKeepsTheRealAddressesAndBridgeNeedsNewMacs) {
  UplinkHost bare = Host();
  bare.addrs.clear();
  Config c = Cfg();
  c.outside_gateway = IP("203.0.113.1");
  auto p = PlanUplink(c, bare);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE(p->dedicated);
  EXPECT_EQ(p->gateway, IP("203.0.113.1"));
  ASSERT_EQ(p->honeypots.size(), 2u);
  EXPECT_EQ(p->honeypots[0].transit_ip, IP("203.0.113.10")) << "no translation: the honeywall owns the NIC";

  c.mode = Mode::kBridge;
  p = PlanUplink(c, bare);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("uplink.new_macs"), std::string::npos) << p.status().message();
  c.uplink->new_macs = true;
  EXPECT_TRUE(PlanUplink(c, bare).ok());
}

TEST(UplinkPlan, SummarySaysEachShape) {
  const Config c = Cfg();
  auto p = PlanUplink(c, Host());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(UplinkSummary(*p, c),
            "uplink eth0: router 203.0.113.1, management ports 22 (from 198.51.100.200/32); honeypots at hp1 "
            "203.0.113.10 (shared with the host), hp2 203.0.113.20 (extra, ARP by the host)");
}

TEST(UplinkRuleset, ManagementStaysWithTheHostAndHoneypotsReachOnlyTheUplink) {
  auto p = PlanUplink(Cfg(), Host());
  ASSERT_TRUE(p.ok());
  const std::string r = UplinkRuleset(*p);
  // New connections to the shared address go to hp1, except port 22.
  EXPECT_NE(r.find("iifname \"eth0\" ip daddr 203.0.113.10 tcp dport { 22 } return\n"
                   "    iifname \"eth0\" ip daddr 203.0.113.10 dnat to 198.18.254.2"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("ip daddr 203.0.113.20 dnat to 198.18.254.3"), std::string::npos) << r;
  EXPECT_EQ(r.find("ip daddr 203.0.113.20 tcp dport"), std::string::npos) << "all of an extra address is the honeypot's";
  EXPECT_NE(r.find("oifname \"eth0\" ip saddr 198.18.254.2 snat to 203.0.113.10"), std::string::npos) << r;
  EXPECT_NE(r.find("tcp dport { 22 } notrack"), std::string::npos) << r;
  EXPECT_NE(r.find("iifname \"eth0\" tcp dport { 22 } ip saddr != { 198.51.100.200/32 } drop"), std::string::npos) << r;
  EXPECT_NE(r.find("iifname \"hn-up0\" ip daddr { 169.254.0.0/16, 172.17.0.0/16, 172.17.0.1/32 } drop"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("iifname \"hn-up0\" drop"), std::string::npos) << r;
  EXPECT_NE(r.find("oifname \"hn-up0\" iifname \"eth0\" ct status dnat accept\n"
                   "    oifname \"hn-up0\" iifname \"eth0\" ct state established,related accept\n"
                   "    oifname \"hn-up0\" drop"),
            std::string::npos)
      << r;
}

TEST(UplinkOperator, RefusesWhatLocksTheOperatorOut) {
  auto p = PlanUplink(Cfg(), Host());
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(CheckOperatorKeepsAccess(*p, {22, 80}, "").ok());
  EXPECT_TRUE(CheckOperatorKeepsAccess(*p, {22}, "198.51.100.200 50000 203.0.113.10 22").ok());

  Status s = CheckOperatorKeepsAccess(*p, {80}, "");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("nothing listens on TCP port 22"), std::string::npos) << s.message();

  s = CheckOperatorKeepsAccess(*p, {22, 2222}, "198.51.100.200 50000 203.0.113.10 2222");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("came in on 203.0.113.10:2222, which is not a management port"), std::string::npos)
      << s.message();

  s = CheckOperatorKeepsAccess(*p, {22}, "198.51.100.9 50000 203.0.113.10 22");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("comes from 198.51.100.9, which is not in management_from"), std::string::npos)
      << s.message();
  // A session over another network of the host is not affected.
  EXPECT_TRUE(CheckOperatorKeepsAccess(*p, {22}, "10.9.9.9 50000 172.17.0.1 2222").ok());
}

TEST(UplinkUndo, RoundTripsThroughJson) {
  UplinkUndo u;
  u.iface = "eth0";
  u.table = u.rule = u.veth = true;
  u.proxies = {"203.0.113.20"};
  u.routes = {"203.0.113.20"};
  u.sysctls = {{"net/ipv4/conf/eth0/forwarding", "0"}};
  const UplinkUndo b = UplinkUndoFromJson(UplinkUndoJson(u));
  EXPECT_EQ(b.iface, u.iface);
  EXPECT_TRUE(b.table && b.rule && b.veth);
  EXPECT_EQ(b.proxies, u.proxies);
  EXPECT_EQ(b.routes, u.routes);
  EXPECT_EQ(b.sysctls, u.sysctls);
}

}  // namespace
}  // namespace hn
