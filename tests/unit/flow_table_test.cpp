// FlowTable: bidirectional lookup, removal with backward shift, fullness,
// timeouts and incremental expiry.
#include "flow/flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>
#include <unordered_map>
#include <vector>

namespace hn {
namespace {

constexpr int64_t kSec = 1'000'000'000;

FlowKey Key4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto = 6) {
  FlowKey k;
  k.src = {uint8_t(src >> 24), uint8_t(src >> 16), uint8_t(src >> 8), uint8_t(src)};
  k.dst = {uint8_t(dst >> 24), uint8_t(dst >> 16), uint8_t(dst >> 8), uint8_t(dst)};
  k.sport = sport;
  k.dport = dport;
  k.proto = proto;
  return k;
}

// Slot count FlowTable uses for a capacity (documented in flow_table.h).
size_t SlotsFor(size_t capacity) { return std::bit_ceil(capacity * 2); }

// n keys whose hash lands in the same slot of a table with `slots` slots,
// found by brute force over source ports.
std::vector<FlowKey> CollidingKeys(size_t n, size_t slots, uint32_t src = 0x0a000002,
                                   uint8_t proto = 6) {
  std::vector<FlowKey> out;
  const FlowKey first = Key4(src, 0xc6336401, 1024, 80, proto);
  const size_t want = first.Hash() & (slots - 1);
  out.push_back(first);
  for (uint32_t port = 1025; out.size() < n && port < 65536; port++) {
    FlowKey k = Key4(src, 0xc6336401, uint16_t(port), 80, proto);
    if ((k.Hash() & (slots - 1)) == want) out.push_back(k);
  }
  return out;
}

TEST(FlowTableTest, FindsFlowFromEitherDirection) {
  FlowTable t(16);
  const FlowKey k = Key4(0x0a000002, 0xc6336401, 40000, 80);
  Flow* f = t.Insert(k, 5 * kSec);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->key, k);
  EXPECT_EQ(f->start_ns, 5 * kSec);
  EXPECT_EQ(f->last_ns, 5 * kSec);
  EXPECT_GT(f->id, 0u);
  EXPECT_EQ(t.size(), 1u);

  bool reply = true;
  EXPECT_EQ(t.Find(k, &reply), f);
  EXPECT_FALSE(reply);
  reply = false;
  EXPECT_EQ(t.Find(k.Reversed(), &reply), f);
  EXPECT_TRUE(reply);

  // Same addresses, other port or other protocol: another flow.
  EXPECT_EQ(t.Find(Key4(0x0a000002, 0xc6336401, 40001, 80), &reply), nullptr);
  EXPECT_EQ(t.Find(Key4(0x0a000002, 0xc6336401, 40000, 80, 17), &reply), nullptr);
}

TEST(FlowTableTest, InsertResetsFieldsAndGivesIncreasingIds) {
  FlowTable t(8);
  const FlowKey a = Key4(1, 2, 3, 4);
  Flow* f = t.Insert(a, 1);
  f->allowed = true;
  f->pkts_toserver = 7;
  f->tcp = TcpState::kEstablished;
  const uint64_t first_id = f->id;
  t.Remove(f);
  Flow* g = t.Insert(a, 2);  // likely the same slot: must come back clean
  ASSERT_NE(g, nullptr);
  EXPECT_FALSE(g->allowed);
  EXPECT_EQ(g->pkts_toserver, 0u);
  EXPECT_EQ(g->tcp, TcpState::kNone);
  EXPECT_GT(g->id, first_id);
  uint64_t last = g->id;
  for (uint16_t p = 10; p < 15; p++) {
    Flow* h = t.Insert(Key4(1, 2, p, 4), 3);
    ASSERT_NE(h, nullptr);
    EXPECT_GT(h->id, last);
    EXPECT_LT(h->id, uint64_t(1) << 53);
    last = h->id;
  }
}

