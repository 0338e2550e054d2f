// Micro-benchmarks of the honeywall's per-frame work, without sockets:
//   - Decode() of a 64-byte TCP SYN and of a full-size 1514-byte TCP segment;
//   - FlowTable::Find() on a hit (one hot flow, and cycling over many flows);
//   - Engine::OnFrame() for a frame of an established inbound TCP flow that
//     bridge mode forwards, through a no-op TxSink/EventSink (the copy into
//     the TX slot is still made, as the real TX ring needs it).
//
// Time per iteration = ns per frame (or per lookup). Run:
//   build-bench/micro_bench --benchmark_min_time=1s
// Numbers measured on the project machine are in docs/performance.md.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../tests/unit/frames.h"
#include "decode/packet.h"
#include "flow/flow_key.h"
#include "flow/flow_table.h"
#include "wall/engine.h"

namespace hn {
namespace {

using namespace hn::test;

const Mac kHpMac = M("52:54:00:00:00:02");
const Mac kOutMac = M("02:00:00:00:00:99");
constexpr int64_t kT0 = 1'800'000'000LL * 1'000'000'000LL;

// A SYN as Linux sends it, cut to options MSS + NOP + window scale (8 bytes):
// 14 + 20 + 28 = 62 bytes, plus 2 bytes of Ethernet trailer = a 64-byte frame.
std::vector<uint8_t> Syn64() {
  Ip4 src = I("198.51.100.7"), dst = I("192.0.2.10");
  std::vector<uint8_t> t(28, 0);
  Store16(t.data(), 50000);
  Store16(t.data() + 2, 80);
  Store32(t.data() + 4, 12345);
  t[12] = 7 << 4;  // data offset 7 words
  t[13] = kSyn;
  Store16(t.data() + 14, 64240);
  const uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};  // MSS 1460, NOP, WS 7
  std::copy(opts, opts + 8, t.begin() + 20);
  uint8_t s[4], d[4];
  src.ToNet(s);
  dst.ToNet(d);
  Store16(t.data() + 16, L4ChecksumIpv4(s, d, kProtoTcp, t.data(), t.size()));
  auto f = Ipv4Frame(kHpMac, kOutMac, Ip4Spec{src, dst}, t);
  f.resize(64, 0);
  return f;
}

// A full-size segment: 14 + 20 + 20 + 1460 payload = 1514 bytes.
std::vector<uint8_t> Tcp1514(const char* src, const char* dst, uint16_t sport, uint16_t dport, Mac smac,
                             Mac dmac) {
  return Ipv4Frame(dmac, smac, Ip4Spec{I(src), I(dst)},
                   TcpSeg(I(src), I(dst), sport, dport, kAck | kPsh, std::string(1460, 'x')));
}

void RunDecode(benchmark::State& state, std::vector<uint8_t> f) {
  Packet p;
  for (auto _ : state) {
    DecodeError e = Decode(f.data(), uint32_t(f.size()), &p);
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(p);
  }
  if (!p.ok()) state.SkipWithError("frame did not decode");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * int64_t(f.size()));
}

void BM_DecodeTcpSyn64(benchmark::State& state) { RunDecode(state, Syn64()); }
BENCHMARK(BM_DecodeTcpSyn64);

void BM_DecodeTcp1514(benchmark::State& state) {
  RunDecode(state, Tcp1514("198.51.100.7", "192.0.2.10", 50000, 80, kOutMac, kHpMac));
}
BENCHMARK(BM_DecodeTcp1514);

