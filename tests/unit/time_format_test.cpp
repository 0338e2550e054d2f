// The text forms of times (src/common/time_format.h): UTC with either zone
// suffix, local time with the zone's offset (a fixed POSIX TZ, no tzdata
// needed), and times before 1970.
#include "common/time_format.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

namespace hn {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1795716000;  // 2026-11-26T18:00:00Z

TEST(TimeFormatTest, IsoTimeUtc) {
  EXPECT_EQ(IsoTimeUtc(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(IsoTimeUtc(kT0 * kS + 1500), "2026-11-26T18:00:00.000001Z");
  EXPECT_EQ(IsoTimeUtc(-1000), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(IsoTimeUtc(kT0 * kS + 123456789, "+0000"), "2026-11-26T18:00:00.123456+0000");
}

// Local forms under TZ "XYZ-1" (one hour east of UTC), then TZ restored.
TEST(TimeFormatTest, LocalFormsCarryTheZone) {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  setenv("TZ", "XYZ-1", 1);
  tzset();
  EXPECT_EQ(IsoTimeLocal(kT0 * kS + 123456789), "2026-11-26T19:00:00.123456+0100");
  EXPECT_EQ(IsoTimeLocal(-1000), "1970-01-01T00:59:59.999999+0100");
  EXPECT_EQ(LocalDateTime(kT0 * kS + 999'999'999), "2026-11-26 19:00:00");
  if (old) setenv("TZ", saved.c_str(), 1);
  else unsetenv("TZ");
  tzset();
}

}  // namespace
}  // namespace hn
