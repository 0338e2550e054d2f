// Time values used on the per-packet path: nanoseconds as int64. Wall time is
// what goes into pcap and event timestamps; monotonic time drives timeouts and
// budget windows (budgets persist wall time on disk, see control/budget.h).
#pragma once

#include <cstdint>
#include <ctime>

namespace hn {

inline constexpr int64_t kNsPerSec = 1'000'000'000;

inline int64_t WallNowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

inline int64_t MonoNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

// Time since boot, suspend included; nobody can set it.
inline int64_t BootNowNs() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

// The clock Data Control budgets are kept in: wall time at the anchor plus
// the boot time elapsed since. Setting the wall clock (date -s, settimeofday,
// a guest that could) moves neither it nor what a budget has counted, so a
// jump forward cannot refill a budget. Slow NTP slewing still differs from it
// by a few ppm; a honeywall restart anchors it to the wall clock again
// (budgets.json then carries the boot time, see EventWriter::LoadBudgets).
class BudgetClock {
 public:
  BudgetClock() : wall0_(WallNowNs()), boot0_(BootNowNs()) {}
  int64_t Now() const { return wall0_ + (BootNowNs() - boot0_); }
  // The budget clock's reading for a wall-clock time read just now.
  int64_t SkewFromWall() const { return Now() - WallNowNs(); }

 private:
  int64_t wall0_, boot0_;
};

}  // namespace hn