TEST(FlowTableTest, RemoveMakesFlowUnfindable) {
  FlowTable t(8);
  const FlowKey a = Key4(1, 2, 3, 4), b = Key4(5, 6, 7, 8);
  Flow* fa = t.Insert(a, 0);
  ASSERT_NE(t.Insert(b, 0), nullptr);
  t.Remove(fa);
  bool reply;
  EXPECT_EQ(t.Find(a, &reply), nullptr);
  EXPECT_EQ(t.Find(a.Reversed(), &reply), nullptr);
  Flow* fb = t.Find(b, &reply);
  ASSERT_NE(fb, nullptr);
  EXPECT_EQ(fb->key, b);
  EXPECT_EQ(t.size(), 1u);
}

TEST(FlowTableTest, CollidingKeysAllFindableAndSurviveMiddleDeletes) {
  const size_t cap = 64;
  FlowTable t(cap);
  std::vector<FlowKey> keys = CollidingKeys(24, SlotsFor(cap));
  ASSERT_EQ(keys.size(), 24u) << "could not find enough colliding keys";
  std::vector<uint64_t> ids;
  for (const FlowKey& k : keys) {
    Flow* f = t.Insert(k, 0);
    ASSERT_NE(f, nullptr);
    ids.push_back(f->id);
  }
  bool reply;
  for (size_t i = 0; i < keys.size(); i++) {
    Flow* f = t.Find(keys[i].Reversed(), &reply);
    ASSERT_NE(f, nullptr) << i;
    EXPECT_EQ(f->id, ids[i]);
    EXPECT_TRUE(reply);
  }
  // Delete from the middle and the start of the chain: the rest stay reachable.
  for (size_t i : {size_t(10), size_t(0), size_t(11), size_t(23), size_t(5)}) {
    Flow* f = t.Find(keys[i], &reply);
    ASSERT_NE(f, nullptr);
    t.Remove(f);
  }
  EXPECT_EQ(t.size(), keys.size() - 5);
  for (size_t i = 0; i < keys.size(); i++) {
    Flow* f = t.Find(keys[i], &reply);
    bool removed = i == 10 || i == 0 || i == 11 || i == 23 || i == 5;
    if (removed) {
      EXPECT_EQ(f, nullptr) << i;
    } else {
      ASSERT_NE(f, nullptr) << i;
      EXPECT_EQ(f->id, ids[i]);
      EXPECT_FALSE(reply);
    }
  }
}

TEST(FlowTableTest, ChainThatWrapsAroundTheEndOfTheArray) {
  const size_t cap = 8;  // 16 slots
  const size_t slots = SlotsFor(cap);
  // Keys whose home is the last slot: their chain wraps to slot 0, 1, ...
  std::vector<FlowKey> keys;
  for (uint32_t port = 1; keys.size() < 4 && port < 65536; port++) {
    FlowKey k = Key4(0x0a000002, 0x01020304, uint16_t(port), 53, 17);
    if ((k.Hash() & (slots - 1)) == slots - 1) keys.push_back(k);
  }
  ASSERT_EQ(keys.size(), 4u);
  FlowTable t(cap);
  for (const FlowKey& k : keys) ASSERT_NE(t.Insert(k, 0), nullptr);
  bool reply;
  for (size_t i : {size_t(0), size_t(2)}) {
    Flow* f = t.Find(keys[i], &reply);
    ASSERT_NE(f, nullptr) << i;
    t.Remove(f);
  }
  EXPECT_NE(t.Find(keys[1], &reply), nullptr);
  EXPECT_NE(t.Find(keys[3].Reversed(), &reply), nullptr);
  EXPECT_EQ(t.Find(keys[0], &reply), nullptr);
  EXPECT_EQ(t.Find(keys[2], &reply), nullptr);
}

