// WriteBehind: what stays in the page cache after a capture writer's
// buffered writes, read with mincore() (the pages a reader would find in
// memory): the newest bytes stay, the older ones are written back and
// dropped, across closed files, and a deleted file is skipped.
#include "capture/write_behind.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "capture/pcap_writer.h"

namespace hn {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = 1 << 20;

// Bytes of path's pages in the page cache.
uint64_t ResidentBytes(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st{};
  fstat(fd, &st);
  uint64_t resident = 0;
  if (st.st_size > 0) {
    void* m = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) {
      const long page = sysconf(_SC_PAGESIZE);
      std::vector<unsigned char> vec((size_t(st.st_size) + size_t(page) - 1) / size_t(page));
      if (mincore(m, size_t(st.st_size), vec.data()) == 0)
        for (unsigned char v : vec) resident += (v & 1) ? uint64_t(page) : 0;
      munmap(m, size_t(st.st_size));
    }
  }
  close(fd);
  return resident;
}

size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) n++;
  return n;
}

class WriteBehindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-wbehind-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    struct statfs sf{};
    ASSERT_EQ(statfs(root_.c_str(), &sf), 0);
    // tmpfs has no writeback: its pages are the file, and stay.
    if (sf.f_type == TMPFS_MAGIC) GTEST_SKIP() << root_ << " is on tmpfs: nothing to write back";
  }
  void TearDown() override { fs::remove_all(root_); }

  // Writes `mib` MiB to a new file in 256 KiB steps, telling wb after each.
  // Returns the path; the file is closed (and wb told) when close_it.
  std::string WriteFile(WriteBehind& wb, const std::string& name, uint64_t mib, bool close_it = true) {
    const std::string path = root_ + "/" + name;
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << path;
    std::vector<uint8_t> block(256 * 1024, uint8_t(name.size()));
    uint64_t end = 0;
    while (end < mib * kMiB) {
      EXPECT_EQ(pwrite(fd, block.data(), block.size(), off_t(end)), ssize_t(block.size()));
      end += block.size();
      wb.Written(fd, path, end);
    }
    if (close_it) {
      wb.Closed();
      close(fd);
    } else {
      last_fd_ = fd;
    }
    return path;
  }
  std::string root_;
  int last_fd_ = -1;
};

TEST_F(WriteBehindTest, KeepsTheNewestBytesAndDropsTheOlderOnesAcrossFiles) {
  WriteBehind wb(16 * kMiB, 1 * kMiB);
  const std::string a = WriteFile(wb, "a", 12);
  EXPECT_EQ(ResidentBytes(a), 12 * kMiB) << "under the write-behind budget nothing leaves the page cache";
  EXPECT_EQ(wb.chunks_dropped(), 0u);
  const std::string b = WriteFile(wb, "b", 12);
  const std::string c = WriteFile(wb, "c", 12);
  // 36 MiB written, 16 MiB of them left behind; two chunks handed to
  // writeback are not dropped yet: 18 MiB dropped, all from a and b.
  EXPECT_EQ(wb.backlog(), 16 * kMiB);
  EXPECT_EQ(wb.chunks_dropped(), 18u);
  EXPECT_EQ(ResidentBytes(a), 0u) << "the oldest file is written back and dropped";
  EXPECT_LE(ResidentBytes(b), 6 * kMiB);
  EXPECT_GE(ResidentBytes(b), 4 * kMiB) << "its newest 4 MiB are within the budget";
  EXPECT_EQ(ResidentBytes(c), 12 * kMiB);
  for (const auto& p : {a, b, c}) EXPECT_EQ(fs::file_size(p), 12 * kMiB) << p;
}

TEST_F(WriteBehindTest, WithNoBudgetEveryFullChunkIsStreamedOut) {
  WriteBehind wb(0, 1 * kMiB);
  const std::string a = WriteFile(wb, "a", 8, /*close_it=*/false);
  // Every full chunk went to writeback; all but the last two were dropped.
  EXPECT_EQ(wb.backlog(), 0u);
  EXPECT_EQ(wb.chunks_dropped(), 6u);
  EXPECT_LE(ResidentBytes(a), 2 * kMiB);
  wb.Closed();
  close(last_fd_);
}

TEST_F(WriteBehindTest, ADeletedFileIsSkippedAndNotHeldOpen) {
  const size_t fds0 = OpenFds();
  WriteBehind wb(4 * kMiB, 1 * kMiB);
  const std::string a = WriteFile(wb, "a", 4);
  ASSERT_EQ(wb.backlog(), 4 * kMiB);
  ASSERT_EQ(unlink(a.c_str()), 0);  // retention took it
  const std::string b = WriteFile(wb, "b", 8);
  EXPECT_EQ(wb.backlog(), 4 * kMiB);
  // Nothing of a was there to drop: the drops are b's oldest chunks.
  EXPECT_EQ(wb.chunks_dropped(), 2u);
  EXPECT_EQ(ResidentBytes(b), 6 * kMiB);
  EXPECT_EQ(OpenFds(), fds0) << "no descriptor of a closed file is kept";
}

TEST_F(WriteBehindTest, AFileDeletedWithChunksInFlightFreesTheirPlace) {
  WriteBehind wb(2 * kMiB, 1 * kMiB);
  const std::string a = WriteFile(wb, "a", 6);
  ASSERT_EQ(wb.chunks_dropped(), 2u);  // a's chunks 2 and 3 are in flight
  ASSERT_EQ(unlink(a.c_str()), 0);
  const std::string b = WriteFile(wb, "b", 4);
  // a is forgotten as a whole; b's first two chunks are the ones in flight,
  // not dropped in a's place.
  EXPECT_EQ(wb.backlog(), 2 * kMiB);
  EXPECT_EQ(wb.chunks_dropped(), 2u);
  EXPECT_EQ(ResidentBytes(b), 4 * kMiB);
}

// Through PcapWriter: rotation hands each closed file on, and the files are
// whole and unchanged.
TEST_F(WriteBehindTest, PcapWriterRotatedFilesLeaveThePageCacheOldestFirst) {
  const size_t fds0 = OpenFds();
  PcapWriter::Options o;
  o.dir = root_ + "/cap";
  o.prefix = "inside";
  o.rotate_bytes = 4 * kMiB;
  o.rotate_ns = 0;
  o.write_behind = 8 * kMiB;
  std::vector<std::string> files;
  uint64_t frames = 0;
  {
    auto w = PcapWriter::Open(o);
    ASSERT_TRUE(w.ok()) << w.status().message();
    std::vector<uint8_t> f(1400, 0xab);
    while ((*w)->files().size() < 8) {
      ASSERT_TRUE((*w)->Write(int64_t(1'700'000'000) * 1'000'000'000 + int64_t(frames), f.data(),
                              uint32_t(f.size()), uint32_t(f.size())));
      frames++;
    }
    files = (*w)->files();
  }
  EXPECT_EQ(OpenFds(), fds0);
  ASSERT_EQ(files.size(), 8u);
  // 28+ MiB in the first seven files; the newest 8 MiB (two files) may stay.
  EXPECT_EQ(ResidentBytes(files[0]), 0u);
  EXPECT_EQ(ResidentBytes(files[1]), 0u);
  EXPECT_GT(ResidentBytes(files[6]), 3 * kMiB);
  uint64_t bytes = 0;
  for (const auto& p : files) bytes += fs::file_size(p);
  EXPECT_EQ(bytes, files.size() * 24 + frames * (16 + 1400));
}

}  // namespace
}  // namespace hn
