// SpscRing: a fixed-size single-producer single-consumer queue of trivially
// copyable items. Push never blocks and never allocates: when full it returns
// false and the producer counts a drop. Used to hand events from the
// forwarding thread to the event writer.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <type_traits>

namespace hn {

template <class T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  explicit SpscRing(size_t capacity_pow2) : mask_(capacity_pow2 - 1), items_(new T[capacity_pow2]) {}

  bool Push(const T& v) {
    size_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) > mask_) return false;
    items_[h & mask_] = v;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  bool Pop(T* out) {
    size_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return false;
    *out = items_[t & mask_];
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  // Items queued, as the producer sees it (exact for the producer, may lag for others).
  size_t SizeApprox() const {
    return head_.load(std::memory_order_relaxed) - tail_.load(std::memory_order_acquire);
  }
  size_t Capacity() const { return mask_ + 1; }
  bool Empty() const { return tail_.load(std::memory_order_acquire) == head_.load(std::memory_order_acquire); }

 private:
  const size_t mask_;
  std::unique_ptr<T[]> items_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

}  // namespace hn
