// Engine: bridge and NAT forwarding with Data Control, driven with byte
// arrays through fake TX and event sinks (no sockets).
#include "wall/engine.h"

#include <gtest/gtest.h>

#include <deque>

#include "frames.h"

namespace hn {
namespace {

using namespace hn::test;

struct Sent {
  int port;
  std::vector<uint8_t> bytes;
  Offload off;  // CommitOffload: checksum (and segmentation) left to the receiver
};

class FakeTx : public TxSink {
 public:
  uint8_t* Reserve(int port, uint32_t* max_len) override {
    if (full) return nullptr;
    *max_len = 65536;  // room for a GSO super-segment
    buf_.assign(65536, 0);
    port_ = port;
    return buf_.data();
  }
  void Commit(int port, uint32_t len) override {
    EXPECT_EQ(port, port_);
    sent.push_back({port, std::vector<uint8_t>(buf_.begin(), buf_.begin() + len)});
  }
  bool CanLeaveChecksum() const override { return leave_checksum; }
  void CommitOffload(int port, uint32_t len, const Offload& off) override {
    EXPECT_TRUE(leave_checksum);
    Commit(port, len);
    sent.back().off = off;
  }
  std::deque<Sent> sent;
  bool full = false;
  bool leave_checksum = false;  // ports with virtio-net headers

 private:
  std::vector<uint8_t> buf_;
  int port_ = -1;
};

class FakeEvents : public EventSink {
 public:
  void Post(const Event& e) override { events.push_back(e); }
  std::vector<Event> events;
  size_t Count(EventKind k, Reason r) const {
    size_t n = 0;
    for (const Event& e : events) n += e.kind == k && e.reason == r;
    return n;
  }
};

const Mac kHpMac = M("52:54:00:00:00:02");
const Mac kHp2Mac = M("52:54:00:00:00:03");
const Mac kOutMac = M("02:00:00:00:00:99");   // a host outside
const Mac kGwMac = M("02:00:00:00:00:01");    // nat: upstream gateway
const Mac kWallIn = M("02:aa:00:00:00:01");   // nat: the honeywall's inside MAC
const Mac kWallOut = M("02:aa:00:00:00:02");  // nat: the honeywall's outside MAC
constexpr int64_t kT0 = 1'800'000'000LL * 1'000'000'000LL;
constexpr int64_t kSec = 1'000'000'000LL;

Config BridgeConfig() {
  Config c;
  c.mode = Mode::kBridge;
  HoneypotConfig h;
  h.name = "hp1";
  h.ip = I("192.0.2.10");
  c.honeypots.push_back(h);
  h.name = "hp2";
  h.ip = I("192.0.2.11");
  c.honeypots.push_back(h);
  c.max_flows = 1024;
  return c;
}

Config NatConfig() {
  Config c;
  c.mode = Mode::kNat;
  c.inside_gateway_ip = Ip4Prefix::Parse("10.0.0.1/24");
  c.outside_gateway = I("192.0.2.1");
  HoneypotConfig h;
  h.name = "hp1";
  h.ip = I("10.0.0.2");
  h.public_ip = I("192.0.2.10");
  c.honeypots.push_back(h);
  c.max_flows = 1024;
  return c;
}

class EngineTest : public ::testing::Test {
 protected:
  void Make(const Config& c) {
    cfg = c;
    std::vector<Budget> b;
    for (auto& h : cfg.honeypots) b.emplace_back(h.limits);
    engine = std::make_unique<Engine>(cfg, b, &tx, &ev);
    engine->SetPortMac(kInside, kWallIn);
    engine->SetPortMac(kOutside, kWallOut);
    engine->Start(kT0);
    tx.sent.clear();
  }
  // Feeds a frame; returns the frames sent in response.
  std::vector<Sent> Feed(int port, std::vector<uint8_t> f, int64_t t = kT0) {
    tx.sent.clear();
    engine->OnFrame(port, f.data(), uint32_t(f.size()), t);
    return {tx.sent.begin(), tx.sent.end()};
  }
  // Feeds an IPv4 TCP/UDP frame the way a sender with checksum offload hands it
  // over: the L4 checksum field holds only the pseudo-header sum, and the
  // kernel says where the sum starts and where it goes.
  std::vector<Sent> FeedPartial(int port, std::vector<uint8_t> f, uint8_t gso_type = 0, bool csum_not_ready = true) {
    Packet p;
    EXPECT_EQ(Decode(f.data(), uint32_t(f.size()), &p), DecodeError::kOk);
    const uint16_t field = p.ip_proto == kProtoTcp ? 16 : 6;
    uint8_t ph[12];
    std::memcpy(ph, p.data + p.ip_src_off, 4);
    std::memcpy(ph + 4, p.data + p.ip_dst_off, 4);
    ph[8] = 0;
    ph[9] = p.ip_proto;
    Store16(ph + 10, p.l4_len);
    Store16(f.data() + p.l4_off + field, uint16_t(~ChecksumFinish(ChecksumPartial(ph, sizeof ph))));
    tx.sent.clear();
    Offload off{uint16_t(p.l4_off), field, gso_type, uint16_t(gso_type ? 1448 : 0), uint16_t(gso_type ? 66 : 0)};
    engine->OnFrame(port, f.data(), uint32_t(f.size()), kT0, csum_not_ready, off);
    return {tx.sent.begin(), tx.sent.end()};
  }
  // What the receiver (or its NIC) does with a frame sent with its checksum left
  // partial: sums from csum_start to the end and stores the result.
  static std::vector<uint8_t> Finish(const Sent& s) {
    std::vector<uint8_t> f = s.bytes;
    if (s.off.csum_start == 0) return f;
    Store16(f.data() + s.off.csum_start + s.off.csum_offset,
            ChecksumFinish(ChecksumPartial(f.data() + s.off.csum_start, f.size() - s.off.csum_start)));
    return f;
  }
  std::vector<uint8_t> Syn(Mac src_mac, Mac dst_mac, const char* src, const char* dst, uint16_t sport,
                           uint16_t dport, uint8_t flags = kSyn, uint8_t ttl = 64) {
    Ip4Spec s{I(src), I(dst)};
    s.ttl = ttl;
    return Ipv4Frame(dst_mac, src_mac, s, TcpSeg(I(src), I(dst), sport, dport, flags));
  }
  void LearnGateway() {
    Feed(kOutside, Arp(kWallOut, kGwMac, 2, I("192.0.2.1"), kWallOut, I("192.0.2.10")));
    ASSERT_TRUE(engine->ready());
  }

  Config cfg;
  FakeTx tx;
  FakeEvents ev;
  std::unique_ptr<Engine> engine;
};

// ------------------------------------------------------------------ bridge

TEST_F(EngineTest, BridgeForwardsOutboundUnchangedAndCountsIt) {
  Make(BridgeConfig());
  auto syn = Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80);
  auto out = Feed(kInside, syn);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, kOutside);
  EXPECT_EQ(out[0].bytes, syn);  // transparent: same bytes, TTL included
  ASSERT_EQ(ev.events.size(), 1u);
  EXPECT_EQ(ev.events[0].kind, EventKind::kFlowNew);
  EXPECT_EQ(ev.events[0].reason, Reason::kOutbound);
  EXPECT_EQ(ev.events[0].dir, FlowDir::kOutbound);
  EXPECT_TRUE(ev.events[0].counted);
  EXPECT_EQ(ev.events[0].budget_used, 1u);
  EXPECT_EQ(ev.events[0].budget_left, 8u);
  EXPECT_EQ(engine->honeypot_mac(0), kHpMac);
}

TEST_F(EngineTest, BridgePartVNineTcpThenDrop) {
  Make(BridgeConfig());
  int forwarded = 0;
  for (int i = 0; i < 12; i++) {
    std::string dst = "192.0.2." + std::to_string(20 + i);
    forwarded += int(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", dst.c_str(), 40000 + i, 80)).size());
  }
  EXPECT_EQ(forwarded, 9);
  EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kOutbound), 9u);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 3u);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kBudgetExhausted)].load(), 3u);
  // A dropped attempt's retransmission is dropped again, not logged or counted again.
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.31", 40011, 80)).empty());
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 3u);
}

