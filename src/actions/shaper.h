// Shaper: one honeypot's outbound bandwidth limit, like Linux tc-tbf, free of
// sockets and clocks (limits.bandwidth / bandwidth_burst / bandwidth_total).
//
// TokenBucket counts bytes that may go out: it fills at `rate` bits/s up to
// `burst` bytes and starts full. It runs in deficit mode: a frame may go
// whenever the balance is not negative and then its whole cost is taken, so a
// frame larger than the burst (a 64 KiB GSO super-segment) still passes and the
// balance goes negative; the frames after it wait until the debt is paid, so
// the long-run rate is exact. The balance is kept as whole bytes plus a
// remainder in bit-nanoseconds (rate x elapsed is exact in 128-bit integers):
// refills in steps of any size lose nothing, at 8 kbit/s as at 100 Gbit/s.
//
// Shaper = its own TokenBucket + a bounded FIFO of frames waiting for tokens +
// optionally a TokenBucket shared by all honeypots (the aggregate ceiling,
// bandwidth_total). A frame that may go now goes at once (Offer() says
// kSendNow and copies nothing); otherwise it is copied into the FIFO, a byte
// ring allocated once in the constructor, unless the FIFO would then hold
// more than max_delay worth of cost bytes at the rate (then it is dropped, as
// with tc-tbf's `latency`). An empty FIFO takes any frame up to max_frame, so
// one maximal GSO frame always fits even when max_delay of rate is less; a
// queued frame thus waits at most max_delay + one frame time. Release()
// hands queued frames to a send callback in FIFO order as tokens come;
// NextReleaseAt() says when to call it next. A frame never overtakes a queued
// one. With an aggregate bucket the delay bound holds for
// the own rate only: the shared bucket may make frames wait longer (they are
// not dropped for it once queued).
//
// Bytes are "cost" bytes, ShapedMeta::cost, the IP total length the caller
// computes (Layer 2 headers are not counted, as with tc on an IP rate).
// Times are int64 nanoseconds of a monotonic clock, supplied by the caller;
// nothing here reads a clock. A rate of 0 never refills: a bucket that is
// spent stays spent (bandwidth 0 means "no limit": then build no Shaper).
//
// Who may call: the forwarding thread only (not thread-safe; the aggregate
// bucket is shared by the Shapers of that thread). Allocates only in the
// Shaper constructor; nothing on the per-frame path throws or blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

namespace hn {

inline constexpr int64_t kShaperDefaultMaxDelayNs = 50'000'000;  // 50 ms
inline constexpr uint32_t kShaperDefaultMaxFrame = 65536 + 14 + 64;  // GSO super-segment + L2 + slack

// limits.bandwidth_burst = 0: max(10 x 1500, 100 ms of rate) bytes.
// 8 Mbit/s -> 100,000 bytes; 1 Mbit/s -> 15,000 bytes.
inline uint64_t DefaultBurstBytes(uint64_t rate_bps) {
  const uint64_t ms100 = rate_bps / 80;  // rate/8 bytes per second, a tenth of it
  return ms100 > 15'000 ? ms100 : 15'000;
}

class TokenBucket {
 public:
  // Burst and debt are kept below this many bytes so no sum can overflow.
  static constexpr int64_t kMaxBytes = int64_t(1) << 61;

  // burst_bytes is used as given (0: a frame may go only when no debt is left);
  // clamped to kMaxBytes. The bucket starts full.
  TokenBucket(uint64_t rate_bps, uint64_t burst_bytes);

  // Adds the tokens earned since the last refill, up to the burst. The first
  // call only sets the time (the bucket is full already); a `now` before the
  // last one adds nothing.
  void Refill(int64_t now);
  // Refill(now), then: may a frame go (the balance is not negative)?
  bool CanSend(int64_t now) {
    Refill(now);
    return tokens_ >= 0;
  }
  // Takes a frame's whole cost (the balance may go negative). Call after
  // CanSend()/Refill() at the same time.
  void Take(uint64_t bytes);
  // When the balance is >= 0 again: `now` if it is already (a later time if
  // `now` is before the last refill). INT64_MAX if it never will (rate 0).
  int64_t ReadyAt(int64_t now) const;
  // The balance at `now` in whole bytes (negative: debt), without refilling.
  int64_t TokensAt(int64_t now) const;

