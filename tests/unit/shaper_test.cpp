// Shaper and TokenBucket: the default burst, deficit mode (a frame over the
// burst passes, the rate stays exact), the long-run rate and the delay bound
// under overload, FIFO order (no overtaking, frames whole across the ring's
// wrap), a refused send keeping head and tokens, the shared aggregate
// ceiling, ReadyAt/NextReleaseAt to the nanosecond, and integer precision
// from 8 kbit/s to 100 Gbit/s (no drift, no overflow).
#include "actions/shaper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <vector>

namespace hn {
namespace {

constexpr int64_t kUs = 1'000;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSec;
constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();
// A monotonic-clock-like origin, so nothing relies on times near 0.
constexpr int64_t kT0 = 123'456 * kSec + 789;
constexpr uint32_t kL2 = 14;  // frame bytes = cost (IP total length) + Ethernet header

ShapedMeta MetaOf(uint32_t cost, uint8_t port = 1) {
  ShapedMeta m;
  m.port = port;
  m.cost = cost;
  return m;
}

// A frame of `len` bytes carrying `seq` at offset 14 and a pattern after it.
std::vector<uint8_t> FrameOf(uint32_t seq, uint32_t len) {
  std::vector<uint8_t> f(len);
  for (uint32_t i = 0; i < len; i++) f[i] = uint8_t(seq * 7 + i);
  if (len >= kL2 + 4) std::memcpy(f.data() + kL2, &seq, 4);
  return f;
}

uint32_t SeqOf(const uint8_t* data) {
  uint32_t seq;
  std::memcpy(&seq, data + kL2, 4);
  return seq;
}

// ---- Simulation: steady offered load, released as the engine would (a timer at NextReleaseAt) ----

struct Stream {
  Shaper* shaper;
  int64_t first_arrival;  // arrivals at first_arrival + seq * gap
  std::vector<uint32_t> sent;  // seqs in the order they went out (at once or released)
  uint64_t sent_bytes = 0;     // cost bytes out
  uint64_t offered = 0, dropped = 0;
  int64_t max_delay = 0;       // arrival -> transmit, measured here
};

// Offers frames of `cost` (+ L2) bytes every `gap` ns on each stream from its
// first_arrival to `end`, and releases each shaper whenever it says so.
void Drive(std::vector<Stream>& streams, int64_t end, int64_t gap, uint32_t cost) {
  const uint32_t len = cost + kL2;
  std::vector<uint8_t> buf(len);
  int64_t now = kMaxTime;
  for (auto& s : streams) now = std::min(now, s.first_arrival);
  std::vector<int64_t> next_arrival;
  for (auto& s : streams) next_arrival.push_back(s.first_arrival);
  uint64_t guard = 0;
  while (now < end) {
    ASSERT_LT(++guard, 50'000'000u) << "no progress";
    for (size_t i = 0; i < streams.size(); i++) {
      Stream& s = streams[i];
      s.shaper->Release(now, [&](const uint8_t* d, uint32_t l, const ShapedMeta& m) {
        EXPECT_EQ(l, len);
        EXPECT_EQ(m.cost, cost);
        const uint32_t seq = SeqOf(d);
        s.sent.push_back(seq);
        s.sent_bytes += m.cost;
        s.max_delay = std::max(s.max_delay, now - (s.first_arrival + int64_t(seq) * gap));
        return true;
      });
      if (next_arrival[i] == now) {
        const uint32_t seq = uint32_t(s.offered++);
        std::memcpy(buf.data() + kL2, &seq, 4);
        switch (s.shaper->Offer(buf.data(), len, MetaOf(cost), now)) {
          case ShapeVerdict::kSendNow:
            s.sent.push_back(seq);
            s.sent_bytes += cost;
            break;
          case ShapeVerdict::kQueued: break;
          case ShapeVerdict::kDropped: s.dropped++; break;
        }
        next_arrival[i] += gap;
      }
    }
    int64_t next = kMaxTime;
    for (size_t i = 0; i < streams.size(); i++) {
      const int64_t r = streams[i].shaper->NextReleaseAt(now);
      ASSERT_GT(r, now) << "a shaper could release but Release() did not";
      next = std::min({next, next_arrival[i], r});
    }
    now = next;
  }
}

void ExpectIncreasing(const std::vector<uint32_t>& seqs) {
  for (size_t i = 1; i < seqs.size(); i++) ASSERT_LT(seqs[i - 1], seqs[i]) << "at " << i;
}

// ---- Default burst ----

TEST(ShaperBurst, DefaultIsTenFramesOrHundredMillisecondsOfRate) {
  EXPECT_EQ(DefaultBurstBytes(8'000'000), 100'000u);  // 100 ms of 1 MB/s
  EXPECT_EQ(DefaultBurstBytes(1'000'000), 15'000u);   // 12,500 < 10 x 1500
  EXPECT_EQ(DefaultBurstBytes(1'200'000), 15'000u);   // exactly the edge
  EXPECT_EQ(DefaultBurstBytes(1'200'080), 15'001u);
  EXPECT_EQ(DefaultBurstBytes(0), 15'000u);
  EXPECT_EQ(Shaper(8'000'000).burst(), 100'000u);
  EXPECT_EQ(Shaper(1'000'000).burst(), 15'000u);
  EXPECT_EQ(Shaper(1'000'000, 64'000).burst(), 64'000u);
  EXPECT_EQ(Shaper(8'000'000).rate(), 8'000'000u);
}

TEST(ShaperBurst, QueueLimitIsTheDelayBoundButAnEmptyQueueTakesAMaximalFrame) {
  const Shaper a(8'000'000);  // 50 ms of 1 MB/s
  EXPECT_EQ(a.queue_limit_bytes(), 50'000u);
  EXPECT_GE(a.ring_bytes(), 2u * 65'614);  // room for two maximal frames all the same
  const Shaper b(100'000'000);  // 50 ms of 12.5 MB/s
  EXPECT_EQ(b.queue_limit_bytes(), 625'000u);
  EXPECT_GE(b.ring_bytes(), 625'000u);
  const Shaper c(8'000'000, 0, 200 * kMs, nullptr, 1514);
  EXPECT_EQ(c.queue_limit_bytes(), 200'000u);
  EXPECT_EQ(c.max_frame(), 1514u);

  // 1 Mbit/s: 6,250 bytes of queue, yet one maximal frame is taken when the queue is empty.
  Shaper d(1'000'000);
  EXPECT_EQ(d.queue_limit_bytes(), 6'250u);
  const auto small = FrameOf(0, 1514);
  for (int i = 0; i < 11; i++) ASSERT_EQ(d.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kSendNow);
  const auto big = FrameOf(1, kShaperDefaultMaxFrame);
  EXPECT_EQ(d.Offer(big.data(), kShaperDefaultMaxFrame, MetaOf(65'535), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(d.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kDropped);  // over 6,250 now
  const auto over = FrameOf(2, kShaperDefaultMaxFrame + 1);
  Shaper e(1'000'000);
  for (int i = 0; i < 11; i++) ASSERT_EQ(e.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kSendNow);
  EXPECT_EQ(e.Offer(over.data(), uint32_t(over.size()), MetaOf(1500), kT0), ShapeVerdict::kDropped);
  EXPECT_EQ(e.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(e.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(e.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(e.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);  // 6,000
  EXPECT_EQ(e.Offer(small.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kDropped);
}

// ---- Burst, then queue, then drop ----

TEST(ShaperTest, BurstGoesAtOnceThenFramesQueueThenDrop) {
  Shaper s(8'000'000);  // burst 100,000 bytes, queue limit 50,000 cost bytes
  const auto f = FrameOf(0, 1000 + kL2);
  int now_count = 0;
  while (s.Offer(f.data(), uint32_t(f.size()), MetaOf(1000), kT0) == ShapeVerdict::kSendNow) now_count++;
  // Deficit mode: 100 frames spend the burst to 0; the 101st still goes (0 is not negative).
  EXPECT_EQ(now_count, 101);
  EXPECT_EQ(s.bucket().tokens(), -1000);
  EXPECT_EQ(s.queue_frames(), 1u);  // the frame that stopped the loop
  int queued = 1;
  ShapeVerdict v;
  while ((v = s.Offer(f.data(), uint32_t(f.size()), MetaOf(1000), kT0)) == ShapeVerdict::kQueued) queued++;
  EXPECT_EQ(v, ShapeVerdict::kDropped);
  EXPECT_EQ(queued, 50);  // 50,000 <= 50,000 < 51,000
  const ShaperStats st = s.Stats();
  EXPECT_EQ(st.sent_now_frames, 101u);
  EXPECT_EQ(st.sent_now_bytes, 101'000u);
  EXPECT_EQ(st.queued_frames, 50u);
  EXPECT_EQ(st.queued_bytes, 50'000u);
  EXPECT_EQ(st.queue_frames, 50u);
  EXPECT_EQ(st.queue_bytes, 50'000u);
  EXPECT_EQ(st.dropped_frames, 1u);
  EXPECT_EQ(st.dropped_bytes, 1000u);
  EXPECT_EQ(st.released_frames, 0u);
  // Nothing goes before the debt is paid: 1000 bytes at 1 MB/s = 1 ms.
  EXPECT_EQ(s.NextReleaseAt(kT0), kT0 + 1 * kMs);
  auto send = [](const uint8_t*, uint32_t, const ShapedMeta&) { return true; };
  EXPECT_EQ(s.Release(kT0 + 1 * kMs - 1, send), 0u);
  EXPECT_EQ(s.Release(kT0 + 1 * kMs, send), 1u);
  EXPECT_EQ(s.Release(kT0 + 11 * kMs, send), 10u);
  EXPECT_EQ(s.released_frames(), 11u);
  EXPECT_EQ(s.released_bytes(), 11'000u);
  EXPECT_EQ(s.max_queue_delay_ns(), 11 * kMs);
  EXPECT_EQ(s.queue_frames(), 39u);
}

TEST(ShaperTest, FrameOverMaxFrameIsDroppedWhenItWouldQueue) {
  Shaper s(8'000'000, 15'000, 50 * kMs, nullptr, 1514);
  const auto big = FrameOf(0, 9014);
  // May go at once: nothing is copied, so max_frame does not matter.
  EXPECT_EQ(s.Offer(big.data(), 9014, MetaOf(9000), kT0), ShapeVerdict::kSendNow);  // 6,000 left
  EXPECT_EQ(s.Offer(big.data(), 9014, MetaOf(9000), kT0), ShapeVerdict::kSendNow);  // -3,000
  // Must wait, but is larger than max_frame: dropped, though the delay bound would take it.
  EXPECT_EQ(s.Offer(big.data(), 9014, MetaOf(9000), kT0), ShapeVerdict::kDropped);
  EXPECT_TRUE(s.queue_empty());
  const auto ok = FrameOf(1, 1514);
  EXPECT_EQ(s.Offer(ok.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(s.dropped_frames(), 1u);
}

// ---- Long-run rate and delay bound under overload ----

TEST(ShaperTest, OverloadAtTwentyMbitGivesEightMbitAndBoundedDelay) {
  Shaper s(8'000'000);  // burst 100,000; 50 ms
  std::vector<Stream> st{{&s, kT0}};
  const int64_t dur = 10 * kSec;
  const int64_t gap = 1500 * 8 * kSec / 20'000'000;  // 600 us: 20 Mbit/s of 1500-byte packets
  Drive(st, kT0 + dur, gap, 1500);
  const Stream& r = st[0];
  EXPECT_EQ(r.sent_bytes, s.sent_now_bytes() + s.released_bytes());
  // Long run: burst + rate x time, within one frame.
  const double expect = 8e6 / 8 * 10 + 100'000;
  EXPECT_NEAR(double(r.sent_bytes), expect, 1500.0);
  const double rate_bps = double(r.sent_bytes - 100'000) * 8 / 10;
  EXPECT_NEAR(rate_bps, 8e6, 8e6 * 0.01);
  // Drops counted: offered = sent + dropped + still queued.
  EXPECT_EQ(r.offered, r.sent.size() + r.dropped + s.queue_frames());
  EXPECT_EQ(r.dropped, s.dropped_frames());
  EXPECT_GT(r.dropped, 9'000u);  // ~16,700 offered, ~6,750 sent
  // The delay bound: 50 ms (+ one frame time, 1.5 ms).
  EXPECT_GT(r.max_delay, 40 * kMs);  // the queue did fill
  EXPECT_LE(r.max_delay, 50 * kMs + 1500 * kUs);
  EXPECT_EQ(s.max_queue_delay_ns(), r.max_delay);
  ExpectIncreasing(r.sent);

  // 1 Mbit/s, where max_delay of rate (6,250 bytes) is less than a maximal frame.
  Shaper s1(1'000'000);  // burst 15,000
  std::vector<Stream> st1{{&s1, kT0}};
  Drive(st1, kT0 + dur, gap, 1500);
  EXPECT_NEAR(double(st1[0].sent_bytes), 1e6 / 8 * 10 + 15'000, 1500.0);
  EXPECT_GT(st1[0].max_delay, 40 * kMs);
  EXPECT_LE(st1[0].max_delay, 50 * kMs + 12 * kMs);  // + 1,500 bytes at 125 bytes/ms
  ExpectIncreasing(st1[0].sent);
}

TEST(ShaperTest, FrameOverTheBurstPassesAndTheRateStaysRight) {
  Shaper s(8'000'000, 15'000);
  const uint32_t cost = 65'535;
  const auto f = FrameOf(0, cost + kL2);
  EXPECT_EQ(s.Offer(f.data(), uint32_t(f.size()), MetaOf(cost), kT0), ShapeVerdict::kSendNow);
  EXPECT_EQ(s.bucket().tokens(), 15'000 - 65'535);
  // The queue holds one maximal frame even though 50 ms of rate is less.
  EXPECT_EQ(s.Offer(f.data(), uint32_t(f.size()), MetaOf(cost), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(s.Offer(f.data(), uint32_t(f.size()), MetaOf(cost), kT0), ShapeVerdict::kDropped);
  // The debt, 50,535 bytes at 1 MB/s, is paid at 50.535 ms.
  EXPECT_EQ(s.NextReleaseAt(kT0), kT0 + 50'535'000);
  auto send = [](const uint8_t*, uint32_t, const ShapedMeta&) { return true; };
  EXPECT_EQ(s.Release(kT0 + 50'535'000 - 1, send), 0u);
  EXPECT_EQ(s.Release(kT0 + 50'535'000, send), 1u);

  // The long run with 64 KiB frames only, offered at 20 Mbit/s.
  Shaper s2(8'000'000, 15'000);
  std::vector<Stream> st{{&s2, kT0}};
  const int64_t gap = int64_t(cost) * 8 * kSec / 20'000'000;
  Drive(st, kT0 + 10 * kSec, gap, cost);
  EXPECT_NEAR(double(st[0].sent_bytes), 8e6 / 8 * 10 + 15'000, double(cost));
  EXPECT_NEAR(double(st[0].sent_bytes - 15'000) * 8 / 10, 8e6, 8e6 * 0.01);
  ExpectIncreasing(st[0].sent);
}

// ---- FIFO order ----

TEST(ShaperTest, NoFrameOvertakesQueuedOnes) {
  Shaper s(8'000'000, 15'000);
  std::vector<uint32_t> out;
  auto send = [&](const uint8_t* d, uint32_t, const ShapedMeta&) {
    out.push_back(SeqOf(d));
    return true;
  };
  uint32_t seq = 0;
  auto offer = [&](int64_t now) {
    const auto f = FrameOf(seq, 1500 + kL2);
    const ShapeVerdict v = s.Offer(f.data(), uint32_t(f.size()), MetaOf(1500), now);
    if (v == ShapeVerdict::kSendNow) out.push_back(seq);
    seq++;
    return v;
  };
  for (int i = 0; i < 11; i++) EXPECT_EQ(offer(kT0), ShapeVerdict::kSendNow) << i;  // 15,000 -> -1,500
  EXPECT_EQ(offer(kT0), ShapeVerdict::kQueued);  // 11
  EXPECT_EQ(offer(kT0), ShapeVerdict::kQueued);  // 12
  // 100 ms later the bucket is full again, but frames are waiting: a new one queues behind them.
  const int64_t t1 = kT0 + 100 * kMs;
  EXPECT_EQ(s.NextReleaseAt(t1), t1);
  EXPECT_EQ(offer(t1), ShapeVerdict::kQueued);  // 13
  EXPECT_EQ(s.Release(t1, send), 3u);
  EXPECT_TRUE(s.queue_empty());
  EXPECT_EQ(offer(t1), ShapeVerdict::kSendNow);  // 14: the queue is empty again
  const std::vector<uint32_t> want{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  EXPECT_EQ(out, want);
}

TEST(ShaperTest, FramesComeOutWholeAndInOrderAcrossTheRingWrap) {
  // 8 kbit/s = 1 byte per ms, burst 0: a frame of cost 1 goes each ms. Costs of
  // 1 keep the delay bound out of the way: the ring's bytes limit the queue.
  Shaper z(8'000, 1, 50 * kMs, nullptr, 2000);  // a burst of 1 byte (0 would mean the default)
  const size_t ring = z.ring_bytes();
  ASSERT_LT(ring, 16'384u);
  std::deque<std::vector<uint8_t>> want;  // frames queued, oldest first
  uint32_t seq = 0, last_out = 0;
  uint64_t immediate = 0, dropped = 0, released = 0;
  bool any_out = false;
  auto note_out = [&](uint32_t q) {
    if (any_out) {
      EXPECT_LT(last_out, q);
    }
    any_out = true;
    last_out = q;
  };
  int64_t now = kT0;
  for (int step = 0; step < 20'000; step++, now += kMs) {
    released += z.Release(now, [&](const uint8_t* d, uint32_t len, const ShapedMeta& m) {
      EXPECT_FALSE(want.empty());
      if (want.empty()) return true;
      EXPECT_EQ(std::vector<uint8_t>(d, d + len), want.front()) << "seq " << SeqOf(d);
      EXPECT_EQ(m.port, uint8_t(SeqOf(d) & 3));
      EXPECT_EQ(m.gso_size, uint16_t(SeqOf(d)));
      note_out(SeqOf(d));
      want.pop_front();
      return true;
    });
    // Phases: fill (3 frames per ms, 1 goes out) and drain (none).
    const int n = (step / 500) % 2 == 0 ? 3 : 0;
    for (int k = 0; k < n; k++) {
      const uint32_t len = 60 + (seq * 397) % 1941;  // 60..2000, not dividing the ring
      auto f = FrameOf(seq, len);
      ShapedMeta m = MetaOf(1, uint8_t(seq & 3));
      m.gso_size = uint16_t(seq);
      switch (z.Offer(f.data(), len, m, now)) {
        case ShapeVerdict::kSendNow: note_out(seq); immediate++; break;
        case ShapeVerdict::kQueued: want.push_back(std::move(f)); break;
        case ShapeVerdict::kDropped: dropped++; break;
      }
      seq++;
    }
    ASSERT_EQ(z.queue_frames(), want.size());
  }
  EXPECT_GT(dropped, 1000u);    // the ring did fill
  EXPECT_GT(released, 4000u);   // many times its size went through it
  EXPECT_GT(immediate, 0u);     // and it emptied between phases
  EXPECT_EQ(z.dropped_frames(), dropped);
  EXPECT_EQ(z.released_frames(), released);
  EXPECT_EQ(z.sent_now_frames(), immediate);
}

// ---- A refused send ----

TEST(ShaperTest, RefusedSendKeepsTheHeadAndItsTokens) {
  Shaper s(8'000'000, 15'000);
  const auto f = FrameOf(0, 1500 + kL2);
  for (int i = 0; i < 11; i++) ASSERT_EQ(s.Offer(f.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kSendNow);
  const auto g1 = FrameOf(100, 1514), g2 = FrameOf(101, 1514);
  ASSERT_EQ(s.Offer(g1.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  ASSERT_EQ(s.Offer(g2.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  const int64_t t1 = kT0 + 1500 * kUs;  // debt of 1,500 bytes paid
  ASSERT_EQ(s.NextReleaseAt(kT0), t1);
  int calls = 0;
  EXPECT_EQ(s.Release(t1, [&](const uint8_t* d, uint32_t, const ShapedMeta&) {
              calls++;
              EXPECT_EQ(SeqOf(d), 100u);
              return false;
            }),
            0u);
  EXPECT_EQ(calls, 1);  // stopped at the first refusal
  EXPECT_EQ(s.queue_frames(), 2u);
  EXPECT_EQ(s.bucket().tokens(), 0);  // refilled, nothing taken
  EXPECT_EQ(s.NextReleaseAt(t1), t1);  // may go again at once
  EXPECT_EQ(s.released_frames(), 0u);
  std::vector<uint32_t> out;
  EXPECT_EQ(s.Release(t1, [&](const uint8_t* d, uint32_t, const ShapedMeta&) {
              out.push_back(SeqOf(d));
              return true;
            }),
            1u);
  EXPECT_EQ(out, std::vector<uint32_t>{100});
  EXPECT_EQ(s.bucket().tokens(), -1500);
  EXPECT_EQ(s.NextReleaseAt(t1), t1 + 1500 * kUs);
}

// ---- Aggregate ceiling ----

TEST(ShaperTest, AggregateBucketCapsTheSumOfTwoShapers) {
  TokenBucket total(10'000'000, DefaultBurstBytes(10'000'000));  // 125,000 bytes
  Shaper a(8'000'000, 0, 50 * kMs, &total);
  Shaper b(8'000'000, 0, 50 * kMs, &total);
  const int64_t gap = 1500 * 8 * kSec / 20'000'000;
  std::vector<Stream> st{{&a, kT0}, {&b, kT0 + gap / 2}};
  const int64_t dur = 10 * kSec;
  Drive(st, kT0 + dur, gap, 1500);
  const uint64_t sum = st[0].sent_bytes + st[1].sent_bytes;
  // The sum is what the aggregate allows: its burst + 10 Mbit/s, within a frame or two.
  EXPECT_NEAR(double(sum), 10e6 / 8 * 10 + 125'000, 3000.0);
  EXPECT_NEAR(double(sum - 125'000) * 8 / 10, 10e6, 10e6 * 0.01);
  // Neither exceeds its own rate.
  EXPECT_LE(st[0].sent_bytes, 8e6 / 8 * 10 + 100'000 + 1500);
  EXPECT_LE(st[1].sent_bytes, 8e6 / 8 * 10 + 100'000 + 1500);
  EXPECT_GT(st[1].sent_bytes, 1'000'000u);  // b is not starved
  ExpectIncreasing(st[0].sent);
  ExpectIncreasing(st[1].sent);
}

TEST(ShaperTest, AggregateDebtHoldsTheHeadUntilTheAggregateIsReady) {
  TokenBucket total(8'000'000, 3'000);
  Shaper s(8'000'000, 15'000, 50 * kMs, &total);
  const auto f = FrameOf(0, 1514);
  for (int i = 0; i < 3; i++) ASSERT_EQ(s.Offer(f.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kSendNow);
  EXPECT_EQ(total.tokens(), -1500);
  EXPECT_EQ(s.bucket().tokens(), 10'500);
  EXPECT_EQ(s.Offer(f.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(s.bucket().ReadyAt(kT0), kT0);
  EXPECT_EQ(s.NextReleaseAt(kT0), kT0 + 1500 * kUs);  // the aggregate's time, not the own one
  auto send = [](const uint8_t*, uint32_t, const ShapedMeta&) { return true; };
  EXPECT_EQ(s.Release(kT0 + 1500 * kUs - 1, send), 0u);
  EXPECT_EQ(s.bucket().tokens(), 11'999);  // refilled (1 byte per us), nothing taken
  EXPECT_EQ(total.tokens(), -1);
  EXPECT_EQ(s.Release(kT0 + 1500 * kUs, send), 1u);
  EXPECT_EQ(total.tokens(), -1500);
  EXPECT_EQ(s.bucket().tokens(), 10'500);
  EXPECT_EQ(s.NextReleaseAt(kT0 + 1500 * kUs), kMaxTime);  // empty
}

// ---- ReadyAt / NextReleaseAt ----

TEST(ShaperTokenBucket, ReadyAtIsTheFirstNanosecondWithoutDebt) {
  TokenBucket b(8'000, 100);  // 1 byte per ms
  EXPECT_EQ(b.ReadyAt(kT0), kT0);  // full
  ASSERT_TRUE(b.CanSend(kT0));
  b.Take(350);
  EXPECT_EQ(b.tokens(), -250);
  EXPECT_EQ(b.ReadyAt(kT0), kT0 + 250 * kMs);
  EXPECT_EQ(b.ReadyAt(kT0 + 100 * kMs), kT0 + 250 * kMs);
  EXPECT_EQ(b.TokensAt(kT0 + 100 * kMs), -150);
  EXPECT_FALSE(b.CanSend(kT0 + 250 * kMs - 1));
  EXPECT_EQ(b.tokens(), -1);
  EXPECT_TRUE(b.CanSend(kT0 + 250 * kMs));
  EXPECT_EQ(b.tokens(), 0);
  EXPECT_EQ(b.ReadyAt(kT0 + 250 * kMs), kT0 + 250 * kMs);
  // A time before the last refill: the answer is still the true time.
  b.Take(2);
  EXPECT_EQ(b.ReadyAt(kT0), kT0 + 252 * kMs);
  EXPECT_FALSE(b.CanSend(kT0));  // backwards: adds nothing
  EXPECT_EQ(b.tokens(), -2);
  // Full again after the burst's time, and no more.
  EXPECT_EQ(b.TokensAt(kT0 + 10 * kSec), 100);
}

TEST(ShaperTokenBucket, ReadyAtRoundsUpOddRates) {
  TokenBucket b(3, 0);  // 3 bits/s: a byte takes 8/3 s
  ASSERT_TRUE(b.CanSend(kT0));
  b.Take(1);
  const int64_t at = b.ReadyAt(kT0);
  EXPECT_EQ(at, kT0 + 2'666'666'667);
  EXPECT_FALSE(b.CanSend(at - 1));
  EXPECT_TRUE(b.CanSend(at));
  b.Take(1);  // the bucket was full (burst 0): no remainder is kept
  EXPECT_EQ(b.ReadyAt(at), kT0 + 5'333'333'334);

  TokenBucket never(0, 10);
  ASSERT_TRUE(never.CanSend(kT0));
  never.Take(11);
  EXPECT_EQ(never.ReadyAt(kT0), kMaxTime);
  EXPECT_FALSE(never.CanSend(kT0 + kHour));
}

TEST(ShaperTokenBucket, TakeBeforeTheFirstRefillIsNotGivenBack) {
  TokenBucket b(8'000, 1'000);
  b.Take(1'500);  // no time yet
  EXPECT_FALSE(b.CanSend(kT0));  // the first refill only sets the time
  EXPECT_EQ(b.tokens(), -500);
  EXPECT_EQ(b.ReadyAt(kT0), kT0 + 500 * kMs);
}

TEST(ShaperTest, NextReleaseAtFollowsTheHeadAndTheDebt) {
  Shaper s(1'000'000, 15'000);  // 125 bytes per ms
  EXPECT_EQ(s.NextReleaseAt(kT0), kMaxTime);
  const auto f = FrameOf(0, 1514);
  for (int i = 0; i < 11; i++) ASSERT_EQ(s.Offer(f.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kSendNow);
  EXPECT_EQ(s.NextReleaseAt(kT0), kMaxTime);  // in debt, but nothing waits
  ASSERT_EQ(s.Offer(f.data(), 1514, MetaOf(1500), kT0), ShapeVerdict::kQueued);
  EXPECT_EQ(s.NextReleaseAt(kT0), kT0 + 12 * kMs);  // 1,500 bytes of debt
  EXPECT_EQ(s.NextReleaseAt(kT0 + 5 * kMs), kT0 + 12 * kMs);
  EXPECT_EQ(s.NextReleaseAt(kT0 + 20 * kMs), kT0 + 20 * kMs);  // overdue: now
  auto send = [](const uint8_t*, uint32_t, const ShapedMeta&) { return true; };
  EXPECT_EQ(s.Release(s.NextReleaseAt(kT0), send), 1u);
  EXPECT_EQ(s.max_queue_delay_ns(), 12 * kMs);
}

// ---- Precision ----

TEST(ShaperPrecision, NoDriftAtEightKbitInOddSteps) {
  TokenBucket b(8'000, uint64_t(1) << 40);
  ASSERT_TRUE(b.CanSend(kT0));
  b.Take(uint64_t(1) << 40);
  ASSERT_EQ(b.tokens(), 0);
  // Steps just under a byte's time: every step leaves a remainder.
  const int64_t step = 999'983;
  int64_t now = kT0;
  while (now + step <= kT0 + kHour) {
    now += step;
    b.Refill(now);
  }
  // Exactly floor(rate x elapsed / 8e9): nothing lost to rounding.
  EXPECT_EQ(b.tokens(), int64_t((now - kT0) / kMs));
  EXPECT_EQ(b.tokens(), 3'599'999);
}

TEST(ShaperPrecision, EightKbitOverAnHourInLargeSteps) {
  // Burst 15,000 (the default): more than a step earns, so no token overflows
  // the bucket between two Release() calls (as with tc, a bucket full for a
  // while earns nothing more).
  Shaper s(8'000);  // 1,000 bytes/s
  const auto f = FrameOf(0, 100 + kL2);
  uint64_t out = 0;
  auto send = [&](const uint8_t*, uint32_t, const ShapedMeta& m) {
    out += m.cost;
    return true;
  };
  const int64_t step = 7 * kSec + 7;  // 7 s: 7,000 bytes earned, 9,000 offered
  int64_t now = kT0;
  for (; now <= kT0 + kHour; now += step) {
    s.Release(now, send);
    for (int i = 0; i < 90; i++) {
      if (s.Offer(f.data(), uint32_t(f.size()), MetaOf(100), now) == ShapeVerdict::kSendNow) out += 100;
    }
  }
  const double elapsed_s = double(now - step - kT0) / kSec;
  const double rate_bps = double(out - 15'000) * 8 / elapsed_s;
  EXPECT_NEAR(rate_bps, 8'000, 8'000 * 0.001);
  EXPECT_NEAR(double(out), 1'000 * elapsed_s + 15'000, 100.0);
  EXPECT_GT(s.dropped_frames(), 0u);

  // The same hour released on time (a timer at NextReleaseAt), 20 kbit/s offered.
  Shaper t(8'000, 1'500);
  std::vector<Stream> st{{&t, kT0}};
  Drive(st, kT0 + kHour, 40 * kMs, 100);
  EXPECT_NEAR(double(st[0].sent_bytes - 1'500) * 8 / 3600, 8'000, 8'000 * 0.001);
  EXPECT_NEAR(double(st[0].sent_bytes), 3'600'000 + 1'500, 100.0);
  EXPECT_LE(st[0].max_delay, 50 * kMs + 100 * kMs);  // queue limit 50 bytes: one 100-byte frame
  ExpectIncreasing(st[0].sent);
}

TEST(ShaperPrecision, NoDriftAtHundredGbit) {
  const uint64_t rate = 100'000'000'000ULL;  // 12.5 bytes per ns
  TokenBucket b(rate, uint64_t(1) << 60);
  ASSERT_TRUE(b.CanSend(kT0));
  b.Take(uint64_t(1) << 60);
  const int64_t step = 1'000'003;
  int64_t now = kT0;
  while (now + step <= kT0 + kHour) {
    now += step;
    b.Refill(now);
  }
  const __int128 want = __int128(now - kT0) * rate / 8'000'000'000LL;
  EXPECT_EQ(b.tokens(), int64_t(want));
  EXPECT_GT(b.tokens(), 44'999'000'000'000);  // ~4.5e13 bytes in an hour
  // Odd 1 ns steps keep the half byte.
  TokenBucket c(rate, 1'000);
  ASSERT_TRUE(c.CanSend(kT0));
  c.Take(1'000);
  for (int i = 1; i <= 7; i++) c.Refill(kT0 + i);
  EXPECT_EQ(c.tokens(), 87);  // 7 x 12.5 = 87.5
  c.Refill(kT0 + 8);
  EXPECT_EQ(c.tokens(), 100);
}

TEST(ShaperPrecision, HundredGbitShaperKeepsTheRate) {
  const uint64_t rate = 100'000'000'000ULL;
  Shaper s(rate, 100'000, 1 * kMs);  // 1 ms: 12.5 MB of queue
  EXPECT_EQ(s.queue_limit_bytes(), 12'500'000u);
  std::vector<Stream> st{{&s, kT0}};
  const uint32_t cost = 65'535;
  const int64_t gap = int64_t(cost) * 8 * kSec / 200'000'000'000LL;  // 200 Gbit/s offered
  const int64_t dur = 20 * kMs;
  Drive(st, kT0 + dur, gap, cost);
  const double want = 12.5 * double(dur) + 100'000;  // bytes
  EXPECT_NEAR(double(st[0].sent_bytes), want, 2.0 * cost);
  EXPECT_NEAR(double(st[0].sent_bytes - 100'000) / (12.5 * double(dur)), 1.0, 0.01);
  EXPECT_LE(st[0].max_delay, 1 * kMs + 6 * kUs);  // + one 64 KiB frame at 12.5 B/ns
  EXPECT_GT(s.dropped_frames(), 0u);
  ExpectIncreasing(st[0].sent);
}

TEST(ShaperPrecision, ExtremeTimesAndRatesDoNotOverflow) {
  TokenBucket b(100'000'000'000ULL, 1'000);
  ASSERT_TRUE(b.CanSend(-5'000'000'000'000'000'000LL));
  b.Take(1'000'000);
  EXPECT_EQ(b.tokens(), -999'000);
  EXPECT_EQ(b.ReadyAt(-5'000'000'000'000'000'000LL), -5'000'000'000'000'000'000LL + 79'920);
  EXPECT_TRUE(b.CanSend(kMaxTime));  // a jump of 1.4e19 ns
  EXPECT_EQ(b.tokens(), 1'000);

  TokenBucket huge(std::numeric_limits<uint64_t>::max(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(huge.burst(), uint64_t(TokenBucket::kMaxBytes));
  ASSERT_TRUE(huge.CanSend(0));
  huge.Take(std::numeric_limits<uint64_t>::max());
  huge.Take(std::numeric_limits<uint64_t>::max());
  huge.Take(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(huge.tokens(), -2 * TokenBucket::kMaxBytes);  // the debt is bounded
  EXPECT_GT(huge.ReadyAt(0), 0);
  EXPECT_TRUE(huge.CanSend(kMaxTime));
  EXPECT_EQ(huge.tokens(), TokenBucket::kMaxBytes);

  TokenBucket slow(1, 0);  // 1 bit/s with 2.3e18 bytes of debt: ready "never"
  ASSERT_TRUE(slow.CanSend(kT0));
  slow.Take(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(slow.ReadyAt(kT0), kMaxTime);
}

}  // namespace
}  // namespace hn