TEST_F(EngineTest, RetransmittedSynIsNotANewConnection) {
  Make(BridgeConfig());
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80), kT0 + i * kSec).size(), 1u);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0 + 5 * kSec), 1u);
  EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kOutbound), 1u);
}

TEST_F(EngineTest, EstablishedFlowsGoOnAfterBudgetIsSpent) {
  Make(BridgeConfig());
  Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80));
  Feed(kOutside, Syn(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000, kSyn | kAck));
  Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kAck));
  for (int i = 0; i < 8; i++) {
    std::string dst = "192.0.2." + std::to_string(21 + i);
    Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", dst.c_str(), 41000 + i, 80));
  }
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.40", 42000, 80)).empty());
  EXPECT_EQ(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kAck | kPsh)).size(), 1u);
  EXPECT_EQ(Feed(kOutside, Syn(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000, kAck)).size(), 1u);
}

TEST_F(EngineTest, InboundIsNeverLimitedAndRepliesAreNotCounted) {
  Make(BridgeConfig());
  for (int i = 0; i < 30; i++) {
    auto in = Feed(kOutside, Syn(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000 + i, 23));
    ASSERT_EQ(in.size(), 1u);
    EXPECT_EQ(in[0].port, kInside);
    auto rep = Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 23, 50000 + i, kSyn | kAck));
    ASSERT_EQ(rep.size(), 1u);
  }
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 0u);
  // All 30 got in; their events are written one by one up to 20 a second from
  // one source, the rest counted (and summarised once the second is over).
  EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kInbound), 20u);
  EXPECT_EQ(engine->counters().events_suppressed_allowed.load(), 10u);
  engine->OnTimer(kT0 + 2 * kSec);
  bool summary = false;
  for (const Event& e : ev.events)
    if (e.kind == EventKind::kSuppressed && e.allowed && e.reason == Reason::kInbound && e.suppressed == 10) summary = true;
  EXPECT_TRUE(summary);
}

TEST_F(EngineTest, ForgedSourceIpFromAHoneypotIsDroppedAndLogged) {
  Make(BridgeConfig());
  Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80));  // learns hp1's MAC
  // hp1 pretends to be hp2, and then an outside address.
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.11", "192.0.2.20", 40001, 80)).empty());
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "198.51.100.7", "192.0.2.20", 40002, 80)).empty());
  EXPECT_EQ(ev.Count(EventKind::kFrameDrop, Reason::kSpoofedSource), 2u);
  // Another MAC claiming hp1's address (hp1's MAC is known) is dropped too.
  EXPECT_TRUE(Feed(kInside, Syn(kHp2Mac, kOutMac, "192.0.2.10", "192.0.2.20", 40003, 80)).empty());
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 1u);
  EXPECT_EQ(engine->budget(1).Used(ProtoClass::kTcp, kT0), 0u);
}

TEST_F(EngineTest, AckProbeFromInsideCannotOpenState) {
  Make(BridgeConfig());
  Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.30", 39999, 80));  // learn MAC
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kAck)).empty());
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn | kAck)).empty());
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kRst)).empty());
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kNotFlowStart)].load(), 3u);
  EXPECT_EQ(engine->flows().size(), 1u);
}

TEST_F(EngineTest, NonIpVlanIpv6AndLinkLocalAreNotForwardedFromInside) {
  Make(BridgeConfig());
  auto v6 = Eth(kOutMac, kHpMac, kEthIpv6);
  std::vector<uint8_t> ip6(40, 0);
  ip6[0] = 0x60;
  ip6[6] = 59;  // no next header
  ip6[7] = 64;
  v6.insert(v6.end(), ip6.begin(), ip6.end());
  EXPECT_TRUE(Feed(kInside, v6).empty());
  auto other = Eth(kOutMac, kHpMac, 0x88b5);
  other.resize(60);
  EXPECT_TRUE(Feed(kInside, other).empty());
  auto lldp = Eth(M("01:80:c2:00:00:0e"), kOutMac, 0x88cc);
  lldp.resize(60);
  EXPECT_TRUE(Feed(kOutside, lldp).empty());
  auto tagged = Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80);
  uint8_t tag[4] = {0x81, 0x00, 0x00, 0x05};
  tagged.insert(tagged.begin() + 12, tag, tag + 4);
  EXPECT_TRUE(Feed(kInside, tagged).empty());
  const auto& d = engine->counters().drops;
  EXPECT_EQ(d[size_t(Reason::kIpv6Disabled)].load(), 1u);
  EXPECT_EQ(d[size_t(Reason::kNonIp)].load(), 1u);
  EXPECT_EQ(d[size_t(Reason::kLinkLocalControl)].load(), 1u);
  EXPECT_EQ(d[size_t(Reason::kVlanTagged)].load(), 1u);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 0u);
}

TEST_F(EngineTest, MalformedFrameIsCountedNotForwarded) {
  Make(BridgeConfig());
  auto syn = Syn(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000, 23);
  syn[14 + 10] ^= 0xff;  // break the IPv4 header checksum
  EXPECT_TRUE(Feed(kOutside, syn).empty());
  std::vector<uint8_t> runt(9, 0xab);
  EXPECT_TRUE(Feed(kOutside, runt).empty());
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kMalformed)].load(), 2u);
}

TEST_F(EngineTest, RoachMotelAllowsNoOutboundButInbound) {
  Config c = BridgeConfig();
  c.roach_motel = true;
  Make(c);
  EXPECT_TRUE(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80)).empty());
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kRoachMotel), 1u);
  EXPECT_EQ(Feed(kOutside, Syn(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000, 23)).size(), 1u);
  EXPECT_EQ(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 23, 50000, kSyn | kAck)).size(), 1u);
}

TEST_F(EngineTest, DnsToConfiguredServerIsNotCounted) {
  Config c = BridgeConfig();
  c.dns_servers = {I("192.0.2.53")};
  Make(c);
  for (int i = 0; i < 30; i++) {
    Ip4Spec s{I("192.0.2.10"), I("192.0.2.53"), kProtoUdp};
    auto f = Ipv4Frame(kOutMac, kHpMac, s, UdpDgram(s.src, s.dst, uint16_t(30000 + i), 53, "query"));
    EXPECT_EQ(Feed(kInside, f).size(), 1u);
  }
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kUdp, kT0), 0u);
  // DNS to any other server counts.
  Ip4Spec s{I("192.0.2.10"), I("192.0.2.54"), kProtoUdp};
  Feed(kInside, Ipv4Frame(kOutMac, kHpMac, s, UdpDgram(s.src, s.dst, 31000, 53, "query")));
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kUdp, kT0), 1u);
}

TEST_F(EngineTest, FragmentsFollowTheirFirstFragment) {
  Make(BridgeConfig());
  Ip4Spec s{I("192.0.2.10"), I("192.0.2.20"), kProtoUdp};
  s.id = 77;
  s.mf = true;
  auto first = Ipv4Frame(kOutMac, kHpMac, s, UdpDgram(s.src, s.dst, 5000, 6000, std::string(24, 'a')));
  EXPECT_EQ(Feed(kInside, first).size(), 1u);
  Ip4Spec s2 = s;
  s2.mf = false;
  s2.frag_off_bytes = 32;
  auto second = Ipv4Frame(kOutMac, kHpMac, s2, std::vector<uint8_t>(16, 'b'));
  EXPECT_EQ(Feed(kInside, second).size(), 1u);
  // A non-first fragment whose head never passed is dropped.
  s2.id = 78;
  EXPECT_TRUE(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, s2, std::vector<uint8_t>(16, 'b'))).empty());
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kFragmentNoHead)].load(), 1u);
}

TEST_F(EngineTest, FlowEndsAreReportedWithCounts) {
  Make(BridgeConfig());
  Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80));
  Feed(kOutside, Syn(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000, kSyn | kAck));
  engine->Stop(kT0 + kSec);
  ASSERT_EQ(ev.events.back().kind, EventKind::kFlowEnd);
  EXPECT_EQ(ev.events.back().pkts_toserver, 1u);
  EXPECT_EQ(ev.events.back().pkts_toclient, 1u);
  EXPECT_EQ(ev.events.back().end_reason, 2);
}

// ------------------------------------------------------------------ nat

