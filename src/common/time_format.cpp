#include "common/time_format.h"

#include <cstdio>
#include <ctime>

#include "common/clock.h"

namespace hn {
namespace {

// Seconds and the nanoseconds within them (floor, also for times before 1970).
void SplitNs(int64_t ns, time_t* sec, int64_t* frac) {
  int64_t s = ns / kNsPerSec, f = ns % kNsPerSec;
  if (f < 0) {
    f += kNsPerSec;
    s -= 1;
  }
  *sec = time_t(s);
  *frac = f;
}

std::string WithMicros(const tm& t, int64_t frac_ns, std::string_view zone) {
  char a[32], out[64];
  strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%S", &t);
  snprintf(out, sizeof out, "%s.%06lld%.*s", a, static_cast<long long>(frac_ns / 1000), int(zone.size()),
           zone.data());
  return out;
}

}  // namespace

std::string IsoTimeLocal(int64_t ns) {
  time_t sec;
  int64_t frac;
  SplitNs(ns, &sec, &frac);
  tm t{};
  localtime_r(&sec, &t);
  char z[8];
  strftime(z, sizeof z, "%z", &t);
  return WithMicros(t, frac, z);
}

std::string IsoTimeUtc(int64_t ns, std::string_view zone) {
  time_t sec;
  int64_t frac;
  SplitNs(ns, &sec, &frac);
  tm t{};
  gmtime_r(&sec, &t);
  return WithMicros(t, frac, zone);
}

std::string LocalDateTime(int64_t ns) {
  time_t sec;
  int64_t frac;
  SplitNs(ns, &sec, &frac);
  tm t{};
  localtime_r(&sec, &t);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &t);
  return b;
}

}  // namespace hn
