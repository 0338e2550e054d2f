// Micro-benchmark of the flow table under hostile keys (issue 15): an attacker
// on the internet picks the 5-tuples of the flows it sends, so it can pick keys
// that share a slot if it can compute the slot.
//
//   - Baseline: the design before issue 15 (an unkeyed hash with fixed
//     constants, linear probing without a bound), fed keys that all hash to
//     one slot under that hash: each lookup walks the whole chain.
//   - FlowTable: the same keys under its secret SipHash-1-3 key and a probe
//     bound of FlowTable::kMaxProbe slots: they spread like random keys.
//   - The cost of the keyed hash on ordinary (random) keys, against the
//     unkeyed one.
//
// BM_FlowFloodRatio measures both tables in one run and reports the ratio as
// counters (unkeyed_ns, keyed_ns, speedup). Run:
//   build/micro_bench --benchmark_filter='FlowFlood|FlowHash|FlowFindRandom'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "flow/flow_key.h"
#include "flow/flow_table.h"

namespace hn {
namespace {

constexpr int64_t kT0 = 1'800'000'000LL * 1'000'000'000LL;
constexpr size_t kCapacity = 8192;  // 16384 slots
constexpr size_t kSlots = 2 * kCapacity;
constexpr size_t kFloodKeys = 1024;

FlowKey Key(uint32_t src, uint16_t sport, uint16_t dport) {
  FlowKey k;
  k.src = {uint8_t(src >> 24), uint8_t(src >> 16), uint8_t(src >> 8), uint8_t(src)};
  k.dst = {192, 0, 2, 10};
  k.sport = sport;
  k.dport = dport;
  k.proto = 6;
  return k;
}

// The table before issue 15, kept here as the baseline: unkeyed hash, linear
// probing with no bound on the probe length.
class UnkeyedTable {
 public:
  explicit UnkeyedTable(size_t slots) : keys_(slots), used_(slots, 0), mask_(slots - 1) {}
  bool Insert(const FlowKey& k) {
    size_t i = k.Hash() & mask_;
    for (size_t n = 0; used_[i]; n++, i = (i + 1) & mask_)
      if (n > mask_) return false;
    keys_[i] = k;
    used_[i] = 1;
    return true;
  }
  const FlowKey* Find(const FlowKey& k) const {
    const FlowKey rev = k.Reversed();
    for (size_t i = k.Hash() & mask_; used_[i]; i = (i + 1) & mask_)
      if (keys_[i] == k || keys_[i] == rev) return &keys_[i];
    return nullptr;
  }

 private:
  std::vector<FlowKey> keys_;
  std::vector<uint8_t> used_;
  size_t mask_;
};

// What an attacker sends against the unkeyed table: keys from one source
// whose unkeyed hash lands on one slot, found by brute force (as it would).
const std::vector<FlowKey>& FloodKeys() {
  static const std::vector<FlowKey> keys = [] {
    std::vector<FlowKey> out;
    const size_t want = Key(0xc6336401, 1024, 80).Hash() & (kSlots - 1);
    for (uint32_t i = 0; out.size() < kFloodKeys && i < (1u << 30); i++) {
      FlowKey k = Key(0xc6336401, uint16_t(1024 + i % 64000), uint16_t(80 + i / 64000));
      if ((k.Hash() & (kSlots - 1)) == want) out.push_back(k);
    }
    return out;
  }();
  return keys;
}

// Absent keys on the same slot: a new flow's first packet looks up first.
const std::vector<FlowKey>& FloodMissKeys() {
  static const std::vector<FlowKey> keys = [] {
    std::vector<FlowKey> out;
    const size_t want = Key(0xc6336401, 1024, 80).Hash() & (kSlots - 1);
    for (uint32_t i = 0; out.size() < 256 && i < (1u << 30); i++) {
      FlowKey k = Key(0xc6336402, uint16_t(1024 + i % 64000), uint16_t(80 + i / 64000));
      if ((k.Hash() & (kSlots - 1)) == want) out.push_back(k);
    }
    return out;
  }();
  return keys;
}

template <class Lookup>
double NsPerLookup(const std::vector<FlowKey>& keys, Lookup&& find, size_t rounds) {
  size_t found = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t r = 0; r < rounds; r++)
    for (const FlowKey& k : keys) found += find(k);
  const auto t1 = std::chrono::steady_clock::now();
  benchmark::DoNotOptimize(found);
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()) / double(rounds * keys.size());
}

void BM_FlowFloodUnkeyedHit(benchmark::State& state) {
  UnkeyedTable t(kSlots);
  for (const FlowKey& k : FloodKeys()) t.Insert(k);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.Find(FloodKeys()[i]));
    if (++i == FloodKeys().size()) i = 0;
  }
  state.counters["chain"] = double(FloodKeys().size());
}
BENCHMARK(BM_FlowFloodUnkeyedHit);

