// Port checks on a veth in a network namespace made by each test: every way a
// data port can be unsafe is refused with the command that fixes it, and a
// clean port is accepted. Settings are made with ip/sysctl in the namespace;
// the checks run in this thread after setns(), as the honeywall would.
#include "netns_guard.h"
#include "io/port_check.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace hn {
namespace {

using test::NetnsEnter;
using test::Sh;
using test::TestNetns;

// ethtool get (ETHTOOL_G*) or set (ETHTOOL_S*, to `value`) on the current
// namespace's interface; the value read, or -1 on error.
int Ethtool(const std::string& ifname, uint32_t cmd, uint32_t value = 0) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ethtool_value ev{};
  ev.cmd = cmd;
  ev.data = value;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&ev);
  int r = ::ioctl(fd, SIOCETHTOOL, &ifr);
  ::close(fd);
  return r < 0 ? -1 : int(ev.data);
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class PortCheckTest : public ::testing::Test {
 protected:
  // hw-a is made clean: up, no address, IPv6 off, forwarding off (a new
  // namespace may inherit forwarding=1 from the host).
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, ethtool)";
    ns_.emplace();
    ASSERT_TRUE(ns_->ok()) << "ip netns add " << ns_->name() << " failed";
    ASSERT_TRUE(Ip("link add hw-a type veth peer name hw-b"));
    ASSERT_TRUE(Sysctl("net.ipv6.conf.hw-a.disable_ipv6=1 net.ipv6.conf.hw-b.disable_ipv6=1 "
                       "net.ipv4.conf.hw-a.forwarding=0"));
    ASSERT_TRUE(Ip("link set hw-a up") && Ip("link set hw-b up"));
    enter_.emplace(ns_->name());
    ASSERT_TRUE(enter_->ok()) << "setns into " << ns_->name() << " failed";
  }
  void TearDown() override {
    enter_.reset();
    ns_.reset();
  }
  bool Ip(const std::string& args) { return Sh("ip -n " + ns_->name() + " " + args); }
  bool Sysctl(const std::string& settings) {
    return Sh("ip netns exec " + ns_->name() + " sysctl -qw " + settings);
  }
  // The refusal message for hw-a, or "" when accepted.
  std::string Refusal(const std::string& ifname = "hw-a") {
    Status s = CheckDataPort(ifname);
    return s.ok() ? "" : s.message();
  }

  std::optional<TestNetns> ns_;
  std::optional<NetnsEnter> enter_;
};

