// FlowTable: the honeywall's bounded, bidirectional table of flows.
//
// Open addressing (linear probing, backward-shift delete) over a fixed array
// allocated once at start: Find/Insert/Remove never allocate. A flow is found
// from a packet in either direction. Expiry is incremental: ExpireSome() looks
// at a bounded number of slots per call so the forwarding loop never stalls.
//
// Flows come from the internet, so their keys are hostile: the slot of a key
// is FlowHash() under a secret SipKey drawn for each table, and no flow sits
// more than kMaxProbe slots from its home slot, so Find() looks at 64 slots at
// most whatever the keys. A key whose window is full is refused by Insert()
// (HasRoom() says so first) until the caller frees a slot in it with EvictOne().
//
// Who may call: the forwarding thread only (not thread-safe).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "flow/flow_key.h"

namespace hn {

inline constexpr uint16_t kNoHoneypot = 0xffff;

enum class FlowDir : uint8_t {
  kOutbound,  // a honeypot started it towards the outside
  kInbound,   // the outside started it towards a honeypot
  kInternal,  // honeypot to honeypot
  kOther,     // neither side is a known honeypot (e.g. broadcast, unknown)
};

enum class TcpState : uint8_t { kNone, kSynSent, kSynAckSeen, kEstablished, kClosing, kClosed };

struct FlowTimeouts {
  int64_t tcp_syn_ns = 30LL * 1'000'000'000;          // half-open, or denied
  int64_t tcp_established_ns = 3600LL * 1'000'000'000;
  int64_t tcp_closed_ns = 10LL * 1'000'000'000;       // after FIN both ways or RST
  int64_t udp_ns = 120LL * 1'000'000'000;
  int64_t icmp_ns = 30LL * 1'000'000'000;
  int64_t other_ns = 120LL * 1'000'000'000;
};

struct Flow {
  FlowKey key;                // initiator's view (src = initiator)
  uint64_t id = 0;            // flow_id in events (unique per run, < 2^53)
  int64_t start_ns = 0;       // wall time of the first packet
  int64_t last_ns = 0;        // wall time of the last packet
  uint64_t pkts_toserver = 0, pkts_toclient = 0;
  uint64_t bytes_toserver = 0, bytes_toclient = 0;
  uint16_t honeypot = kNoHoneypot;  // the honeypot this flow belongs to
  FlowDir dir = FlowDir::kOther;
  bool allowed = false;       // verdict taken at creation: pass or drop for its life
  uint8_t reason = 0;         // control::Reason of that verdict
  TcpState tcp = TcpState::kNone;
  uint8_t fin_mask = 0;       // bit 0: FIN from initiator, bit 1: FIN from responder
  uint8_t icmp_type = 0, icmp_code = 0;  // first packet's, for Community ID
  uint8_t in_port = 0;        // port index the first packet came in on
  bool logged = true;         // its first event was written (not rate-limited away)

  // Timeout for this flow in its current state.
  int64_t Timeout(const FlowTimeouts& t) const;
};

// A flow's inline-rule state (src/rules/): a pass rule matched (no more
// inspection), a drop rule matched (every later packet dropped, both ways);
// flowbits; and the rules that alerted on it (index + 1), so each alerts once
// per flow. Kept beside the table's slots, and only when rules are loaded
// (FlowTable::EnableRuleState): a honeywall without [rules] does not pay its
// 40 bytes per slot (docs/data-control.md, "Memory").
struct FlowRuleState {
  bool pass = false;
  bool drop = false;
  uint64_t flowbits = 0;
  std::array<uint32_t, 6> alerted{};
};

// For tests and benchmarks only: a fixed hash key instead of a random one.
struct FlowTableTestOptions {
  SipKey key;
};

class FlowTable {
 public:
  // Most slots a flow may sit from its home slot; Find() looks at no more.
  static constexpr size_t kMaxProbe = 64;

  // capacity: most flows held at once (the array is the next power of two >=
  // 2*capacity). The hash key comes from getrandom(2).
  explicit FlowTable(size_t capacity, FlowTimeouts timeouts = {});
  FlowTable(size_t capacity, FlowTimeouts timeouts, FlowTableTestOptions test);

  // The flow the packet with this key belongs to, in either direction, or
  // nullptr. *reply is set true when the key runs responder -> initiator.
  Flow* Find(const FlowKey& key, bool* reply);

