// Fuzz harness: the flow table (src/flow) fed with a sequence of operations.
//
// Input: a capacity and six timeouts, then operations until the input ends:
//   frame:   a length byte and that many bytes of an Ethernet frame; an IP one
//            is looked up by its FlowKey and inserted when new (as the engine does);
//   key:     a key from a few bytes drawn from small pools (so keys collide,
//            run in reverse, and chains form), looked up and inserted when new;
//   remove:  a key from the pools, removed when present;
//   time:    the clock moves forward; ExpireSome() over a fuzzer-chosen number of slots;
//   sweep:   ExpireSome() over the whole table.
// A model (a plain list of the flows that should be there) is kept beside it.
// Invariants: size() never above capacity() and equal to the model's; Find()
// returns a flow iff the model has one for the key either way round, and that
// flow has the key asked for (or its reverse, with *reply saying which) and
// the fields last written to it (backward-shift deletion moves flows around);
// Insert() fails exactly when the table is full; ExpireSome() removes only
// flows idle past their timeout and, over every slot, leaves none behind;
// Drain() hands every flow over once.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

#include "decode/packet.h"
#include "flow/flow_key.h"
#include "flow/flow_table.h"
#include "common.h"

namespace hn::fuzz {

namespace flow_detail {

struct ModelFlow {
  FlowKey key;
  uint64_t id;
  int64_t last_ns;
  uint64_t pkts;
  TcpState tcp;
  bool allowed;
};

class FlowScenario {
 public:
  // A fixed hash key, so that an input replays the same way every run.
  FlowScenario(size_t capacity, FlowTimeouts t)
      : table_(capacity, t, FlowTableTestOptions{{0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL}}) {}

  // Lookup of key; inserts when absent (and room). Updates the flow as a packet would.
  void Touch(const FlowKey& key, uint8_t bits) {
    bool reply = false;
    Flow* f = table_.Find(key, &reply);
    ModelFlow* m = Model(key);
    CheckFound(key, f, reply, m);
    if (!f) {
      const bool room = table_.HasRoom(key);
      f = table_.Insert(key, now_);
      HN_FUZZ_CHECK((f != nullptr) == room, "Insert disagrees with HasRoom");
      // Capacities here stay below kMaxProbe, so no probe window can fill:
      // Insert fails exactly when the table is full.
      HN_FUZZ_CHECK((f == nullptr) == (model_.size() >= table_.capacity()), "Insert failed with room, or passed a full table");
      if (!f) return;
      HN_FUZZ_CHECK(f->key == key && f->start_ns == now_ && f->last_ns == now_ && f->pkts_toserver == 0);
      for (const ModelFlow& o : model_) HN_FUZZ_CHECK(o.id != f->id, "flow id reused while live");
      model_.push_back({key, f->id, now_, 0, TcpState::kNone, false});
      m = &model_.back();
    }
    f->last_ns = now_;
    f->pkts_toserver++;
    f->tcp = TcpState(bits % 6);
    f->allowed = (bits & 0x80) != 0;
    m->last_ns = now_;
    m->pkts++;
    m->tcp = f->tcp;
    m->allowed = f->allowed;
    CheckSize();
  }

  void Remove(const FlowKey& key) {
    bool reply = false;
    Flow* f = table_.Find(key, &reply);
    ModelFlow* m = Model(key);
    CheckFound(key, f, reply, m);
    if (!f) return;
    table_.Remove(f);
    model_.erase(model_.begin() + (m - model_.data()));
    HN_FUZZ_CHECK(table_.Find(key, nullptr) == nullptr, "removed flow still found");
    CheckSize();
  }

  void Advance(int64_t ns) { now_ += ns; }

  void Expire(size_t max_slots) {
    size_t calls = 0;
    const size_t removed = table_.ExpireSome(now_, max_slots, [&](const Flow& f) {
      calls++;
      HN_FUZZ_CHECK(now_ - f.last_ns > f.Timeout(table_.timeouts()), "expired a live flow");
      ModelFlow* m = Model(f.key);
      HN_FUZZ_CHECK(m != nullptr && m->key == f.key && m->id == f.id, "expired a flow the model does not have");
      model_.erase(model_.begin() + (m - model_.data()));
    });
    HN_FUZZ_CHECK(removed == calls);
    CheckSize();
  }

  // ExpireSome over every slot (plus one look per removal): nothing idle is left.
  void Sweep() {
    const size_t slots = std::bit_ceil(std::max<size_t>(2, table_.capacity() * 2));
    Expire(slots + model_.size());
    for (const ModelFlow& m : model_) {
      Flow* f = table_.Find(m.key, nullptr);
      HN_FUZZ_CHECK(f != nullptr, "model flow lost");
      HN_FUZZ_CHECK(now_ - f->last_ns <= f->Timeout(table_.timeouts()), "a full sweep left an idle flow");
    }
  }

  // Every model flow is found, either way round, with its fields intact.
  void CheckAll() {
    for (ModelFlow& m : model_) {
      bool reply = true;
      Flow* f = table_.Find(m.key, &reply);
      CheckFound(m.key, f, reply, &m);
      Flow* g = table_.Find(m.key.Reversed(), &reply);
      HN_FUZZ_CHECK(g == f);
    }
  }

