// Budget: sliding window and token bucket, their exact edges, per-class
// independence and persistence (Save/Restore).
#include "control/budget.h"

#include <gtest/gtest.h>

namespace hn {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSec;
// A wall-clock-like origin, so nothing accidentally relies on times near 0.
constexpr int64_t kT0 = 1'700'000'000LL * kSec;

Limits SlidingLimits(uint32_t tcp = 9) {
  Limits l;
  l.max = {tcp, 20, 50, 10, 30};
  l.kind = WindowKind::kSliding;
  l.window_ns = kHour;
  return l;
}

Limits BucketLimits(uint32_t tcp = 9) {
  Limits l = SlidingLimits(tcp);
  l.kind = WindowKind::kTokenBucket;
  return l;
}

constexpr ProtoClass kTcp = ProtoClass::kTcp;
constexpr ProtoClass kUdp = ProtoClass::kUdp;

TEST(BudgetTest, ProtoClassNamesAndMapping) {
  EXPECT_STREQ(ProtoClassName(ProtoClass::kTcp), "TCP");
  EXPECT_STREQ(ProtoClassName(ProtoClass::kUdp), "UDP");
  EXPECT_STREQ(ProtoClassName(ProtoClass::kIcmp), "ICMP");
  EXPECT_STREQ(ProtoClassName(ProtoClass::kOther), "OTHER");
  EXPECT_EQ(ClassOfProto(6), ProtoClass::kTcp);
  EXPECT_EQ(ClassOfProto(17), ProtoClass::kUdp);
  EXPECT_EQ(ClassOfProto(1), ProtoClass::kIcmp);
  EXPECT_EQ(ClassOfProto(58), ProtoClass::kIcmp);
  EXPECT_EQ(ClassOfProto(47), ProtoClass::kOther);  // GRE
  EXPECT_EQ(ClassOfProto(132), ProtoClass::kOther);  // SCTP
  EXPECT_EQ(ClassOfProto(0), ProtoClass::kOther);
}

TEST(BudgetTest, DefaultsAreTheSeedsRates) {
  Budget b{Limits{}};
  EXPECT_EQ(b.Limit(ProtoClass::kTcp), 9u);
  EXPECT_EQ(b.Limit(ProtoClass::kUdp), 20u);
  EXPECT_EQ(b.Limit(ProtoClass::kIcmp), 50u);
  EXPECT_EQ(b.Limit(ProtoClass::kOther), 10u);
  EXPECT_EQ(b.limits().kind, WindowKind::kSliding);
  EXPECT_EQ(b.limits().window_ns, kHour);
  EXPECT_EQ(b.Used(kTcp, kT0), 0u);
  EXPECT_EQ(b.Left(kTcp, kT0), 9u);
}

TEST(BudgetTest, SlidingNineTcpThenTenthDenied) {
  Budget b(SlidingLimits());
  for (int i = 0; i < 9; i++) {
    EXPECT_TRUE(b.TryConsume(kTcp, kT0 + i * kSec)) << i;
    EXPECT_EQ(b.Used(kTcp, kT0 + i * kSec), uint32_t(i + 1));
    EXPECT_EQ(b.Left(kTcp, kT0 + i * kSec), uint32_t(8 - i));
  }
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 10 * kSec));
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 30 * 60 * kSec));
  EXPECT_EQ(b.Used(kTcp, kT0 + 10 * kSec), 9u);
  EXPECT_EQ(b.Left(kTcp, kT0 + 10 * kSec), 0u);
  // After the window has passed for all of them: 9 again.
  const int64_t later = kT0 + 8 * kSec + kHour;
  EXPECT_EQ(b.Used(kTcp, later), 0u);
  for (int i = 0; i < 9; i++) EXPECT_TRUE(b.TryConsume(kTcp, later)) << i;
  EXPECT_FALSE(b.TryConsume(kTcp, later));
}

TEST(BudgetTest, SlidingWindowExactEdges) {
  Budget b(SlidingLimits(2));
  ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  ASSERT_TRUE(b.TryConsume(kTcp, kT0 + 10 * kSec));
  // The first start counts until exactly one window later.
  EXPECT_EQ(b.Used(kTcp, kT0 + kHour - 1), 2u);
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + kHour - 1));
  EXPECT_EQ(b.Used(kTcp, kT0 + kHour), 1u);
  EXPECT_EQ(b.Left(kTcp, kT0 + kHour), 1u);
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + kHour));
  // Now the oldest is the one at +10 s.
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 10 * kSec + kHour - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 10 * kSec + kHour));
}

TEST(BudgetTest, SlidingDeniedAttemptsAreNotRecorded) {
  Budget b(SlidingLimits(1));
  ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  for (int i = 1; i < 100; i++) ASSERT_FALSE(b.TryConsume(kTcp, kT0 + i * 30 * kSec));
  // Hammering while denied does not push the window out.
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + kHour));
}