// Random inserts, finds and removes checked against std::unordered_map, with a
// key pool that mixes a dense cluster of colliding keys and random ones.
TEST(FlowTableTest, RandomOpsMatchModel) {
  const size_t cap = 128;
  FlowTable t(cap);
  std::mt19937_64 rng(12345);
  std::vector<FlowKey> pool = CollidingKeys(40, SlotsFor(cap));
  std::vector<FlowKey> second = CollidingKeys(30, SlotsFor(cap), 0x0a000003);
  pool.insert(pool.end(), second.begin(), second.end());
  while (pool.size() < 300) {
    pool.push_back(Key4(0x0a000000 | uint32_t(rng() & 0xff), uint32_t(rng()), uint16_t(rng()),
                        uint16_t(rng()), (rng() & 1) ? 6 : 17));
  }
  std::unordered_map<size_t, uint64_t> model;  // pool index -> flow id
  size_t inserts = 0, removes = 0, full_seen = 0;
  for (int op = 0; op < 20000; op++) {
    size_t i = rng() % pool.size();
    bool rev = rng() & 1;
    bool reply = false;
    Flow* f = t.Find(rev ? pool[i].Reversed() : pool[i], &reply);
    auto it = model.find(i);
    if (it == model.end()) {
      ASSERT_EQ(f, nullptr) << "op " << op;
      if (rng() % 3 != 0) {
        Flow* g = t.Insert(pool[i], op);
        if (model.size() == cap) {
          ASSERT_EQ(g, nullptr);
          full_seen++;
        } else {
          ASSERT_NE(g, nullptr);
          model[i] = g->id;
          inserts++;
        }
      }
    } else {
      ASSERT_NE(f, nullptr) << "op " << op;
      ASSERT_EQ(f->id, it->second);
      ASSERT_EQ(f->key, pool[i]);
      ASSERT_EQ(reply, rev);
      if (rng() % 2 == 0) {
        t.Remove(f);
        model.erase(it);
        removes++;
      }
    }
    ASSERT_EQ(t.size(), model.size());
  }
  // Every flow in the model is findable at the end, the others are not.
  for (size_t i = 0; i < pool.size(); i++) {
    bool reply;
    EXPECT_EQ(t.Find(pool[i], &reply) != nullptr, model.count(i) == 1) << i;
  }
  EXPECT_GT(inserts, 1000u);
  EXPECT_GT(removes, 1000u);
  EXPECT_GT(full_seen, 0u) << "the test never filled the table";
}

TEST(FlowTableTest, FullTableReturnsNullUntilSomethingIsRemoved) {
  FlowTable t(8);
  EXPECT_EQ(t.capacity(), 8u);
  std::vector<Flow*> flows;
  for (uint16_t p = 0; p < 8; p++) {
    Flow* f = t.Insert(Key4(1, 2, p, 80), 0);
    ASSERT_NE(f, nullptr);
    flows.push_back(f);
  }
  EXPECT_EQ(t.size(), 8u);
  EXPECT_EQ(t.Insert(Key4(1, 2, 100, 80), 0), nullptr);
  EXPECT_EQ(t.size(), 8u);
  bool reply;
  Flow* f = t.Find(Key4(1, 2, 3, 80), &reply);
  ASSERT_NE(f, nullptr);
  t.Remove(f);
  EXPECT_NE(t.Insert(Key4(1, 2, 100, 80), 0), nullptr);
  EXPECT_EQ(t.Insert(Key4(1, 2, 101, 80), 0), nullptr);
}

TEST(FlowTableTest, ZeroCapacityHoldsNothing) {
  FlowTable t(0);
  bool reply;
  EXPECT_EQ(t.Insert(Key4(1, 2, 3, 4), 0), nullptr);
  EXPECT_EQ(t.Find(Key4(1, 2, 3, 4), &reply), nullptr);
}

