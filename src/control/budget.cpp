// Budget: per-class outbound start budgets with a sliding window or a token
// bucket. See budget.h for the two kinds and docs/data-control.md for how they
// differ. Nothing here allocates after construction except Save()/Restore().
#include "control/budget.h"

#include <algorithm>

namespace hn {

namespace {

constexpr int64_t kMicro = 1'000'000;  // token scale: one token = 1e6 micro-tokens

// True when a start at start_ns still counts at now_ns, i.e. start_ns > now_ns - window_ns.
// Computed in 128 bits so that no pair of int64 times can overflow.
bool InWindow(int64_t start_ns, int64_t now_ns, int64_t window_ns) {
  return __int128(now_ns) - start_ns < window_ns;
}

}  // namespace

const char* ProtoClassName(ProtoClass c) {
  switch (c) {
    case ProtoClass::kTcp: return "TCP";
    case ProtoClass::kUdp: return "UDP";
    case ProtoClass::kIcmp: return "ICMP";
    case ProtoClass::kOther: return "OTHER";
    case ProtoClass::kBroadcast: return "BROADCAST";
  }
  return "OTHER";
}

ProtoClass ClassOfProto(uint8_t ip_proto) {
  switch (ip_proto) {
    case 6: return ProtoClass::kTcp;
    case 17: return ProtoClass::kUdp;
    case 1:
    case 58: return ProtoClass::kIcmp;
    default: return ProtoClass::kOther;
  }
}

Budget::Budget(const Limits& limits) : limits_(limits) {
  for (int c = 0; c < kProtoClasses; c++) {
    ring_[c].assign(limits_.max[c], 0);
    tokens_micro_[c] = Capacity(ProtoClass(c));  // a bucket starts full
    refill_ns_[c] = 0;
  }
}

int64_t Budget::Capacity(ProtoClass c) const {
  return int64_t(limits_.max[size_t(c)]) * kMicro;
}

int64_t Budget::TokensAt(ProtoClass c, int64_t now_ns) const {
  const size_t i = size_t(c);
  const int64_t cap = Capacity(c);
  const int64_t have = tokens_micro_[i];
  if (have >= cap) return cap;
  if (limits_.window_ns <= 0) return cap;  // no period: nothing limits the refill
  if (now_ns <= refill_ns_[i]) return have;
  // max tokens per window: elapsed * max * 1e6 / window micro-tokens.
  __int128 add = (__int128(now_ns) - refill_ns_[i]) * limits_.max[i] * kMicro / limits_.window_ns;
  return add >= cap - have ? cap : have + int64_t(add);
}

void Budget::Refill(ProtoClass c, int64_t now_ns) {
  const size_t i = size_t(c);
  const int64_t cap = Capacity(c);
  const int64_t before = tokens_micro_[i];
  const int64_t after = TokensAt(c, now_ns);
  if (after >= cap) {
    // Full: a full bucket gains nothing from waiting, so the clock restarts now.
    tokens_micro_[i] = cap;
    refill_ns_[i] = now_ns;
    return;
  }
  if (now_ns < refill_ns_[i]) {
    // The wall clock stepped back: refill from now on, giving nothing for it.
    refill_ns_[i] = now_ns;
    return;
  }
  if (after == before) return;  // keep the elapsed time for the next call
  tokens_micro_[i] = after;
  // Advance the refill clock only by the time those micro-tokens took, rounded
  // up, so frequent calls neither lose nor invent refill.
  const __int128 per_token_den = __int128(limits_.max[i]) * kMicro;
  const __int128 used_ns = (__int128(after - before) * limits_.window_ns + per_token_den - 1) / per_token_den;
  refill_ns_[i] += int64_t(used_ns);
}

int64_t Budget::StartAt(ProtoClass c, size_t k) const {
  const size_t i = size_t(c);
  const std::vector<int64_t>& ring = ring_[i];
  return ring[(head_[i] + ring.size() - count_[i] + k) % ring.size()];
}

void Budget::RecordStart(ProtoClass c, int64_t now_ns) {
  const size_t i = size_t(c);
  std::vector<int64_t>& ring = ring_[i];
  if (ring.empty()) return;
  ring[head_[i]] = now_ns;
  head_[i] = (head_[i] + 1) % ring.size();
  if (count_[i] < ring.size()) count_[i]++;
}

// The wall clock stepped back past recorded starts: count them as made now,
// so they hold the budget for one window from now and not for the size of the
// step. Clamping keeps the ring in time order, which SlidingUsed relies on.
void Budget::ClampFutureStarts(ProtoClass c, int64_t now_ns) {
  for (int64_t& t : ring_[size_t(c)]) t = std::min(t, now_ns);
}

bool Budget::TryConsume(ProtoClass c, int64_t now_ns) {
  const size_t i = size_t(c);
  const uint32_t max = limits_.max[i];
  if (max == 0) return false;
  Refill(c, now_ns);
  if (count_[i] > 0 && StartAt(c, count_[i] - 1) > now_ns) ClampFutureStarts(c, now_ns);
  bool allowed;
  if (limits_.kind == WindowKind::kSliding) {
    // The ring holds the last `max` starts; when full, head_ is the oldest.
    allowed = count_[i] < max || !InWindow(ring_[i][head_[i]], now_ns, limits_.window_ns);
  } else {
    allowed = tokens_micro_[i] >= kMicro;
  }
  if (!allowed) return false;
  tokens_micro_[i] = std::max<int64_t>(tokens_micro_[i] - kMicro, 0);
  RecordStart(c, now_ns);
  return true;
}

// The ring is in time order (TryConsume and Restore keep it so), so the
// starts still in the window are a suffix: binary search for where it begins.
uint32_t Budget::SlidingUsed(ProtoClass c, int64_t now_ns) const {
  size_t lo = 0, hi = count_[size_t(c)];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (InWindow(StartAt(c, mid), now_ns, limits_.window_ns)) hi = mid;
    else lo = mid + 1;
  }
  return uint32_t(count_[size_t(c)] - lo);
}

