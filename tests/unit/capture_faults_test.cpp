// Capture under faults: a pcap file holds only whole records at any moment (a
// SIGKILL cannot leave half a frame); a torn last record left by a crash is cut
// off at the next start; a pcap file deleted while written is noticed; a full
// disk (RLIMIT_FSIZE stands in for it) leaves events.json with whole lines only
// and is reported as notices; the capture follows an interface that is deleted
// and created again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "capture/event_writer.h"
#include "capture/pcap_writer.h"
#include "capture/sniffer.h"
#include "common/clock.h"
#include "netns_guard.h"

namespace hn {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1767323045LL * kSec;

std::vector<uint8_t> Frame(size_t len, uint32_t seed) {
  std::vector<uint8_t> f(len);
  for (size_t i = 0; i < len; i++) f[i] = uint8_t(seed * 131 + i * 7);
  return f;
}

// Record count of a classic pcap file by walking its headers; tail = bytes
// after the last whole record (a torn record).
struct Walk {
  size_t records = 0;
  uint64_t tail = 0;
  bool header_ok = false;
};
Walk WalkPcap(const std::string& path) {
  Walk w;
  std::ifstream in(path, std::ios::binary);
  std::vector<char> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (d.size() < 24) return w;
  uint32_t magic;
  std::memcpy(&magic, d.data(), 4);
  w.header_ok = magic == 0xa1b23c4du;
  size_t off = 24;
  while (off + 16 <= d.size()) {
    uint32_t incl;
    std::memcpy(&incl, d.data() + off + 8, 4);
    if (off + 16 + incl > d.size()) break;
    off += 16 + incl;
    w.records++;
  }
  w.tail = d.size() - off;
  return w;
}

// libpcap reads the whole file without an error.
bool LibpcapReadsCleanly(const std::string& path, size_t* n) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == nullptr) return false;
  pcap_pkthdr* h;
  const u_char* d;
  int r;
  *n = 0;
  while ((r = pcap_next_ex(p, &h, &d)) == 1) ++*n;
  pcap_close(p);
  return r == PCAP_ERROR_BREAK;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hn-capfault-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) fs::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// RLIMIT_FSIZE as a full disk: writes past it fail with EFBIG (SIGXFSZ ignored).
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

PcapWriter::Options Opts(const std::string& dir) {
  PcapWriter::Options o;
  o.dir = dir;
  o.prefix = "inside";
  return o;
}

// ---------------------------------------------------------------- PcapWriter

TEST(PcapWriterFaults, FileOnDiskHoldsOnlyWholeRecordsWhileWriting) {
  TempDir t;
  auto w = PcapWriter::Open(Opts(t.path()));
  ASSERT_TRUE(w.ok()) << w.status().message();
  // 4000 frames of odd sizes, never flushed by us: the writer's own buffer
  // flushes (1 MiB) happen in the middle of the stream, as under a SIGKILL.
  for (uint32_t i = 0; i < 4000; i++) {
    auto f = Frame(60 + (i * 37) % 1455, i);
    ASSERT_TRUE((*w)->Write(kT0 + i, f.data(), uint32_t(f.size()), uint32_t(f.size())));
    if (i % 500 == 499) {
      Walk mid = WalkPcap((*w)->files()[0]);
      EXPECT_TRUE(mid.header_ok);
      EXPECT_EQ(mid.tail, 0u) << "after frame " << i << " the file ends in part of a record";
    }
  }
  Walk before = WalkPcap((*w)->files()[0]);
  EXPECT_GT(before.records, 0u) << "nothing reached the file before the end (buffer never flushed?)";
  EXPECT_LT(before.records, 4000u);
  size_t n = 0;
  EXPECT_TRUE(LibpcapReadsCleanly((*w)->files()[0], &n));
  EXPECT_EQ(n, before.records);
  ASSERT_TRUE((*w)->Flush());
  EXPECT_EQ(WalkPcap((*w)->files()[0]).records, 4000u);
}

