// PcapWriter: files are written with libpcap and read back with libpcap (and
// tshark when installed), byte for byte and with nanosecond timestamps.
#include "capture/pcap_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <pcap/pcap.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace hn {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSec = 1'000'000'000;
// 2026-01-02T03:04:05Z plus some nanoseconds.
constexpr int64_t kT0 = 1767323045LL * kSec + 123'456'789;

struct Rec {
  int64_t ts_ns = 0;
  uint32_t caplen = 0, len = 0;
  std::vector<uint8_t> bytes;
};

struct PcapContents {
  std::vector<Rec> recs;
  int linktype = -1;
  int snaplen = -1;
  bool clean_end = false;  // read to the end without an error
  std::string error;
};

PcapContents ReadPcap(const std::string& path) {
  PcapContents out;
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == nullptr) {
    out.error = err;
    return out;
  }
  out.linktype = pcap_datalink(p);
  out.snaplen = pcap_snapshot(p);
  pcap_pkthdr* h;
  const u_char* d;
  int r;
  while ((r = pcap_next_ex(p, &h, &d)) == 1) {
    Rec rec;
    rec.ts_ns = int64_t(h->ts.tv_sec) * kSec + int64_t(h->ts.tv_usec);
    rec.caplen = h->caplen;
    rec.len = h->len;
    rec.bytes.assign(d, d + h->caplen);
    out.recs.push_back(std::move(rec));
  }
  out.clean_end = r == PCAP_ERROR_BREAK;
  if (!out.clean_end) out.error = pcap_geterr(p);
  pcap_close(p);
  return out;
}

std::vector<uint8_t> Frame(size_t len, uint8_t seed) {
  std::vector<uint8_t> f(len);
  for (size_t i = 0; i < len; i++) f[i] = uint8_t(seed * 31 + i * 7);
  return f;
}

bool HaveTshark() { return std::system("command -v tshark >/dev/null 2>&1") == 0; }

// Frames tshark counts in a file, or -1 when it fails.
int TsharkCount(const std::string& path) {
  std::string cmd = "tshark -r '" + path + "' 2>/dev/null | wc -l";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  int n = -1;
  if (fscanf(p, "%d", &n) != 1) n = -1;
  return pclose(p) == 0 ? n : -1;
}

class PcapWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-pcapw-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  PcapWriter::Options Opts(const std::string& sub = "cap") {
    PcapWriter::Options o;
    o.dir = root_ + "/" + sub;
    o.prefix = "inside";
    return o;
  }
  std::string root_;
};

