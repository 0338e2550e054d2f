// FrameRing: a single-producer single-consumer ring of variable-sized frames,
// the hand-over from the forwarding thread to a capture writer thread (inline
// capture, see sniffer.h). The forwarder copies each frame once into it and
// never waits: when the ring is full the frame is counted as dropped and
// Push() returns false. The writer reads frames in place, in batches
// (PeekMany/PopPeeked), and hands them to its PcapWriter.
//
// Layout: records of a 16-byte header {caplen, wire_len, ts_ns} and the frame
// bytes, each padded to 16 bytes; a record never wraps: when it does not fit
// before the end of the buffer, a wrap marker (caplen = kWrap) fills the rest
// and the record starts at offset 0.
//
// Capture-first (capture.policy): the producer asks HasRoom() before it takes
// a frame it would forward, and holds the frame when there is none; it then
// sets producer_waiting and the consumer tells it (Sniffer) once it has made
// room. consumer_sleeping lets the producer skip waking a consumer that is
// busy anyway. Both flags are only hints with a seq_cst fence on each side
// (Dekker): whoever sets its flag then looks at the other side's progress.
//
// Who may call: Push/HasRoom from one thread, PeekMany/PopPeeked from one other thread.
// Allocates only in the constructor.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "capture/frame_ref.h"

namespace hn {

class FrameRing {
 public:

  // bytes: the buffer size, rounded up to a power of two (at least 64 KiB).
  // The buffer is touched once here, so its memory is taken at start, not in
  // the middle of a flood.
  explicit FrameRing(size_t bytes) : size_(RoundUp(bytes)), mask_(size_ - 1), buf_(new uint8_t[size_]) {
    std::memset(buf_.get(), 0, size_);
  }

  // Copies the frame in. False (and counted in drops()) when it does not fit.
  bool Push(int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
    const size_t need = kHdr + Pad(caplen);
    const size_t head = head_.load(std::memory_order_relaxed);
    const size_t tail = tail_.load(std::memory_order_acquire);
    const size_t off = head & mask_;
    const size_t to_end = size_ - off;
    size_t skip = to_end < need ? to_end : 0;  // wrap: the rest of the buffer is skipped
    if (need > size_ / 2 || (head - tail) + skip + need > size_) {
      drops_.store(drops_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    if (skip != 0) {
      const Hdr w{kWrap, 0, 0};
      std::memcpy(buf_.get() + off, &w, kHdr);
    }
    uint8_t* rec = buf_.get() + ((head + skip) & mask_);
    const Hdr h{caplen, wire_len, ts_ns};
    std::memcpy(rec, &h, kHdr);
    std::memcpy(rec + kHdr, data, caplen);
    head_.store(head + skip + need, std::memory_order_release);
    return true;
  }

  // True when Push() of a caplen-byte frame would succeed now (and still will
  // later: only the producer takes room). Producer only.
  bool HasRoom(uint32_t caplen) const {
    const size_t need = kHdr + Pad(caplen);
    const size_t head = head_.load(std::memory_order_relaxed);
    const size_t tail = tail_.load(std::memory_order_acquire);
    const size_t to_end = size_ - (head & mask_);
    const size_t skip = to_end < need ? to_end : 0;
    return need <= size_ / 2 && (head - tail) + skip + need <= size_;
  }
  // Bytes in use (approximate from either side).
  size_t Used() const {
    return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
  }

  // Batch reading: up to max of the oldest frames, in order, and no more once
  // max_bytes of frame bytes are in (at least one frame), without giving
  // them back; each stays valid until PopPeeked(), which gives back every
  // frame the last PeekMany() returned. Consumer only.
  size_t PeekMany(FrameRef* out, size_t max, size_t max_bytes = SIZE_MAX) {
    size_t cur = tail_.load(std::memory_order_relaxed);
    const size_t head = head_.load(std::memory_order_acquire);
    size_t n = 0;
    size_t bytes = 0;
    while (n < max && bytes < max_bytes && cur != head) {
      Hdr h;
      std::memcpy(&h, buf_.get() + (cur & mask_), kHdr);
      if (h.caplen == kWrap) {
        cur += size_ - (cur & mask_);
        continue;
      }
      out[n++] = FrameRef{h.ts_ns, buf_.get() + (cur & mask_) + kHdr, h.caplen, h.wire_len};
      bytes += h.caplen;
      cur += kHdr + Pad(h.caplen);
    }
    peek_end_ = cur;
    return n;
  }
  void PopPeeked() { tail_.store(peek_end_, std::memory_order_release); }

  bool Empty() const { return tail_.load(std::memory_order_acquire) == head_.load(std::memory_order_acquire); }
  // Frames Push() refused (no room). Capture-first never pushes without room,
  // so this stays 0 there unless a frame was bigger than half the ring.
  uint64_t drops() const { return drops_.load(std::memory_order_relaxed); }
  size_t capacity() const { return size_; }

 private:
  struct Hdr {
    uint32_t caplen;
    uint32_t wire_len;
    int64_t ts_ns;
  };
  static constexpr size_t kHdr = sizeof(Hdr);
  static_assert(kHdr == 16);
  static constexpr uint32_t kWrap = 0xffffffffu;
  static size_t Pad(uint32_t n) { return (size_t(n) + 15) & ~size_t(15); }
  static size_t RoundUp(size_t n) {
    size_t s = 64 * 1024;
    while (s < n) s <<= 1;
    return s;
  }

  const size_t size_;
  const size_t mask_;
  std::unique_ptr<uint8_t[]> buf_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
  size_t peek_end_ = 0;  // consumer's: where the last PeekMany() stopped
  alignas(64) std::atomic<uint64_t> drops_{0};

 public:
  // See the header comment. Set and cleared by the side named.
  alignas(64) std::atomic<bool> consumer_sleeping{false};
  alignas(64) std::atomic<bool> producer_waiting{false};
};

}  // namespace hn
