// The reset schedule's decision (src/lab/reset_schedule.h).
#include "lab/reset_schedule.h"

#include <gtest/gtest.h>

namespace hn {
namespace {

constexpr int64_t kSec = 1'000'000'000;

TEST(ResetSchedule, IdleCountsFromTheLastFlowOrTheBoot) {
  HoneypotConfig hp;
  hp.reset_idle_ns = 3600 * kSec;
  const int64_t boot = 1'000'000;
  EXPECT_EQ(ResetDueReason(hp, boot + 3599, boot, 0, 0), nullptr);
  EXPECT_STREQ(ResetDueReason(hp, boot + 3600, boot, 0, 0), "idle");
  // A flow 10 minutes ago: not idle yet.
  EXPECT_EQ(ResetDueReason(hp, boot + 7200, boot, boot + 7200 - 600, 0), nullptr);
  EXPECT_STREQ(ResetDueReason(hp, boot + 7200, boot, boot + 3600, 0), "idle");
}

TEST(ResetSchedule, MaxAgeWithJitterAndOffByDefault) {
  HoneypotConfig hp;
  EXPECT_EQ(ResetDueReason(hp, 1'000'000'000, 0, 0, 0), nullptr) << "no schedule: never";
  hp.reset_max_age_ns = 86400 * kSec;
  hp.reset_jitter_ns = 1800 * kSec;
  const int64_t j = ResetJitterSeconds(hp, 123456789);
  EXPECT_GE(j, 0);
  EXPECT_LT(j, 1800);
  EXPECT_EQ(ResetDueReason(hp, 86400 + j - 1, 0, 86400, j), nullptr);
  EXPECT_STREQ(ResetDueReason(hp, 86400 + j, 0, 86400, j), "max_age") << "busy or not, it is old";
  hp.reset_jitter_ns = 0;
  EXPECT_EQ(ResetJitterSeconds(hp, 99), 0);
}

}  // namespace
}  // namespace hn