  void Finish() {
    CheckAll();
    size_t n = 0;
    table_.Drain([&](const Flow& f) {
      n++;
      HN_FUZZ_CHECK(Model(f.key) != nullptr, "Drain gave a flow the model does not have");
    });
    HN_FUZZ_CHECK(n == model_.size(), "Drain count " + std::to_string(n));
    HN_FUZZ_CHECK(table_.size() == 0);
    model_.clear();
  }

 private:
  // The model flow for key in either direction, as Find() should see it.
  ModelFlow* Model(const FlowKey& key) {
    for (ModelFlow& m : model_)
      if (m.key == key) return &m;
    const FlowKey rev = key.Reversed();
    for (ModelFlow& m : model_)
      if (m.key == rev) return &m;
    return nullptr;
  }

  void CheckFound(const FlowKey& key, const Flow* f, bool reply, const ModelFlow* m) {
    HN_FUZZ_CHECK((f != nullptr) == (m != nullptr), f ? "found a flow the model lacks" : "lost a flow");
    if (!f) return;
    HN_FUZZ_CHECK(f->key == m->key, "found the wrong flow");
    HN_FUZZ_CHECK(reply ? f->key == key.Reversed() && !(f->key == key) : f->key == key, "reply flag wrong");
    HN_FUZZ_CHECK(f->id == m->id && f->last_ns == m->last_ns && f->pkts_toserver == m->pkts &&
                      f->tcp == m->tcp && f->allowed == m->allowed,
                  "flow fields changed");
  }

  void CheckSize() {
    HN_FUZZ_CHECK(table_.size() <= table_.capacity(), std::to_string(table_.size()));
    const std::string bad = table_.CheckInvariants();
    HN_FUZZ_CHECK(bad.empty(), bad);
    HN_FUZZ_CHECK(table_.size() == model_.size(), std::to_string(table_.size()) + " vs " + std::to_string(model_.size()));
  }

  FlowTable table_;
  std::vector<ModelFlow> model_;
  int64_t now_ = 1'700'000'000LL * 1'000'000'000LL;
};

// A key from small pools: few addresses and ports, so that keys repeat,
// reverse each other and share home slots.
inline FlowKey PoolKey(ByteReader& in) {
  static constexpr uint8_t kProtos[] = {6, 17, 1, 58, 132, 47};
  static constexpr uint16_t kPorts[] = {0, 53, 80, 443, 40000, 40001, 65535, 23};
  const uint8_t a = in.U8(), b = in.U8();
  FlowKey k;
  k.v6 = a & 0x80;
  k.proto = kProtos[(a >> 4) % 6];
  k.src[0] = 10;
  k.src[3] = a & 0x07;
  k.dst[0] = 10;
  k.dst[3] = (a >> 3) & 0x01 ? a & 0x07 : (b >> 6);
  if (k.v6) {
    k.src[15] = k.src[3];
    k.dst[15] = k.dst[3];
  }
  k.sport = kPorts[b & 7];
  k.dport = kPorts[(b >> 3) & 7];
  return k;
}

inline int64_t Seconds(uint8_t v) { return int64_t(1 + v % 60) * 1'000'000'000LL; }

}  // namespace flow_detail

inline int FuzzFlow(const uint8_t* data, size_t size) {
  using namespace flow_detail;
  ByteReader in(data, size);
  static_assert(48 < FlowTable::kMaxProbe, "the model assumes no probe window can fill");
  const size_t capacity = in.U8() % 49;  // 0 included: a table that holds nothing
  FlowTimeouts t;
  t.tcp_syn_ns = Seconds(in.U8());
  t.tcp_established_ns = Seconds(in.U8());
  t.tcp_closed_ns = Seconds(in.U8());
  t.udp_ns = Seconds(in.U8());
  t.icmp_ns = Seconds(in.U8());
  t.other_ns = Seconds(in.U8());
  FlowScenario s(capacity, t);
  std::vector<uint8_t> frame;
  for (int ops = 0; !in.empty() && ops < 4000; ops++) {
    const uint8_t op = in.U8();
    switch (op % 6) {
      case 0: {  // a frame
        const uint8_t* bytes = nullptr;
        const size_t n = in.Take(in.U8(), &bytes);
        frame.assign(bytes, bytes + n);
        Packet p;
        Decode(frame.data(), uint32_t(frame.size()), &p);
        if ((p.is_ipv4() || p.is_ipv6()) && p.ip_src_off != 0) s.Touch(MakeFlowKey(p), op);
        break;
      }
      case 1:
      case 2: s.Touch(PoolKey(in), op); break;
      case 3: s.Remove(PoolKey(in)); break;
      case 4:
        s.Advance(int64_t(in.U16()) * 10'000'000LL);  // up to ~11 minutes
        s.Expire(in.U8());
        break;
      case 5: s.Sweep(); break;
    }
    if ((op & 0x70) == 0x70) s.CheckAll();
  }
  s.Finish();
  return 0;
}

}  // namespace hn::fuzz
