// FlowTable: open addressing with linear probing and backward-shift deletion.
// See flow_table.h for the contract. The slot array is sized once (a power of
// two at least twice the capacity) so a probe always meets an empty slot and
// chains stay short; nothing here allocates after construction.
#include "flow/flow_table.h"

#include <sys/random.h>

#include <bit>
#include <chrono>
#include <cstring>

namespace hn {

namespace {

// Flow ids go into JSON events, where consumers may read numbers as doubles:
// keep them below 2^53 so they survive that exactly.
constexpr uint64_t kMaxFlowId = (uint64_t(1) << 53) - 1;

// Slots in the array for a table holding at most `capacity` flows.
size_t SlotCount(size_t capacity) {
  size_t want = capacity < 1 ? 2 : capacity * 2;
  return std::bit_ceil(want);
}

// A fresh secret key per table. getrandom(2) does not fail once the kernel's
// pool is ready (always, long before a honeywall starts); should it fail, the
// clock and the table's address still keep the key from being a constant.
SipKey RandomKey(const void* salt) {
  SipKey k;
  uint8_t buf[16];
  if (getrandom(buf, sizeof buf, 0) == ssize_t(sizeof buf)) {
    std::memcpy(&k.k0, buf, 8);
    std::memcpy(&k.k1, buf + 8, 8);
    return k;
  }
  k.k0 = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) * 0x9e3779b97f4a7c15ULL;
  k.k1 = uint64_t(reinterpret_cast<uintptr_t>(salt)) ^ uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
  return k;
}

}  // namespace

int64_t Flow::Timeout(const FlowTimeouts& t) const {
  switch (key.proto) {
    case 6:
      // A denied attempt only lives long enough to absorb retransmitted SYNs.
      if (!allowed) return t.tcp_syn_ns;
      switch (tcp) {
        case TcpState::kEstablished:
        case TcpState::kClosing: return t.tcp_established_ns;
        case TcpState::kClosed: return t.tcp_closed_ns;
        case TcpState::kNone:
        case TcpState::kSynSent:
        case TcpState::kSynAckSeen: return t.tcp_syn_ns;
      }
      return t.tcp_syn_ns;
    case 17: return t.udp_ns;
    case 1:
    case 58: return t.icmp_ns;
    default: return t.other_ns;
  }
}

FlowTable::FlowTable(size_t capacity, FlowTimeouts timeouts)
    : slots_(SlotCount(capacity)),
      used_(slots_.size(), 0),
      mask_(slots_.size() - 1),
      capacity_(capacity),
      timeouts_(timeouts),
      key_(RandomKey(this)) {}

FlowTable::FlowTable(size_t capacity, FlowTimeouts timeouts, FlowTableTestOptions test)
    : FlowTable(capacity, timeouts) {
  key_ = test.key;
}

Flow* FlowTable::Find(const FlowKey& key, bool* reply) {
  const FlowKey rev = key.Reversed();
  size_t i = SlotOf(key);
  for (size_t n = 0; n < kMaxProbe && n <= mask_; n++, i = (i + 1) & mask_) {
    if (!used_[i]) return nullptr;
    Flow& f = slots_[i];
    if (f.key == key) {
      if (reply) *reply = false;
      return &f;
    }
    if (f.key == rev) {
      if (reply) *reply = true;
      return &f;
    }
  }
  return nullptr;  // no flow sits further than kMaxProbe from its home
}

bool FlowTable::HasRoom(const FlowKey& key) const {
  if (size_ >= capacity_) return false;
  size_t i = SlotOf(key);
  for (size_t n = 0; n < kMaxProbe && n <= mask_; n++, i = (i + 1) & mask_)
    if (!used_[i]) return true;
  return false;
}

Flow* FlowTable::Insert(const FlowKey& key, int64_t now_ns) {
  if (size_ >= capacity_) return nullptr;
  size_t i = SlotOf(key);
  size_t n = 0;
  while (used_[i]) {
    if (++n >= kMaxProbe || n > mask_) return nullptr;  // window full: refuse, do not probe on
    i = (i + 1) & mask_;
  }
  Flow& f = slots_[i];
  f = Flow{};
  f.key = key;
  f.id = next_id_;
  next_id_ = next_id_ >= kMaxFlowId ? 1 : next_id_ + 1;
  f.start_ns = now_ns;
  f.last_ns = now_ns;
  if (!rule_state_.empty()) rule_state_[i] = FlowRuleState{};
  used_[i] = 1;
  size_++;
  return &f;
}

void FlowTable::Remove(Flow* f) {
  EraseSlot(size_t(f - slots_.data()));
}

// Backward-shift deletion: walk the chain after slot i and move back every
// flow whose home slot does not lie cyclically in (hole, j], so that every
// remaining flow stays reachable from its home slot without tombstones.
void FlowTable::EraseSlot(size_t i) {
  size_t hole = i;
  for (size_t j = (i + 1) & mask_; used_[j]; j = (j + 1) & mask_) {
    size_t home = SlotOf(slots_[j].key);
    // Distance from home to j versus from hole to j (both mod table size):
    // the flow may move into the hole when the hole is not before its home.
    if (((j - home) & mask_) >= ((j - hole) & mask_)) {
      slots_[hole] = slots_[j];
      if (!rule_state_.empty()) rule_state_[hole] = rule_state_[j];
      hole = j;
    }
  }
  used_[hole] = 0;
  size_--;
}

std::string FlowTable::CheckInvariants() const {
  size_t count = 0;
  for (size_t j = 0; j < slots_.size(); j++) {
    if (!used_[j]) continue;
    count++;
    const size_t home = SlotOf(slots_[j].key);
    const size_t dist = (j - home) & mask_;
    if (dist >= kMaxProbe) return "flow in slot " + std::to_string(j) + " is " + std::to_string(dist) + " slots from home";
    for (size_t i = home; i != j; i = (i + 1) & mask_)
      if (!used_[i]) return "free slot " + std::to_string(i) + " between home and flow in slot " + std::to_string(j);
  }
  if (count != size_) return "size " + std::to_string(size_) + " but " + std::to_string(count) + " flows";
  return "";
}

}  // namespace hn