void BM_FlowFloodUnkeyedMiss(benchmark::State& state) {
  UnkeyedTable t(kSlots);
  for (const FlowKey& k : FloodKeys()) t.Insert(k);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.Find(FloodMissKeys()[i]));
    if (++i == FloodMissKeys().size()) i = 0;
  }
}
BENCHMARK(BM_FlowFloodUnkeyedMiss);

void BM_FlowFloodKeyedHit(benchmark::State& state) {
  FlowTable t(kCapacity);
  for (const FlowKey& k : FloodKeys())
    if (t.Insert(k, kT0) == nullptr) {
      state.SkipWithError("insert refused");
      return;
    }
  size_t i = 0;
  for (auto _ : state) {
    bool reply;
    benchmark::DoNotOptimize(t.Find(FloodKeys()[i], &reply));
    if (++i == FloodKeys().size()) i = 0;
  }
}
BENCHMARK(BM_FlowFloodKeyedHit);

void BM_FlowFloodKeyedMiss(benchmark::State& state) {
  FlowTable t(kCapacity);
  for (const FlowKey& k : FloodKeys()) t.Insert(k, kT0);
  size_t i = 0;
  for (auto _ : state) {
    bool reply;
    benchmark::DoNotOptimize(t.Find(FloodMissKeys()[i], &reply));
    if (++i == FloodMissKeys().size()) i = 0;
  }
}
BENCHMARK(BM_FlowFloodKeyedMiss);

// Both tables, same keys, same run: the ratio is what the keyed hash buys.
void BM_FlowFloodRatio(benchmark::State& state) {
  UnkeyedTable u(kSlots);
  FlowTable t(kCapacity);
  for (const FlowKey& k : FloodKeys()) {
    u.Insert(k);
    t.Insert(k, kT0);
  }
  double unkeyed = 0, keyed = 0;
  for (auto _ : state) {
    unkeyed = NsPerLookup(FloodMissKeys(), [&](const FlowKey& k) { return u.Find(k) != nullptr; }, 4);
    keyed = NsPerLookup(FloodMissKeys(), [&](const FlowKey& k) { return t.Find(k, nullptr) != nullptr; }, 4);
  }
  state.counters["unkeyed_ns"] = unkeyed;
  state.counters["keyed_ns"] = keyed;
  state.counters["speedup"] = unkeyed / keyed;
}
BENCHMARK(BM_FlowFloodRatio)->Iterations(20);

// Hash cost alone: the unkeyed hash and SipHash-1-3, IPv4 and IPv6 keys.
void BM_FlowKeyHash(benchmark::State& state) {
  FlowKey k = Key(0x0a000002, 40000, 80);
  k.v6 = state.range(0) == 6;
  for (auto _ : state) {
    benchmark::DoNotOptimize(k.Hash());
    k.sport++;
  }
}
BENCHMARK(BM_FlowKeyHash)->Arg(4)->Arg(6);

void BM_FlowHashKeyed(benchmark::State& state) {
  FlowKey k = Key(0x0a000002, 40000, 80);
  k.v6 = state.range(0) == 6;
  const SipKey key{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  for (auto _ : state) {
    benchmark::DoNotOptimize(FlowHash(k, key));
    k.sport++;
  }
}
BENCHMARK(BM_FlowHashKeyed)->Arg(4)->Arg(6);

// Ordinary traffic: random keys, a half-full table, hits. Keyed vs unkeyed.
std::vector<FlowKey> RandomKeys(size_t n) {
  std::mt19937_64 rng(7);
  std::vector<FlowKey> keys;
  for (size_t i = 0; i < n; i++) keys.push_back(Key(uint32_t(rng()), uint16_t(rng()), uint16_t(rng())));
  return keys;
}

void BM_FlowFindRandomUnkeyed(benchmark::State& state) {
  const std::vector<FlowKey> keys = RandomKeys(kCapacity);
  UnkeyedTable t(kSlots);
  for (const FlowKey& k : keys) t.Insert(k);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.Find(keys[i]));
    if (++i == keys.size()) i = 0;
  }
}
BENCHMARK(BM_FlowFindRandomUnkeyed);

void BM_FlowFindRandomKeyed(benchmark::State& state) {
  const std::vector<FlowKey> keys = RandomKeys(kCapacity);
  FlowTable t(kCapacity);
  for (const FlowKey& k : keys) t.Insert(k, kT0);
  size_t i = 0;
  for (auto _ : state) {
    bool reply;
    benchmark::DoNotOptimize(t.Find(keys[i], &reply));
    if (++i == keys.size()) i = 0;
  }
}
BENCHMARK(BM_FlowFindRandomKeyed);

}  // namespace
}  // namespace hn