TEST_F(PcapWriterTest, RoundTripsFramesAndNanosecondTimestamps) {
  PcapWriter::Options o = Opts("a/b/c");  // nested: made like mkdir -p
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok()) << w.status().message();
  struct stat st{};
  ASSERT_EQ(stat(o.dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  const mode_t um = umask(0);
  umask(um);
  EXPECT_EQ(st.st_mode & 0777, 0750u & ~um);

  std::vector<std::vector<uint8_t>> frames = {Frame(60, 1), Frame(1514, 2), Frame(14, 3), Frame(9000, 4)};
  std::vector<int64_t> ts = {kT0, kT0 + 1, kT0 + kSec - 1, kT0 + 5 * kSec + 999'999'999};
  for (size_t i = 0; i < frames.size(); i++)
    EXPECT_TRUE((*w)->Write(ts[i], frames[i].data(), uint32_t(frames[i].size()), uint32_t(frames[i].size())));
  // A frame cut short by the capture: caplen < wire length.
  std::vector<uint8_t> cut = Frame(100, 5);
  EXPECT_TRUE((*w)->Write(kT0 + 6 * kSec, cut.data(), 100, 1500));
  EXPECT_TRUE((*w)->Flush());
  EXPECT_EQ((*w)->frames_written(), 5u);
  EXPECT_EQ((*w)->frames_lost(), 0u);
  ASSERT_EQ((*w)->files().size(), 1u);
  const std::string path = (*w)->files()[0];

  // Name: DIR/PREFIX-YYYYmmddTHHMMSSZ-NNNN.pcap
  EXPECT_EQ(fs::path(path).parent_path().string(), o.dir);
  EXPECT_TRUE(std::regex_match(fs::path(path).filename().string(),
                               std::regex(R"(inside-\d{8}T\d{6}Z-\d{4}\.pcap)")))
      << path;

  // Readable while the writer is still open (after Flush).
  PcapContents c = ReadPcap(path);
  ASSERT_TRUE(c.clean_end) << c.error;
  EXPECT_EQ(c.linktype, DLT_EN10MB);
  EXPECT_EQ(c.snaplen, 262144);
  ASSERT_EQ(c.recs.size(), 5u);
  for (size_t i = 0; i < frames.size(); i++) {
    EXPECT_EQ(c.recs[i].ts_ns, ts[i]) << i;
    EXPECT_EQ(c.recs[i].caplen, frames[i].size());
    EXPECT_EQ(c.recs[i].len, frames[i].size());
    EXPECT_EQ(c.recs[i].bytes, frames[i]) << i;
  }
  EXPECT_EQ(c.recs[4].caplen, 100u);
  EXPECT_EQ(c.recs[4].len, 1500u);
  EXPECT_EQ(c.recs[4].bytes, cut);

  // Nanosecond pcap magic (0xa1b23c4d, host order), so tools keep the ns.
  std::ifstream in(path, std::ios::binary);
  uint32_t magic = 0;
  in.read(reinterpret_cast<char*>(&magic), 4);
  EXPECT_EQ(magic, 0xa1b23c4du);

  if (HaveTshark()) {
    EXPECT_EQ(TsharkCount(path), 5);
  } else {
    std::fprintf(stderr, "tshark not installed: skipping the tshark check\n");
  }
}

TEST_F(PcapWriterTest, FileModeIsPrivate) {
  auto w = PcapWriter::Open(Opts());
  ASSERT_TRUE(w.ok()) << w.status().message();
  struct stat st{};
  ASSERT_EQ(stat((*w)->files()[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0007, 0u) << "pcap files must not be world-readable";
}

TEST_F(PcapWriterTest, RotatesBySize) {
  PcapWriter::Options o = Opts();
  o.rotate_bytes = 24 + 3 * (16 + 100);  // exactly three 100-byte frames per file
  o.rotate_ns = 0;                       // off
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok()) << w.status().message();
  for (int i = 0; i < 10; i++) {
    auto f = Frame(100, uint8_t(i));
    ASSERT_TRUE((*w)->Write(kT0 + i, f.data(), 100, 100));
  }
  (*w)->Flush();
  const auto files = (*w)->files();
  ASSERT_EQ(files.size(), 4u);
  const size_t want[] = {3, 3, 3, 1};
  int seq = 0;
  for (size_t i = 0; i < files.size(); i++) {
    EXPECT_LE(fs::file_size(files[i]), o.rotate_bytes) << files[i];
    PcapContents c = ReadPcap(files[i]);
    ASSERT_TRUE(c.clean_end) << files[i] << ": " << c.error;
    ASSERT_EQ(c.recs.size(), want[i]) << files[i];
    for (const Rec& r : c.recs) {  // every frame once, in order
      EXPECT_EQ(r.ts_ns, kT0 + seq);
      EXPECT_EQ(r.bytes, Frame(100, uint8_t(seq)));
      seq++;
    }
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%04zu.pcap", i);  // NNNN counts up
    EXPECT_TRUE(files[i].ends_with(suffix)) << files[i];
    if (i == 0 && HaveTshark()) {
      EXPECT_EQ(TsharkCount(files[i]), int(want[i]));
    }
  }
  EXPECT_EQ(seq, 10);
}

TEST_F(PcapWriterTest, FrameLargerThanRotateSizeGoesAloneIntoAFile) {
  PcapWriter::Options o = Opts();
  o.rotate_bytes = 200;
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok());
  auto small = Frame(60, 1), big = Frame(1000, 2);
  ASSERT_TRUE((*w)->Write(kT0, small.data(), 60, 60));
  ASSERT_TRUE((*w)->Write(kT0 + 1, big.data(), 1000, 1000));
  ASSERT_TRUE((*w)->Write(kT0 + 2, small.data(), 60, 60));
  (*w)->Flush();
  ASSERT_EQ((*w)->files().size(), 3u);
  for (const auto& f : (*w)->files()) EXPECT_EQ(ReadPcap(f).recs.size(), 1u) << f;
}

TEST_F(PcapWriterTest, RotatesByTimeFromTheFirstFrameOfEachFile) {
  PcapWriter::Options o = Opts();
  o.rotate_ns = 60 * kSec;
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok());
  const std::vector<int64_t> ts = {kT0, kT0 + 30 * kSec, kT0 + 60 * kSec - 1,  // file 1
                                   kT0 + 60 * kSec,                             // file 2
                                   kT0 + 200 * kSec, kT0 + 259 * kSec};         // file 3
  auto f = Frame(80, 9);
  for (int64_t t : ts) ASSERT_TRUE((*w)->Write(t, f.data(), 80, 80));
  (*w)->Flush();
  const auto files = (*w)->files();
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(ReadPcap(files[0]).recs.size(), 3u);
  EXPECT_EQ(ReadPcap(files[1]).recs.size(), 1u);
  ASSERT_EQ(ReadPcap(files[2]).recs.size(), 2u);
  EXPECT_EQ(ReadPcap(files[2]).recs[1].ts_ns, kT0 + 259 * kSec);
  // A rotated file is named after the (UTC) time of the frame that opened it.
  EXPECT_NE(files[1].find("inside-20260102T030505Z-0001.pcap"), std::string::npos) << files[1];
  EXPECT_NE(files[2].find("inside-20260102T030725Z-0002.pcap"), std::string::npos) << files[2];
}