TEST(PcapWriterFaults, OpenCutsATornLastRecordOfTheNewestFile) {
  TempDir t;
  std::string old_path, older_path;
  {
    auto w = PcapWriter::Open(Opts(t.path()));
    ASSERT_TRUE(w.ok());
    for (uint32_t i = 0; i < 10; i++) {
      auto f = Frame(200, i);
      ASSERT_TRUE((*w)->Write(kT0 + i, f.data(), 200, 200));
    }
    ASSERT_TRUE((*w)->Flush());
    old_path = (*w)->files()[0];
  }
  // The crash: half of an 11th record (a header and part of its bytes).
  {
    const uint32_t hdr[4] = {uint32_t(kT0 / kSec), 0, 200, 200};
    std::ofstream out(old_path, std::ios::binary | std::ios::app);
    out.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    out.write("partial", 7);
  }
  // An older file of the same series with a torn end is not ours to touch:
  // only the newest one was being written at the crash. (Sorts first: earlier name.)
  older_path = t.path() + "/inside-20000101T000000Z-0000.pcap";
  fs::copy_file(old_path, older_path);
  ASSERT_EQ(WalkPcap(old_path).tail, 16u + 7u);

  auto w = PcapWriter::Open(Opts(t.path()));
  ASSERT_TRUE(w.ok());
  EXPECT_NE((*w)->repaired().find(old_path), std::string::npos) << (*w)->repaired();
  EXPECT_NE((*w)->repaired().find("cut 23 bytes"), std::string::npos) << (*w)->repaired();
  Walk fixed = WalkPcap(old_path);
  EXPECT_EQ(fixed.records, 10u);
  EXPECT_EQ(fixed.tail, 0u);
  size_t n = 0;
  EXPECT_TRUE(LibpcapReadsCleanly(old_path, &n));
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(WalkPcap(older_path).tail, 23u) << "an older file was changed";
  EXPECT_NE((*w)->files()[0], old_path) << "the new run writes a new file";

  // A clean newest file is left alone and nothing is said.
  auto w2 = PcapWriter::Open(Opts(t.path()));
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ((*w2)->repaired(), "");
}

TEST(PcapWriterFaults, TrimPartialRecordEdges) {
  TempDir t;
  const std::string p = t.path() + "/x.pcap";
  std::ofstream(p) << "this is not a pcap file at all, but long enough";
  EXPECT_FALSE(PcapWriter::TrimPartialRecord(p).ok());
  EXPECT_EQ(fs::file_size(p), 47u) << "a file that is no pcap must not be cut";
  std::ofstream(p, std::ios::trunc) << "short";
  EXPECT_FALSE(PcapWriter::TrimPartialRecord(p).ok());
  EXPECT_FALSE(PcapWriter::TrimPartialRecord(t.path() + "/missing.pcap").ok());
  // Only the header, plus 10 bytes of a record header: cut back to the header.
  {
    auto w = PcapWriter::Open(Opts(t.path() + "/s"));
    ASSERT_TRUE(w.ok());
    const std::string f = (*w)->files()[0];
    w->reset();
    std::ofstream(f, std::ios::binary | std::ios::app).write("0123456789", 10);
    auto cut = PcapWriter::TrimPartialRecord(f);
    ASSERT_TRUE(cut.ok()) << cut.status().message();
    EXPECT_EQ(cut.value(), 10u);
    EXPECT_EQ(fs::file_size(f), 24u);
    cut = PcapWriter::TrimPartialRecord(f);
    ASSERT_TRUE(cut.ok());
    EXPECT_EQ(cut.value(), 0u);
  }
}

TEST(PcapWriterFaults, DeletedFileIsNoticedAndANewOneStarted) {
  TempDir t;
  auto w = PcapWriter::Open(Opts(t.path()));
  ASSERT_TRUE(w.ok());
  auto f = Frame(100, 1);
  ASSERT_TRUE((*w)->Write(kT0, f.data(), 100, 100));
  ASSERT_TRUE((*w)->Flush());
  EXPECT_EQ((*w)->files_deleted(), 0u);
  ASSERT_EQ(unlink((*w)->files()[0].c_str()), 0);  // someone frees space
  ASSERT_TRUE((*w)->Write(kT0 + 1, f.data(), 100, 100));
  ASSERT_TRUE((*w)->Flush());
  EXPECT_EQ((*w)->files_deleted(), 1u);
  EXPECT_NE((*w)->last_error().find("deleted"), std::string::npos) << (*w)->last_error();
  ASSERT_TRUE((*w)->Write(kT0 + 2, f.data(), 100, 100));
  ASSERT_TRUE((*w)->Flush());
  ASSERT_EQ((*w)->files().size(), 2u);
  ASSERT_TRUE(fs::exists((*w)->files()[1]));
  EXPECT_EQ(WalkPcap((*w)->files()[1]).records, 1u);
  EXPECT_EQ((*w)->frames_lost(), 0u);
}

// ---------------------------------------------------------------- EventWriter

class EventWriterFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    cfg_.capture.dir = dir_.path() + "/capture";
    cfg_.inside.interface = "hw-in";
    cfg_.outside.interface = "hw-out";
    HoneypotConfig hp;
    hp.name = "hp1";
    hp.ip = *Ip4::Parse("10.0.0.5");
    cfg_.honeypots = {hp};
  }
  std::vector<Budget> Budgets() const { return {Budget(cfg_.honeypots[0].limits)}; }
  std::vector<std::string> Lines(const std::string& name) const {
    std::vector<std::string> out;
    std::ifstream in(cfg_.capture.dir + "/" + name);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  TempDir dir_;
  Config cfg_;
};

