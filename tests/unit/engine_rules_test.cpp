// Engine + inline rules + bandwidth: what leaves the honeywall when rules
// match (replace with checksums fixed, drops for the rest of the flow, one
// alert per rule and flow, pass) and when a honeypot is over its bandwidth.
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "frames.h"
#include "rules/rule_parser.h"
#include "wall/engine.h"

namespace hn {
namespace {

using namespace hn::test;

struct Sent {
  int port;
  std::vector<uint8_t> bytes;
};

class Tx : public TxSink {
 public:
  uint8_t* Reserve(int port, uint32_t* max_len) override {
    *max_len = 65536;
    buf_.assign(65536, 0);
    port_ = port;
    return buf_.data();
  }
  void Commit(int port, uint32_t len) override { sent.push_back({port, {buf_.begin(), buf_.begin() + len}}); }
  std::deque<Sent> sent;

 private:
  std::vector<uint8_t> buf_;
  int port_ = -1;
};

class Events : public EventSink {
 public:
  void Post(const Event& e) override { events.push_back(e); }
  size_t Count(EventKind k) const {
    size_t n = 0;
    for (const Event& e : events) n += e.kind == k;
    return n;
  }
  std::vector<Event> events;
};

const Mac kHpMac = M("52:54:00:00:00:02");
const Mac kOutMac = M("02:00:00:00:00:99");
constexpr int64_t kT0 = 1'800'000'000LL * 1'000'000'000LL;
const Ip4 kHp = I("192.0.2.10");
const Ip4 kOut = I("198.51.100.7");

class EngineRules : public ::testing::Test {
 protected:
  void Make(const std::string& rules, uint64_t bandwidth = 0) {
    cfg.mode = Mode::kBridge;
    HoneypotConfig h;
    h.name = "hp1";
    h.ip = kHp;
    h.mac = kHpMac;
    h.limits.bandwidth_bps = bandwidth;
    cfg.honeypots = {h};
    cfg.max_flows = 1024;
    RuleLoad load;
    ParseRulesText(rules, "t.rules", false, RuleOptionsFor(cfg), &load);
    ASSERT_TRUE(load.ok()) << load.errors[0];
    SortForDetection(&load.rules);
    auto d = Detector::Build(std::move(load.rules));
    ASSERT_TRUE(d.ok()) << d.status().message();
    det = std::move(d.value());
    std::vector<Budget> b;
    for (auto& hp : cfg.honeypots) b.emplace_back(hp.limits);
    engine = std::make_unique<Engine>(cfg, b, &tx, &ev);
    engine->SetDetector(det.get());
    engine->Start(kT0);
  }
  std::vector<Sent> Feed(int port, std::vector<uint8_t> f, int64_t t = kT0) {
    tx.sent.clear();
    engine->OnFrame(port, f.data(), uint32_t(f.size()), t);
    return {tx.sent.begin(), tx.sent.end()};
  }
  std::vector<uint8_t> Out(uint8_t flags, const std::string& payload, uint32_t seq = 1000) {
    return Ipv4Frame(kOutMac, kHpMac, {kHp, kOut}, TcpSeg(kHp, kOut, 40000, 80, flags, payload, seq));
  }
  std::vector<uint8_t> In(uint8_t flags, const std::string& payload, uint32_t seq = 5000) {
    return Ipv4Frame(kHpMac, kOutMac, {kOut, kHp}, TcpSeg(kOut, kHp, 80, 40000, flags, payload, seq));
  }
  // Handshake of an outbound connection.
  void Connect() {
    ASSERT_EQ(Feed(kInside, Out(kSyn, "")).size(), 1u);
    ASSERT_EQ(Feed(kOutside, In(kSyn | kAck, "")).size(), 1u);
    ASSERT_EQ(Feed(kInside, Out(kAck, "", 1001)).size(), 1u);
  }
  static std::string Payload(const Sent& s) {
    Packet p;
    std::vector<uint8_t> b = s.bytes;
    EXPECT_EQ(Decode(b.data(), uint32_t(b.size()), &p), DecodeError::kOk);
    return std::string(reinterpret_cast<const char*>(b.data() + p.payload_off), p.payload_len);
  }