TEST_F(PcapWriterTest, ClockSetBackByAPeriodStartsANewFile) {
  PcapWriter::Options o = Opts();
  o.rotate_ns = 60 * kSec;
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok());
  auto f = Frame(60, 1);
  ASSERT_TRUE((*w)->Write(kT0, f.data(), 60, 60));
  ASSERT_TRUE((*w)->Write(kT0 - 10 * kSec, f.data(), 60, 60));  // small step back: same file
  ASSERT_TRUE((*w)->Write(kT0 - 3600 * kSec, f.data(), 60, 60));
  EXPECT_EQ((*w)->files().size(), 2u);
}

TEST_F(PcapWriterTest, NeverOverwritesAnExistingFile) {
  // Two series with the same prefix in the same second (a quick restart).
  auto a = PcapWriter::Open(Opts());
  auto b = PcapWriter::Open(Opts());
  ASSERT_TRUE(a.ok() && b.ok());
  auto f = Frame(60, 1);
  ASSERT_TRUE((*a)->Write(kT0, f.data(), 60, 60));
  (*a)->Flush();
  const std::string pa = (*a)->files()[0], pb = (*b)->files()[0];
  EXPECT_NE(pa, pb);
  EXPECT_EQ(ReadPcap(pa).recs.size(), 1u) << "b's open must not have truncated a's file";
}

TEST_F(PcapWriterTest, CaplenIsCutToSnaplen) {
  PcapWriter::Options o = Opts();
  o.snaplen = 128;
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok());
  auto f = Frame(1000, 3);
  ASSERT_TRUE((*w)->Write(kT0, f.data(), 1000, 1000));
  (*w)->Flush();
  PcapContents c = ReadPcap((*w)->files()[0]);
  EXPECT_EQ(c.snaplen, 128);
  ASSERT_EQ(c.recs.size(), 1u);
  EXPECT_EQ(c.recs[0].caplen, 128u);
  EXPECT_EQ(c.recs[0].len, 1000u);
  EXPECT_EQ(c.recs[0].bytes, std::vector<uint8_t>(f.begin(), f.begin() + 128));
}

TEST_F(PcapWriterTest, OpenFailsWithAClearMessage) {
  // A regular file where the directory should be.
  const std::string file = root_ + "/plainfile";
  std::ofstream(file) << "x";
  PcapWriter::Options o;
  o.dir = file + "/sub";
  o.prefix = "inside";
  auto w = PcapWriter::Open(o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find(file), std::string::npos) << w.status().message();
  EXPECT_NE(w.status().message().find("capture.dir"), std::string::npos) << w.status().message();

  o.dir = root_;
  o.prefix = "";
  EXPECT_FALSE(PcapWriter::Open(o).ok());
}