TEST(FlowTableTest, TimeoutDependsOnProtocolStateAndVerdict) {
  FlowTimeouts to;
  to.tcp_syn_ns = 1;
  to.tcp_established_ns = 2;
  to.tcp_closed_ns = 3;
  to.udp_ns = 4;
  to.icmp_ns = 5;
  to.other_ns = 6;
  Flow f;
  f.key.proto = 6;
  f.allowed = true;
  f.tcp = TcpState::kNone;
  EXPECT_EQ(f.Timeout(to), 1);
  f.tcp = TcpState::kSynSent;
  EXPECT_EQ(f.Timeout(to), 1);
  f.tcp = TcpState::kSynAckSeen;
  EXPECT_EQ(f.Timeout(to), 1);
  f.tcp = TcpState::kEstablished;
  EXPECT_EQ(f.Timeout(to), 2);
  f.tcp = TcpState::kClosing;
  EXPECT_EQ(f.Timeout(to), 2);
  f.tcp = TcpState::kClosed;
  EXPECT_EQ(f.Timeout(to), 3);
  // A denied TCP attempt lives only as long as a half-open one, whatever its state.
  f.allowed = false;
  f.tcp = TcpState::kEstablished;
  EXPECT_EQ(f.Timeout(to), 1);
  // Other protocols: the protocol's timeout, allowed or not.
  for (bool allowed : {true, false}) {
    f.allowed = allowed;
    f.key.proto = 17;
    EXPECT_EQ(f.Timeout(to), 4);
    f.key.proto = 1;
    EXPECT_EQ(f.Timeout(to), 5);
    f.key.proto = 58;
    EXPECT_EQ(f.Timeout(to), 5);
    f.key.proto = 47;
    EXPECT_EQ(f.Timeout(to), 6);
  }
}

TEST(FlowTableTest, ExpireSomeRemovesOnlyIdleFlowsAndReportsThem) {
  FlowTimeouts to;
  to.udp_ns = 100 * kSec;
  const size_t cap = 64;
  FlowTable t(cap, to);
  std::vector<FlowKey> old_keys, fresh_keys;
  for (uint16_t p = 0; p < 20; p++) {
    old_keys.push_back(Key4(1, 2, p, 53, 17));
    ASSERT_NE(t.Insert(old_keys.back(), 0), nullptr);
    fresh_keys.push_back(Key4(1, 2, uint16_t(1000 + p), 53, 17));
    ASSERT_NE(t.Insert(fresh_keys.back(), 0), nullptr);
  }
  bool reply;
  for (const FlowKey& k : fresh_keys) t.Find(k, &reply)->last_ns = 50 * kSec;

  // Idle exactly the timeout: not yet expired.
  std::vector<FlowKey> ended;
  auto on_end = [&](const Flow& f) { ended.push_back(f.key); };
  EXPECT_EQ(t.ExpireSome(100 * kSec, SlotsFor(cap) * 2, on_end), 0u);
  EXPECT_TRUE(ended.empty());

  // 1 ns later the old ones are past their timeout, the fresh ones are not.
  size_t removed = t.ExpireSome(100 * kSec + 1, SlotsFor(cap) + cap, on_end);
  EXPECT_EQ(removed, old_keys.size());
  EXPECT_EQ(ended.size(), old_keys.size());
  for (const FlowKey& k : old_keys) {
    EXPECT_EQ(t.Find(k, &reply), nullptr);
    EXPECT_NE(std::find(ended.begin(), ended.end(), k), ended.end());
  }
  for (const FlowKey& k : fresh_keys) EXPECT_NE(t.Find(k, &reply), nullptr);
  EXPECT_EQ(t.size(), fresh_keys.size());
}