TEST(BudgetTest, LimitZeroAllowsNothing) {
  for (Limits l : {SlidingLimits(0), BucketLimits(0)}) {
    Budget b(l);
    EXPECT_EQ(b.Limit(kTcp), 0u);
    EXPECT_FALSE(b.TryConsume(kTcp, kT0));
    EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 10 * kHour));
    EXPECT_EQ(b.Used(kTcp, kT0), 0u);
    EXPECT_EQ(b.Left(kTcp, kT0), 0u);
    EXPECT_TRUE(b.TryConsume(kUdp, kT0));  // other classes are unaffected
  }
}

TEST(BudgetTest, ClassesAreIndependent) {
  for (Limits l : {SlidingLimits(), BucketLimits()}) {
    Budget b(l);
    for (int i = 0; i < 9; i++) ASSERT_TRUE(b.TryConsume(kTcp, kT0));
    ASSERT_FALSE(b.TryConsume(kTcp, kT0));
    for (int i = 0; i < 20; i++) EXPECT_TRUE(b.TryConsume(kUdp, kT0)) << i;
    EXPECT_FALSE(b.TryConsume(kUdp, kT0));
    for (int i = 0; i < 50; i++) EXPECT_TRUE(b.TryConsume(ProtoClass::kIcmp, kT0)) << i;
    EXPECT_FALSE(b.TryConsume(ProtoClass::kIcmp, kT0));
    for (int i = 0; i < 10; i++) EXPECT_TRUE(b.TryConsume(ProtoClass::kOther, kT0)) << i;
    EXPECT_FALSE(b.TryConsume(ProtoClass::kOther, kT0));
    EXPECT_EQ(b.Used(kTcp, kT0), 9u);
    EXPECT_EQ(b.Used(kUdp, kT0), 20u);
  }
}

TEST(BudgetTest, TokenBucketBurstThenOnePerPeriodOverN) {
  Budget b(BucketLimits());  // 9 per hour: one token every 400 s
  for (int i = 0; i < 9; i++) EXPECT_TRUE(b.TryConsume(kTcp, kT0)) << i;
  EXPECT_FALSE(b.TryConsume(kTcp, kT0));
  EXPECT_EQ(b.Used(kTcp, kT0), 9u);
  EXPECT_EQ(b.Left(kTcp, kT0), 0u);
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 400 * kSec - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 400 * kSec));
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 400 * kSec));
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 800 * kSec - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 800 * kSec));
  // Unlike the sliding window, two tokens after 800 s more.
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 1600 * kSec));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 1600 * kSec));
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 1600 * kSec));
}

TEST(BudgetTest, TokenBucketRefillIsCappedAtTheBurst) {
  Budget b(BucketLimits());
  for (int i = 0; i < 9; i++) ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  const int64_t later = kT0 + 100 * kHour;
  EXPECT_EQ(b.Left(kTcp, later), 9u);
  for (int i = 0; i < 9; i++) EXPECT_TRUE(b.TryConsume(kTcp, later)) << i;
  EXPECT_FALSE(b.TryConsume(kTcp, later));
}

TEST(BudgetTest, TokenBucketUsedRoundsUpPartialTokens) {
  Budget b(BucketLimits());
  for (int i = 0; i < 3; i++) ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  EXPECT_EQ(b.Used(kTcp, kT0), 3u);
  EXPECT_EQ(b.Left(kTcp, kT0), 6u);
  // 200 s: half a token back; still 3 used (rounded up), 6 left.
  EXPECT_EQ(b.Used(kTcp, kT0 + 200 * kSec), 3u);
  EXPECT_EQ(b.Left(kTcp, kT0 + 200 * kSec), 6u);
  EXPECT_EQ(b.Used(kTcp, kT0 + 400 * kSec), 2u);
  EXPECT_EQ(b.Left(kTcp, kT0 + 400 * kSec), 7u);
  // Queries do not change the budget.
  EXPECT_EQ(b.Used(kTcp, kT0), 3u);
}