  int64_t tokens() const { return tokens_; }  // balance at the last refill
  uint64_t rate() const { return rate_bps_; }
  uint64_t burst() const { return uint64_t(burst_); }

 private:
  // 1 byte = 8 bits = 8e9 bit-nanoseconds; rate_bps x ns is in bit-nanoseconds.
  static constexpr uint64_t kUnitsPerByte = 8'000'000'000ULL;

  // The balance (bytes, remainder) that a refill at `now` would give.
  void Advance(int64_t now, int64_t* tokens, uint64_t* frac) const;

  uint64_t rate_bps_;
  int64_t burst_;
  int64_t tokens_;     // whole bytes; negative: debt
  uint64_t frac_ = 0;  // bit-nanoseconds beyond tokens_, < kUnitsPerByte
  int64_t last_ns_ = 0;
  bool primed_ = false;  // false until the first Refill: last_ns_ means nothing yet
};

// What the engine needs to send a frame later as it would have sent it now;
// the Shaper stores it with the frame and hands it back. POD, 16 bytes.
struct ShapedMeta {
  uint8_t port = 0;             // outgoing port index
  bool partial_csum = false;    // the L4 checksum is left to offload
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  uint8_t gso_type = 0;         // VIRTIO_NET_HDR_GSO_*; 0: not a super-segment
  uint16_t gso_size = 0;
  uint16_t hdr_len = 0;
  uint32_t cost = 0;            // bytes charged to the buckets: the IP total length
};
static_assert(std::is_trivially_copyable_v<ShapedMeta>);

enum class ShapeVerdict : uint8_t {
  kSendNow,  // tokens taken; the caller transmits the frame it holds
  kQueued,   // copied into the FIFO; Release() will hand it out
  kDropped,  // FIFO full (delay bound or ring bytes) or frame over max_frame; counted
};

// Counters since construction; bytes are cost bytes. queue_* are current values.
struct ShaperStats {
  uint64_t sent_now_frames = 0, sent_now_bytes = 0;  // went at once (kSendNow)
  uint64_t queued_frames = 0, queued_bytes = 0;      // entered the FIFO (kQueued)
  uint64_t released_frames = 0, released_bytes = 0;  // left the FIFO through Release()
  uint64_t dropped_frames = 0, dropped_bytes = 0;    // kDropped
  uint64_t queue_frames = 0, queue_bytes = 0;        // in the FIFO now
  int64_t max_queue_delay_ns = 0;                    // longest enqueue -> release seen
};

class Shaper {
 public:
  // rate_bps > 0 (see the header comment for 0). burst_bytes 0: DefaultBurstBytes(rate).
  // max_delay_ns: the FIFO holds at most rate x max_delay cost bytes, or one
  // frame of any cost (up to max_frame bytes) when it is empty. aggregate: a
  // bucket shared with other Shapers (must outlive this one), or nullptr.
  // max_frame: the largest frame (bytes) that may be queued (at most 16 MiB).
  // Allocates the FIFO ring: max(max_delay of rate + 25% for entry headers,
  // 2 maximal frames + headroom) bytes, at most 1 GiB (or the 2 frames).
  explicit Shaper(uint64_t rate_bps, uint64_t burst_bytes = 0,
                  int64_t max_delay_ns = kShaperDefaultMaxDelayNs, TokenBucket* aggregate = nullptr,
                  uint32_t max_frame = kShaperDefaultMaxFrame);
  Shaper(const Shaper&) = delete;
  Shaper& operator=(const Shaper&) = delete;

  // A frame the caller wants to send at `now`; its cost is meta.cost. Goes at
  // once (tokens taken from this bucket and the aggregate) when the FIFO is
  // empty and both buckets allow it; else it is queued (copied with meta) if
  // len <= max_frame, the ring has room and either the FIFO is empty or its
  // cost bytes stay within queue_limit_bytes(); else dropped.
  ShapeVerdict Offer(const uint8_t* frame, uint32_t len, const ShapedMeta& meta, int64_t now);