TEST_F(EngineTest, NatAnswersArpForGatewayAndPublicIp) {
  Make(NatConfig());
  auto r = Feed(kInside, Arp(M("ff:ff:ff:ff:ff:ff"), kHpMac, 1, I("10.0.0.2"), Mac{}, I("10.0.0.1")));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].port, kInside);
  Packet p;
  ASSERT_EQ(Decode(r[0].bytes.data(), uint32_t(r[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(p.arp_op, 2);
  EXPECT_EQ(Mac::From(p.data + p.arp_sha_off), kWallIn);
  EXPECT_EQ(Ip4::FromNet(p.data + p.arp_spa_off), I("10.0.0.1"));
  EXPECT_EQ(Mac::From(p.dst_mac()), kHpMac);

  r = Feed(kOutside, Arp(M("ff:ff:ff:ff:ff:ff"), kGwMac, 1, I("192.0.2.1"), Mac{}, I("192.0.2.10")));
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(Decode(r[0].bytes.data(), uint32_t(r[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(Mac::From(p.data + p.arp_sha_off), kWallOut);
  EXPECT_EQ(Ip4::FromNet(p.data + p.arp_spa_off), I("192.0.2.10"));
  EXPECT_TRUE(engine->ready());  // the gateway's request taught us its MAC
  // Nothing is answered for addresses that are not ours.
  EXPECT_TRUE(Feed(kOutside, Arp(M("ff:ff:ff:ff:ff:ff"), kGwMac, 1, I("192.0.2.1"), Mac{}, I("192.0.2.77"))).empty());
}

TEST_F(EngineTest, NatOutboundTranslatesSourceDecrementsTtlKeepsChecksums) {
  Make(NatConfig());
  LearnGateway();
  auto out = Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "192.0.2.20", 40000, 80, kSyn, 64));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].port, kOutside);
  Packet p;
  ASSERT_EQ(Decode(out[0].bytes.data(), uint32_t(out[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_src_off), I("192.0.2.10"));
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_dst_off), I("192.0.2.20"));
  EXPECT_EQ(p.ttl, 63);
  EXPECT_EQ(Mac::From(p.dst_mac()), kGwMac);
  EXPECT_EQ(Mac::From(p.src_mac()), kWallOut);
  EXPECT_TRUE(ChecksumsValid(out[0].bytes));
  // The event names the honeypot's private address.
  ASSERT_FALSE(ev.events.empty());
  EXPECT_EQ(ev.events.back().key.SrcString(), "10.0.0.2");
}

TEST_F(EngineTest, NatInboundTranslatesDestinationToPrivate) {
  Make(NatConfig());
  LearnGateway();
  Feed(kInside, Arp(M("ff:ff:ff:ff:ff:ff"), kHpMac, 1, I("10.0.0.2"), Mac{}, I("10.0.0.1")));  // learn hp MAC
  auto in = Feed(kOutside, Syn(kGwMac, kWallOut, "198.51.100.9", "192.0.2.10", 50000, 23));
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].port, kInside);
  Packet p;
  ASSERT_EQ(Decode(in[0].bytes.data(), uint32_t(in[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_dst_off), I("10.0.0.2"));
  EXPECT_EQ(Mac::From(p.dst_mac()), kHpMac);
  EXPECT_EQ(p.ttl, 63);
  EXPECT_TRUE(ChecksumsValid(in[0].bytes));
  // The reply goes back out with the public address.
  auto rep = Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "198.51.100.9", 23, 50000, kSyn | kAck));
  ASSERT_EQ(rep.size(), 1u);
  ASSERT_EQ(Decode(rep[0].bytes.data(), uint32_t(rep[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_src_off), I("192.0.2.10"));
  EXPECT_TRUE(ChecksumsValid(rep[0].bytes));
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 0u);
}

TEST_F(EngineTest, NatInboundBeforeHoneypotMacIsHeldUntilArpAnswer) {
  Make(NatConfig());
  LearnGateway();
  auto r = Feed(kOutside, Syn(kGwMac, kWallOut, "198.51.100.9", "192.0.2.10", 50000, 23));
  ASSERT_EQ(r.size(), 1u);  // an ARP request on the inside, not the frame
  EXPECT_EQ(r[0].port, kInside);
  EXPECT_EQ(Load16(r[0].bytes.data() + 12), kEthArp);
  auto d = Feed(kInside, Arp(kWallIn, kHpMac, 2, I("10.0.0.2"), kWallIn, I("10.0.0.1")));
  ASSERT_EQ(d.size(), 1u);  // the held frame, now delivered
  Packet p;
  ASSERT_EQ(Decode(d[0].bytes.data(), uint32_t(d[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(p.ip_proto, kProtoTcp);
  EXPECT_EQ(Mac::From(p.dst_mac()), kHpMac);
}

TEST_F(EngineTest, NatUdpChecksumsIncludingZero) {
  Make(NatConfig());
  LearnGateway();
  for (bool zero : {false, true}) {
    Ip4Spec s{I("10.0.0.2"), I("192.0.2.20"), kProtoUdp};
    auto f = Ipv4Frame(kWallIn, kHpMac, s, UdpDgram(s.src, s.dst, zero ? 5001 : 5000, 53, "hello", zero));
    auto out = Feed(kInside, f);
    ASSERT_EQ(out.size(), 1u);
    Packet p;
    ASSERT_EQ(Decode(out[0].bytes.data(), uint32_t(out[0].bytes.size()), &p), DecodeError::kOk);
    EXPECT_EQ(Ip4::FromNet(p.data + p.ip_src_off), I("192.0.2.10"));
    if (zero) {
      EXPECT_EQ(Load16(p.data + p.l4_off + 6), 0);
    }
    EXPECT_TRUE(ChecksumsValid(out[0].bytes));
  }
}

TEST_F(EngineTest, NatTtlOneGetsTimeExceeded) {
  Make(NatConfig());
  LearnGateway();
  auto r = Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "192.0.2.20", 40000, 80, kSyn, 1));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].port, kInside);
  Packet p;
  ASSERT_EQ(Decode(r[0].bytes.data(), uint32_t(r[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(p.ip_proto, kProtoIcmp);
  EXPECT_EQ(p.icmp_type, 11);
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_src_off), I("10.0.0.1"));
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_dst_off), I("10.0.0.2"));
  ASSERT_TRUE(p.has_inner);
  EXPECT_EQ(p.inner_dport, 80);
  EXPECT_TRUE(ChecksumsValid(r[0].bytes));
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 0u);
}

TEST_F(EngineTest, NatIcmpErrorFromOutsideIsTranslatedInside) {
  Make(NatConfig());
  LearnGateway();
  Feed(kInside, Arp(M("ff:ff:ff:ff:ff:ff"), kHpMac, 1, I("10.0.0.2"), Mac{}, I("10.0.0.1")));
  Ip4Spec s{I("10.0.0.2"), I("192.0.2.20"), kProtoUdp};
  auto out = Feed(kInside, Ipv4Frame(kWallIn, kHpMac, s, UdpDgram(s.src, s.dst, 5000, 9999, "x")));
  ASSERT_EQ(out.size(), 1u);
  // Port unreachable quoting the translated datagram (first 28 bytes of it).
  std::vector<uint8_t> quote(out[0].bytes.begin() + 14, out[0].bytes.begin() + 14 + 28);
  Ip4Spec e{I("192.0.2.20"), I("192.0.2.10"), kProtoIcmp};
  std::vector<uint8_t> body(quote);
  auto icmp = IcmpMsg(3, 3, 0, 0, body);
  auto in = Feed(kOutside, Ipv4Frame(kWallOut, kGwMac, e, icmp));
  ASSERT_EQ(in.size(), 1u);
  Packet p;
  ASSERT_EQ(Decode(in[0].bytes.data(), uint32_t(in[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_dst_off), I("10.0.0.2"));
  ASSERT_TRUE(p.has_inner);
  EXPECT_EQ(Ip4::FromNet(p.data + p.inner_ip_off + 12), I("10.0.0.2"));
  EXPECT_TRUE(ChecksumsValid(in[0].bytes));
  // Inner IPv4 header checksum is right too.
  EXPECT_EQ(Ipv4HeaderChecksum(p.data + p.inner_ip_off, 20), Load16(p.data + p.inner_ip_off + 10));
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kIcmp, kT0), 0u);
}

TEST_F(EngineTest, NatWithoutGatewayMacDropsAndAsks) {
  Make(NatConfig());
  auto r = Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "192.0.2.20", 40000, 80), kT0 + kSec);
  bool arp = false;
  for (auto& s : r) arp |= s.port == kOutside && Load16(s.bytes.data() + 12) == kEthArp;
  EXPECT_TRUE(arp);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kNoRoute)].load(), 1u);
}

