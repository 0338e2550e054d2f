// AfPacketPort on a veth pair inside a network namespace made by each test.
// Frames go from a port on hw-a to a port on hw-b (and back) and must arrive
// byte for byte, in order, with VLAN tags as they were sent.
#include "frames.h"
#include "netns_guard.h"
#include "io/af_packet.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace hn {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWait = std::chrono::milliseconds(1500);
constexpr uint16_t kTestType = 0x88b5;  // IEEE local experimental EtherType

using test::NetnsEnter;
using test::Sh;
using test::TestNetns;

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};

// dst, src, [tags...], kTestType, then seq (4 bytes) and a byte pattern up to len.
std::vector<uint8_t> MakeFrame(uint32_t seq, size_t len, std::vector<std::pair<uint16_t, uint16_t>> tags = {}) {
  std::vector<uint8_t> f(len);
  std::memcpy(f.data(), kMacB, 6);
  std::memcpy(f.data() + 6, kMacA, 6);
  size_t off = 12;
  for (auto [tpid, tci] : tags) {
    Store16(&f[off], tpid);
    Store16(&f[off + 2], tci);
    off += 4;
  }
  Store16(&f[off], kTestType);
  Store32(&f[off + 2], seq);
  for (size_t i = off + 6; i < len; ++i) f[i] = uint8_t(i * 7 + seq);
  return f;
}

// Waits (polling the port's fd) for the next frame whose EtherType, possibly
// after VLAN tags, is kTestType; copies it out and releases it.
struct Got {
  std::vector<uint8_t> bytes;
  RxFrame f;
};
std::optional<Got> RecvTest(AfPacketPort& p, std::chrono::milliseconds wait = kWait) {
  auto deadline = Clock::now() + wait;
  for (;;) {
    RxFrame f;
    while (p.Next(&f)) {
      size_t off = 12;
      while (off + 4 <= f.len && (Load16(f.data + off) == 0x8100 || Load16(f.data + off) == 0x88a8)) off += 4;
      bool mine = off + 2 <= f.len && Load16(f.data + off) == kTestType;
      Got g{std::vector<uint8_t>(f.data, f.data + f.len), f};
      p.Release();
      if (mine) return g;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{p.fd(), POLLIN, 0};
    ::poll(&pfd, 1, int(left.count()));
  }
}

class AfPacketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    ns_.emplace();
    ASSERT_TRUE(ns_->ok()) << "ip netns add " << ns_->name() << " failed";
    const std::string n = ns_->name();
    ASSERT_TRUE(Sh("ip -n " + n + " link add hw-a address 02:00:00:00:00:0a type veth peer name hw-b address 02:00:00:00:00:0b"));
    // No IPv6 on the test links: the host would send its own RS/MLD frames.
    ASSERT_TRUE(Sh("ip netns exec " + n +
                   " sysctl -qw net.ipv6.conf.hw-a.disable_ipv6=1 net.ipv6.conf.hw-b.disable_ipv6=1"));
    ASSERT_TRUE(Sh("ip -n " + n + " link set hw-a up && ip -n " + n + " link set hw-b up"));
    enter_.emplace(n);
    ASSERT_TRUE(enter_->ok()) << "setns into " << n << " failed";
  }
  void TearDown() override {
    enter_.reset();  // leave before the namespace goes
    ns_.reset();
  }

  std::unique_ptr<AfPacketPort> OpenPort(const std::string& ifname, uint32_t ring = 256) {
    auto r = AfPacketPort::Open(ifname, ring);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r.value()) : nullptr;
  }

  std::optional<TestNetns> ns_;
  std::optional<NetnsEnter> enter_;
};

