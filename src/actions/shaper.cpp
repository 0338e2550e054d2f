// Shaper and TokenBucket: see shaper.h. Nothing here allocates after the
// Shaper constructor; all token arithmetic is integer (128-bit where a rate
// times a time could overflow 64 bits).
#include "actions/shaper.h"

#include <algorithm>

namespace hn {

namespace {

using u128 = unsigned __int128;
using i128 = __int128;

constexpr size_t kMaxRingBytes = size_t(1) << 30;  // 1 GiB: beyond, the ring (not the delay bound) limits
constexpr size_t kRingHeadroom = 4096;
constexpr uint32_t kMaxFrameLimit = uint32_t(1) << 24;  // no real frame comes near

int64_t Clamp64(u128 v, int64_t max) { return v > u128(max) ? max : int64_t(v); }

}  // namespace

// ---- TokenBucket ----

TokenBucket::TokenBucket(uint64_t rate_bps, uint64_t burst_bytes)
    : rate_bps_(rate_bps), burst_(Clamp64(burst_bytes, kMaxBytes)), tokens_(burst_) {}

void TokenBucket::Advance(int64_t now, int64_t* tokens, uint64_t* frac) const {
  if (!primed_ || now <= last_ns_) return;
  if (*tokens >= burst_) {
    *frac = 0;
    return;
  }
  // now > last_ns_, so the difference fits uint64 even when the int64 one would not.
  const uint64_t elapsed = uint64_t(now) - uint64_t(last_ns_);
  // < 2^64 x 2^64 + 2^33: cannot overflow 128 bits.
  const u128 units = u128(elapsed) * rate_bps_ + *frac;
  const u128 add = units / kUnitsPerByte;
  const u128 room = u128(burst_ - *tokens);  // > 0
  if (add >= room) {
    *tokens = burst_;
    *frac = 0;
  } else {
    *tokens += int64_t(add);
    *frac = uint64_t(units % kUnitsPerByte);
  }
}

void TokenBucket::Refill(int64_t now) {
  if (!primed_) {
    primed_ = true;
    last_ns_ = now;
    return;
  }
  if (now <= last_ns_) return;
  Advance(now, &tokens_, &frac_);
  last_ns_ = now;
}

void TokenBucket::Take(uint64_t bytes) {
  const int64_t b = Clamp64(bytes, kMaxBytes);
  // The debt stays above -2 x kMaxBytes (tokens_ >= that before, b <= kMaxBytes: no overflow).
  tokens_ = std::max(tokens_ - b, -2 * kMaxBytes);
}

int64_t TokenBucket::TokensAt(int64_t now) const {
  int64_t t = tokens_;
  uint64_t f = frac_;
  Advance(now, &t, &f);
  return t;
}

int64_t TokenBucket::ReadyAt(int64_t now) const {
  int64_t t = tokens_;
  uint64_t f = frac_;
  Advance(now, &t, &f);
  if (t >= 0) return now;
  if (rate_bps_ == 0) return std::numeric_limits<int64_t>::max();
  // The balance was computed at `base`; from there, need bit-nanoseconds more.
  const int64_t base = (primed_ && last_ns_ > now) ? last_ns_ : now;
  const u128 need = u128(uint64_t(-t)) * kUnitsPerByte - f;  // > 0
  const u128 ns = (need + rate_bps_ - 1) / rate_bps_;
  const i128 room = i128(std::numeric_limits<int64_t>::max()) - base;  // >= 0
  if (ns >= u128(room)) return std::numeric_limits<int64_t>::max();
  return int64_t(i128(base) + i128(ns));
}

// ---- Shaper ----

Shaper::Shaper(uint64_t rate_bps, uint64_t burst_bytes, int64_t max_delay_ns, TokenBucket* aggregate,
               uint32_t max_frame)
    : bucket_(rate_bps, burst_bytes != 0 ? burst_bytes : DefaultBurstBytes(rate_bps)),
      aggregate_(aggregate),
      max_delay_ns_(std::max<int64_t>(max_delay_ns, 0)),
      max_frame_(std::min(max_frame, kMaxFrameLimit)) {
  // Cost bytes the rate earns in max_delay: rate/8 bytes per second.
  const u128 delay_bytes =
      u128(rate_bps) * uint64_t(max_delay_ns_) / 8'000'000'000ULL;
  cost_limit_ = uint64_t(Clamp64(delay_bytes, TokenBucket::kMaxBytes));
  // Entries also hold a header and the Layer 2 bytes: +25% covers them for
  // frames of about 200 bytes and more; smaller ones may fill the ring before
  // the delay bound (then they are dropped sooner, never later).
  const u128 want = delay_bytes + delay_bytes / 4;
  const size_t floor = 2 * RecBytes(max_frame_) + kRingHeadroom;
  size_t cap = want > kMaxRingBytes ? kMaxRingBytes : size_t(want);
  cap = std::max(cap, floor);
  cap_ = (cap + 7) & ~size_t(7);
  buf_.reset(new uint8_t[cap_]);
  std::memset(buf_.get(), 0, cap_);  // take the memory now, not in the middle of a flood
}

ShapeVerdict Shaper::Offer(const uint8_t* frame, uint32_t len, const ShapedMeta& meta, int64_t now) {
  if (queue_frames_ == 0 && Allows(now)) {
    TakeBoth(meta.cost);
    sent_now_frames_++;
    sent_now_bytes_ += meta.cost;
    return ShapeVerdict::kSendNow;
  }
  // An empty FIFO takes one frame whatever its cost: the delay bound is then
  // max_delay + one frame time (a 64 KiB frame takes 65 ms at 8 Mbit/s anyway).
  const bool within = queue_frames_ == 0 || queue_bytes_ + meta.cost <= cost_limit_;
  if (len <= max_frame_ && within && Push(frame, len, meta, now)) {
    queued_frames_++;
    queued_bytes_ += meta.cost;
    return ShapeVerdict::kQueued;
  }
  dropped_frames_++;
  dropped_bytes_ += meta.cost;
  return ShapeVerdict::kDropped;
}

bool Shaper::Push(const uint8_t* frame, uint32_t len, const ShapedMeta& meta, int64_t now) {
  const size_t need = RecBytes(len);
  size_t at;
  if (queue_frames_ == 0) {
    head_ = tail_ = 0;
    if (need > cap_) return false;
    at = 0;
  } else if (tail_ > head_) {  // [head_, tail_) used; free: [tail_, cap_) and [0, head_)
    if (need <= cap_ - tail_) {
      at = tail_;
    } else if (need <= head_) {
      const uint32_t wrap = kWrap;  // cap_ - tail_ is a positive multiple of 8: room for it
      std::memcpy(buf_.get() + tail_, &wrap, sizeof wrap);
      at = 0;
    } else {
      return false;
    }
  } else {  // wrapped: [head_, end) and [0, tail_) used; free: [tail_, head_)
    if (need > head_ - tail_) return false;
    at = tail_;
  }
  const Hdr h{len, uint32_t(need), now, meta};
  std::memcpy(buf_.get() + at, &h, sizeof h);
  if (len != 0) std::memcpy(buf_.get() + at + sizeof(Hdr), frame, len);
  tail_ = at + need;
  if (tail_ == cap_) tail_ = 0;
  queue_frames_++;
  queue_bytes_ += meta.cost;
  return true;
}

void Shaper::NoteReleased(const Hdr& h, int64_t now) {
  released_frames_++;
  released_bytes_ += h.meta.cost;
  // Clamp to 0 if the caller's time went backwards; 128 bits: no overflow.
  const i128 d = i128(now) - h.enq_ns;
  if (d > max_queue_delay_ns_) max_queue_delay_ns_ = Clamp64(u128(d), std::numeric_limits<int64_t>::max());
}

void Shaper::PopHead(const Hdr& h) {
  queue_frames_--;
  queue_bytes_ -= h.meta.cost;
  if (queue_frames_ == 0) {
    head_ = tail_ = 0;
    return;
  }
  head_ += h.rec;
  if (head_ == cap_) {
    head_ = 0;
    return;
  }
  uint32_t next_len;
  std::memcpy(&next_len, buf_.get() + head_, sizeof next_len);
  if (next_len == kWrap) head_ = 0;
}

int64_t Shaper::NextReleaseAt(int64_t now) const {
  if (queue_frames_ == 0) return std::numeric_limits<int64_t>::max();
  int64_t at = bucket_.ReadyAt(now);
  if (aggregate_ != nullptr) at = std::max(at, aggregate_->ReadyAt(now));
  return at;
}

ShaperStats Shaper::Stats() const {
  ShaperStats s;
  s.sent_now_frames = sent_now_frames_;
  s.sent_now_bytes = sent_now_bytes_;
  s.queued_frames = queued_frames_;
  s.queued_bytes = queued_bytes_;
  s.released_frames = released_frames_;
  s.released_bytes = released_bytes_;
  s.dropped_frames = dropped_frames_;
  s.dropped_bytes = dropped_bytes_;
  s.queue_frames = queue_frames_;
  s.queue_bytes = queue_bytes_;
  s.max_queue_delay_ns = max_queue_delay_ns_;
  return s;
}

}  // namespace hn