TEST_F(EngineTest, NatAnswersPingToGateway) {
  Make(NatConfig());
  Ip4Spec s{I("10.0.0.2"), I("10.0.0.1"), kProtoIcmp};
  auto r = Feed(kInside, Ipv4Frame(kWallIn, kHpMac, s, IcmpMsg(8, 0, 7, 1, std::vector<uint8_t>(56, 0x5a))));
  ASSERT_EQ(r.size(), 1u);
  Packet p;
  ASSERT_EQ(Decode(r[0].bytes.data(), uint32_t(r[0].bytes.size()), &p), DecodeError::kOk);
  EXPECT_EQ(p.icmp_type, 0);
  EXPECT_EQ(Ip4::FromNet(p.data + p.ip_src_off), I("10.0.0.1"));
  EXPECT_TRUE(ChecksumsValid(r[0].bytes));
}

// Checksum offload passed through (virtio-net headers): a frame whose sender
// left its TCP/UDP checksum partial leaves partial with the same offsets
// (nothing summed here); NAT adjusts the pseudo-header sum in it so that what
// the receiver finishes is right. Without the ports' support it is completed.
TEST_F(EngineTest, PartialChecksumsPassThroughBridgeAndNat) {
  for (bool nat : {false, true}) {
    for (bool leave : {true, false}) {
      SCOPED_TRACE(std::string(nat ? "nat" : "bridge") + (leave ? ", left partial" : ", completed"));
      tx.leave_checksum = leave;
      Make(nat ? NatConfig() : BridgeConfig());
      const Mac in_dst = nat ? kWallIn : kOutMac;
      const char* hp_ip = nat ? "10.0.0.2" : "192.0.2.10";
      if (nat) {
        LearnGateway();
        Feed(kInside, Arp(M("ff:ff:ff:ff:ff:ff"), kHpMac, 1, I("10.0.0.2"), Mac{}, I("10.0.0.1")));
      }
      const uint64_t finished0 = engine->counters().checksums_finished.load();
      Ip4Spec us{I(hp_ip), I("192.0.2.20"), kProtoUdp};
      std::vector<std::pair<int, std::vector<uint8_t>>> frames = {
          {kInside, Syn(kHpMac, in_dst, hp_ip, "192.0.2.20", 40000, 80)},
          {kOutside, Syn(nat ? kGwMac : kOutMac, nat ? kWallOut : kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000,
                         kSyn | kAck)},
          {kInside, Ipv4Frame(in_dst, kHpMac, us, UdpDgram(us.src, us.dst, 5000, 9999, "partial payload", false))},
      };
      for (auto& [port, f] : frames) {
        auto out = FeedPartial(port, f);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].port, port ^ 1);
        if (leave) {
          EXPECT_EQ(out[0].off.csum_start, 34);  // Ethernet 14 + IPv4 20
          EXPECT_TRUE(out[0].off.csum_offset == 16 || out[0].off.csum_offset == 6);
          EXPECT_FALSE(ChecksumsValid(out[0].bytes));  // still partial on the way
        } else {
          EXPECT_EQ(out[0].off.csum_start, 0);
        }
        EXPECT_TRUE(ChecksumsValid(Finish(out[0])));
      }
      EXPECT_EQ(engine->counters().checksums_finished.load() - finished0, leave ? 0u : 3u);
    }
  }
}

// gso = true: a TCP super-segment (checksum partial, gso_type TCPV4) leaves as
// one frame with the same segmentation instruction, in both modes; one that
// cannot be passed on so (its checksum not left partial, or ports without
// virtio-net headers) is dropped as malformed, never sent whole.
TEST_F(EngineTest, GsoSuperSegmentsPassWholeOrAreDropped) {
  for (bool nat : {false, true}) {
    SCOPED_TRACE(nat ? "nat" : "bridge");
    tx.leave_checksum = true;
    Make(nat ? NatConfig() : BridgeConfig());
    if (nat) {
      LearnGateway();
      Feed(kInside, Arp(M("ff:ff:ff:ff:ff:ff"), kHpMac, 1, I("10.0.0.2"), Mac{}, I("10.0.0.1")));
    }
    Ip4Spec s{I("192.0.2.20"), I("192.0.2.10"), kProtoTcp};
    ASSERT_EQ(Feed(kOutside, Syn(nat ? kGwMac : kOutMac, nat ? kWallOut : kHpMac, "192.0.2.20", "192.0.2.10",
                                 5001, 23)).size(), 1u);  // the connection, then its data
    auto big = Ipv4Frame(nat ? kWallOut : kHpMac, nat ? kGwMac : kOutMac, s,
                         TcpSeg(s.src, s.dst, 5001, 23, kAck, std::string(8000, 'x')));
    auto out = FeedPartial(kOutside, big, /*gso_type=TCPV4*/ 1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].bytes.size(), big.size());
    EXPECT_EQ(out[0].off.gso_type, 1);
    EXPECT_EQ(out[0].off.gso_size, 1448);
    EXPECT_EQ(out[0].off.hdr_len, 66);
    EXPECT_TRUE(ChecksumsValid(Finish(out[0])));
    const uint64_t malformed = engine->counters().drops[size_t(Reason::kMalformed)].load();
    EXPECT_TRUE(FeedPartial(kOutside, big, 1, /*csum_not_ready=*/false).empty());
    tx.leave_checksum = false;
    EXPECT_TRUE(FeedPartial(kOutside, big, 1).empty());
    EXPECT_EQ(engine->counters().drops[size_t(Reason::kMalformed)].load() - malformed, 2u);
  }
}

// nat: a partial frame held until the honeypot answers ARP leaves later as a
// frame of our own, so it is completed before it is held.
TEST_F(EngineTest, NatHeldPartialFrameIsCompleted) {
  tx.leave_checksum = true;
  Make(NatConfig());
  LearnGateway();
  auto r = FeedPartial(kOutside, Syn(kGwMac, kWallOut, "198.51.100.9", "192.0.2.10", 50000, 23));
  ASSERT_EQ(r.size(), 1u);  // the ARP request
  auto d = Feed(kInside, Arp(kWallIn, kHpMac, 2, I("10.0.0.2"), kWallIn, I("10.0.0.1")));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].off.csum_start, 0);
  EXPECT_TRUE(ChecksumsValid(d[0].bytes));
}

TEST_F(EngineTest, NatIgnoresFramesNotAddressedToIt) {
  Make(NatConfig());
  LearnGateway();
  EXPECT_TRUE(Feed(kOutside, Syn(kGwMac, kOutMac, "198.51.100.9", "192.0.2.10", 50000, 23)).empty());
  EXPECT_TRUE(Feed(kOutside, Syn(kGwMac, kWallOut, "198.51.100.9", "192.0.2.99", 50000, 23)).empty());
  EXPECT_EQ(engine->counters().not_for_us.load(), 2u);
}

}  // namespace
}  // namespace hn

