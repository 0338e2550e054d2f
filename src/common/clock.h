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

}  // namespace hn