uint32_t Budget::Used(ProtoClass c, int64_t now_ns) const {
  if (limits_.kind == WindowKind::kSliding) return SlidingUsed(c, now_ns);
  const int64_t taken = Capacity(c) - TokensAt(c, now_ns);
  return uint32_t((taken + kMicro - 1) / kMicro);
}

uint32_t Budget::Left(ProtoClass c, int64_t now_ns) const {
  const uint32_t limit = Limit(c);
  const uint32_t used = Used(c, now_ns);
  return used >= limit ? 0 : limit - used;
}

Budget::Saved Budget::Save() const {
  Saved s;
  for (int c = 0; c < kProtoClasses; c++) {
    s.starts[c].reserve(count_[c]);
    for (size_t k = 0; k < count_[c]; k++) s.starts[c].push_back(StartAt(ProtoClass(c), k));  // oldest first
    s.tokens_micro[c] = tokens_micro_[c];
    s.refill_ns[c] = refill_ns_[c];
  }
  return s;
}

void Budget::Restore(const Saved& s, int64_t now_ns) {
  for (int c = 0; c < kProtoClasses; c++) {
    const size_t max = limits_.max[c];
    // Starts still inside the window; one from the future (clock stepped back,
    // or a copied file) counts as made now: spent, but not for longer than a window.
    std::vector<int64_t> keep;
    for (int64_t t : s.starts[c]) {
      t = std::min(t, now_ns);
      if (InWindow(t, now_ns, limits_.window_ns)) keep.push_back(t);
    }
    std::sort(keep.begin(), keep.end());
    if (keep.size() > max) keep.erase(keep.begin(), keep.end() - ptrdiff_t(max));
    std::fill(ring_[c].begin(), ring_[c].end(), 0);
    std::copy(keep.begin(), keep.end(), ring_[c].begin());
    count_[c] = keep.size();
    head_[c] = max == 0 ? 0 : keep.size() % max;

    tokens_micro_[c] = std::clamp<int64_t>(s.tokens_micro[c], 0, Capacity(ProtoClass(c)));
    // A refill time in the future would stall the bucket: refill from now instead.
    refill_ns_[c] = std::min(s.refill_ns[c], now_ns);
  }
}

}  // namespace hn