namespace hn {
namespace {

using namespace hn::test;

// Attempts to get more out after the budget is spent: none may pass.
class EngineEvasionTest : public EngineTest {
 protected:
  void SpendTcp() {
    for (int i = 0; i < 9; i++) {
      std::string dst = "192.0.2." + std::to_string(100 + i);
      ASSERT_EQ(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", dst.c_str(), uint16_t(30000 + i), 80)).size(), 1u);
    }
  }
  int OutsideFrames(const std::vector<Sent>& s) {
    int n = 0;
    for (auto& x : s) n += x.port == kOutside;
    return n;
  }
};

TEST_F(EngineEvasionTest, SynWithPayloadAndResequencedSynsAreStillNewConnections) {
  Make(BridgeConfig());
  SpendTcp();
  Ip4Spec s{I("192.0.2.10"), I("192.0.2.50")};
  auto syn_data = Ipv4Frame(kOutMac, kHpMac, s, TcpSeg(s.src, s.dst, 41000, 80, kSyn, "GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(OutsideFrames(Feed(kInside, syn_data)), 0);
  // The same 5-tuple with another sequence number is the same (denied) attempt.
  auto reseq = Ipv4Frame(kOutMac, kHpMac, s, TcpSeg(s.src, s.dst, 41000, 80, kSyn, "", 999999));
  EXPECT_EQ(OutsideFrames(Feed(kInside, reseq)), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);
}

TEST_F(EngineEvasionTest, ProbesCannotCreateEstablishedState) {
  Make(BridgeConfig());
  SpendTcp();
  for (uint8_t flags : {uint8_t(kSyn | kAck), uint8_t(kAck), uint8_t(kRst), uint8_t(kFin | kAck), uint8_t(kPsh | kAck)}) {
    EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.51", 42000, 80, flags))), 0)
        << "flags " << int(flags);
  }
  // ... and after those probes a SYN on that 5-tuple is still a new, denied connection.
  EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.51", 42000, 80))), 0);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 9u);
}

TEST_F(EngineEvasionTest, AnInboundFlowDoesNotCarryAnotherFiveTuple) {
  Make(BridgeConfig());
  SpendTcp();
  ASSERT_EQ(Feed(kOutside, Syn(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000, 23)).size(), 1u);
  // Replies on that flow pass; the same peer on another port is a new outbound attempt.
  EXPECT_EQ(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 23, 50000, kSyn | kAck)).size(), 1u);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 23, 50001))), 0);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 24, 50000))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 2u);
}

TEST_F(EngineEvasionTest, ForgedOutsideSourceAndQinQAreDropped) {
  Make(BridgeConfig());
  SpendTcp();
  EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.99", "192.0.2.52", 43000, 80))), 0);
  auto qinq = Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.53", 43001, 80);
  uint8_t tags[8] = {0x88, 0xa8, 0x00, 0x07, 0x81, 0x00, 0x00, 0x05};
  qinq.insert(qinq.begin() + 12, tags, tags + 8);
  EXPECT_EQ(OutsideFrames(Feed(kInside, qinq)), 0);
  // UDP to port 53 of a server that is not listed is counted like any UDP.
  Ip4Spec s{I("192.0.2.10"), I("192.0.2.54"), kProtoUdp};
  Feed(kInside, Ipv4Frame(kOutMac, kHpMac, s, UdpDgram(s.src, s.dst, 5353, 53, "x")));
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kUdp, kT0), 1u);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 9u);
}

TEST_F(EngineEvasionTest, NatSpentBudgetHoldsAndTtlOneIsNotAWayOut) {
  Make(NatConfig());
  LearnGateway();
  for (int i = 0; i < 9; i++) {
    std::string dst = "192.0.2." + std::to_string(100 + i);
    ASSERT_EQ(Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", dst.c_str(), uint16_t(30000 + i), 80)).size(), 1u);
  }
  EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "192.0.2.60", 31000, 80))), 0);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "192.0.2.61", 31001, 80, kSyn, 1))), 0);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "192.0.2.62", 31002, 80, kAck))), 0);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 9u);
}

}  // namespace
}  // namespace hn

// Evasions found by the integration tests (tests/integration/test_evasion.py).
namespace hn {
namespace {

using namespace hn::test;

class EngineEvasionFixTest : public EngineTest {
 protected:
  // Bridge config whose hp1 may start `tcp` TCP, `udp` UDP and `icmp` ICMP flows.
  static Config Limited(uint32_t tcp, uint32_t udp, uint32_t icmp) {
    Config c = BridgeConfig();
    for (auto& h : c.honeypots) h.limits.max = {tcp, udp, icmp, 10, 30};
    return c;
  }
  static int OutsideFrames(const std::vector<Sent>& s) {
    int n = 0;
    for (auto& x : s) n += x.port == kOutside;
    return n;
  }
  std::vector<uint8_t> Tcp(Mac src_mac, Mac dst_mac, const char* src, const char* dst, uint16_t sport,
                           uint16_t dport, uint8_t flags, uint32_t seq) {
    Ip4Spec s{I(src), I(dst)};
    return Ipv4Frame(dst_mac, src_mac, s, TcpSeg(s.src, s.dst, sport, dport, flags, "", seq));
  }
  std::vector<uint8_t> Udp(Mac src_mac, Mac dst_mac, Ip4 src, Ip4 dst, uint16_t sport, uint16_t dport) {
    Ip4Spec s{src, dst, kProtoUdp};
    return Ipv4Frame(dst_mac, src_mac, s, UdpDgram(src, dst, sport, dport, "data"));
  }
  // The frame with IPv4 options inserted after the 20-byte header (IHL, length, checksum fixed).
  static std::vector<uint8_t> WithIpOptions(std::vector<uint8_t> f, std::vector<uint8_t> opts) {
    while (opts.size() % 4) opts.push_back(0);
    f.insert(f.begin() + 14 + 20, opts.begin(), opts.end());
    uint8_t* ip = f.data() + 14;
    ip[0] = uint8_t(0x40 | (5 + opts.size() / 4));
    Store16(ip + 2, uint16_t(Load16(ip + 2) + opts.size()));
    Store16(ip + 10, 0);
    Store16(ip + 10, Ipv4HeaderChecksum(ip, 20 + opts.size()));
    return f;
  }
  size_t Ends() const {
    size_t n = 0;
    for (const Event& e : ev.events) n += e.kind == EventKind::kFlowEnd;
    return n;
  }
};

// The server closed first and forgot the connection; the honeypot never
// closed. A SYN with a new ISN on the allowed 5-tuple used to pass as a
// "retransmission" and open a second connection outside the budget.
TEST_F(EngineEvasionFixTest, SynOnAnEstablishedOrClosingFlowIsANewConnection) {
  Make(Limited(1, 20, 50));
  ASSERT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn, 100))), 1);
  Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000, kSyn | kAck, 900));
  Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kAck, 101));
  Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000, kFin | kAck, 901));  // server closes
  Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kAck, 101));
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn, 77777))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);
  EXPECT_EQ(Ends(), 1u);  // the old connection's flow ended
  // Its retransmission is the same (denied) attempt: dropped, not logged again.
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn, 77777))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 1u);

  // Established (no FIN at all): the same.
  ev.events.clear();
  Make(Limited(1, 20, 50));
  Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.21", 40001, 80, kSyn, 100));
  Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.21", "192.0.2.10", 80, 40001, kSyn | kAck, 900));
  Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.21", 40001, 80, kAck, 101));
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.21", 40001, 80, kSyn, 5))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);
}

TEST_F(EngineEvasionFixTest, SynRepeatedBeforeTheHandshakeEndsIsStillARetransmission) {
  Make(Limited(1, 20, 50));
  Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn, 100));
  // no answer yet: a SYN with another ISN is the same attempt
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn, 555))), 1);
  // the SYN-ACK was lost on its way to the honeypot: its SYN again passes
  Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000, kSyn | kAck, 900));
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn, 100))), 1);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 1u);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 0u);
  EXPECT_EQ(Ends(), 0u);
}

TEST_F(EngineEvasionFixTest, BareSynBackOnAnInboundConnectionIsAnOutboundAttempt) {
  Make(Limited(0, 20, 50));
  ASSERT_EQ(Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000, 23, kSyn, 1)).size(), 1u);
  EXPECT_EQ(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 23, 50000, kSyn | kAck, 7)).size(), 1u);
  Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000, 23, kAck, 2));
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 23, 50000, kSyn, 99))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);
  // A simultaneous open (the honeypot's SYN before it answered) is part of the inbound connection.
  ASSERT_EQ(Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50001, 23, kSyn, 1)).size(), 1u);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.99", 23, 50001, kSyn, 7))), 1);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), 0u);
}

