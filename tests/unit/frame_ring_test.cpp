// FrameRing: the forwarder -> capture hand-over. Frames come out whole, in
// order, across the wrap; a full ring refuses and counts; and a producer and a
// consumer thread together lose nothing that was accepted.
#include "capture/frame_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace hn {
namespace {

std::vector<uint8_t> FrameOf(uint32_t n, uint32_t len) {
  std::vector<uint8_t> f(len);
  for (uint32_t i = 0; i < len; i++) f[i] = uint8_t(n * 31 + i);
  return f;
}

TEST(FrameRingTest, FramesComeOutWholeAndInOrderAcrossTheWrap) {
  FrameRing r(64 * 1024);
  uint32_t pushed = 0, popped = 0;
  // Sizes that do not divide the ring: the wrap marker gets used many times.
  for (int round = 0; round < 2000; round++) {
    for (int k = 0; k < 3; k++) {
      const uint32_t len = 60 + (pushed * 97) % 1455;
      auto f = FrameOf(pushed, len);
      ASSERT_TRUE(r.Push(1000 + pushed, f.data(), len, len + 4)) << pushed;
      pushed++;
    }
    for (int k = 0; k < 3; k++) {
      FrameRef fr;
      ASSERT_TRUE(r.PeekMany(&fr, 1) == 1);
      const uint32_t len = 60 + (popped * 97) % 1455;
      ASSERT_EQ(fr.caplen, len);
      EXPECT_EQ(fr.wire_len, len + 4);
      EXPECT_EQ(fr.ts_ns, int64_t(1000 + popped));
      ASSERT_EQ(std::vector<uint8_t>(fr.data, fr.data + fr.caplen), FrameOf(popped, len)) << popped;
      r.PopPeeked();
      popped++;
    }
  }
  EXPECT_TRUE(r.Empty());
  EXPECT_EQ(r.drops(), 0u);
}

// The inline capture reads in batches: PeekMany gives the oldest frames in
// order across the wrap without giving them back; PopPeeked gives back
// exactly those, and the room is then the producer's again.
TEST(FrameRingTest, PeekManyReadsInOrderAcrossTheWrapUntilPopped) {
  FrameRing r(64 * 1024);
  uint32_t pushed = 0, seen = 0;
  for (int round = 0; round < 500; round++) {
    const uint32_t want = 1 + uint32_t(round % 9);
    while (pushed - seen < want) {
      const uint32_t len = 60 + (pushed * 97) % 1455;
      auto f = FrameOf(pushed, len);
      if (!r.Push(1000 + pushed, f.data(), len, len)) break;
      pushed++;
    }
    FrameRef fr[16];
    const size_t k = r.PeekMany(fr, 1 + size_t(round % 16));
    // Peeking again without popping gives the same frames.
    FrameRef again[16];
    ASSERT_EQ(r.PeekMany(again, 1 + size_t(round % 16)), k);
    for (size_t i = 0; i < k; i++) {
      const uint32_t len = 60 + (seen * 97) % 1455;
      ASSERT_EQ(fr[i].caplen, len);
      ASSERT_EQ(fr[i].ts_ns, int64_t(1000 + seen));
      ASSERT_EQ(again[i].data, fr[i].data);
      ASSERT_EQ(std::vector<uint8_t>(fr[i].data, fr[i].data + len), FrameOf(seen, len)) << seen;
      seen++;
    }
    r.PopPeeked();
  }
  FrameRef rest[64];
  size_t k;
  while ((k = r.PeekMany(rest, 64)) > 0) {
    seen += uint32_t(k);
    r.PopPeeked();
  }
  EXPECT_EQ(seen, pushed);
  EXPECT_TRUE(r.Empty());
  EXPECT_GT(pushed, 200u);

  // A byte limit stops a batch once it is reached, after at least one frame.
  auto big = FrameOf(1, 1000);
  for (int i = 0; i < 10; i++) ASSERT_TRUE(r.Push(i, big.data(), 1000, 1000));
  FrameRef fr[16];
  EXPECT_EQ(r.PeekMany(fr, 16, 2500), 3u);  // 1000 + 1000 < 2500, the third reaches it
  EXPECT_EQ(r.PeekMany(fr, 16, 1), 1u);
  r.PopPeeked();
  EXPECT_EQ(r.PeekMany(fr, 16), 9u);
}

TEST(FrameRingTest, FullRingRefusesAndCountsThenTakesAgain) {
  FrameRing r(64 * 1024);
  auto f = FrameOf(1, 1500);
  int accepted = 0;
  while (r.Push(1, f.data(), 1500, 1500)) accepted++;
  // 1500 bytes + 16 header, padded to 1520: 43 fit in 64 KiB.
  EXPECT_EQ(accepted, int(64 * 1024 / 1520));
  EXPECT_FALSE(r.Push(1, f.data(), 1500, 1500));
  EXPECT_EQ(r.drops(), 2u);
  FrameRef fr;
  ASSERT_TRUE(r.PeekMany(&fr, 1) == 1);
  r.PopPeeked();
  EXPECT_TRUE(r.Push(1, f.data(), 1500, 1500));
  // A frame larger than half the ring is never taken (it could never fit next to another).
  std::vector<uint8_t> huge(40 * 1024);
  EXPECT_FALSE(FrameRing(64 * 1024).Push(1, huge.data(), uint32_t(huge.size()), uint32_t(huge.size())));
}

TEST(FrameRingTest, TwoThreadsLoseNothingAccepted) {
  FrameRing r(64 * 1024);
  constexpr uint32_t kN = 200000;
  std::vector<uint32_t> accepted;
  accepted.reserve(kN);
  std::thread producer([&] {
    for (uint32_t n = 0; n < kN; n++) {
      const uint32_t len = 64 + n % 200;
      auto f = FrameOf(n, len);
      if (r.Push(n, f.data(), len, len)) accepted.push_back(n);
    }
  });
  std::vector<uint32_t> got;
  got.reserve(kN);
  bool bad = false;
  for (;;) {
    FrameRef fr;
    if (r.PeekMany(&fr, 1) == 1) {
      const uint32_t n = uint32_t(fr.ts_ns);
      if (fr.caplen != 64 + n % 200 || std::vector<uint8_t>(fr.data, fr.data + fr.caplen) != FrameOf(n, fr.caplen))
        bad = true;
      got.push_back(n);
      r.PopPeeked();
    } else if (got.size() + r.drops() == kN) {
      break;
    }
  }
  producer.join();
  EXPECT_FALSE(bad) << "a frame came out changed";
  EXPECT_EQ(got, accepted);
  EXPECT_EQ(got.size() + r.drops(), kN);
}

// HasRoom() is what capture-first relies on: it says yes exactly when Push()
// would take the frame, wrap markers included.
TEST(FrameRingTest, HasRoomAgreesWithPush) {
  FrameRing r(64 * 1024);
  uint32_t n = 0, agree = 0, full = 0;
  for (int step = 0; step < 20000; step++) {
    const uint32_t len = 60 + (n * 131) % 1455;
    auto f = FrameOf(n, len);
    const bool room = r.HasRoom(len);
    ASSERT_EQ(room, r.Push(n, f.data(), len, len)) << "step " << step;
    agree++;
    if (room) {
      n++;
    } else {
      full++;
    }
    if (!room || step % 3 == 0) {  // drain a little, unevenly
      FrameRef fr;
      for (int k = 0; k < 2 && r.PeekMany(&fr, 1) == 1; k++) r.PopPeeked();
    }
  }
  EXPECT_GT(full, 100u);  // the ring was full often: the check was exercised both ways
  EXPECT_FALSE(r.HasRoom(40 * 1024));  // never: more than half the ring
}

}  // namespace
}  // namespace hn