// Restores RLIMIT_FSIZE and SIGXFSZ whatever happens in the test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &old_);
    old_sig_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit r = old_;
    r.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &r);
  }
  ~FileSizeLimit() { Lift(); }
  void Lift() {
    if (lifted_) return;
    setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_sig_);
    lifted_ = true;
  }

 private:
  rlimit old_{};
  void (*old_sig_)(int) = nullptr;
  bool lifted_ = false;
};

TEST_F(PcapWriterTest, WriteErrorsReturnFalseCountLossAndRecoverInANewFile) {
  auto w = PcapWriter::Open(Opts());
  ASSERT_TRUE(w.ok());
  auto f = Frame(1000, 7);
  uint64_t offered = 0;
  bool failed = false;
  {
    FileSizeLimit limit(20000);  // the "disk" is full after ~20 frames
    for (int i = 0; i < 200 && !failed; i++) {
      offered++;
      if (!(*w)->Write(kT0 + i, f.data(), 1000, 1000)) failed = true;
      if (!failed && i % 5 == 4 && !(*w)->Flush()) failed = true;
    }
  }
  ASSERT_TRUE(failed) << "a write past RLIMIT_FSIZE must fail";
  EXPECT_GT((*w)->frames_lost(), 0u);
  EXPECT_EQ((*w)->frames_written() + (*w)->frames_lost(), offered);
  EXPECT_FALSE((*w)->last_error().empty());
  ASSERT_EQ((*w)->files().size(), 1u);
  // The good part of the broken file is readable: exactly the frames counted written.
  PcapContents broken = ReadPcap((*w)->files()[0]);
  EXPECT_TRUE(broken.clean_end) << "cut back to whole records: " << broken.error;
  EXPECT_EQ(broken.recs.size(), (*w)->frames_written());

  // Space again: the next write (a second later) goes to a new, clean file.
  const uint64_t written_before = (*w)->frames_written();
  ASSERT_TRUE((*w)->Write(kT0 + 5 * kSec, f.data(), 1000, 1000));
  ASSERT_TRUE((*w)->Flush());
  ASSERT_EQ((*w)->files().size(), 2u);
  PcapContents fresh = ReadPcap((*w)->files()[1]);
  EXPECT_TRUE(fresh.clean_end) << fresh.error;
  EXPECT_EQ(fresh.recs.size(), 1u);
  EXPECT_EQ((*w)->frames_written(), written_before + 1);
}

// capture.direct_io: whole 4 KiB blocks go out through an O_DIRECT
// descriptor, the partial last block through the page cache. The file must
// hold exactly the records written (no padding), readable after every Flush()
// and across many buffer fills, and rotation must keep working.
TEST_F(PcapWriterTest, DirectIoWritesTheSameFilesAsBufferedWrites) {
  PcapWriter::Options o = Opts("direct");
  o.direct_io = true;
  o.rotate_bytes = 3 << 20;  // a few rotations over the ~7 MiB below
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok()) << w.status().message();
  std::vector<std::vector<uint8_t>> frames;
  uint64_t bytes = 0;
  for (int i = 0; i < 9000; i++) {
    frames.push_back(Frame(60 + size_t(i * 37) % 1455, uint8_t(i)));
    const auto& f = frames.back();
    ASSERT_TRUE((*w)->Write(kT0 + i, f.data(), uint32_t(f.size()), uint32_t(f.size()))) << i;
    bytes += 16 + f.size();
    if (i % 2500 == 2499) {  // ~1.9 MB apart: buffers fill (written by the helper thread) between flushes
      // After a flush the open file holds every record so far, and ends with the last one.
      ASSERT_TRUE((*w)->Flush());
      const std::string cur = (*w)->files().back();
      PcapContents c = ReadPcap(cur);
      ASSERT_TRUE(c.clean_end) << c.error;
      ASSERT_FALSE(c.recs.empty());
      EXPECT_EQ(c.recs.back().bytes, f) << "after frame " << i;
    }
  }
  const std::vector<std::string> files = (*w)->files();  // in the order written
  w.value().reset();  // closes
  ASSERT_GE(files.size(), 2u);
  EXPECT_EQ(size_t(std::distance(fs::directory_iterator(o.dir), fs::directory_iterator())), files.size());
  size_t k = 0;
  uint64_t on_disk = 0;
  for (const auto& f : files) {
    PcapContents c = ReadPcap(f);
    ASSERT_TRUE(c.clean_end) << f << ": " << c.error;
    for (const auto& r : c.recs) {
      ASSERT_LT(k, frames.size());
      ASSERT_EQ(r.bytes, frames[k]) << "frame " << k;
      EXPECT_EQ(r.ts_ns, kT0 + int64_t(k));
      k++;
    }
    on_disk += fs::file_size(f) - 24;
  }
  EXPECT_EQ(k, frames.size());
  EXPECT_EQ(on_disk, bytes) << "the files hold more (or less) than the records: padding or a gap";
}

