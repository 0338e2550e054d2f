// Capture retention: the plan (which files go, in what order, why) without a
// disk, then CaptureDisk and PcapWriter on a real directory: the bounds hold
// after every write, open and kept files stay, every deletion is reported.
#include "capture/retention.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "capture/pcap_writer.h"

namespace hn {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kSec = 1'000'000'000;
constexpr uint64_t kMiB = 1 << 20;

CaptureFileInfo F(const std::string& path, uint64_t bytes, int64_t mtime_s, bool deletable = true) {
  CaptureFileInfo f;
  f.path = path;
  f.bytes = bytes;
  f.mtime_ns = mtime_s * kSec;
  f.deletable = deletable;
  return f;
}

std::vector<std::string> Paths(const std::vector<CaptureFileInfo>& files, const std::vector<PlannedDeletion>& plan) {
  std::vector<std::string> out;
  for (const PlannedDeletion& d : plan) out.push_back(files[d.index].path + ":" + d.reason);
  return out;
}

TEST(RetentionPlan, MaxTotalTakesOldestDeletableFirstAndStopsWhenItFits) {
  RetentionPolicy p;
  p.max_total = 10 * kMiB;
  const std::vector<CaptureFileInfo> files = {
      F("c.pcap", 3 * kMiB, 300), F("a.pcap", 3 * kMiB, 100), F("open.pcap", 3 * kMiB, 50, false),
      F("b.pcap", 3 * kMiB, 200), F("budgets.json", 1024, 10, false)};
  bool fits = false;
  // 12 MiB + 1 KiB held, 1 MiB coming: two of the closed files must go, oldest first.
  auto plan = PlanDeletions(files, p, 1000 * kSec, {100 * kMiB, 50 * kMiB}, kMiB, &fits);
  EXPECT_EQ(Paths(files, plan), (std::vector<std::string>{"a.pcap:max_total", "b.pcap:max_total"}));
  EXPECT_TRUE(fits);
  // Nothing coming and within bounds after a: nothing more.
  plan = PlanDeletions(files, p, 1000 * kSec, {100 * kMiB, 50 * kMiB}, 0, &fits);
  EXPECT_EQ(Paths(files, plan), (std::vector<std::string>{"a.pcap:max_total"}));
}

TEST(RetentionPlan, NeverTakesOpenOrKeptFilesAndSaysWhenItCannotFit) {
  RetentionPolicy p;
  p.max_total = 4 * kMiB;
  const std::vector<CaptureFileInfo> files = {F("open.pcap", 3 * kMiB, 1, false), F("old.pcap", kMiB, 2),
                                              F("events.json", 2 * kMiB, 0, false)};
  bool fits = true;
  auto plan = PlanDeletions(files, p, 10 * kSec, {100 * kMiB, 50 * kMiB}, 0, &fits);
  EXPECT_EQ(Paths(files, plan), (std::vector<std::string>{"old.pcap:max_total"}));
  EXPECT_FALSE(fits);
}

TEST(RetentionPlan, MinFreeCountsWhatDeletingGivesBackAndTakesPercentages) {
  RetentionPolicy p;
  p.min_free = 12 * kMiB;
  const std::vector<CaptureFileInfo> files = {F("a", 4 * kMiB, 1), F("b", 4 * kMiB, 2), F("c", 4 * kMiB, 3)};
  bool fits = false;
  // 5 MiB free, 2 MiB coming: need 9 MiB back, so three files of 4 MiB... two give 8 (13-2=11 < 12), three give 12.
  auto plan = PlanDeletions(files, p, 10 * kSec, {32 * kMiB, 5 * kMiB}, 2 * kMiB, &fits);
  EXPECT_EQ(Paths(files, plan), (std::vector<std::string>{"a:min_free", "b:min_free", "c:min_free"}));
  EXPECT_TRUE(fits);
  RetentionPolicy pct;
  pct.min_free_pct = 25;  // of 32 MiB: 8 MiB
  EXPECT_EQ(MinFreeBytes(pct, 32 * kMiB), 8 * kMiB);
  plan = PlanDeletions(files, pct, 10 * kSec, {32 * kMiB, 5 * kMiB}, 0, &fits);
  EXPECT_EQ(Paths(files, plan), (std::vector<std::string>{"a:min_free"}));
  EXPECT_TRUE(fits);
}

TEST(RetentionPlan, MaxAgeTakesEveryOldFileWhateverTheSpace) {
  RetentionPolicy p;
  p.max_age_ns = 100 * kSec;
  const std::vector<CaptureFileInfo> files = {F("new", 1, 950), F("old1", 1, 100), F("old2", 1, 800),
                                              F("old-open", 1, 10, false)};
  bool fits = false;
  auto plan = PlanDeletions(files, p, 1000 * kSec, {}, 0, &fits);
  EXPECT_EQ(Paths(files, plan), (std::vector<std::string>{"old1:max_age", "old2:max_age"}));
  EXPECT_TRUE(fits);
}

TEST(RetentionPlan, RotateCapIsAnEighthOfTheAllowance) {
  RetentionPolicy p;
  EXPECT_EQ(RotateCap(p, 1ULL << 40), 0u);
  p.max_total = 16 * kMiB;
  EXPECT_EQ(RotateCap(p, 1ULL << 40), 2 * kMiB);
  RetentionPolicy f;
  f.min_free = 12 * kMiB;
  EXPECT_EQ(RotateCap(f, 32 * kMiB), 20 * kMiB / 8);
}

class CaptureDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-retain-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Make(const std::string& name, size_t bytes, int64_t age_s) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << std::string(bytes, 'x');
    const fs::file_time_type t = fs::file_time_type::clock::now() - std::chrono::seconds(age_s);
    fs::last_write_time(path, t);
  }

 public:
  // What `du` would count for the directory (files only, blocks or length).
  uint64_t DirBytes() const {
    uint64_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      struct stat st{};
      stat(e.path().c_str(), &st);
      n += std::max<uint64_t>(uint64_t(st.st_size), uint64_t(st.st_blocks) * 512);
    }
    return n;
  }
  std::string dir_;
};