TEST_F(PortCheckTest, AcceptsCleanPort) {
  Status s = CheckDataPort("hw-a");
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST_F(PortCheckTest, RefusesMissingInterface) {
  EXPECT_EQ(Refusal("hw-nope"),
            "interface hw-nope does not exist (create it, or fix inside.interface/outside.interface)");
  EXPECT_FALSE(CheckDataPort("").ok());
  EXPECT_FALSE(CheckDataPort("hw-name-far-too-long-for-linux").ok());
}

TEST_F(PortCheckTest, RefusesDownInterface) {
  ASSERT_TRUE(Ip("link set hw-a down"));
  std::string m = Refusal();
  EXPECT_TRUE(Contains(m, "ip link set hw-a up")) << m;
  // Refusing changes nothing: still down.
  EXPECT_TRUE(Contains(Refusal(), "is down")) << "CheckDataPort must not bring the link up itself";
}

TEST_F(PortCheckTest, RefusesIpv4Address) {
  ASSERT_TRUE(Ip("addr add 10.0.0.1/24 dev hw-a"));
  std::string m = Refusal();
  EXPECT_TRUE(Contains(m, "hw-a has address 10.0.0.1/24: the host would answer/route frames there; "
                          "remove it: ip addr flush dev hw-a"))
      << m;
  // The peer has no address and stays acceptable.
  EXPECT_TRUE(Sysctl("net.ipv4.conf.hw-b.forwarding=0"));
  EXPECT_EQ(Refusal("hw-b"), "");
}

TEST_F(PortCheckTest, RefusesIpv6EnabledAndIpv6Address) {
  ASSERT_TRUE(Sysctl("net.ipv6.conf.hw-a.disable_ipv6=0"));
  std::string m = Refusal();
  EXPECT_TRUE(Contains(m, "sysctl -w net.ipv6.conf.hw-a.disable_ipv6=1")) << m;
  ASSERT_TRUE(Ip("addr add fd00::1/64 dev hw-a nodad"));
  m = Refusal();
  EXPECT_TRUE(Contains(m, "fd00::1/64")) << m;
  EXPECT_TRUE(Contains(m, "ip addr flush dev hw-a")) << m;
}

TEST_F(PortCheckTest, RefusesIpv4Forwarding) {
  ASSERT_TRUE(Sysctl("net.ipv4.conf.hw-a.forwarding=1"));
  std::string m = Refusal();
  EXPECT_TRUE(Contains(m, "sysctl -w net.ipv4.conf.hw-a.forwarding=0")) << m;
  ASSERT_TRUE(Sysctl("net.ipv4.conf.hw-a.forwarding=0"));
  EXPECT_EQ(Refusal(), "");
}

TEST_F(PortCheckTest, RefusesBridgePort) {
  ASSERT_TRUE(Ip("link add hn-br0 type bridge"));
  ASSERT_TRUE(Ip("link set hw-a master hn-br0"));
  std::string m = Refusal();
  EXPECT_TRUE(Contains(m, "enslaved to hn-br0")) << m;
  EXPECT_TRUE(Contains(m, "ip link set hw-a nomaster")) << m;
  ASSERT_TRUE(Ip("link set hw-a nomaster"));
  EXPECT_EQ(Refusal(), "");
}

TEST_F(PortCheckTest, ReportsEveryProblemAtOnce) {
  ASSERT_TRUE(Ip("addr add 192.168.7.1/16 dev hw-a"));
  ASSERT_TRUE(Sysctl("net.ipv4.conf.hw-a.forwarding=1"));
  std::string m = Refusal();
  EXPECT_TRUE(Contains(m, "192.168.7.1/16")) << m;
  EXPECT_TRUE(Contains(m, "net.ipv4.conf.hw-a.forwarding=0")) << m;
}

TEST_F(PortCheckTest, DisableOffloadsTurnsOffAndReportsOnce) {
  // veth starts with TSO/GSO on and GRO off; turn GRO on so there is one to undo.
  ASSERT_NE(Ethtool("hw-a", ETHTOOL_SGRO, 1), -1);
  ASSERT_EQ(Ethtool("hw-a", ETHTOOL_GGRO), 1);
  ASSERT_EQ(Ethtool("hw-a", ETHTOOL_GGSO), 1);
  ASSERT_EQ(Ethtool("hw-a", ETHTOOL_GTSO), 1);

  auto r = DisableOffloads("hw-a");
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<std::string> want = {"hw-a: turned off gro", "hw-a: turned off gso", "hw-a: turned off tso"};
  EXPECT_EQ(*r, want);
  EXPECT_EQ(Ethtool("hw-a", ETHTOOL_GGRO), 0);
  EXPECT_EQ(Ethtool("hw-a", ETHTOOL_GGSO), 0);
  EXPECT_EQ(Ethtool("hw-a", ETHTOOL_GTSO), 0);

  auto again = DisableOffloads("hw-a");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->empty()) << again->front();
  // The peer was not touched.
  EXPECT_EQ(Ethtool("hw-b", ETHTOOL_GTSO), 1);
}

TEST_F(PortCheckTest, DisableOffloadsMissingInterface) {
  auto r = DisableOffloads("hw-nope");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "interface hw-nope does not exist")) << r.status().message();
}

TEST_F(PortCheckTest, SetLinkUpBringsLinkUp) {
  ASSERT_TRUE(Ip("link set hw-a down"));
  ASSERT_FALSE(CheckDataPort("hw-a").ok());
  Status s = SetLinkUp("hw-a");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Refusal(), "");
  EXPECT_TRUE(SetLinkUp("hw-a").ok()) << "already up is fine";
  Status missing = SetLinkUp("hw-nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(Contains(missing.message(), "does not exist")) << missing.message();
}

}  // namespace
}  // namespace hn