TEST_F(AfPacketTest, OpenReportsMacMtuIfindex) {
  auto a = OpenPort("hw-a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name(), "hw-a");
  EXPECT_EQ(a->mac(), Mac::From(kMacA));
  EXPECT_EQ(a->mtu(), 1500u);
  EXPECT_EQ(a->ifindex(), int(::if_nametoindex("hw-a")));
  EXPECT_GE(a->fd(), 0);
}

TEST_F(AfPacketTest, OpenMissingInterfaceSaysSo) {
  auto r = AfPacketPort::Open("hw-nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "interface hw-nope does not exist (create it, or fix inside.interface/outside.interface)");
}

TEST_F(AfPacketTest, OpenRejectsRingNotPowerOfTwo) {
  auto r = AfPacketPort::Open("hw-a", 100);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("power of two"), std::string::npos) << r.status().message();
  EXPECT_FALSE(AfPacketPort::Open("hw-a", 0).ok());
}

TEST_F(AfPacketTest, FrameArrivesByteForByte) {
  auto a = OpenPort("hw-a");
  auto b = OpenPort("hw-b");
  ASSERT_TRUE(a && b);
  auto frame = MakeFrame(7, 100);
  ASSERT_TRUE(a->Send(frame.data(), uint32_t(frame.size())));
  a->Flush();
  auto got = RecvTest(*b);
  ASSERT_TRUE(got.has_value()) << "no frame on hw-b";
  EXPECT_EQ(got->bytes, frame);
  EXPECT_EQ(got->f.len, 100u);
  EXPECT_EQ(got->f.wire_len, 100u);
  EXPECT_FALSE(got->f.vlan_stripped);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  int64_t now_ns = int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
  EXPECT_LT(std::llabs(now_ns - got->f.ts_ns), 5'000'000'000LL) << "timestamp is not wall clock";

  // And back the other way.
  auto back = MakeFrame(8, 60);
  std::memcpy(back.data(), kMacA, 6);
  std::memcpy(back.data() + 6, kMacB, 6);
  ASSERT_TRUE(b->Send(back.data(), uint32_t(back.size())));
  b->Flush();
  auto got2 = RecvTest(*a);
  ASSERT_TRUE(got2.has_value()) << "no frame on hw-a";
  EXPECT_EQ(got2->bytes, back);
}

TEST_F(AfPacketTest, TwoHundredFramesInOrder) {
  auto a = OpenPort("hw-a");
  auto b = OpenPort("hw-b");
  ASSERT_TRUE(a && b);
  std::vector<std::vector<uint8_t>> sent;
  for (uint32_t i = 0; i < 200; ++i) {
    sent.push_back(MakeFrame(i, 60 + (i * 37) % 1400));
    ASSERT_TRUE(a->Send(sent.back().data(), uint32_t(sent.back().size()))) << "frame " << i;
    if (i % 50 == 49) a->Flush();
  }
  a->Flush();
  for (uint32_t i = 0; i < 200; ++i) {
    auto got = RecvTest(*b);
    ASSERT_TRUE(got.has_value()) << "frame " << i << " of 200 missing";
    ASSERT_EQ(got->bytes, sent[i]) << "frame " << i << " (seq " << Load32(got->bytes.data() + 14) << ")";
  }
  EXPECT_FALSE(RecvTest(*b, std::chrono::milliseconds(0)).has_value()) << "more than 200 frames";
  EXPECT_EQ(a->stats().tx_frames, 200u);
  EXPECT_EQ(b->stats().rx_frames, 200u);
  EXPECT_EQ(a->stats().tx_errors, 0u);
}

TEST_F(AfPacketTest, VlanTagIsReinserted) {
  auto a = OpenPort("hw-a");
  auto b = OpenPort("hw-b");
  ASSERT_TRUE(a && b);
  auto tagged = MakeFrame(1, 80, {{0x8100, 0x2064}});                // prio 1, VLAN 100
  auto qinq = MakeFrame(2, 90, {{0x88a8, 0x00c8}, {0x8100, 0x0064}});  // S-tag 200, C-tag 100
  auto full = MakeFrame(3, 1518, {{0x8100, 0x0005}});                 // 1500 bytes payload + tag
  for (auto* f : {&tagged, &qinq, &full}) ASSERT_TRUE(a->Send(f->data(), uint32_t(f->size())));
  a->Flush();

  // First frame: look at it twice before release; the tag must be there once.
  auto deadline = Clock::now() + kWait;
  RxFrame f;
  while (!b->Next(&f)) {
    ASSERT_LT(Clock::now(), deadline) << "tagged frame did not arrive";
    pollfd pfd{b->fd(), POLLIN, 0};
    ::poll(&pfd, 1, 100);
  }
  EXPECT_TRUE(f.vlan_stripped) << "kernel did not strip the tag: the test does not test re-insertion";
  EXPECT_EQ(std::vector<uint8_t>(f.data, f.data + f.len), tagged);
  EXPECT_EQ(f.wire_len, 80u);
  RxFrame again;
  ASSERT_TRUE(b->Next(&again));
  EXPECT_EQ(again.data, f.data);
  EXPECT_EQ(std::vector<uint8_t>(again.data, again.data + again.len), tagged);
  b->Release();

  auto g2 = RecvTest(*b);
  ASSERT_TRUE(g2.has_value());
  EXPECT_EQ(g2->bytes, qinq) << "802.1ad outer tag not restored";
  auto g3 = RecvTest(*b);
  ASSERT_TRUE(g3.has_value()) << "full-size tagged frame lost";
  EXPECT_EQ(g3->bytes, full);
  EXPECT_EQ(g3->f.wire_len, 1518u);
  EXPECT_EQ(b->stats().rx_frames, 3u);
  EXPECT_EQ(b->stats().rx_truncated, 0u);
}

TEST_F(AfPacketTest, OwnFramesAreNotReceivedBack) {
  auto a = OpenPort("hw-a");
  auto b = OpenPort("hw-b");
  ASSERT_TRUE(a && b);
  // Through the port itself (qdisc bypassed) ...
  auto mine = MakeFrame(1, 64);
  ASSERT_TRUE(a->Send(mine.data(), uint32_t(mine.size())));
  a->Flush();
  // ... and through an ordinary packet socket on hw-a, whose frames the
  // kernel hands to every ETH_P_ALL socket of the interface as outgoing.
  int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = int(::if_nametoindex("hw-a"));
  sll.sll_halen = 6;
  std::memcpy(sll.sll_addr, kMacB, 6);
  auto other = MakeFrame(2, 64);
  ssize_t n = ::sendto(s, other.data(), other.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof(sll));
  ::close(s);
  ASSERT_EQ(n, ssize_t(other.size()));

  auto g1 = RecvTest(*b);
  auto g2 = RecvTest(*b);
  ASSERT_TRUE(g1 && g2) << "hw-b did not get both frames";
  EXPECT_EQ(g1->bytes, mine);
  EXPECT_EQ(g2->bytes, other);
  // A fence from b: hw-a's port would have queued its own frames before the
  // peer saw them, so the first test frame it gets must be the fence.
  auto fence = MakeFrame(99, 64);
  std::memcpy(fence.data(), kMacA, 6);
  std::memcpy(fence.data() + 6, kMacB, 6);
  ASSERT_TRUE(b->Send(fence.data(), uint32_t(fence.size())));
  b->Flush();
  auto ga = RecvTest(*a);
  ASSERT_TRUE(ga.has_value()) << "fence frame did not arrive on hw-a";
  EXPECT_EQ(ga->bytes, fence) << "hw-a's port saw a frame sent out of hw-a";
  EXPECT_EQ(a->stats().rx_frames, 1u);
}

TEST_F(AfPacketTest, FullMtuFramePassesOversizeIsRefused) {
  auto a = OpenPort("hw-a");
  auto b = OpenPort("hw-b");
  ASSERT_TRUE(a && b);
  auto full = MakeFrame(1, 1514);
  ASSERT_TRUE(a->Send(full.data(), uint32_t(full.size())));
  a->Flush();
  auto got = RecvTest(*b);
  ASSERT_TRUE(got.has_value()) << "1514-byte frame lost";
  EXPECT_EQ(got->bytes, full);
  EXPECT_EQ(got->f.wire_len, 1514u);
  EXPECT_EQ(b->stats().rx_truncated, 0u);

  auto big = MakeFrame(2, 1515);
  EXPECT_FALSE(a->Send(big.data(), uint32_t(big.size())));
  EXPECT_FALSE(a->Send(big.data(), 13)) << "shorter than an Ethernet header";
  EXPECT_EQ(a->stats().tx_errors, 2u);
  EXPECT_EQ(a->stats().tx_frames, 1u);
}

TEST_F(AfPacketTest, ReserveCommitBuildsFrameInPlace) {
  auto a = OpenPort("hw-a");
  auto b = OpenPort("hw-b");
  ASSERT_TRUE(a && b);
  auto frame = MakeFrame(5, 200);
  uint32_t max_len = 0;
  uint8_t* slot = a->Reserve(&max_len);
  ASSERT_NE(slot, nullptr);
  EXPECT_GE(max_len, 1514u);
  std::memcpy(slot, frame.data(), frame.size());
  a->Commit(uint32_t(frame.size()));
  a->Flush();
  auto got = RecvTest(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->bytes, frame);

  // A commit too short for Ethernet queues nothing; the slot is reused.
  slot = a->Reserve(&max_len);
  ASSERT_NE(slot, nullptr);
  a->Commit(10);
  EXPECT_EQ(a->stats().tx_errors, 1u);
  EXPECT_EQ(a->Reserve(&max_len), slot);
  a->Commit(0);
  EXPECT_EQ(a->stats().tx_frames, 1u);
}

TEST_F(AfPacketTest, StatsCountRingFullAndKernelDrops) {
  // Smallest rings: 8 slots each.
  auto a = OpenPort("hw-a", 8);
  auto b = OpenPort("hw-b", 8);
  ASSERT_TRUE(a && b);
  auto frame = MakeFrame(1, 100);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(a->Send(frame.data(), uint32_t(frame.size()))) << i;
  EXPECT_FALSE(a->Send(frame.data(), uint32_t(frame.size()))) << "ninth frame fit an 8-slot ring";
  EXPECT_EQ(a->stats().tx_ring_full, 1u);
  a->Flush();
  // The kernel frees the slots once transmitted; 12 more frames then fill b's
  // 8-slot RX ring and the rest (20 - 8) are dropped by the kernel.
  int sent = 8;
  auto deadline = Clock::now() + kWait;
  while (sent < 20) {
    ASSERT_LT(Clock::now(), deadline) << "TX ring slots never came back";
    if (a->Send(frame.data(), uint32_t(frame.size()))) ++sent;
    a->Flush();
  }
  deadline = Clock::now() + kWait;
  while (b->stats().kernel_drops < 12) {
    ASSERT_LT(Clock::now(), deadline) << "kernel_drops " << b->stats().kernel_drops << ", want 12";
    pollfd pfd{b->fd(), POLLIN, 0};
    ::poll(&pfd, 1, 10);  // the ring stays full, so this returns at once
  }
  EXPECT_EQ(b->stats().kernel_drops, 12u);
  int received = 0;
  while (RecvTest(*b, std::chrono::milliseconds(0))) ++received;
  EXPECT_EQ(received, 8);
  EXPECT_EQ(b->stats().rx_frames, 8u);
  EXPECT_EQ(a->stats().tx_frames, 20u);
  EXPECT_GE(a->stats().tx_ring_full, 1u);  // plus any retries while the slots came back
}

// A TCP segment taken for joining (the capture has recorded it by then) that
// nothing joined goes back to the ring; when the ring is full it must still
// leave, after the frames queued before it.
TEST_F(AfPacketTest, LoneSegmentLeavesWhenTheRingIsFull) {
  auto r = AfPacketPort::Open("hw-a", 8, /*qdisc_bypass=*/true, /*tx_thread=*/true, /*vnet_hdr=*/true,
                              /*gso=*/false, /*coalesce=*/true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto a = std::move(r.value());
  ASSERT_TRUE(a->coalescing());
  auto b = OpenPort("hw-b", 64);
  ASSERT_TRUE(b);
  auto frame = MakeFrame(1, 100);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(a->Send(frame.data(), uint32_t(frame.size()))) << i;
  test::Ip4Spec ip{test::I("10.0.0.1"), test::I("10.0.0.2")};
  const auto seg = test::Ipv4Frame(test::M("02:00:00:00:00:0b"), test::M("02:00:00:00:00:0a"), ip,
                                   test::TcpSeg(ip.src, ip.dst, 40000, 80, kAck, std::string(1000, 'q')));
  ASSERT_TRUE(a->Coalesce(seg.data(), uint32_t(seg.size()), false)) << "a full-size ACK segment was not taken";
  a->Flush();  // the batch ends: the lone segment goes to the full ring, and must not be lost
  int test_frames = 0;
  std::optional<std::vector<uint8_t>> tcp;
  const auto deadline = Clock::now() + kWait;
  while (!tcp && Clock::now() < deadline) {
    RxFrame f;
    while (b->Next(&f)) {
      if (f.len >= 14 && Load16(f.data + 12) == kTestType) {
        EXPECT_FALSE(tcp) << "a frame queued before the segment came after it";
        ++test_frames;
      } else if (f.len >= 24 && Load16(f.data + 12) == kEthIpv4 && f.data[23] == kProtoTcp) {
        tcp.emplace(f.data, f.data + f.len);
      }
      b->Release();
    }
    pollfd pfd{b->fd(), POLLIN, 0};
    ::poll(&pfd, 1, 10);
  }
  EXPECT_EQ(test_frames, 8);
  ASSERT_TRUE(tcp) << "the segment taken for joining never left";
  EXPECT_EQ(*tcp, seg);
  EXPECT_EQ(a->stats().tx_frames, 9u);
  EXPECT_GE(a->stats().tx_ring_full, 1u);
  EXPECT_EQ(a->stats().tx_discarded, 0u);
}

// Four segments of one flow (1000 bytes of payload each, consecutive).
std::vector<std::vector<uint8_t>> FourSegments() {
  std::vector<std::vector<uint8_t>> segs;
  for (uint16_t i = 0; i < 4; i++) {
    test::Ip4Spec ip{test::I("10.0.0.1"), test::I("10.0.0.2")};
    ip.id = uint16_t(7 + i);
    segs.push_back(test::Ipv4Frame(test::M("02:00:00:00:00:0b"), test::M("02:00:00:00:00:0a"), ip,
                                   test::TcpSeg(ip.src, ip.dst, 40000, 80, kAck, std::string(1000, char('a' + i)),
                                                5000 + 1000u * i)));
  }
  return segs;
}

// The TCP frames b receives within kWait, up to n.
std::vector<std::vector<uint8_t>> RecvTcp(AfPacketPort& b, size_t n) {
  std::vector<std::vector<uint8_t>> got;
  const auto deadline = Clock::now() + kWait;
  while (got.size() < n && Clock::now() < deadline) {
    RxFrame f;
    while (b.Next(&f)) {
      if (f.len >= 24 && Load16(f.data + 12) == kEthIpv4 && f.data[23] == kProtoTcp) got.emplace_back(f.data, f.data + f.len);
      b.Release();
    }
    pollfd pfd{b.fd(), POLLIN, 0};
    ::poll(&pfd, 1, 10);
  }
  return got;
}

// A device that takes less at once (gso_max_size) gets shorter
// super-segments, not ones the kernel would refuse (and the port then cut).
TEST_F(AfPacketTest, SuperSegmentsFitTheDevicesGsoMaxSize) {
  ASSERT_TRUE(Sh("ip netns exec " + ns_->name() + " ethtool -K hw-a tx on sg on tso on"));
  ASSERT_TRUE(Sh("ip -n " + ns_->name() + " link set dev hw-a gso_max_size 4000"));
  auto r = AfPacketPort::Open("hw-a", 64, /*qdisc_bypass=*/true, /*tx_thread=*/true, /*vnet_hdr=*/true,
                              /*gso=*/false, /*coalesce=*/true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto a = std::move(r.value());
  // b takes super-segments whole (a veth hands them on as they are).
  auto rb = AfPacketPort::Open("hw-b", 64, false, false, /*vnet_hdr=*/true, /*gso=*/true);
  ASSERT_TRUE(rb.ok()) << rb.status().message();
  auto b = std::move(rb.value());
  const auto segs = FourSegments();
  for (size_t i = 0; i < 3; i++)
    ASSERT_TRUE(a->Coalesce(segs[i].data(), uint32_t(segs[i].size()), false)) << "segment " << i << " not joined";
  // 1054 + 3 x 1000 bytes would reach 4000: the fourth is left for another.
  ASSERT_TRUE(a->Coalesce(segs[3].data(), uint32_t(segs[3].size()), false));
  a->Flush();
  const auto got = RecvTcp(*b, 2);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].size(), 54u + 3000) << "the first three, joined";
  for (size_t i = 0; i < 3; i++)
    EXPECT_TRUE(std::equal(segs[i].begin() + 54, segs[i].end(), got[0].begin() + 54 + 1000 * i)) << i;
  EXPECT_EQ(got[1], segs[3]);
  EXPECT_EQ(a->stats().tx_cut, 0u) << "a super-segment too long for the device was sent";
}

// TSO goes off (ethtool) after segments were joined: the kernel drops a
// super-segment sent without a qdisc to a device that would have to cut it,
// so the port cuts it itself, and joins nothing more.
TEST_F(AfPacketTest, SuperSegmentIsCutWhenTsoGoesOff) {
  ASSERT_TRUE(Sh("ip netns exec " + ns_->name() + " ethtool -K hw-a tx on sg on tso on"));
  auto r = AfPacketPort::Open("hw-a", 64, /*qdisc_bypass=*/true, /*tx_thread=*/true, /*vnet_hdr=*/true,
                              /*gso=*/false, /*coalesce=*/true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto a = std::move(r.value());
  ASSERT_TRUE(a->CheckSegmentation());
  auto b = OpenPort("hw-b", 64);
  ASSERT_TRUE(b);
  const auto segs = FourSegments();
  for (size_t i = 0; i < 3; i++)
    ASSERT_TRUE(a->Coalesce(segs[i].data(), uint32_t(segs[i].size()), false)) << "segment " << i << " not joined";
  ASSERT_TRUE(Sh("ip netns exec " + ns_->name() + " ethtool -K hw-a tso off"));
  a->Flush();  // the super-segment of 3 goes to a device that no longer segments
  const auto got = RecvTcp(*b, 3);
  ASSERT_EQ(got.size(), 3u) << "the joined segments did not all arrive";
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(got[i], segs[i]) << "segment " << i;
  EXPECT_EQ(a->stats().tx_cut, 1u);
  EXPECT_EQ(a->stats().tx_discarded, 0u);
  // The port now knows: the next segment is not taken (it goes by the ring).
  EXPECT_FALSE(a->Coalesce(segs[3].data(), uint32_t(segs[3].size()), false));
}

}  // namespace
}  // namespace hn