// Direct writes of full buffers go to the helper thread while the next one
// fills: many buffers filled with no Flush() in between must still land in
// file order, nothing lost, nothing doubled, no padding.
TEST_F(PcapWriterTest, DirectIoKeepsOrderAcrossManyBufferFills) {
  PcapWriter::Options o = Opts("direct-deep");
  o.direct_io = true;
  o.rotate_bytes = 0;
  o.rotate_ns = 0;
  auto w = PcapWriter::Open(o);
  ASSERT_TRUE(w.ok()) << w.status().message();
  auto frame = [](int i) { return Frame(60 + size_t(i * 53) % 1455, uint8_t(i * 7)); };
  uint64_t bytes = 0;
  int n = 0;
  while (bytes < (24u << 20)) {  // ~24 buffers of 1 MiB
    const auto f = frame(n);
    ASSERT_TRUE((*w)->Write(kT0 + n, f.data(), uint32_t(f.size()), uint32_t(f.size()))) << n;
    bytes += 16 + f.size();
    n++;
  }
  const std::string path = (*w)->files().back();
  EXPECT_EQ((*w)->frames_lost(), 0u);
  w.value().reset();  // closes: waits for the write in flight
  PcapContents c = ReadPcap(path);
  ASSERT_TRUE(c.clean_end) << c.error;
  ASSERT_EQ(c.recs.size(), size_t(n));
  for (int i = 0; i < n; i++) {
    ASSERT_EQ(c.recs[size_t(i)].bytes, frame(i)) << "frame " << i;
    ASSERT_EQ(c.recs[size_t(i)].ts_ns, kT0 + i);
  }
  EXPECT_EQ(fs::file_size(path), 24 + bytes);
}