TEST(BudgetTest, TokenBucketFrequentCallsNeitherLoseNorInventRefill) {
  Budget b(BucketLimits());
  for (int i = 0; i < 9; i++) ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  // Denied attempts every 7.777777 ms (a step that does not divide 400 s), then
  // every 0.333333 ms: less than the 0.4 ms one micro-token takes at 9/hour.
  // Token k is due at exactly kT0 + k * 400 s whatever the calls in between.
  int64_t t = kT0;
  int64_t due = kT0;
  for (int64_t step : {int64_t(7'777'777), int64_t(333'333)}) {
    due += 400 * kSec;
    while (!b.TryConsume(kTcp, t)) {
      t += step;
      ASSERT_LT(t, due + kSec) << "refill lost by frequent calls, step " << step;
    }
    EXPECT_GE(t, due) << "token arrived early, step " << step;
    EXPECT_LT(t, due + 2 * step) << step;
  }
}

TEST(BudgetTest, SlidingClockSteppedBackHoldsBudgetOneWindowFromNow) {
  Budget b(SlidingLimits(2));
  ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  const int64_t back = kT0 - 24 * kHour;  // wall clock stepped back a day
  EXPECT_FALSE(b.TryConsume(kTcp, back));
  EXPECT_FALSE(b.TryConsume(kTcp, back + kHour - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, back + kHour));
}

TEST(BudgetTest, SlidingClockSteppedBackWithRoomLeft) {
  Budget b(SlidingLimits(3));
  ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  const int64_t back = kT0 - 24 * kHour;
  ASSERT_TRUE(b.TryConsume(kTcp, back));  // the start at kT0 now counts as made at `back`
  EXPECT_EQ(b.Used(kTcp, back), 2u);
  EXPECT_TRUE(b.TryConsume(kTcp, back + kSec));
  EXPECT_FALSE(b.TryConsume(kTcp, back + 2 * kSec));
  EXPECT_EQ(b.Used(kTcp, back + kHour - 1), 3u);
  EXPECT_EQ(b.Used(kTcp, back + kHour), 1u);
  EXPECT_TRUE(b.TryConsume(kTcp, back + kHour));
}

TEST(BudgetTest, SlidingUsedCountsExactlyTheStartsInTheWindow) {
  Budget b(SlidingLimits(1000));
  for (int i = 0; i < 1000; i++) ASSERT_TRUE(b.TryConsume(kTcp, kT0 + i * 3 * kSec));
  ASSERT_FALSE(b.TryConsume(kTcp, kT0 + 3000 * kSec));
  for (int64_t now : {kT0 + 2999 * kSec, kT0 + kHour - 1, kT0 + kHour, kT0 + kHour + 1,
                      kT0 + kHour + 1500 * kSec, kT0 + kHour + 2997 * kSec - 1,
                      kT0 + kHour + 2997 * kSec, kT0 + 5 * kHour}) {
    uint32_t want = 0;
    for (int i = 0; i < 1000; i++) want += (kT0 + i * 3 * kSec > now - kHour) ? 1 : 0;
    EXPECT_EQ(b.Used(kTcp, now), want) << (now - kT0);
    EXPECT_EQ(b.Left(kTcp, now), 1000 - want);
  }
}

TEST(BudgetTest, TokenBucketClockSteppedBackGivesNothingAndDoesNotStall) {
  Budget b(BucketLimits());
  for (int i = 0; i < 9; i++) ASSERT_TRUE(b.TryConsume(kTcp, kT0));
  const int64_t back = kT0 - 24 * kHour;
  EXPECT_FALSE(b.TryConsume(kTcp, back));
  EXPECT_FALSE(b.TryConsume(kTcp, back + 400 * kSec - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, back + 400 * kSec));
}

TEST(BudgetTest, SaveRestoreRoundTripSliding) {
  Budget a(SlidingLimits());
  for (int i = 0; i < 5; i++) ASSERT_TRUE(a.TryConsume(kTcp, kT0 + i * kSec));
  ASSERT_TRUE(a.TryConsume(kUdp, kT0));
  Budget::Saved s = a.Save();
  ASSERT_EQ(s.starts[size_t(kTcp)].size(), 5u);
  EXPECT_EQ(s.starts[size_t(kTcp)].front(), kT0);  // oldest first
  EXPECT_EQ(s.starts[size_t(kTcp)].back(), kT0 + 4 * kSec);

  Budget b(SlidingLimits());  // a restarted honeywall
  b.Restore(s, kT0 + 60 * kSec);
  EXPECT_EQ(b.Used(kTcp, kT0 + 60 * kSec), 5u);
  EXPECT_EQ(b.Used(kUdp, kT0 + 60 * kSec), 1u);
  for (int i = 0; i < 4; i++) EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 60 * kSec)) << i;
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 60 * kSec));
  // The restored oldest start frees its place exactly one window after it.
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + kHour - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + kHour));
}

TEST(BudgetTest, RestoreWithSmallerLimitKeepsTheNewestStarts) {
  Budget a(SlidingLimits(9));
  for (int i = 0; i < 9; i++) ASSERT_TRUE(a.TryConsume(kTcp, kT0 + i * 60 * kSec));
  Budget b(SlidingLimits(4));
  const int64_t now = kT0 + 10 * 60 * kSec;
  b.Restore(a.Save(), now);
  EXPECT_EQ(b.Used(kTcp, now), 4u);
  EXPECT_EQ(b.Left(kTcp, now), 0u);
  EXPECT_FALSE(b.TryConsume(kTcp, now));
  // Kept: the starts at 5..8 minutes. The oldest kept frees at 5 min + 1 h.
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 5 * 60 * kSec + kHour - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 5 * 60 * kSec + kHour));
  Budget::Saved s = b.Save();
  EXPECT_EQ(s.starts[size_t(kTcp)].size(), 4u);
}