TEST_F(CaptureDiskTest, ReserveDeletesOldestClosedFilesAndReportsEach) {
  Make("inside-1.pcap", 100 * 1024, 300);
  Make("inside-2.pcap", 100 * 1024, 200);
  Make("inside-3.pcap", 100 * 1024, 100);
  Make("budgets.json", 4096, 1000);
  RetentionPolicy p;
  p.max_total = 320 * 1024;
  CaptureDisk disk(dir_, p, {"budgets.json"});
  disk.Opened(dir_ + "/inside-3.pcap");
  // 304 KiB held; 64 KiB more needs the oldest file gone, only it.
  ASSERT_TRUE(disk.Reserve(64 * 1024));
  EXPECT_FALSE(fs::exists(dir_ + "/inside-1.pcap"));
  EXPECT_TRUE(fs::exists(dir_ + "/inside-2.pcap"));
  auto gone = disk.TakeDeletions();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].path, dir_ + "/inside-1.pcap");
  EXPECT_STREQ(gone[0].reason, "max_total");
  EXPECT_GE(gone[0].bytes, 100u * 1024);
  // More than closed files can give: inside-2 goes, then it refuses; the open
  // file and budgets.json stay.
  EXPECT_FALSE(disk.Reserve(300 * 1024));
  EXPECT_TRUE(fs::exists(dir_ + "/inside-3.pcap"));
  EXPECT_TRUE(fs::exists(dir_ + "/budgets.json"));
  EXPECT_EQ(disk.refused_bytes(), 300u * 1024);
  EXPECT_FALSE(fs::exists(dir_ + "/inside-2.pcap"));
  gone = disk.TakeDeletions();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].path, dir_ + "/inside-2.pcap");
  EXPECT_TRUE(disk.TakeDeletions().empty()) << "each deletion is reported once";
}

// A reservation whose bytes have not reached the file yet (the writer is
// between Reserve and its write) still counts after a Sweep re-reads the
// directory: two writers cannot both take the same room.
TEST_F(CaptureDiskTest, ReservedBytesNotYetWrittenCountUntilLanded) {
  RetentionPolicy p;
  p.max_total = 1024 * 1024;
  CaptureDisk disk(dir_, p, {});
  ASSERT_TRUE(disk.Reserve(600 * 1024));
  disk.Sweep();  // the directory is still empty on disk
  EXPECT_FALSE(disk.Reserve(600 * 1024)) << "the first 600 KiB are on their way";
  Make("inside-1.pcap", 600 * 1024, 0);  // the first writer's bytes land
  disk.Landed(600 * 1024);
  disk.Sweep();
  EXPECT_GE(disk.total_bytes(), 600u * 1024);
  EXPECT_LT(disk.total_bytes(), 700u * 1024) << "landed bytes are counted once, not twice";
}