  // Hands queued frames, oldest first, to
  //   bool send(const uint8_t* data, uint32_t len, const ShapedMeta& meta)
  // while the buckets allow; returns how many went. `data` is valid during the
  // call only. send returns false when it cannot transmit now (TX ring full):
  // the frame stays at the head, its tokens are not taken, Release() stops.
  // send must not call back into this Shaper.
  template <class F>
  size_t Release(int64_t now, F&& send) {
    size_t n = 0;
    while (queue_frames_ != 0 && Allows(now)) {
      Hdr h;
      std::memcpy(&h, buf_.get() + head_, sizeof h);
      const ShapedMeta meta = h.meta;
      if (!send(static_cast<const uint8_t*>(buf_.get() + head_ + sizeof(Hdr)), h.len, meta)) break;
      TakeBoth(h.meta.cost);
      NoteReleased(h, now);
      PopHead(h);
      n++;
    }
    return n;
  }

  // When the head frame could go: max of the buckets' ReadyAt(now) (the
  // aggregate may be spent by another Shaper before then: a hint, call
  // Release() then). INT64_MAX when the FIFO is empty.
  int64_t NextReleaseAt(int64_t now) const;

  bool queue_empty() const { return queue_frames_ == 0; }
  uint64_t rate() const { return bucket_.rate(); }
  uint64_t burst() const { return bucket_.burst(); }
  int64_t max_delay_ns() const { return max_delay_ns_; }
  uint32_t max_frame() const { return max_frame_; }
  uint64_t queue_limit_bytes() const { return cost_limit_; }  // rate x max_delay, in cost bytes
  size_t ring_bytes() const { return cap_; }                  // the FIFO's allocation
  const TokenBucket& bucket() const { return bucket_; }
  const TokenBucket* aggregate() const { return aggregate_; }

  uint64_t sent_now_frames() const { return sent_now_frames_; }
  uint64_t sent_now_bytes() const { return sent_now_bytes_; }
  uint64_t queued_frames() const { return queued_frames_; }
  uint64_t queued_bytes() const { return queued_bytes_; }
  uint64_t released_frames() const { return released_frames_; }
  uint64_t released_bytes() const { return released_bytes_; }
  uint64_t dropped_frames() const { return dropped_frames_; }
  uint64_t dropped_bytes() const { return dropped_bytes_; }
  uint64_t queue_frames() const { return queue_frames_; }
  uint64_t queue_bytes() const { return queue_bytes_; }
  int64_t max_queue_delay_ns() const { return max_queue_delay_ns_; }
  ShaperStats Stats() const;

 private:
  // One FIFO entry: this header, then the frame bytes, padded to 8 bytes. An
  // entry never wraps: when it does not fit before the end of the ring, a wrap
  // marker (len = kWrap) is left there (if there is room for one) and the
  // entry starts at offset 0.
  struct Hdr {
    uint32_t len;
    uint32_t rec;    // bytes of the whole entry (header + frame + padding)
    int64_t enq_ns;  // when it was queued, for max_queue_delay_ns
    ShapedMeta meta;
  };
  static_assert(sizeof(Hdr) == 32);
  static constexpr uint32_t kWrap = 0xffffffffu;
  static size_t RecBytes(uint32_t len) { return (sizeof(Hdr) + size_t(len) + 7) & ~size_t(7); }

  bool Allows(int64_t now) {
    if (!bucket_.CanSend(now)) return false;
    return aggregate_ == nullptr || aggregate_->CanSend(now);
  }
  void TakeBoth(uint32_t cost) {
    bucket_.Take(cost);
    if (aggregate_ != nullptr) aggregate_->Take(cost);
  }
  bool Push(const uint8_t* frame, uint32_t len, const ShapedMeta& meta, int64_t now);
  void NoteReleased(const Hdr& h, int64_t now);
  void PopHead(const Hdr& h);

  TokenBucket bucket_;
  TokenBucket* aggregate_;
  int64_t max_delay_ns_;
  uint32_t max_frame_;
  uint64_t cost_limit_;
  size_t cap_;  // ring bytes, a multiple of 8
  std::unique_ptr<uint8_t[]> buf_;
  size_t head_ = 0;  // oldest entry (when not empty)
  size_t tail_ = 0;  // where the next entry goes

  uint64_t sent_now_frames_ = 0, sent_now_bytes_ = 0;
  uint64_t queued_frames_ = 0, queued_bytes_ = 0;
  uint64_t released_frames_ = 0, released_bytes_ = 0;
  uint64_t dropped_frames_ = 0, dropped_bytes_ = 0;
  uint64_t queue_frames_ = 0, queue_bytes_ = 0;
  int64_t max_queue_delay_ns_ = 0;
};

}  // namespace hn