  Config cfg;
  Tx tx;
  Events ev;
  std::unique_ptr<Detector> det;
  std::unique_ptr<Engine> engine;
};

TEST_F(EngineRules, ReplaceRewritesBytesAndFixesTheChecksum) {
  Make(R"(alert tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"sh"; content:"/bin/sh"; replace:"/ben/sh"; sid:1;))");
  Connect();
  auto s = Feed(kInside, Out(kAck | kPsh, "exec /bin/sh -i", 1001));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(Payload(s[0]), "exec /ben/sh -i");
  EXPECT_TRUE(ChecksumsValid(s[0].bytes));
  s = Feed(kInside, Out(kAck | kPsh, "/bin/sh again", 1016));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(Payload(s[0]), "/ben/sh again");  // every packet rewritten
  EXPECT_TRUE(ChecksumsValid(s[0].bytes));
  ASSERT_EQ(ev.Count(EventKind::kAlert), 1u);  // one alert per rule and flow
  const Event* a = nullptr;
  for (const Event& e : ev.events)
    if (e.kind == EventKind::kAlert) a = &e;
  EXPECT_TRUE(a->replaced);
  EXPECT_FALSE(a->blocked);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(a->payload), a->payload_len), "exec /bin/sh -i");
  EXPECT_EQ(engine->counters().rule_replaced.load(), 2u);
}

TEST_F(EngineRules, DropEndsTheFlowBothWays) {
  Make(R"(drop tcp $HOME_NET any -> $EXTERNAL_NET any (msg:"x"; content:"EVIL"; nocase; sid:2;))");
  Connect();
  EXPECT_EQ(Feed(kInside, Out(kAck | kPsh, "fine", 1001)).size(), 1u);
  EXPECT_TRUE(Feed(kInside, Out(kAck | kPsh, "an evil one", 1005)).empty());
  EXPECT_TRUE(Feed(kInside, Out(kAck | kPsh, "fine again", 1016)).empty());  // the flow is dropped
  EXPECT_TRUE(Feed(kOutside, In(kAck | kPsh, "reply", 5001)).empty());      // both ways
  EXPECT_EQ(ev.Count(EventKind::kAlert), 1u);
  EXPECT_EQ(ev.Count(EventKind::kRuleDrop), 1u);
  EXPECT_EQ(engine->counters().drops[size_t(Reason::kRuleDrop)].load(), 3u);
  // A new connection is inspected afresh.
  EXPECT_EQ(Feed(kInside, Ipv4Frame(kOutMac, kHpMac, {kHp, kOut}, TcpSeg(kHp, kOut, 40001, 80, kSyn))).size(), 1u);
}

TEST_F(EngineRules, PassWinsOverDropAndStopsInspection) {
  Make("drop tcp $HOME_NET any -> $EXTERNAL_NET any (content:\"bad\"; sid:3;)\n"
       "pass tcp $HOME_NET any -> $EXTERNAL_NET any (content:\"trusted\"; sid:4;)\n");
  Connect();
  EXPECT_EQ(Feed(kInside, Out(kAck | kPsh, "trusted bad", 1001)).size(), 1u);
  EXPECT_EQ(Feed(kInside, Out(kAck | kPsh, "bad", 1012)).size(), 1u);  // the flow passes from then on
  EXPECT_EQ(ev.Count(EventKind::kAlert), 0u);
  EXPECT_EQ(engine->counters().rule_passes.load(), 1u);
}

TEST_F(EngineRules, BandwidthQueuesThenReleasesAtTheRate) {
  // 1 Mbit/s: burst max(15000, 12500) = 15000 bytes; 1000-byte payloads.
  Make("", 1'000'000);
  Connect();
  const std::string big(1000, 'x');
  size_t now_sent = 0;
  for (int i = 0; i < 40; i++) now_sent += Feed(kInside, Out(kAck | kPsh, big, 1001 + i * 1000)).size();
  // The burst goes at once (15 frames of 1040 bytes fit 15000 with deficit), the rest waits or is dropped.
  EXPECT_GE(now_sent, 14u);
  EXPECT_LE(now_sent, 16u);
  const Shaper* s = engine->shaper(0);
  ASSERT_NE(s, nullptr);
  // The queue holds about 50 ms of the rate (6,250 bytes: 6 frames); the rest is dropped and counted.
  const uint64_t queued = s->queue_frames();
  EXPECT_GE(queued, 5u);
  EXPECT_LE(queued, 7u);
  EXPECT_EQ(now_sent + queued + engine->counters().drops[size_t(Reason::kBandwidth)].load(), 40u);
  // Nothing leaves before its time; after 100 ms (12,500 bytes of rate) the whole queue has gone.
  tx.sent.clear();
  engine->ReleaseShaped(kT0 + 1'000'000);
  EXPECT_TRUE(tx.sent.empty());
  engine->ReleaseShaped(kT0 + 100'000'000);
  EXPECT_EQ(tx.sent.size(), queued);
  for (const Sent& x : tx.sent) EXPECT_EQ(x.port, kOutside);
  // Inbound is not shaped.
  tx.sent.clear();
  for (int i = 0; i < 40; i++) EXPECT_EQ(Feed(kOutside, In(kAck | kPsh, big, 5001 + i * 1000)).size(), 1u);
}

}  // namespace
}  // namespace hn
