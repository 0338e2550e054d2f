// FlowTable: open addressing with linear probing and backward-shift deletion.
// See flow_table.h for the contract. The slot array is sized once (a power of
// two at least twice the capacity) so a probe always meets an empty slot and
// chains stay short; nothing here allocates after construction.
#include "flow/flow_table.h"

#include <bit>

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
      timeouts_(timeouts) {}

Flow* FlowTable::Find(const FlowKey& key, bool* reply) {
  const FlowKey rev = key.Reversed();
  for (size_t i = SlotOf(key);; i = (i + 1) & mask_) {
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
}

Flow* FlowTable::Insert(const FlowKey& key, int64_t now_ns) {
  if (size_ >= capacity_) return nullptr;
  size_t i = SlotOf(key);
  while (used_[i]) i = (i + 1) & mask_;
  Flow& f = slots_[i];
  f = Flow{};
  f.key = key;
  f.id = next_id_;
  next_id_ = next_id_ >= kMaxFlowId ? 1 : next_id_ + 1;
  f.start_ns = now_ns;
  f.last_ns = now_ns;
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
      hole = j;
    }
  }
  used_[hole] = 0;
  size_--;
}

}  // namespace hn