TEST(BudgetTest, RestoreDropsStaleAndClampsFutureStarts) {
  Budget::Saved s;
  s.starts[size_t(kTcp)] = {kT0 - 2 * kHour, kT0 - kHour, kT0 - kHour + kSec, kT0 + 5 * kHour};
  Budget b(SlidingLimits());
  b.Restore(s, kT0);
  // -2h and exactly -1h are out of the window; -1h+1s is in; +5h counts as now.
  EXPECT_EQ(b.Used(kTcp, kT0), 2u);
  Budget::Saved back = b.Save();
  ASSERT_EQ(back.starts[size_t(kTcp)].size(), 2u);
  EXPECT_EQ(back.starts[size_t(kTcp)][0], kT0 - kHour + kSec);
  EXPECT_EQ(back.starts[size_t(kTcp)][1], kT0);
  EXPECT_EQ(b.Used(kTcp, kT0 + kHour - 1), 1u);
  EXPECT_EQ(b.Used(kTcp, kT0 + kHour), 0u);
}

TEST(BudgetTest, RestoreSortsUnorderedStarts) {
  Budget::Saved s;
  s.starts[size_t(kTcp)] = {kT0 - 10 * kSec, kT0 - 30 * kSec, kT0 - 20 * kSec};
  Budget b(SlidingLimits(2));
  b.Restore(s, kT0);
  EXPECT_EQ(b.Used(kTcp, kT0), 2u);  // the newest two: -20 s and -10 s
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 - 20 * kSec + kHour - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 - 20 * kSec + kHour));
}

TEST(BudgetTest, SaveRestoreRoundTripTokenBucket) {
  Budget a(BucketLimits());
  for (int i = 0; i < 9; i++) ASSERT_TRUE(a.TryConsume(kTcp, kT0));
  Budget b(BucketLimits());
  b.Restore(a.Save(), kT0 + 100 * kSec);
  EXPECT_EQ(b.Used(kTcp, kT0 + 100 * kSec), 9u);
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 100 * kSec));  // a restart does not refill
  EXPECT_FALSE(b.TryConsume(kTcp, kT0 + 400 * kSec - 1));
  EXPECT_TRUE(b.TryConsume(kTcp, kT0 + 400 * kSec));  // refill continues from the saved time
}

TEST(BudgetTest, RestoreClampsTokensToTheNewCapacity) {
  Limits big = BucketLimits(20);
  Budget a(big);  // full: 20 tokens
  Budget b(BucketLimits(9));
  b.Restore(a.Save(), kT0);
  EXPECT_EQ(b.Left(kTcp, kT0), 9u);
  for (int i = 0; i < 9; i++) EXPECT_TRUE(b.TryConsume(kTcp, kT0)) << i;
  EXPECT_FALSE(b.TryConsume(kTcp, kT0));

  Budget::Saved bogus;
  bogus.tokens_micro = {-5, -5, -5, -5};
  bogus.refill_ns = {kT0 + 10 * kHour, kT0, kT0, kT0};  // refill time in the future
  Budget c(BucketLimits(9));
  c.Restore(bogus, kT0);
  EXPECT_EQ(c.Left(kTcp, kT0), 0u);
  EXPECT_TRUE(c.TryConsume(kTcp, kT0 + 400 * kSec));  // refills from now, not from the future
}

TEST(BudgetTest, SpentBudgetSurvivesAChangeOfWindowKind) {
  Budget sliding(SlidingLimits());
  for (int i = 0; i < 9; i++) ASSERT_TRUE(sliding.TryConsume(kTcp, kT0));
  Budget bucket(BucketLimits());
  bucket.Restore(sliding.Save(), kT0 + kSec);
  EXPECT_FALSE(bucket.TryConsume(kTcp, kT0 + kSec));

  Budget bucket2(BucketLimits());
  for (int i = 0; i < 9; i++) ASSERT_TRUE(bucket2.TryConsume(kTcp, kT0));
  Budget sliding2(SlidingLimits());
  sliding2.Restore(bucket2.Save(), kT0 + kSec);
  EXPECT_EQ(sliding2.Used(kTcp, kT0 + kSec), 9u);
  EXPECT_FALSE(sliding2.TryConsume(kTcp, kT0 + kSec));
  EXPECT_TRUE(sliding2.TryConsume(kTcp, kT0 + kHour));
}

}  // namespace
}  // namespace hn
