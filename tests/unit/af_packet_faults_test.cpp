// AfPacketPort when its link goes down: frames queued for transmit are thrown
// away and counted (the TX ring used to stay full of them for good, so the
// port never sent again), the socket's ENETDOWN is read once (poll() used to
// report POLLERR forever: a busy loop), and the port works again after up.
#include "io/af_packet.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "netns_guard.h"

namespace hn {
namespace {

constexpr uint16_t kTestType = 0x88b5;

std::vector<uint8_t> TestFrame(uint32_t seq) {
  std::vector<uint8_t> f(100, 0);
  const uint8_t head[12] = {0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a};
  std::memcpy(f.data(), head, 12);
  f[12] = kTestType >> 8;
  f[13] = kTestType & 0xff;
  std::memcpy(f.data() + 14, &seq, 4);
  return f;
}

// Test frames b receives within the deadline (others ignored).
int Receive(AfPacketPort& b, int want) {
  int got = 0;
  const int64_t deadline = MonoNowNs() + 2'000'000'000;
  while (got < want && MonoNowNs() < deadline) {
    RxFrame f;
    while (b.Next(&f)) {
      if (f.len >= 14 && f.data[12] == (kTestType >> 8) && f.data[13] == (kTestType & 0xff)) got++;
      b.Release();
    }
    pollfd pfd{b.fd(), POLLIN, 0};
    ::poll(&pfd, 1, 10);
  }
  return got;
}

class AfPacketFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    ns_.emplace();
    ASSERT_TRUE(ns_->ok());
    n_ = ns_->name();
    ASSERT_TRUE(test::Sh("ip -n " + n_ + " link add hw-a address 02:00:00:00:00:0a type veth peer name hw-b address 02:00:00:00:00:0b"));
    ASSERT_TRUE(test::Sh("ip netns exec " + n_ + " sysctl -qw net.ipv6.conf.hw-a.disable_ipv6=1 net.ipv6.conf.hw-b.disable_ipv6=1"));
    ASSERT_TRUE(test::Sh("ip -n " + n_ + " link set hw-a up && ip -n " + n_ + " link set hw-b up"));
    enter_.emplace(n_);
    ASSERT_TRUE(enter_->ok());
  }
  void TearDown() override {
    enter_.reset();
    ns_.reset();
  }
  std::optional<test::TestNetns> ns_;
  std::optional<test::NetnsEnter> enter_;
  std::string n_;
};

TEST_F(AfPacketFaults, LinkDownThrowsQueuedFramesAwayAndThePortWorksAfterUp) {
  auto a = AfPacketPort::Open("hw-a", 8);
  auto b = AfPacketPort::Open("hw-b", 64);
  ASSERT_TRUE(a.ok() && b.ok());
  // A full TX ring, not yet handed to the kernel, when the link goes down.
  for (uint32_t i = 0; i < 8; i++) ASSERT_TRUE((*a)->Send(TestFrame(i).data(), 100));
  ASSERT_TRUE(test::Sh("ip -n " + n_ + " link set hw-a down"));
  (*a)->Flush();
  EXPECT_EQ((*a)->stats().tx_discarded, 8u);
  EXPECT_EQ((*a)->TakeError(), ENETDOWN);
  // The error is read: poll() no longer reports it (it did forever: a busy loop).
  pollfd pfd{(*a)->fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0) << "revents " << pfd.revents;
  EXPECT_EQ((*a)->TakeError(), 0);

  ASSERT_TRUE(test::Sh("ip -n " + n_ + " link set hw-a up"));
  // Twice the ring: the slots came back and the kernel's head is where ours is.
  int sent = 0;
  const int64_t deadline = MonoNowNs() + 2'000'000'000;
  while (sent < 16 && MonoNowNs() < deadline) {
    if ((*a)->Send(TestFrame(100 + sent).data(), 100)) sent++;
    (*a)->Flush();
  }
  ASSERT_EQ(sent, 16) << "the TX ring stayed full after the link came back";
  EXPECT_EQ(Receive(**b, 16), 16) << "frames sent after up did not arrive";
  EXPECT_EQ((*a)->stats().tx_discarded, 8u);
}

TEST_F(AfPacketFaults, DiscardQueuedTxKeepsOrder) {
  auto a = AfPacketPort::Open("hw-a", 8);
  auto b = AfPacketPort::Open("hw-b", 64);
  ASSERT_TRUE(a.ok() && b.ok());
  // Two sent, three queued and thrown away, then more: exactly the sent ones arrive, in order.
  for (uint32_t i = 0; i < 2; i++) ASSERT_TRUE((*a)->Send(TestFrame(i).data(), 100));
  (*a)->Flush();
  for (uint32_t i = 2; i < 5; i++) ASSERT_TRUE((*a)->Send(TestFrame(i).data(), 100));
  EXPECT_EQ((*a)->DiscardQueuedTx(), 3u);
  EXPECT_EQ((*a)->DiscardQueuedTx(), 0u);
  for (uint32_t i = 5; i < 12; i++) {
    ASSERT_TRUE((*a)->Send(TestFrame(i).data(), 100)) << i;
    (*a)->Flush();
  }
  std::vector<uint32_t> seqs;
  const int64_t deadline = MonoNowNs() + 2'000'000'000;
  while (seqs.size() < 9 && MonoNowNs() < deadline) {
    RxFrame f;
    while ((*b)->Next(&f)) {
      if (f.len >= 18 && f.data[12] == (kTestType >> 8)) {
        uint32_t s;
        std::memcpy(&s, f.data + 14, 4);
        seqs.push_back(s);
      }
      (*b)->Release();
    }
    pollfd pfd{(*b)->fd(), POLLIN, 0};
    ::poll(&pfd, 1, 10);
  }
  EXPECT_EQ(seqs, (std::vector<uint32_t>{0, 1, 5, 6, 7, 8, 9, 10, 11}));
}

TEST_F(AfPacketFaults, ReadLinkState) {
  LinkState s = ReadLinkState("hw-a");
  EXPECT_TRUE(s.exists);
  EXPECT_EQ(s.ifindex, int(if_nametoindex("hw-a")));
  EXPECT_TRUE(s.up);
  EXPECT_TRUE(s.running);
  ASSERT_TRUE(test::Sh("ip -n " + n_ + " link set hw-b down"));
  s = ReadLinkState("hw-a");
  EXPECT_TRUE(s.up);
  EXPECT_FALSE(s.running) << "a veth has no carrier while its peer is down";
  ASSERT_TRUE(test::Sh("ip -n " + n_ + " link set hw-a down"));
  EXPECT_FALSE(ReadLinkState("hw-a").up);
  EXPECT_FALSE(ReadLinkState("hw-nope").exists);
  EXPECT_FALSE(ReadLinkState("").exists);
  EXPECT_FALSE(ReadLinkState(std::string(40, 'x')).exists);
}

}  // namespace
}  // namespace hn