TEST(FlowTableTest, ExpireSomeDoesBoundedWorkPerCallAndEventuallyCoversAll) {
  FlowTimeouts to;
  to.udp_ns = 10;
  const size_t cap = 100;
  FlowTable t(cap, to);
  // Colliding keys make long chains so expiry exercises backward shifts.
  std::vector<FlowKey> keys = CollidingKeys(30, SlotsFor(cap), 0x0a000002, 17);
  ASSERT_EQ(keys.size(), 30u);
  for (uint16_t p = 0; keys.size() < cap; p++) keys.push_back(Key4(7, 8, p, 9, 17));
  for (const FlowKey& k : keys) ASSERT_NE(t.Insert(k, 0), nullptr);
  ASSERT_EQ(t.size(), cap);
  size_t calls = 0, total = 0;
  const size_t max_calls = (SlotsFor(cap) + cap) / 4 + 1;
  while (t.size() > 0 && calls < max_calls) {
    size_t n = t.ExpireSome(1000, 4, [](const Flow&) {});
    EXPECT_LE(n, 4u);
    total += n;
    calls++;
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(total, cap);
  EXPECT_GE(calls, cap / 4);  // never more than 4 per call
}

TEST(FlowTableTest, DrainReportsEveryFlowAndEmpties) {
  FlowTable t(16);
  for (uint16_t p = 0; p < 10; p++) ASSERT_NE(t.Insert(Key4(1, 2, p, 3), 0), nullptr);
  size_t n = 0;
  t.Drain([&](const Flow&) { n++; });
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(t.size(), 0u);
  bool reply;
  EXPECT_EQ(t.Find(Key4(1, 2, 5, 3), &reply), nullptr);
  EXPECT_NE(t.Insert(Key4(1, 2, 5, 3), 0), nullptr);
}

// EvictOne picks, among the slots it looks at, the lowest class and within it
// the longest idle; it never takes a flow ranked -1 and leaves the rest findable.
TEST(FlowTableTest, EvictOneTakesLowestClassOldestAndNeverProtected) {
  FlowTable t(64);
  std::vector<FlowKey> keys;
  for (uint16_t p = 0; p < 64; p++) {
    keys.push_back(Key4(1, 2, p, 3));
    Flow* f = t.Insert(keys.back(), 100 + p);
    ASSERT_NE(f, nullptr);
    f->reason = uint8_t(p % 3);  // test's rank: reason 0 protected, 1 then 2
  }
  auto rank = [](const Flow& f) { return f.reason == 0 ? -1 : int(f.reason); };
  const size_t probe = t.capacity() * 4;  // every slot
  std::vector<uint16_t> evicted;
  while (t.EvictOne(Key4(9, 9, 9, 9), probe, rank, [&](const Flow& f) { evicted.push_back(f.key.sport); })) {
  }
  // Class 1 (p % 3 == 1) first, oldest first, then class 2; none of class 0.
  std::vector<uint16_t> want;
  for (uint16_t p = 1; p < 64; p += 3) want.push_back(p);
  for (uint16_t p = 2; p < 64; p += 3) want.push_back(p);
  EXPECT_EQ(evicted, want);
  EXPECT_EQ(t.size(), 22u);
  bool reply;
  for (uint16_t p = 0; p < 64; p += 3) EXPECT_NE(t.Find(keys[p], &reply), nullptr) << p;
}

// The probe is bounded: a window of one slot that holds no flow evicts nothing,
// even though the table holds an evictable flow elsewhere.
TEST(FlowTableTest, EvictOneLooksOnlyAtItsWindow) {
  FlowTable t(1024);  // 2048 slots
  const FlowKey held = Key4(1, 2, 3, 4);
  ASSERT_NE(t.Insert(held, 0), nullptr);
  // A key whose home slot is not the held flow's slot nor the next one (linear probing).
  FlowKey k = Key4(7, 8, 1, 2);
  for (uint16_t p = 1; ((k.Hash() - held.Hash()) & 2047) <= 1; p++) k = Key4(7, 8, p, 2);
  size_t n = 0;
  EXPECT_FALSE(t.EvictOne(k, 1, [](const Flow&) { return 0; }, [&](const Flow&) { n++; }));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.EvictOne(k, 4096, [](const Flow&) { return 0; }, [&](const Flow&) { n++; }));
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace hn