// WriteFrames (the inline capture's path: pwritev from the caller's memory)
// must leave the same files as Write() frame by frame: the same records in
// the same files, across rotation by size and by time, snaplen cuts, and
// Write() calls in between.
TEST_F(PcapWriterTest, WriteFramesWritesWhatWriteWouldAcrossRotations) {
  PcapWriter::Options a = Opts("one-by-one");
  a.rotate_bytes = 256 << 10;
  a.rotate_ns = 2 * kSec;
  a.snaplen = 1200;
  PcapWriter::Options b = a;
  b.dir = root_ + "/batched";
  auto wa = PcapWriter::Open(a);
  auto wb = PcapWriter::Open(b);
  ASSERT_TRUE(wa.ok() && wb.ok());
  std::vector<std::vector<uint8_t>> frames;
  std::vector<int64_t> ts;
  int64_t t = kT0;
  for (int i = 0; i < 3000; i++) {
    frames.push_back(Frame(60 + size_t(i * 37) % 1455, uint8_t(i)));
    t += (i % 700 == 699) ? 3 * kSec : 1000;  // a few gaps past rotate_ns
    ts.push_back(t);
  }
  for (size_t i = 0; i < frames.size(); i++)
    ASSERT_TRUE((*wa)->Write(ts[i], frames[i].data(), uint32_t(frames[i].size()), uint32_t(frames[i].size()) + 4));
  size_t i = 0, batch = 1;
  while (i < frames.size()) {
    if (i % 7 == 3) {  // a Write() now and then: its record must stay in order with the batches
      ASSERT_TRUE((*wb)->Write(ts[i], frames[i].data(), uint32_t(frames[i].size()), uint32_t(frames[i].size()) + 4));
      i++;
      continue;
    }
    std::vector<FrameRef> refs;
    for (size_t k = 0; k < batch && i < frames.size(); k++, i++)
      refs.push_back({ts[i], frames[i].data(), uint32_t(frames[i].size()), uint32_t(frames[i].size()) + 4});
    ASSERT_EQ((*wb)->WriteFrames(refs.data(), refs.size()), refs.size());
    batch = batch * 3 % 400 + 1;  // 1 to 400: runs longer than one pwritev (256 frames) too
  }
  EXPECT_EQ((*wb)->frames_written(), frames.size());
  EXPECT_EQ((*wb)->frames_lost(), 0u);
  const auto fa = (*wa)->files();
  const auto fb = (*wb)->files();
  wa->reset();
  wb->reset();
  ASSERT_GE(fa.size(), 8u) << "size and time rotations both happened";
  ASSERT_EQ(fa.size(), fb.size());
  size_t total = 0;
  for (size_t f = 0; f < fa.size(); f++) {
    PcapContents ca = ReadPcap(fa[f]), cb = ReadPcap(fb[f]);
    ASSERT_TRUE(ca.clean_end && cb.clean_end) << ca.error << cb.error;
    ASSERT_EQ(ca.recs.size(), cb.recs.size()) << "file " << f;
    for (size_t r = 0; r < ca.recs.size(); r++) {
      EXPECT_EQ(cb.recs[r].bytes, ca.recs[r].bytes) << "file " << f << " record " << r;
      EXPECT_EQ(cb.recs[r].ts_ns, ca.recs[r].ts_ns);
      EXPECT_EQ(cb.recs[r].len, ca.recs[r].len);
      EXPECT_LE(cb.recs[r].caplen, 1200u);
    }
    EXPECT_EQ(fs::file_size(fa[f]), fs::file_size(fb[f]));
    total += cb.recs.size();
  }
  EXPECT_EQ(total, frames.size());
}

TEST_F(PcapWriterTest, WriteFramesErrorsCountLossAndCutBack) {
  auto w = PcapWriter::Open(Opts());
  ASSERT_TRUE(w.ok());
  auto f = Frame(1000, 9);
  uint64_t offered = 0;
  {
    FileSizeLimit limit(20000);  // the "disk" is full after ~20 frames
    for (int i = 0; i < 20; i++) {
      std::vector<FrameRef> refs(5, FrameRef{kT0 + i, f.data(), 1000, 1000});
      offered += refs.size();
      (*w)->WriteFrames(refs.data(), refs.size());
    }
  }
  EXPECT_GT((*w)->frames_lost(), 0u);
  EXPECT_EQ((*w)->frames_written() + (*w)->frames_lost(), offered);
  EXPECT_FALSE((*w)->last_error().empty());
  // After each failure the next batch starts a new file, which fills and
  // breaks in turn. Every file is cut back to whole records, and together
  // they hold exactly the frames counted written.
  size_t on_disk = 0;
  for (const auto& path : (*w)->files()) {
    PcapContents c = ReadPcap(path);
    EXPECT_TRUE(c.clean_end) << path << " cut back to whole records: " << c.error;
    on_disk += c.recs.size();
  }
  EXPECT_GT(on_disk, 0u);
  EXPECT_EQ(on_disk, (*w)->frames_written());
  // Space again: the next batch (a few seconds later) goes to a new, clean file.
  const uint64_t before = (*w)->frames_written();
  std::vector<FrameRef> refs(3, FrameRef{kT0 + 5 * kSec, f.data(), 1000, 1000});
  EXPECT_EQ((*w)->WriteFrames(refs.data(), refs.size()), 3u);
  ASSERT_TRUE((*w)->Flush());
  PcapContents fresh = ReadPcap((*w)->files().back());
  EXPECT_TRUE(fresh.clean_end) << fresh.error;
  EXPECT_EQ(fresh.recs.size(), 3u);
  EXPECT_EQ((*w)->frames_written(), before + 3);
}

}  // namespace
}  // namespace hn