TEST_F(EngineEvasionFixTest, UnicastIpInABroadcastFrameIsCountedNotExempt) {
  Make(Limited(1, 1, 0));
  ASSERT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), 5000, 7000))), 1);
  for (Mac m : {M("ff:ff:ff:ff:ff:ff"), M("01:00:5e:00:00:fb"), M("33:33:00:00:00:01")}) {
    EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, m, I("192.0.2.10"), I("192.0.2.20"), 5001, 7001))), 0);
    Ip4Spec s{I("192.0.2.10"), I("192.0.2.20"), kProtoIcmp};
    EXPECT_EQ(OutsideFrames(Feed(kInside, Ipv4Frame(m, kHpMac, s, IcmpMsg(8, 0, 9, 1, {})))), 0);
  }
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 2u);  // one UDP flow, one ICMP flow
  // A real broadcast is still exempt and not counted.
  EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, M("ff:ff:ff:ff:ff:ff"), I("192.0.2.10"), I("255.255.255.255"), 5002, 7002))), 1);
  EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kExemptBroadcast), 1u);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kUdp, kT0), 1u);

  // IPv6 (ipv6 = true): a unicast address in a 33:33 frame is counted too.
  Config c = Limited(1, 0, 1);
  c.allow_ipv6 = true;
  c.honeypots[0].ip6 = {*Ip6::Parse("2001:db8::10")};
  ev.events.clear();
  Make(c);
  Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), 5000, 7000));  // learns the MAC (udp 0: dropped)
  auto v6 = Eth(M("33:33:00:00:00:01"), kHpMac, kEthIpv6);
  std::vector<uint8_t> ip6(48, 0);
  ip6[0] = 0x60;
  Store16(ip6.data() + 4, 8);
  ip6[6] = kProtoUdp;
  ip6[7] = 64;
  ip6[8] = 0x20, ip6[9] = 0x01, ip6[10] = 0x0d, ip6[11] = 0xb8, ip6[23] = 0x10;  // 2001:db8::10
  ip6[24] = 0x20, ip6[25] = 0x01, ip6[26] = 0x0d, ip6[27] = 0xb8, ip6[39] = 0x01;  // 2001:db8::1
  Store16(ip6.data() + 40, 5000);
  Store16(ip6.data() + 42, 7000);
  Store16(ip6.data() + 44, 8);
  v6.insert(v6.end(), ip6.begin(), ip6.end());
  EXPECT_EQ(OutsideFrames(Feed(kInside, v6)), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 2u);
}

TEST_F(EngineEvasionFixTest, AllowedEventsAreLimitedPerSourceVerdictsNever) {
  Limits l;
  l.max = {0, 1000, 0, 0, 0};
  Config c = BridgeConfig();
  for (auto& h : c.honeypots) h.limits = l;
  Make(c);
  // 40 sources, 5 connections each: none is over its rate, all written.
  for (int s = 0; s < 40; s++)
    for (int i = 0; i < 5; i++) {
      std::string src = "198.51.100." + std::to_string(s + 1);
      Feed(kOutside, Syn(kOutMac, kHpMac, src.c_str(), "192.0.2.10", uint16_t(50000 + i), 23));
    }
  EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kInbound), 200u);
  // A honeypot's counted starts and its budget hits are always written.
  for (int i = 0; i < 60; i++)
    Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), uint16_t(6000 + i), 7000));
  for (int i = 0; i < 5; i++)
    Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", uint16_t(41000 + i), 80));
  EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kOutbound), 60u);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 5u);
}

TEST_F(EngineEvasionFixTest, RepliesBeyondOnePerRequestBecomeCountedOutbound) {
  for (uint32_t udp : {0u, 1u}) {
    ev.events.clear();
    Make(Limited(9, udp, 50));
    // One packet "from" 192.0.2.99 (spoofed by an accomplice) opens an inbound flow.
    ASSERT_EQ(Feed(kOutside, Udp(kOutMac, kHpMac, I("192.0.2.99"), I("192.0.2.10"), 40500, 7400)).size(), 1u);
    auto reply = [&] { return OutsideFrames(Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.99"), 7400, 40500))); };
    EXPECT_EQ(reply(), 1);  // the reply
    const int more = reply() + reply() + reply();
    EXPECT_EQ(engine->counters().reply_overruns.load(), 1u);
    if (udp == 0) {
      EXPECT_EQ(more, 0);
      EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);
      // Dropped both ways from then on.
      EXPECT_EQ(Feed(kOutside, Udp(kOutMac, kHpMac, I("192.0.2.99"), I("192.0.2.10"), 40500, 7400)).size(), 0u);
    } else {
      EXPECT_EQ(more, 3);  // it took the one UDP start
      EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kReplyOverrun), 1u);
      EXPECT_EQ(engine->budget(0).Used(ProtoClass::kUdp, kT0), 1u);
      const Event* e = nullptr;
      for (const Event& x : ev.events)
        if (x.kind == EventKind::kFlowNew && x.reason == Reason::kReplyOverrun) e = &x;
      ASSERT_NE(e, nullptr);
      EXPECT_TRUE(e->counted);
      EXPECT_EQ(e->dir, FlowDir::kOutbound);
      EXPECT_EQ(e->key.SrcString(), "192.0.2.10");  // the honeypot is the source now
    }
  }
}

TEST_F(EngineEvasionFixTest, DhcpServerTrafficNeverLeavesAHoneypot) {
  Config c = Limited(9, 20, 50);
  c.dhcp_servers = {I("192.0.2.67")};
  Make(c);
  Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), 5000, 7000));
  const Mac bc = M("ff:ff:ff:ff:ff:ff");
  EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, bc, I("192.0.2.10"), I("255.255.255.255"), 67, 68))), 0);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.67"), 67, 67))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFrameDrop, Reason::kDhcpServer), 2u);
  // Client traffic to the listed server is exempt; to anyone else it is UDP.
  EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.67"), 68, 67))), 1);
  EXPECT_EQ(ev.Count(EventKind::kFlowNew, Reason::kExemptDhcp), 1u);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.21"), 68, 67))), 1);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kUdp, kT0), 2u);
}

TEST_F(EngineEvasionFixTest, IcmpErrorsGoOnlyToTheSenderOfTheQuotedDatagram) {
  Make(Limited(9, 20, 0));
  ASSERT_EQ(Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000, 23, kSyn, 1)).size(), 1u);
  // What the honeypot received on the inbound flow, quoted in a port unreachable.
  auto in = Tcp(kOutMac, kHpMac, "192.0.2.99", "192.0.2.10", 50000, 23, kAck, 2);
  std::vector<uint8_t> quote(in.begin() + 14, in.begin() + 14 + 28);
  quote.insert(quote.end(), 500, 'C');  // and a payload of its own
  auto err_to = [&](const char* dst) {
    Ip4Spec s{I("192.0.2.10"), I(dst), kProtoIcmp};
    return Ipv4Frame(kOutMac, kHpMac, s, IcmpMsg(3, 3, 0, 0, quote));
  };
  EXPECT_EQ(OutsideFrames(Feed(kInside, err_to("192.0.2.77"))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);  // a new ICMP flow, over budget
  EXPECT_EQ(OutsideFrames(Feed(kInside, err_to("192.0.2.99"))), 1);  // to the quoted datagram's sender: related
  // An "error" about a datagram the honeypot sent itself is no error it could get.
  Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), 5000, 7000));
  auto out = Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), 5000, 7000);
  std::vector<uint8_t> own(out.begin() + 14, out.begin() + 14 + 28);
  Ip4Spec s{I("192.0.2.10"), I("192.0.2.20"), kProtoIcmp};
  EXPECT_EQ(OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, s, IcmpMsg(11, 0, 0, 0, own)))), 0);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kIcmp, kT0), 0u);
}

TEST_F(EngineEvasionFixTest, UnknownMacsMayOnlyAskForAnAddressWhileAHoneypotIsUnlearned) {
  Make(BridgeConfig());  // hp1 and hp2, MACs learned
  const Mac bc = M("ff:ff:ff:ff:ff:ff");
  auto discover = [&](Mac m) { return Udp(m, bc, Ip4{}, I("255.255.255.255"), 68, 67); };
  EXPECT_EQ(OutsideFrames(Feed(kInside, discover(M("02:00:00:00:77:01")))), 1);  // may be hp1 or hp2 booting
  // Other traffic from 0.0.0.0 in a broadcast frame is no DHCP discover.
  EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(M("02:00:00:00:77:02"), bc, Ip4{}, I("192.0.2.20"), 68, 67))), 0);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(M("02:00:00:00:77:03"), bc, Ip4{}, I("192.0.2.20"), 5000, 7000))), 0);
  Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), 5000, 7000));
  Feed(kInside, Udp(kHp2Mac, kOutMac, I("192.0.2.11"), I("192.0.2.20"), 5000, 7000));
  // Every honeypot is known now: a discover from another MAC is nobody's.
  for (int i = 0; i < 5; i++) {
    Mac m = M("02:00:00:00:78:00");
    m.b[5] = uint8_t(i);
    EXPECT_EQ(OutsideFrames(Feed(kInside, discover(m))), 0);
  }
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kUnknownSource)].load(), 7u);
  // The honeypots themselves may still ask.
  EXPECT_EQ(OutsideFrames(Feed(kInside, discover(kHpMac))), 1);
}