TEST_F(EventWriterFaults, NoticeGoesToEventsAndLog) {
  auto w = EventWriter::Open(cfg_, Budgets());
  ASSERT_TRUE(w.ok()) << w.status().message();
  (*w)->PostNotice("link_down", "hw-in", "inside port hw-in: link down");
  (*w)->PostNotice("capture_write_failed", "", "capture: disk full");
  (*w)->Stop();
  auto ev = Lines("events.json");
  ASSERT_EQ(ev.size(), 2u);
  auto j = nlohmann::json::parse(ev[0]);
  EXPECT_EQ(j["event_type"], "notice");
  EXPECT_EQ(j["in_iface"], "hw-in");
  EXPECT_EQ(j["notice"]["what"], "link_down");
  EXPECT_EQ(j["notice"]["message"], "inside port hw-in: link down");
  EXPECT_TRUE(j.contains("timestamp"));
  EXPECT_FALSE(nlohmann::json::parse(ev[1]).contains("in_iface"));
  auto log = Lines("honeywall.log");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find(" honeywall: NOTICE inside port hw-in: link down"), std::string::npos) << log[0];
  EXPECT_EQ((*w)->written(), 0u) << "notices are not counted as events";
}

TEST_F(EventWriterFaults, AFullDiskLeavesWholeLinesAndNoticesAreWrittenLater) {
  auto w = EventWriter::Open(cfg_, Budgets());
  ASSERT_TRUE(w.ok());
  Event e;
  e.kind = EventKind::kFlowNew;
  e.ts_ns = WallNowNs();
  e.flow_id = 7;
  e.reason = Reason::kInbound;
  e.dir = FlowDir::kInbound;
  e.key.proto = 6;
  Ip4::Parse("192.0.2.9")->ToNet(e.key.src.data());
  Ip4::Parse("10.0.0.5")->ToNet(e.key.dst.data());
  ASSERT_TRUE((*w)->Post(e));
  (*w)->Start();
  const int64_t deadline = MonoNowNs() + 5 * kSec;
  while ((*w)->written() < 1 && MonoNowNs() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ((*w)->written(), 1u);
  const uintmax_t size = fs::file_size(cfg_.capture.dir + "/events.json");
  {
    FileSizeLimit full(size + 100);  // room for part of one more line only
    for (int i = 0; i < 50; i++) ASSERT_TRUE((*w)->Post(e));
    (*w)->PostNotice("capture_write_failed", "hw-in", "capture on hw-in: No space left on device");
    const int64_t d2 = MonoNowNs() + 5 * kSec;
    while ((*w)->dropped() < 50 && MonoNowNs() < d2) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ((*w)->dropped(), 50u);
  }
  // Space again: the notice kept from the full disk reaches the files, on lines of their
  // own: no part of the 50 lost lines was left in the file.
  ASSERT_TRUE((*w)->Post(e));
  (*w)->Stop();
  auto ev = Lines("events.json");
  int notices = 0, flows = 0;
  for (const auto& l : ev) {
    auto j = nlohmann::json::parse(l);  // throws (fails the test) on a broken line
    notices += j["event_type"] == "notice";
    flows += j["event_type"] == "honeywall";
  }
  EXPECT_EQ(notices, 1);
  EXPECT_EQ(flows, 2);
  bool logged = false;
  for (const auto& l : Lines("honeywall.log")) logged |= l.find("NOTICE capture on hw-in") != std::string::npos;
  EXPECT_TRUE(logged);
}

// ---------------------------------------------------------------- Sniffer

class SnifferFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)";
    ns_.emplace();
    ASSERT_TRUE(ns_->ok());
    n_ = ns_->name();
    test::Sh("ip netns exec " + n_ + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
    ASSERT_TRUE(MakeLink());
    enter_.emplace(n_);
    ASSERT_TRUE(enter_->ok());
  }
  void TearDown() override {
    enter_.reset();
    ns_.reset();
  }
  bool MakeLink() {
    return test::Sh("ip -n " + n_ + " link add hwf0 type veth peer name hwf1") &&
           test::Sh("ip -n " + n_ + " link set hwf0 up") && test::Sh("ip -n " + n_ + " link set hwf1 up");
  }
  // Sends n frames of len bytes out of hwf1 (so they arrive on hwf0), tagged with id.
  bool Send(int n, size_t len, uint8_t id) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = int(if_nametoindex("hwf1"));
    sll.sll_halen = 6;
    std::vector<uint8_t> f(len, id);
    const uint8_t head[14] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5};
    std::memcpy(f.data(), head, 14);
    bool ok = fd >= 0 && sll.sll_ifindex > 0;
    for (int i = 0; ok && i < n; i++)
      ok = sendto(fd, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll) == ssize_t(len);
    if (fd >= 0) close(fd);
    return ok;
  }
  static bool WaitFor(const std::function<bool()>& pred) {
    const int64_t deadline = MonoNowNs() + 5 * kSec;
    while (!pred()) {
      if (MonoNowNs() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  Sniffer::Options Opts() {
    Sniffer::Options o;
    o.ports = {{"hwf0", "inside"}};
    o.dir = dir_.path() + "/pcap";
    o.ring_mb = 2;
    return o;
  }
  std::vector<SnifferNotice> notices_;
  bool HaveNotice(Sniffer& s, const std::string& what) {
    for (auto& n : s.TakeNotices()) notices_.push_back(n);
    for (auto& n : notices_)
      if (n.what == what) return true;
    return false;
  }

  std::optional<test::TestNetns> ns_;
  std::optional<test::NetnsEnter> enter_;
  std::string n_;
  TempDir dir_;
};

TEST_F(SnifferFaults, FollowsAnInterfaceDeletedAndCreatedAgain) {
  auto s = Sniffer::Open(Opts());
  ASSERT_TRUE(s.ok()) << s.status().message();
  (*s)->Start();
  const unsigned first = if_nametoindex("hwf0");
  EXPECT_EQ((*s)->CapturingIndex("hwf0"), first);
  EXPECT_EQ((*s)->CapturingIndex("nope"), 0u);
  ASSERT_TRUE(Send(5, 100, 0xa1));
  ASSERT_TRUE(WaitFor([&] { return (*s)->stats().frames >= 5; }));

  ASSERT_TRUE(test::Sh("ip -n " + n_ + " link del hwf0"));
  ASSERT_TRUE(WaitFor([&] { return HaveNotice(**s, "capture_port_gone"); }));
  EXPECT_EQ((*s)->CapturingIndex("hwf0"), 0u);
  ASSERT_TRUE(MakeLink());
  (*s)->Poke();
  ASSERT_TRUE(WaitFor([&] { return (*s)->CapturingIndex("hwf0") == if_nametoindex("hwf0"); }));
  EXPECT_NE((*s)->CapturingIndex("hwf0"), first);
  EXPECT_TRUE(HaveNotice(**s, "capture_port_reopened"));
  ASSERT_TRUE(Send(7, 120, 0xb2));
  ASSERT_TRUE(WaitFor([&] { return (*s)->stats().frames >= 12; })) << (*s)->stats().frames;
  (*s)->Stop();
  size_t n = 0;
  ASSERT_TRUE(LibpcapReadsCleanly((*s)->files()[0], &n));
  EXPECT_EQ(n, 12u);
  EXPECT_EQ((*s)->stats().kernel_drops, 0u);
}

TEST_F(SnifferFaults, WriteFailureAndRecoveryAreNoticed) {
  auto s = Sniffer::Open(Opts());
  ASSERT_TRUE(s.ok()) << s.status().message();
  (*s)->Start();
  {
    FileSizeLimit full(64 * 1024);  // the "disk" takes ~60 frames of 1000 bytes
    ASSERT_TRUE(Send(300, 1000, 0xc3));
    ASSERT_TRUE(WaitFor([&] { return HaveNotice(**s, "capture_write_failed"); }));
    EXPECT_GT((*s)->stats().write_drops, 0u);
  }
  // Space again: a second later (the retry interval) frames reach a new file.
  const uint64_t written = (*s)->stats().frames;
  // The writer tries a new file once per second of frame time: keep frames coming until it did.
  ASSERT_TRUE(WaitFor([&] {
    Send(5, 1000, 0xd4);
    return HaveNotice(**s, "capture_write_resumed");
  }));
  (*s)->Stop();
  const SnifferStats st = (*s)->stats();
  EXPECT_GT(st.frames, written);
  EXPECT_EQ(st.kernel_drops, 0u);
  std::string resumed;
  for (auto& n : notices_)
    if (n.what == "capture_write_resumed") resumed = n.message;
  EXPECT_NE(resumed.find("frames were lost"), std::string::npos) << resumed;
  // Every file made is a clean pcap; frames in files + lost = frames offered.
  size_t in_files = 0;
  for (const auto& f : (*s)->files()) {
    if (!fs::exists(f)) continue;
    size_t n = 0;
    EXPECT_TRUE(LibpcapReadsCleanly(f, &n)) << f;
    in_files += n;
  }
  EXPECT_EQ(in_files, st.frames);
}

}  // namespace
}  // namespace hn
