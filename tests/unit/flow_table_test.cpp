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

// A fixed hash key, so that tests see the same layout every run.
constexpr FlowTableTestOptions kFixedKey{{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL}};

// n keys whose home is the same slot of table t, found by brute force over
// source (and destination) ports: what an attacker who knew the hash key
// could send.
std::vector<FlowKey> CollidingKeys(const FlowTable& t, size_t n, uint32_t src = 0x0a000002, uint8_t proto = 6) {
  std::vector<FlowKey> out;
  const FlowKey first = Key4(src, 0xc6336401, 1024, 80, proto);
  const size_t want = t.HomeSlot(first);
  out.push_back(first);
  for (uint32_t i = 1; out.size() < n && i < (1u << 26); i++) {
    FlowKey k = Key4(src, 0xc6336401, uint16_t(1024 + (i & 0xffff) % 64512), uint16_t(80 + (i >> 16)), proto);
    if (t.HomeSlot(k) == want) out.push_back(k);
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
  FlowTable t(cap, {}, kFixedKey);
  std::vector<FlowKey> keys = CollidingKeys(t, 24);
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

// The rules' per-flow state (FlowRuleState) lives beside the slots: it must
// follow its flow when backward-shift deletion moves the flow, start clear for
// a new flow, and not exist at all without EnableRuleState().
TEST(FlowTableTest, RuleStateMovesWithItsFlowAndStartsClear) {
  FlowTable t(64, {}, kFixedKey);
  std::vector<FlowKey> keys = CollidingKeys(t, 8);
  ASSERT_EQ(keys.size(), 8u);
  EXPECT_EQ(t.RuleState(t.Insert(keys[7], 0)), nullptr);  // not enabled: nothing per slot
  t.Drain([](const Flow&) {});
  t.EnableRuleState();
  for (size_t i = 0; i < keys.size(); i++) {
    Flow* f = t.Insert(keys[i], 0);
    ASSERT_NE(f, nullptr);
    FlowRuleState* rs = t.RuleState(f);
    ASSERT_NE(rs, nullptr);
    EXPECT_FALSE(rs->pass || rs->drop || rs->flowbits || rs->alerted[0]) << "a new flow's rule state is not clear";
    rs->flowbits = 1000 + i;
    rs->alerted[0] = uint32_t(i + 1);
    rs->drop = i % 2 == 1;
  }
  bool reply;
  for (size_t i : {size_t(0), size_t(3)}) t.Remove(t.Find(keys[i], &reply));  // the rest shift back
  for (size_t i = 0; i < keys.size(); i++) {
    Flow* f = t.Find(keys[i], &reply);
    if (i == 0 || i == 3) {
      EXPECT_EQ(f, nullptr);
      continue;
    }
    ASSERT_NE(f, nullptr) << i;
    const FlowRuleState* rs = t.RuleState(f);
    EXPECT_EQ(rs->flowbits, 1000 + i) << i;
    EXPECT_EQ(rs->alerted[0], uint32_t(i + 1)) << i;
    EXPECT_EQ(rs->drop, i % 2 == 1) << i;
  }
  // A flow inserted into a freed slot starts clear again.
  Flow* again = t.Insert(keys[0], 0);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(t.RuleState(again)->flowbits, 0u);
  EXPECT_FALSE(t.RuleState(again)->drop);
}

TEST(FlowTableTest, ChainThatWrapsAroundTheEndOfTheArray) {
  const size_t cap = 8;  // 16 slots
  const size_t slots = SlotsFor(cap);
  FlowTable t(cap, {}, kFixedKey);
  ASSERT_EQ(t.slot_count(), slots);
  // Keys whose home is the last slot: their chain wraps to slot 0, 1, ...
  std::vector<FlowKey> keys;
  for (uint32_t port = 1; keys.size() < 4 && port < 65536; port++) {
    FlowKey k = Key4(0x0a000002, 0x01020304, uint16_t(port), 53, 17);
    if (t.HomeSlot(k) == slots - 1) keys.push_back(k);
  }
  ASSERT_EQ(keys.size(), 4u);
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
  FlowTable t(cap, {}, kFixedKey);
  std::mt19937_64 rng(12345);
  std::vector<FlowKey> pool = CollidingKeys(t, 40);
  std::vector<FlowKey> second = CollidingKeys(t, 30, 0x0a000003);
  pool.insert(pool.end(), second.begin(), second.end());
  while (pool.size() < 300) {
    pool.push_back(Key4(0x0a000000 | uint32_t(rng() & 0xff), uint32_t(rng()), uint16_t(rng()),
                        uint16_t(rng()), (rng() & 1) ? 6 : 17));
  }
  std::unordered_map<size_t, uint64_t> model;  // pool index -> flow id
  size_t inserts = 0, removes = 0, full_seen = 0, window_full_seen = 0;
  for (int op = 0; op < 20000; op++) {
    size_t i = rng() % pool.size();
    bool rev = rng() & 1;
    bool reply = false;
    Flow* f = t.Find(rev ? pool[i].Reversed() : pool[i], &reply);
    auto it = model.find(i);
    if (it == model.end()) {
      ASSERT_EQ(f, nullptr) << "op " << op;
      if (rng() % 3 != 0) {
        const bool room = t.HasRoom(pool[i]);
        Flow* g = t.Insert(pool[i], op);
        ASSERT_EQ(g != nullptr, room) << "op " << op;
        if (model.size() == cap) {
          ASSERT_EQ(g, nullptr);
          full_seen++;
        } else if (g == nullptr) {
          // Refused with room in the table: only when kMaxProbe flows have a
          // home close enough to fill this key's window.
          size_t near = 0;
          for (const auto& [j, id] : model)
            near += ((t.HomeSlot(pool[i]) - t.HomeSlot(pool[j]) + FlowTable::kMaxProbe) & (t.slot_count() - 1)) <
                    2 * FlowTable::kMaxProbe;
          ASSERT_GE(near, FlowTable::kMaxProbe) << "op " << op;
          window_full_seen++;
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
    if (op % 97 == 0) {
      ASSERT_EQ(t.CheckInvariants(), "") << "op " << op;
    }
  }
  ASSERT_EQ(t.CheckInvariants(), "");
  // Every flow in the model is findable at the end, the others are not.
  for (size_t i = 0; i < pool.size(); i++) {
    bool reply;
    EXPECT_EQ(t.Find(pool[i], &reply) != nullptr, model.count(i) == 1) << i;
  }
  EXPECT_GT(inserts, 1000u);
  EXPECT_GT(removes, 1000u);
  EXPECT_GT(full_seen, 0u) << "the test never filled the table";
  (void)window_full_seen;  // 70 colliding keys in 256 slots may or may not fill a window
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
  FlowTable t(cap, to, kFixedKey);
  // Colliding keys make long chains so expiry exercises backward shifts.
  std::vector<FlowKey> keys = CollidingKeys(t, 30, 0x0a000002, 17);
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
  FlowTable t(1024, {}, kFixedKey);  // 2048 slots
  const FlowKey held = Key4(1, 2, 3, 4);
  ASSERT_NE(t.Insert(held, 0), nullptr);
  // A key whose home slot is not the held flow's slot nor the next one (linear probing).
  FlowKey k = Key4(7, 8, 1, 2);
  for (uint16_t p = 1; ((t.HomeSlot(k) - t.HomeSlot(held)) & 2047) <= 1; p++) k = Key4(7, 8, p, 2);
  size_t n = 0;
  EXPECT_FALSE(t.EvictOne(k, 1, [](const Flow&) { return 0; }, [&](const Flow&) { n++; }));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.EvictOne(k, 4096, [](const Flow&) { return 0; }, [&](const Flow&) { n++; }));
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(t.size(), 0u);
}

// ------------------------------------------------------------ hostile keys

// The reference SipHash-2-4 vectors (key 00..0f; messages 00..n-1) from the
// paper: if these hold, SipHash13 runs the same code with fewer rounds.
TEST(SipHashTest, ReferenceVectors) {
  const SipKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  uint8_t msg[64];
  for (int i = 0; i < 64; i++) msg[i] = uint8_t(i);
  EXPECT_EQ((SipHash<2, 4>(msg, 0, key)), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ((SipHash<2, 4>(msg, 15, key)), 0xa129ca6149be45e5ULL);
  // Every length from 0 to 63 differs from its neighbours, and 1-3 differs from 2-4.
  for (size_t n = 1; n < 64; n++) {
    EXPECT_NE((SipHash<2, 4>(msg, n, key)), (SipHash<2, 4>(msg, n - 1, key))) << n;
    EXPECT_NE(SipHash13(msg, n, key), (SipHash<2, 4>(msg, n, key))) << n;
  }
}

TEST(FlowHashTest, SameBothWaysAndDependsOnTheKey) {
  const SipKey a{1, 2}, b{3, 4};
  const FlowKey k = Key4(0x0a000002, 0xc6336401, 40000, 80);
  EXPECT_EQ(FlowHash(k, a), FlowHash(k.Reversed(), a));
  EXPECT_NE(FlowHash(k, a), FlowHash(k, b));
  FlowKey v6 = k;
  v6.v6 = true;
  EXPECT_NE(FlowHash(k, a), FlowHash(v6, a));
  FlowKey udp = k;
  udp.proto = 17;
  EXPECT_NE(FlowHash(k, a), FlowHash(udp, a));
}

// Two tables built the normal way draw different keys: a key set that
// collides in one honeywall run says nothing about the next.
TEST(FlowTableTest, EachTableDrawsItsOwnKey) {
  FlowTable a(1024), b(1024);
  size_t same = 0;
  for (uint16_t p = 0; p < 64; p++) {
    const FlowKey k = Key4(0x0a000002, 0xc6336401, p, 80);
    same += a.HomeSlot(k) == b.HomeSlot(k);
  }
  EXPECT_LT(same, 8u);
}

// A window of kMaxProbe slots full of flows homed at one slot: the next key
// homed there is refused (HasRoom false, Insert nullptr) while the table has
// room; keys homed elsewhere still go in; freeing one flow of the window
// lets it in. Every flow stays findable in both directions.
TEST(FlowTableTest, FullProbeWindowRefusesOnlyItsKeys) {
  FlowTable t(4096, {}, kFixedKey);
  std::vector<FlowKey> keys = CollidingKeys(t, FlowTable::kMaxProbe + 2);
  ASSERT_EQ(keys.size(), FlowTable::kMaxProbe + 2);
  for (size_t i = 0; i < FlowTable::kMaxProbe; i++) {
    ASSERT_TRUE(t.HasRoom(keys[i])) << i;
    ASSERT_NE(t.Insert(keys[i], 0), nullptr) << i;
  }
  const FlowKey& extra = keys[FlowTable::kMaxProbe];
  EXPECT_FALSE(t.HasRoom(extra));
  EXPECT_EQ(t.Insert(extra, 0), nullptr);
  EXPECT_EQ(t.Find(extra, nullptr), nullptr);
  EXPECT_EQ(t.size(), FlowTable::kMaxProbe);
  // A key homed far from the window still goes in.
  FlowKey other = Key4(0x0a000009, 0x01010101, 1, 1);
  for (uint16_t p = 2; ((t.HomeSlot(other) - t.HomeSlot(keys[0])) & (t.slot_count() - 1)) < 2 * FlowTable::kMaxProbe; p++)
    other = Key4(0x0a000009, 0x01010101, p, 1);
  EXPECT_TRUE(t.HasRoom(other));
  EXPECT_NE(t.Insert(other, 0), nullptr);
  EXPECT_EQ(t.CheckInvariants(), "");
  for (const FlowKey& k : std::vector<FlowKey>(keys.begin(), keys.begin() + FlowTable::kMaxProbe)) {
    bool reply = false;
    EXPECT_NE(t.Find(k.Reversed(), &reply), nullptr);
    EXPECT_TRUE(reply);
  }
  // Free the window's first flow: now the extra key fits, at the window's end.
  t.Remove(t.Find(keys[0], nullptr));
  EXPECT_TRUE(t.HasRoom(extra));
  ASSERT_NE(t.Insert(extra, 0), nullptr);
  EXPECT_NE(t.Find(extra.Reversed(), nullptr), nullptr);
  EXPECT_FALSE(t.HasRoom(keys[FlowTable::kMaxProbe + 1]));
  EXPECT_EQ(t.CheckInvariants(), "");
}

// EvictOne over a key's window frees a slot that key can use.
TEST(FlowTableTest, EvictingInAFullWindowMakesRoomForItsKey) {
  FlowTable t(4096, {}, kFixedKey);
  std::vector<FlowKey> keys = CollidingKeys(t, FlowTable::kMaxProbe + 1);
  ASSERT_EQ(keys.size(), FlowTable::kMaxProbe + 1);
  for (size_t i = 0; i < FlowTable::kMaxProbe; i++) ASSERT_NE(t.Insert(keys[i], int64_t(i)), nullptr);
  const FlowKey& extra = keys.back();
  ASSERT_FALSE(t.HasRoom(extra));
  uint16_t gone = 0;
  ASSERT_TRUE(t.EvictOne(extra, FlowTable::kMaxProbe, [](const Flow&) { return 0; },
                         [&](const Flow& f) { gone = f.key.sport; }));
  EXPECT_EQ(gone, keys[0].sport) << "the longest idle goes first";
  EXPECT_TRUE(t.HasRoom(extra));
  EXPECT_NE(t.Insert(extra, 100), nullptr);
  EXPECT_EQ(t.CheckInvariants(), "");
}

// Keys an attacker made to collide under one key spread out under another:
// each sits at most a few slots from home, so lookups stay short.
TEST(FlowTableTest, KeysCollidingUnderOneKeySpreadUnderAnother) {
  FlowTable known(4096, {}, kFixedKey);
  std::vector<FlowKey> keys = CollidingKeys(known, 200);
  ASSERT_EQ(keys.size(), 200u);
  FlowTable t(4096);  // a random key, as in a real run
  for (const FlowKey& k : keys) ASSERT_NE(t.Insert(k, 0), nullptr);
  std::vector<size_t> homes;
  for (const FlowKey& k : keys) homes.push_back(t.HomeSlot(k));
  std::sort(homes.begin(), homes.end());
  const size_t distinct = size_t(std::unique(homes.begin(), homes.end()) - homes.begin());
  EXPECT_GT(distinct, 180u) << "200 keys in 8192 slots should rarely share a home";
  EXPECT_EQ(t.CheckInvariants(), "");
}

}  // namespace
}  // namespace hn