TEST_F(EngineEvasionFixTest, TcpFragmentInsideTheTcpHeaderIsDropped) {
  Make(BridgeConfig());
  Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, 80, kSyn, 100));
  Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", 80, 40000, kSyn | kAck, 900));
  Ip4Spec s{I("192.0.2.10"), I("192.0.2.20")};
  auto ack = TcpSeg(s.src, s.dst, 40000, 80, kAck, std::string(32, 'd'), 101);
  auto syn = TcpSeg(s.src, s.dst, 40000, 80, kSyn, std::string(32, 'd'), 101);
  s.id = 9;
  s.mf = true;
  EXPECT_EQ(OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, s, {ack.begin(), ack.begin() + 24}))), 1);
  Ip4Spec o = s;
  o.frag_off_bytes = 8;  // bytes 8..39: ack number, flags, window: rewritten to a SYN
  EXPECT_EQ(OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, o, {syn.begin() + 8, syn.begin() + 40}))), 0);
  o.frag_off_bytes = 16;
  EXPECT_EQ(OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, o, {syn.begin() + 16, syn.begin() + 40}))), 0);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kFragmentOverlap)].load(), 2u);
  EXPECT_EQ(ev.Count(EventKind::kFrameDrop, Reason::kFragmentOverlap), 2u);
  Ip4Spec last = s;
  last.mf = false;
  last.frag_off_bytes = 24;  // past the header: follows its head
  EXPECT_EQ(OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, last, {ack.begin() + 24, ack.end()}))), 1);
}

TEST_F(EngineEvasionFixTest, SourceRoutedPacketsFromInsideAreDropped) {
  Make(BridgeConfig());
  auto udp = Udp(kHpMac, kOutMac, I("192.0.2.10"), I("192.0.2.20"), 5000, 7000);
  ASSERT_EQ(OutsideFrames(Feed(kInside, udp)), 1);  // the allowed flow
  const std::vector<uint8_t> lsrr = {0x01, 0x83, 7, 4, 192, 0, 2, 77};
  const std::vector<uint8_t> ssrr = {0x89, 7, 4, 192, 0, 2, 77, 0x00};
  EXPECT_EQ(OutsideFrames(Feed(kInside, WithIpOptions(udp, lsrr))), 0);
  EXPECT_EQ(OutsideFrames(Feed(kInside, WithIpOptions(udp, ssrr))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFrameDrop, Reason::kSourceRoute), 2u);
  // Other options pass on the allowed flow.
  const std::vector<uint8_t> rr = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_EQ(OutsideFrames(Feed(kInside, WithIpOptions(udp, rr))), 1);
  // A malformed option list might be read further by some stack than by us: fail closed.
  const std::vector<uint8_t> bad_len = {0x44, 0x00, 0x83, 7};
  EXPECT_EQ(OutsideFrames(Feed(kInside, WithIpOptions(udp, bad_len))), 0);
  EXPECT_EQ(ev.Count(EventKind::kFrameDrop, Reason::kSourceRoute), 3u);
}

// A flood of incomplete datagrams: the fragment table stays at its fixed size,
// remembers at most kFragSlots datagrams (older ones' tails are dropped: fail
// closed) and counts what it recorded and overwrote.
TEST_F(EngineEvasionFixTest, FragmentTableIsBoundedAndCountsEvictions) {
  Make(BridgeConfig());
  Ip4Spec s{I("192.0.2.10"), I("192.0.2.20"), kProtoUdp};
  s.mf = true;
  const auto head = UdpDgram(s.src, s.dst, 5000, 6000, std::string(24, 'a'));
  const int n = 3 * int(Engine::kFragSlots);
  int heads_out = 0;
  for (int i = 0; i < n; i++) {
    s.id = uint16_t(i);
    heads_out += OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, s, head)));
  }
  EXPECT_EQ(heads_out, n);  // one allowed flow: its heads pass
  const auto& c = engine->counters();
  EXPECT_EQ(c.frag_heads.load(), uint64_t(n));
  EXPECT_GE(c.frag_evicted.load(), uint64_t(n) - Engine::kFragSlots);
  Ip4Spec t = s;
  t.mf = false;
  t.frag_off_bytes = 32;
  int tails_out = 0;
  for (int i = n - 1; i >= 0; i--) {
    t.id = uint16_t(i);
    tails_out += OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, t, std::vector<uint8_t>(8, 'b'))));
  }
  EXPECT_GE(tails_out, 1);
  EXPECT_LE(tails_out, int(Engine::kFragSlots));
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kFragmentNoHead)].load(), uint64_t(n - tails_out));
  // After the timeout nothing of them is left.
  t.id = uint16_t(n - 1);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, t, std::vector<uint8_t>(8, 'b')),
                               kT0 + Engine::kFragTimeoutNs + kSec)), 0);
}

// ------------------------------------------------------------------ floods

// A honeypot floods new 5-tuples after its budget is spent: the table fills
// with refused flows, which give way to new flows; a counted outbound flow is
// never evicted, and inbound connections to the other honeypot still pass.
TEST_F(EngineEvasionFixTest, FullFlowTableEvictsRefusedFlowsNeverCountedOnes) {
  Config c = Limited(2, 20, 50);
  c.max_flows = 256;
  Make(c);
  // hp1 spends its TCP budget on two real connections (handshake done).
  for (uint16_t port : {80, 81}) {
    ASSERT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, port, kSyn, 1))), 1);
    Feed(kOutside, Tcp(kOutMac, kHpMac, "192.0.2.20", "192.0.2.10", port, 40000, kSyn | kAck, 9));
  }
  // The flood: 20x the table of new 5-tuples, all refused.
  int out = 0;
  for (int i = 0; i < 20 * 256; i++)
    out += OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "198.51.100.7", uint16_t(1024 + i), 443,
                                          kSyn, 1), kT0 + i));
  EXPECT_EQ(out, 0);
  EXPECT_EQ(engine->flows().size(), 256u);
  EXPECT_GE(engine->counters().flows_evicted.load(), uint64_t(20 * 256 - 256));
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kFlowTableFull)].load(), 0u);
  // The counted connections are still there: their data still passes, and a
  // SYN on a new 5-tuple is still refused (the budget did not come back).
  const int64_t t = kT0 + 20 * 256;
  for (uint16_t port : {80, 81})
    EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40000, port, kAck, 2), t)), 1)
        << "port " << port;
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 40001, 80, kSyn, 1), t)), 0);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, t), 2u);
  // Inbound to hp2 during the flood: passes, and its reply too.
  auto in = Feed(kOutside, Tcp(kOutMac, kHp2Mac, "192.0.2.30", "192.0.2.11", 5555, 23, kSyn, 1), t);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].port, kInside);
  auto back = Feed(kInside, Tcp(kHp2Mac, kOutMac, "192.0.2.11", "192.0.2.30", 23, 5555, kSyn | kAck, 7), t);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].port, kOutside);
  // Evicted flows end with reason 3 (evicted) when their drop was logged.
  size_t evicted_ends = 0;
  for (const Event& e : ev.events) evicted_ends += e.kind == EventKind::kFlowEnd && e.end_reason == 3;
  EXPECT_GT(evicted_ends, 0u);
}

// When every flow in reach is a counted outbound flow, the new flow is refused
// as flow_table_full instead of evicting one (fail closed).
TEST_F(EngineEvasionFixTest, TableOfCountedFlowsFailsClosed) {
  Config c = Limited(40, 20, 50);
  c.max_flows = 4;
  Make(c);
  for (uint16_t i = 0; i < 4; i++)
    ASSERT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", uint16_t(40000 + i), 80,
                                             kSyn, 1))), 1);
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", 41000, 80, kSyn, 1))), 0);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kFlowTableFull)].load(), 1u);
  EXPECT_EQ(engine->counters().flows_evicted.load(), 0u);
  EXPECT_EQ(engine->flows().size(), 4u);
}