  // True when Insert(key) would succeed: the table is not full and a slot
  // within kMaxProbe of key's home slot is free.
  bool HasRoom(const FlowKey& key) const;

  // Adds a flow for key (initiator = key.src); nullptr when !HasRoom(key).
  // The caller must have checked Find() first. Assigns id and start time.
  Flow* Insert(const FlowKey& key, int64_t now_ns);

  // Removes f (a pointer returned by Find/Insert; invalid afterwards).
  void Remove(Flow* f);

  // Looks at up to max_slots slots from where the last call stopped; for each
  // flow idle longer than its timeout calls on_end(flow) and removes it.
  // Returns the number removed.
  template <class F>
  size_t ExpireSome(int64_t now_ns, size_t max_slots, F&& on_end);

  // Makes room in a full table without scanning it: looks at up to probe
  // slots from key's home slot and removes the flow rank() puts first, after
  // on_evict(flow). rank(flow) returns a class: -1 never evict, else lower
  // classes go first, and within a class the longest idle. Returns false when
  // no slot looked at holds an evictable flow. Cost: O(probe).
  template <class Rank, class F>
  bool EvictOne(const FlowKey& key, size_t probe, Rank&& rank, F&& on_evict);

  // Calls on_end(flow) for every flow and empties the table (used at stop).
  template <class F>
  void Drain(F&& on_end);

  // Allocates a FlowRuleState per slot (call before the first Insert; the
  // engine does when a rule set is attached). RuleState(f) is then f's state,
  // reset at Insert and moved with f; nullptr while not enabled.
  void EnableRuleState() { rule_state_.assign(slots_.size(), FlowRuleState{}); }
  FlowRuleState* RuleState(const Flow* f) {
    return rule_state_.empty() ? nullptr : &rule_state_[size_t(f - slots_.data())];
  }

  // Home slot of key (for tests that build collisions) and the slot count.
  size_t HomeSlot(const FlowKey& k) const { return FlowHash(k, key_) & mask_; }
  size_t slot_count() const { return slots_.size(); }

  // Checks the structure: size matches, and every flow is within kMaxProbe of
  // its home slot with no free slot between. Returns "" or what is wrong. O(n).
  std::string CheckInvariants() const;

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  const FlowTimeouts& timeouts() const { return timeouts_; }

 private:
  size_t SlotOf(const FlowKey& k) const { return FlowHash(k, key_) & mask_; }
  void EraseSlot(size_t i);

  std::vector<Flow> slots_;
  std::vector<uint8_t> used_;
  std::vector<FlowRuleState> rule_state_;  // empty, or one per slot
  size_t mask_ = 0;
  size_t capacity_ = 0;
  size_t size_ = 0;
  size_t sweep_ = 0;
  uint64_t next_id_ = 1;
  FlowTimeouts timeouts_;
  SipKey key_;
};

template <class F>
size_t FlowTable::ExpireSome(int64_t now_ns, size_t max_slots, F&& on_end) {
  size_t removed = 0;
  for (size_t n = 0; n < max_slots && size_ > 0; n++) {
    size_t i = sweep_ & mask_;
    if (used_[i] && now_ns - slots_[i].last_ns > slots_[i].Timeout(timeouts_)) {
      on_end(slots_[i]);
      EraseSlot(i);  // backward shift may move a later flow into slot i: look at i again
      removed++;
      continue;
    }
    sweep_++;
  }
  return removed;
}

template <class Rank, class F>
bool FlowTable::EvictOne(const FlowKey& key, size_t probe, Rank&& rank, F&& on_evict) {
  size_t best = 0;
  int best_class = -1;
  int64_t best_last = 0;
  size_t i = SlotOf(key);
  for (size_t n = 0; n < probe && n <= mask_; n++, i = (i + 1) & mask_) {
    if (!used_[i]) continue;
    const int c = rank(static_cast<const Flow&>(slots_[i]));
    if (c < 0) continue;
    if (best_class < 0 || c < best_class || (c == best_class && slots_[i].last_ns < best_last)) {
      best = i;
      best_class = c;
      best_last = slots_[i].last_ns;
    }
  }
  if (best_class < 0) return false;
  on_evict(slots_[best]);
  EraseSlot(best);
  return true;
}

template <class F>
void FlowTable::Drain(F&& on_end) {
  for (size_t i = 0; i < slots_.size(); i++)
    if (used_[i]) on_end(slots_[i]);
  std::fill(used_.begin(), used_.end(), 0);
  size_ = 0;
}

}  // namespace hn