TEST_F(CaptureDiskTest, SweepAppliesMaxAgeToClosedFilesOnly) {
  Make("old.pcap", 1000, 7200);
  Make("open-old.pcap", 1000, 7200);
  Make("new.pcap", 1000, 10);
  RetentionPolicy p;
  p.max_age_ns = 3600 * kSec;
  CaptureDisk disk(dir_, p, {});
  disk.Opened(dir_ + "/open-old.pcap");
  disk.Sweep();
  EXPECT_FALSE(fs::exists(dir_ + "/old.pcap"));
  EXPECT_TRUE(fs::exists(dir_ + "/open-old.pcap"));
  EXPECT_TRUE(fs::exists(dir_ + "/new.pcap"));
  auto gone = disk.TakeDeletions();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_STREQ(gone[0].reason, "max_age");
  disk.Closed(dir_ + "/open-old.pcap");
  disk.Sweep();
  EXPECT_FALSE(fs::exists(dir_ + "/open-old.pcap"));
}

// A pcap series written through the disk, ~20 MB through a 1 MiB allowance,
// by write(w, i) for frame i of 20000 (it writes a few and returns how many):
// after every call the directory is within max_total, closed files always
// made room, and every file left is a pcap that ends on a whole record.
void CheckSeriesWithinMaxTotal(CaptureDiskTest& t, const std::string& dir,
                               const std::function<int(PcapWriter&, int)>& write) {
  RetentionPolicy p;
  p.max_total = 1 * kMiB;
  CaptureDisk disk(dir, p, {});
  PcapWriter::Options o;
  o.dir = dir;
  o.prefix = "inside";
  o.rotate_bytes = disk.rotate_cap();
  o.disk = &disk;
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok()) << w.status().message();
  uint64_t max_seen = 0;
  for (int i = 0; i < 20000;) {
    i += write(**w, i);
    max_seen = std::max(max_seen, t.DirBytes());
  }
  (*w)->Flush();
  max_seen = std::max(max_seen, t.DirBytes());
  EXPECT_LE(max_seen, p.max_total);
  EXPECT_GT(disk.deleted_files(), 5u);
  EXPECT_EQ((*w)->frames_refused(), 0u) << "closed files could always make room";
  EXPECT_TRUE(fs::exists((*w)->files().back())) << "the newest file holds the last frames";
  w->reset();
  EXPECT_LE(t.DirBytes(), p.max_total);
  for (const auto& e : fs::directory_iterator(dir)) {
    auto cut = PcapWriter::TrimPartialRecord(e.path().string());
    ASSERT_TRUE(cut.ok()) << e.path();
    EXPECT_EQ(*cut, 0u) << e.path();
  }
}

constexpr int64_t kSeriesT0 = 1'800'000'000LL * kSec;

TEST_F(CaptureDiskTest, PcapSeriesStaysWithinMaxTotalAtEveryWrite) {
  std::vector<uint8_t> frame(1000, 0xab);
  CheckSeriesWithinMaxTotal(*this, dir_, [&](PcapWriter& w, int i) {
    for (int k = 0; k < 64; k++) {
      frame[0] = uint8_t(i + k);
      w.Write(kSeriesT0 + (i + k) * 1000, frame.data(), uint32_t(frame.size()), uint32_t(frame.size()));
    }
    w.Flush();
    return 64;
  });
}

// The same through WriteFrames (the inline capture's batches): retention is
// asked before each run is written, and the bound holds the same way.
TEST_F(CaptureDiskTest, PcapSeriesStaysWithinMaxTotalWithBatchedWrites) {
  std::vector<uint8_t> frame(1000, 0xab);
  CheckSeriesWithinMaxTotal(*this, dir_, [&](PcapWriter& w, int i) {
    std::vector<FrameRef> refs;
    for (int k = 0; k < 32; k++) refs.push_back({kSeriesT0 + (i + k) * 1000, frame.data(), 1000, 1000});
    w.WriteFrames(refs.data(), refs.size());
    return 32;
  });
}

}  // namespace
}  // namespace hn