// FlowTable::Find on a hit. Arg = flows in the table (capacity 65536, the
// default flow.max). Lookups cycle over all of them, alternating initiator and
// responder direction, so with many flows the cost includes cache misses.
void BM_FlowTableFindHit(benchmark::State& state) {
  const size_t n = size_t(state.range(0));  // at most 60000
  FlowTable table(65536);
  std::vector<FlowKey> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; i++) {
    FlowKey k;
    I("192.0.2.10").ToNet(k.src.data());
    Ip4{0xc6336400u + uint32_t(i % 250)}.ToNet(k.dst.data());  // 198.51.100.x
    k.sport = uint16_t(1024 + i);  // unique per flow (n <= 60000)
    k.dport = 80;
    k.proto = kProtoTcp;
    if (table.Insert(k, kT0) == nullptr) {
      state.SkipWithError("flow table full");
      return;
    }
    keys.push_back(i % 2 ? k.Reversed() : k);
  }
  size_t i = 0;
  for (auto _ : state) {
    bool reply = false;
    Flow* f = table.Find(keys[i], &reply);
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(reply);
    if (++i == keys.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowTableFindHit)->Arg(1)->Arg(1000)->Arg(30000);

// A TX sink that hands out one reusable slot and sends nothing.
class NullTx : public TxSink {
 public:
  uint8_t* Reserve(int, uint32_t* max_len) override {
    *max_len = uint32_t(slot_.size());
    return slot_.data();
  }
  void Commit(int, uint32_t len) override { bytes_ += len; }
  uint64_t bytes() const { return bytes_; }

 private:
  std::array<uint8_t, 2048> slot_{};
  uint64_t bytes_ = 0;
};

class NullEvents : public EventSink {
 public:
  void Post(const Event&) override {}
};

// Engine::OnFrame in bridge mode for a data frame of an established inbound
// TCP connection (outside -> honeypot), the steady-state path of a transfer.
// Arg = frame size: 64 (a pure ACK, padded) or 1514.
void BM_EngineBridgeForward(benchmark::State& state) {
  Config cfg;
  cfg.mode = Mode::kBridge;
  HoneypotConfig h;
  h.name = "hp1";
  h.ip = I("192.0.2.10");
  cfg.honeypots.push_back(h);
  NullTx tx;
  NullEvents ev;
  std::vector<Budget> budgets{Budget(cfg.honeypots[0].limits)};
  Engine engine(cfg, budgets, &tx, &ev);
  engine.Start(kT0);

  auto feed = [&](int port, std::vector<uint8_t> f, int64_t t) {
    engine.OnFrame(port, f.data(), uint32_t(f.size()), t);
  };
  auto seg = [&](const char* s, const char* d, uint16_t sp, uint16_t dp, uint8_t flags, Mac sm, Mac dm) {
    return Ipv4Frame(dm, sm, Ip4Spec{I(s), I(d)}, TcpSeg(I(s), I(d), sp, dp, flags));
  };
  feed(kOutside, seg("198.51.100.7", "192.0.2.10", 50000, 5201, kSyn, kOutMac, kHpMac), kT0);
  feed(kInside, seg("192.0.2.10", "198.51.100.7", 5201, 50000, kSyn | kAck, kHpMac, kOutMac), kT0);
  feed(kOutside, seg("198.51.100.7", "192.0.2.10", 50000, 5201, kAck, kOutMac, kHpMac), kT0);

  std::vector<uint8_t> frame;
  if (state.range(0) == 1514) {
    frame = Tcp1514("198.51.100.7", "192.0.2.10", 50000, 5201, kOutMac, kHpMac);
  } else {
    frame = seg("198.51.100.7", "192.0.2.10", 50000, 5201, kAck, kOutMac, kHpMac);
    frame.resize(64, 0);
  }
  const uint64_t tx_before = engine.counters().tx_frames[kInside].load();
  int64_t now = kT0;
  for (auto _ : state) {
    now += 1000;  // 1 us per frame
    engine.OnFrame(kOutside, frame.data(), uint32_t(frame.size()), now);
  }
  const uint64_t forwarded = engine.counters().tx_frames[kInside].load() - tx_before;
  if (forwarded != uint64_t(state.iterations())) state.SkipWithError("engine did not forward every frame");
  benchmark::DoNotOptimize(tx.bytes());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * int64_t(frame.size()));
}
BENCHMARK(BM_EngineBridgeForward)->Arg(64)->Arg(1514);

}  // namespace
}  // namespace hn