// Source ports of TCP flows src -> dst:dport whose keys share one home slot
// of the engine's flow table (found through its hash key, which an attacker
// does not have).
std::vector<uint16_t> CollidingSourcePorts(const FlowTable& t, std::array<uint8_t, 4> src,
                                           std::array<uint8_t, 4> dst, uint16_t dport, size_t n) {
  auto key = [&](uint16_t sport) {
    FlowKey k;
    std::copy(src.begin(), src.end(), k.src.begin());
    std::copy(dst.begin(), dst.end(), k.dst.begin());
    k.sport = sport;
    k.dport = dport;
    k.proto = 6;
    return k;
  };
  std::vector<uint16_t> out;
  const size_t home = t.HomeSlot(key(1024));
  for (uint32_t p = 1024; p < 65536 && out.size() < n; p++)
    if (t.HomeSlot(key(uint16_t(p))) == home) out.push_back(uint16_t(p));
  return out;
}

// A flow whose probe window is full (the table is not) gets in by evicting a
// flow of that window, the longest idle of the lowest class; it is counted.
TEST_F(EngineEvasionFixTest, FullProbeWindowEvictsWithinIt) {
  Config c = Limited(9, 20, 50);
  c.max_flows = 256;  // 512 slots: about 126 of 64k ports share a home slot
  Make(c);
  const std::vector<uint16_t> ports =
      CollidingSourcePorts(engine->flows(), {192, 0, 2, 30}, {192, 0, 2, 11}, 23, FlowTable::kMaxProbe + 1);
  ASSERT_EQ(ports.size(), FlowTable::kMaxProbe + 1);
  for (size_t i = 0; i < FlowTable::kMaxProbe; i++)
    ASSERT_EQ(Feed(kOutside, Tcp(kOutMac, kHp2Mac, "192.0.2.30", "192.0.2.11", ports[i], 23, kSyn, 1), kT0 + int64_t(i)).size(), 1u) << i;
  EXPECT_EQ(engine->counters().flows_window_full.load(), 0u);
  auto in = Feed(kOutside, Tcp(kOutMac, kHp2Mac, "192.0.2.30", "192.0.2.11", ports.back(), 23, kSyn, 1), kT0 + 100);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].port, kInside);
  EXPECT_EQ(engine->counters().flows_window_full.load(), 1u);
  EXPECT_GE(engine->counters().flows_evicted.load(), 1u);
  EXPECT_EQ(engine->flows().size(), FlowTable::kMaxProbe);
  EXPECT_EQ(engine->flows().CheckInvariants(), "");
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kFlowTableFull)].load(), 0u);
}

// A window full of counted outbound flows is never emptied for a new one:
// the new flow is refused as flow_table_full (fail closed), and the counted
// flows keep passing.
TEST_F(EngineEvasionFixTest, FullProbeWindowOfCountedFlowsFailsClosed) {
  Config c = Limited(100, 20, 50);
  c.max_flows = 256;
  Make(c);
  const std::vector<uint16_t> ports =
      CollidingSourcePorts(engine->flows(), {192, 0, 2, 10}, {192, 0, 2, 20}, 80, FlowTable::kMaxProbe + 1);
  ASSERT_EQ(ports.size(), FlowTable::kMaxProbe + 1);
  for (size_t i = 0; i < FlowTable::kMaxProbe; i++)
    ASSERT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", ports[i], 80, kSyn, 1))), 1) << i;
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", ports.back(), 80, kSyn, 1))), 0);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kFlowTableFull)].load(), 1u);
  EXPECT_EQ(engine->counters().flows_evicted.load(), 0u);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kTcp, kT0), FlowTable::kMaxProbe) << "the refused flow spent no budget";
  EXPECT_EQ(OutsideFrames(Feed(kInside, Tcp(kHpMac, kOutMac, "192.0.2.10", "192.0.2.20", ports[0], 80, kAck, 2))), 1);
}

// Refused-flow events are written 100 a second per honeypot and reason; the
// rest are summed up in one kSuppressed event per second, and their flow ends
// are not written either. Another honeypot's drops are not held back by it.
TEST_F(EngineEvasionFixTest, FlowDropEventsAreRateLimitedWithASummary) {
  Make(Limited(0, 0, 50));
  for (int i = 0; i < 1000; i++)
    Feed(kInside, Udp(kHpMac, kOutMac, I("192.0.2.10"), I("198.51.100.7"), uint16_t(1024 + i), 53), kT0 + i * 1000);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 100u);
  // hp2's first refusal in the same second is written.
  Feed(kInside, Udp(kHp2Mac, kOutMac, I("192.0.2.11"), I("198.51.100.7"), 999, 53), kT0 + 2'000'000);
  EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 101u);
  EXPECT_EQ(ev.Count(EventKind::kSuppressed, Reason::kBudgetExhausted), 0u);  // not before the second ends
  engine->OnTimer(kT0 + kSec);
  ASSERT_EQ(ev.Count(EventKind::kSuppressed, Reason::kBudgetExhausted), 1u);
  for (const Event& e : ev.events)
    if (e.kind == EventKind::kSuppressed) {
      EXPECT_EQ(e.suppressed, 900u);
      EXPECT_EQ(e.honeypot, 0);
      EXPECT_FALSE(e.frame_drop);
    }
  EXPECT_EQ(engine->counters().events_suppressed.load(), 900u);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kBudgetExhausted)].load(), 1001u);  // every frame counted
  engine->OnTimer(kT0 + 2 * kSec);  // nothing new held back: no second summary
  EXPECT_EQ(ev.Count(EventKind::kSuppressed, Reason::kBudgetExhausted), 1u);
  // At stop, only the logged refusals get a flow end.
  engine->Stop(kT0 + 3 * kSec);
  size_t ends = 0;
  for (const Event& e : ev.events) ends += e.kind == EventKind::kFlowEnd;
  EXPECT_EQ(ends, 101u);
}

TEST_F(EngineEvasionFixTest, NatLogsTtlExceededAndDoesNotRouteBroadcasts) {
  Make(NatConfig());
  LearnGateway();
  auto r = Feed(kInside, Syn(kHpMac, kWallIn, "10.0.0.2", "192.0.2.20", 40000, 80, kSyn, 1));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].port, kInside);  // time exceeded
  EXPECT_EQ(ev.Count(EventKind::kFrameDrop, Reason::kTtlExceeded), 1u);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kTtlExceeded)].load(), 1u);
  for (const char* dst : {"255.255.255.255", "224.0.0.251", "239.1.2.3"}) {
    EXPECT_EQ(OutsideFrames(Feed(kInside, Udp(kHpMac, kWallIn, I("10.0.0.2"), I(dst), 5000, 7000))), 0) << dst;
  }
  EXPECT_EQ(ev.Count(EventKind::kFrameDrop, Reason::kNoRoute), 3u);
  EXPECT_EQ(engine->budget(0).Used(ProtoClass::kUdp, kT0), 0u);
}

// A step of the wall clock (date -s, settimeofday) must not refill a budget:
// budgets are charged on the budget clock (common/clock.h), which the
// honeywall passes as the skew from the frames' wall-clock times.
TEST_F(EngineTest, WallClockJumpDoesNotRefillTheBudget) {
  const int64_t kHour = 3600 * kSec;
  for (bool skewed : {false, true}) {
    Make(BridgeConfig());
    for (int i = 0; i < 9; i++) {
      std::string dst = "192.0.2." + std::to_string(20 + i);
      ASSERT_EQ(Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", dst.c_str(), 40000 + i, 80)).size(), 1u);
    }
    // The wall clock jumps two hours ahead; one real second passed.
    if (skewed) engine->SetBudgetSkew(-2 * kHour);
    auto out = Feed(kInside, Syn(kHpMac, kOutMac, "192.0.2.10", "192.0.2.40", 41000, 80), kT0 + 2 * kHour + kSec);
    if (skewed) {
      EXPECT_TRUE(out.empty()) << "a clock jump refilled the budget";
      EXPECT_EQ(ev.Count(EventKind::kFlowDrop, Reason::kBudgetExhausted), 1u);
    } else {
      EXPECT_EQ(out.size(), 1u) << "control: without the budget clock the jump refills it";
    }
    ev.events.clear();
  }
}

}  // namespace
}  // namespace hn
