// Micro-benchmarks of the per-frame and per-flow stages, without sockets:
//   - FlowTable Insert and Find at 10 k and 1 M flows (a table of capacity N
//     holding N flows; keys visited in random order, so at 1 M flows every
//     lookup is a cache miss), and the table's memory per flow;
//   - Data Control's Decide() for an inbound SYN, an outbound SYN over budget
//     and a DNS query to a configured server;
//   - Community ID of a TCP 5-tuple (SHA-1 + base64, once per flow);
//   - PcapWriter::Write() to tmpfs (/dev/shm), 64- and 1514-byte frames (GB/s).
//
// Time per iteration = ns per operation. Run:
//   build-bench/micro_bench --benchmark_filter='Flow|Decide|Community|Pcap'
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "capture/pcap_writer.h"
#include "control/budget.h"
#include "control/control.h"
#include "flow/community_id.h"
#include "flow/flow_key.h"
#include "flow/flow_table.h"

namespace hn {
namespace {

constexpr int64_t kT0 = 1'800'000'000LL * 1'000'000'000LL;

// n distinct TCP keys: sources 10.0.0.0 + i (unique), one destination and port.
std::vector<FlowKey> Keys(size_t n) {
  std::vector<FlowKey> keys(n);
  for (size_t i = 0; i < n; i++) {
    FlowKey& k = keys[i];
    Ip4{0x0a000000u + uint32_t(i)}.ToNet(k.src.data());
    Ip4{0xc000020au}.ToNet(k.dst.data());  // 192.0.2.10
    k.sport = uint16_t(1024 + i % 60000);
    k.dport = 80;
    k.proto = 6;
  }
  return keys;
}

// Slots the table allocates for a capacity (flow_table.h: next power of two >= 2 * capacity).
size_t SlotsFor(size_t capacity) {
  size_t s = 1;
  while (s < 2 * capacity) s <<= 1;
  return s;
}

// Insert: fills a table of capacity N up to N flows, keys in random order;
// the table is emptied (untimed) each time it is full. Arg = N.
void BM_FlowInsert(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  std::vector<FlowKey> keys = Keys(n);
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(1));
  FlowTable table(n);
  size_t i = 0;
  for (auto _ : state) {
    Flow* f = table.Insert(keys[i], kT0);
    benchmark::DoNotOptimize(f);
    if (++i == n) {
      state.PauseTiming();
      table.Drain([](const Flow&) {});
      i = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowInsert)->Arg(10'000)->Arg(1'000'000);

// Find hits in a table of capacity N holding N flows, random order, half of
// the lookups in the reply direction. Arg = N.
void BM_FlowFind(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  std::vector<FlowKey> keys = Keys(n);
  FlowTable table(n);
  for (const FlowKey& k : keys) {
    if (table.Insert(k, kT0) == nullptr) {
      state.SkipWithError("flow table full");
      return;
    }
  }
  for (size_t i = 1; i < n; i += 2) keys[i] = keys[i].Reversed();
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(2));
  size_t i = 0, misses = 0;
  for (auto _ : state) {
    bool reply = false;
    Flow* f = table.Find(keys[i], &reply);
    misses += f == nullptr;
    benchmark::DoNotOptimize(reply);
    if (++i == n) i = 0;
  }
  if (misses) state.SkipWithError("a flow was not found");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowFind)->Arg(10'000)->Arg(1'000'000);

// Find misses (a new flow's first packet looks up before it inserts).
void BM_FlowFindMiss(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  std::vector<FlowKey> keys = Keys(2 * n);
  FlowTable table(n);
  for (size_t i = 0; i < n; i++) table.Insert(keys[i], kT0);
  std::vector<FlowKey> absent(keys.begin() + long(n), keys.end());
  std::shuffle(absent.begin(), absent.end(), std::mt19937_64(3));
  size_t i = 0;
  for (auto _ : state) {
    bool reply = false;
    benchmark::DoNotOptimize(table.Find(absent[i], &reply));
    if (++i == n) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowFindMiss)->Arg(10'000)->Arg(1'000'000);

// Memory of the flow table: not a timing. Counters: sizeof(Flow), the bytes
// per slot (Flow + its used byte), the slots per flow at full capacity, the
// bytes per flow held, and the table's bytes for capacity 1 M.
void BM_FlowTableMemory(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sizeof(Flow));
  const size_t cap = 1'000'000;
  const double slot_bytes = double(sizeof(Flow) + 1);
  const double table_bytes = slot_bytes * double(SlotsFor(cap));
  state.counters["sizeof_Flow"] = double(sizeof(Flow));
  state.counters["slot_bytes"] = slot_bytes;
  state.counters["bytes_per_flow_at_1M"] = table_bytes / double(cap);
  state.counters["MiB_for_1M_flows"] = table_bytes / (1 << 20);
}
BENCHMARK(BM_FlowTableMemory)->Iterations(1);

// Decide() for a new flow's first packet.
ControlPolicy Policy() {
  ControlPolicy p;
  p.dns_servers.push_back(Ip4{0x08080808u});
  return p;
}

void BM_DecideInbound(benchmark::State& state) {
  ControlPolicy policy = Policy();
  FlowStart f;
  f.from_inside = false;
  f.dst_honeypot = 0;
  f.ip_proto = 6;
  f.sport = 50000;
  f.dport = 22;
  f.dst_ip = Ip4{0xc000020au};
  int64_t now = kT0;
  for (auto _ : state) {
    Decision d = Decide(policy, f, nullptr, now += 1000);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideInbound);

// An outbound SYN from a honeypot whose TCP budget is spent (the path a
// flooding honeypot takes for every new connection).
void BM_DecideOutboundOverBudget(benchmark::State& state) {
  ControlPolicy policy = Policy();
  Budget budget{Limits{}};
  for (int i = 0; i < 9; i++) budget.TryConsume(ProtoClass::kTcp, kT0);
  FlowStart f;
  f.from_inside = true;
  f.src_honeypot = 0;
  f.ip_proto = 6;
  f.sport = 40000;
  f.dport = 80;
  f.dst_ip = Ip4{0xc6336407u};
  int64_t now = kT0;
  Decision d;
  for (auto _ : state) {
    d = Decide(policy, f, &budget, now += 1000);
    benchmark::DoNotOptimize(d);
  }
  if (d.verdict != Verdict::kDrop) state.SkipWithError("expected a drop over budget");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideOutboundOverBudget);

void BM_DecideDnsExempt(benchmark::State& state) {
  ControlPolicy policy = Policy();
  Budget budget{Limits{}};
  FlowStart f;
  f.from_inside = true;
  f.src_honeypot = 0;
  f.ip_proto = 17;
  f.sport = 40000;
  f.dport = 53;
  f.dst_ip = Ip4{0x08080808u};
  int64_t now = kT0;
  for (auto _ : state) {
    Decision d = Decide(policy, f, &budget, now += 1000);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideDnsExempt);

// Community ID of one TCP 5-tuple (computed once per new flow).
void BM_CommunityIdTcp(benchmark::State& state) {
  FlowKey k = Keys(1)[0];
  for (auto _ : state) {
    std::string id = CommunityId(k);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CommunityIdTcp);

// PcapWriter::Write of one frame of Arg bytes to a file on tmpfs (/dev/shm),
// Flush() every 1 MiB of frames like the capture thread's buffer; files of
// 64 MiB, older ones deleted (untimed) so tmpfs does not fill up.
void BM_PcapWriteTmpfs(benchmark::State& state) {
  const uint32_t len = uint32_t(state.range(0));
  const std::string dir = "/dev/shm/hn-bench-pcap-" + std::to_string(getpid());
  PcapWriter::Options opt;
  opt.dir = dir;
  opt.prefix = "bench";
  opt.rotate_bytes = 64ULL << 20;
  auto w = PcapWriter::Open(opt);
  if (!w.ok()) {
    state.SkipWithError(("PcapWriter::Open: " + w.status().message()).c_str());
    return;
  }
  PcapWriter& pw = **w;
  std::vector<uint8_t> frame(len, 0xa5);
  int64_t ts = kT0;
  uint64_t since_flush = 0;
  size_t deleted = 0;
  for (auto _ : state) {
    if (!pw.Write(ts += 1000, frame.data(), len, len)) {
      state.SkipWithError("pcap write failed");
      break;
    }
    since_flush += len + 16;
    if (since_flush >= (1u << 20)) {
      pw.Flush();
      since_flush = 0;
      if (pw.files().size() > deleted + 1) {
        state.PauseTiming();
        for (; deleted + 1 < pw.files().size(); deleted++) unlink(pw.files()[deleted].c_str());
        state.ResumeTiming();
      }
    }
  }
  pw.Flush();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * int64_t(len + 16));
  w->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
BENCHMARK(BM_PcapWriteTmpfs)->Arg(64)->Arg(1514);

}  // namespace
}  // namespace hn
