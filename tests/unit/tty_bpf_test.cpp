// eBPF tty capture (src/capture/tty_bpf.*): the userspace half, which needs no
// privileges: decoding the kernel program's events, tty names, tty ids that
// stay unique in an appended file, and the records written for a stream of
// events (OPEN with parent, gathered data, EXEC, CLOSE and a new id after it),
// read back with the project's own tty log reader. Loading the program needs
// root: tests/integration/test_tty_bpf.py.
#include "capture/tty_bpf.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/ttylog.h"
#include "../../bpf/tty_capture.h"  // the event layout (bpf/ is not on the include path of tests)

namespace hn {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'795'710'149'000'000;  // 2026-11-26T16:22:29Z in microseconds
constexpr uint32_t kPts3 = TTY_DEV(136, 3);
constexpr uint32_t kPts4 = TTY_DEV(136, 4);
constexpr uint32_t kTty1 = TTY_DEV(4, 1);

class TtyBpfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-ttybpf-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The records in bytes, read back with TtyLogReader (the file must be whole).
  std::vector<TtyRecord> Records(const std::string& bytes) {
    const std::string path = dir_ + "/r" + std::to_string(n_++) + ".ttylog";
    TtyLogBuilder b;
    b.Raw(bytes);
    EXPECT_TRUE(b.AppendTo(path).ok());
    auto reader = TtyLogReader::Open(path);
    EXPECT_TRUE(reader.ok());
    std::vector<TtyRecord> out;
    if (!reader.ok()) return out;
    TtyRecord rec;
    for (;;) {
      auto next = (*reader)->Read(&rec);
      EXPECT_TRUE(next.ok()) << next.status().message();
      if (!next.ok()) break;
      if (*next != TtyLogReader::Next::kRecord) {
        EXPECT_EQ(*next, TtyLogReader::Next::kEnd) << "a truncated record";
        break;
      }
      out.push_back(rec);
    }
    return out;
  }

  static TtyBpfEvent Ev(uint32_t kind, uint32_t dev, std::string_view data = {}, uint32_t ctty = 0,
                        uint32_t pctty = 0) {
    TtyBpfEvent ev;
    ev.kind = kind;
    ev.dev = dev;
    ev.ctty = ctty;
    ev.pctty = pctty;
    ev.data = data;
    return ev;
  }

  std::string dir_;
  int n_ = 0;
};

// ---- events from the kernel program -----------------------------------------

std::string Sample(uint32_t kind, uint32_t dev, std::string_view data, uint32_t claimed_len) {
  tty_event h{};
  h.time_ns = 123456789;
  h.kind = kind;
  h.target = 2;
  h.dev = dev;
  h.ctty = kPts4;
  h.pctty = kTty1;
  h.pid = 4242;
  h.len = claimed_len;
  std::string s(reinterpret_cast<const char*>(&h), TTY_EV_HEADER_BYTES);
  s.append(data);
  return s;
}

TEST_F(TtyBpfTest, DecodesAnEventWithItsData) {
  const std::string s = Sample(TTY_EV_WRITE, kPts3, "hello", 5);
  TtyBpfEvent ev;
  ASSERT_TRUE(DecodeTtyBpfEvent(s.data(), s.size(), &ev));
  EXPECT_EQ(ev.kind, TtyBpfEvent::kWrite);
  EXPECT_EQ(ev.target, 2u);
  EXPECT_EQ(ev.dev, kPts3);
  EXPECT_EQ(ev.ctty, kPts4);
  EXPECT_EQ(ev.pctty, kTty1);
  EXPECT_EQ(ev.pid, 4242u);
  EXPECT_EQ(ev.time_ns, 123456789u);
  EXPECT_EQ(ev.data, "hello");
  // The ring buffer rounds samples up to 8 bytes: bytes past len are ignored.
  const std::string padded = s + std::string(3, '\0');
  ASSERT_TRUE(DecodeTtyBpfEvent(padded.data(), padded.size(), &ev));
  EXPECT_EQ(ev.data, "hello");
}

TEST_F(TtyBpfTest, RejectsShortOrOversizedEvents) {
  TtyBpfEvent ev;
  const std::string header_only = Sample(TTY_EV_EXIT, kPts3, "", 0);
  EXPECT_TRUE(DecodeTtyBpfEvent(header_only.data(), header_only.size(), &ev));
  EXPECT_TRUE(ev.data.empty());
  EXPECT_FALSE(DecodeTtyBpfEvent(header_only.data(), TTY_EV_HEADER_BYTES - 1, &ev));
  const std::string claims_more = Sample(TTY_EV_READ, kPts3, "abc", 4);
  EXPECT_FALSE(DecodeTtyBpfEvent(claims_more.data(), claims_more.size(), &ev));
  const std::string too_big = Sample(TTY_EV_READ, kPts3, std::string(TTY_EV_MAX_DATA + 1, 'x'),
                                     TTY_EV_MAX_DATA + 1);
  EXPECT_FALSE(DecodeTtyBpfEvent(too_big.data(), too_big.size(), &ev));
  const std::string max = Sample(TTY_EV_READ, kPts3, std::string(TTY_EV_MAX_DATA, 'x'), TTY_EV_MAX_DATA);
  EXPECT_TRUE(DecodeTtyBpfEvent(max.data(), max.size(), &ev));
  EXPECT_EQ(ev.data.size(), size_t(TTY_EV_MAX_DATA));
}

TEST_F(TtyBpfTest, NamesTtysLikeTheirDeviceNodes) {
  EXPECT_EQ(TtyDeviceName(TTY_DEV(136, 0)), "pts/0");
  EXPECT_EQ(TtyDeviceName(TTY_DEV(136, 300)), "pts/300");  // 20-bit minors: no wrap at 256
  EXPECT_EQ(TtyDeviceName(TTY_DEV(4, 1)), "tty1");
  EXPECT_EQ(TtyDeviceName(TTY_DEV(4, 0)), "tty0");
  EXPECT_EQ(TtyDeviceName(TTY_DEV(4, 64)), "ttyS0");
  EXPECT_EQ(TtyDeviceName(TTY_DEV(4, 67)), "ttyS3");
  EXPECT_EQ(TtyDeviceName(TTY_DEV(204, 64)), "tty204:64");
}

// ---- records -----------------------------------------------------------------

TEST_F(TtyBpfTest, ASessionBecomesOpenDataExecClose) {
  TtyBpfLog log(1000);
  std::string out;
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "Password: ", kPts3), kT0, &out);
  EXPECT_EQ(out.size(), kTtyHeaderBytes + 5) << "only the OPEN: the data is being gathered";
  log.Feed(Ev(TtyBpfEvent::kRead, kPts3, "s", kPts3), kT0 + 1000, &out);
  log.Feed(Ev(TtyBpfEvent::kRead, kPts3, "3cret\n", kPts3), kT0 + 2000, &out);
  log.Feed(Ev(TtyBpfEvent::kExec, kPts3, std::string_view("/bin/uname\0-a\0", 14), kPts3), kT0 + 3000, &out);
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "Linux hp1\n", kPts3), kT0 + 4000, &out);
  log.Feed(Ev(TtyBpfEvent::kExit, kPts3, {}, kPts3), kT0 + 5000, &out);
  log.Flush(-1, &out);

  const auto recs = Records(out);
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(recs[0].what, kTtyOpen);
  EXPECT_EQ(recs[0].tty, 1000u);
  EXPECT_EQ(recs[0].direction, 0u);  // no parent
  EXPECT_EQ(recs[0].data, "pts/3");
  EXPECT_EQ(recs[0].TimeUs(), kT0);
  EXPECT_EQ(recs[1].what, kTtyWrite);
  EXPECT_EQ(recs[1].direction, kTtyDirWrite);
  EXPECT_EQ(recs[1].data, "Password: ");
  EXPECT_EQ(recs[2].direction, kTtyDirRead);
  EXPECT_EQ(recs[2].data, "s3cret\n") << "typed bytes within 20 ms are one record";
  EXPECT_EQ(recs[2].TimeUs(), kT0 + 1000) << "the time of its first byte";
  EXPECT_EQ(recs[3].what, kTtyExec);
  EXPECT_EQ(recs[3].Argv(), (std::vector<std::string>{"/bin/uname", "-a"}));
  EXPECT_EQ(recs[4].data, "Linux hp1\n");
  EXPECT_EQ(recs[5].what, kTtyClose);
  for (const TtyRecord& r : recs) EXPECT_EQ(r.tty, 1000u);
  EXPECT_EQ(log.records(), 6u);
  EXPECT_EQ(log.bytes(), 10u + 7u + 10u);
  EXPECT_TRUE(log.open_ttys().empty());
}

TEST_F(TtyBpfTest, AfterACloseTheSameDeviceGetsANewId) {
  TtyBpfLog log(7);
  std::string out;
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "one", kPts3), kT0, &out);
  log.Feed(Ev(TtyBpfEvent::kExit, kPts3, {}, kPts3), kT0 + 100, &out);
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "two", kPts3), kT0 + 200, &out);
  log.Flush(-1, &out);
  const auto recs = Records(out);
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[3].what, kTtyOpen);
  EXPECT_EQ(recs[3].tty, 8u);
  EXPECT_EQ(recs[4].tty, 8u);
  EXPECT_EQ(recs[4].data, "two");
  ASSERT_EQ(log.open_ttys().count(kPts3), 1u);
  EXPECT_EQ(log.open_ttys().at(kPts3), 8u);
}

TEST_F(TtyBpfTest, ParentIsTheControllingTtyOfTheProcessOrOfItsParent) {
  TtyBpfLog log(1);
  std::string out;
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "$ ", kPts3), kT0, &out);  // tty 1
  // screen's child on pts/4: its own ctty is pts/4, its parent's pts/3.
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts4, "# ", kPts4, kPts3), kT0 + 10, &out);  // tty 2
  // A process with pts/4 as ctty writes to tty1 first: parent pts/4.
  log.Feed(Ev(TtyBpfEvent::kWrite, kTty1, "x", kPts4, 0), kT0 + 20, &out);  // tty 3
  // The console written by a process without a ctty whose parent's is unknown: none.
  log.Feed(Ev(TtyBpfEvent::kWrite, TTY_DEV(4, 64), "y", 0, TTY_DEV(136, 9)), kT0 + 30, &out);  // tty 4
  log.Flush(-1, &out);
  std::vector<TtyRecord> opens;
  for (const TtyRecord& r : Records(out))
    if (r.what == kTtyOpen) opens.push_back(r);
  ASSERT_EQ(opens.size(), 4u);
  EXPECT_EQ(opens[0].direction, 0u);
  EXPECT_EQ(opens[1].data, "pts/4");
  EXPECT_EQ(opens[1].direction, 1u);
  EXPECT_EQ(opens[2].data, "tty1");
  EXPECT_EQ(opens[2].direction, 2u);
  EXPECT_EQ(opens[3].data, "ttyS0");
  EXPECT_EQ(opens[3].direction, 0u);

  // The project's session reader nests them.
  const std::string path = dir_ + "/hp1.ttylog";
  TtyLogBuilder b;
  b.Raw(out);
  ASSERT_TRUE(b.AppendTo(path).ok());
  TtyLogScan scan = ScanTtyLog(path);
  ASSERT_TRUE(scan.error.ok()) << scan.error.message();
  ASSERT_EQ(scan.sessions.size(), 4u);
  EXPECT_EQ(scan.sessions[1].parent, "hp1:1");
  EXPECT_EQ(scan.sessions[0].children, (std::vector<std::string>{"hp1:2"}));
}

TEST_F(TtyBpfTest, GatheringStopsAt20MsAt4096BytesAndAtAnotherTtyOrDirection) {
  TtyBpfLog log(1);
  std::string out;
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "a", kPts3), kT0, &out);
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "b", kPts3), kT0 + TtyBpfLog::kGatherUs - 1, &out);  // joins
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "c", kPts3), kT0 + TtyBpfLog::kGatherUs, &out);      // 20 ms: new
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts4, "d", kPts4), kT0 + TtyBpfLog::kGatherUs + 1, &out);  // other tty
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "e", kPts3), kT0 + TtyBpfLog::kGatherUs + 2, &out);
  log.Feed(Ev(TtyBpfEvent::kRead, kPts3, "f", kPts3), kT0 + TtyBpfLog::kGatherUs + 3, &out);  // direction
  const std::string big(4000, 'x');
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, big, kPts3), kT0 + 30'000, &out);
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, std::string(96, 'y'), kPts3), kT0 + 30'001, &out);  // 4096: joins
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "z", kPts3), kT0 + 30'002, &out);                  // 4097: new
  const std::string full(4096, 'F');
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, full, kPts3), kT0 + 30'003, &out);  // a full chunk goes out at once
  std::vector<std::string> data;
  for (const TtyRecord& r : Records(out))
    if (r.what == kTtyWrite) data.push_back(r.data);
  ASSERT_EQ(data.size(), 8u);
  EXPECT_EQ(data[0], "ab");
  EXPECT_EQ(data[1], "c");
  EXPECT_EQ(data[2], "d");
  EXPECT_EQ(data[3], "e");
  EXPECT_EQ(data[4], "f");
  EXPECT_EQ(data[5], big + std::string(96, 'y'));
  EXPECT_EQ(data[6], "z");
  EXPECT_EQ(data[7], full);

  // Nothing is pending now; new data waits for Flush until it is 20 ms old.
  out.clear();
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "late", kPts3), kT0 + 100'000, &out);
  EXPECT_TRUE(out.empty());
  log.Flush(kT0 + 100'000 + TtyBpfLog::kGatherUs - 1, &out);
  EXPECT_TRUE(out.empty());
  log.Flush(kT0 + 100'000 + TtyBpfLog::kGatherUs, &out);
  const auto recs = Records(out);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].data, "late");
}

TEST_F(TtyBpfTest, IgnoresEventsThatCarryNothing) {
  TtyBpfLog log(1);
  std::string out;
  log.Feed(Ev(TtyBpfEvent::kExit, kPts3, {}, kPts3), kT0, &out);  // a tty never recorded: no CLOSE
  log.Feed(Ev(TtyBpfEvent::kExec, 0, std::string_view("ls\0", 3)), kT0, &out);  // no controlling tty
  log.Feed(Ev(TtyBpfEvent::kWrite, kPts3, "", kPts3), kT0, &out);
  log.Feed(Ev(99, kPts3, "x", kPts3), kT0, &out);
  log.Flush(-1, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(log.records(), 0u);
}

TEST_F(TtyBpfTest, ExecOpensTheControllingTtyAndFlushesDataBeforeIt) {
  TtyBpfLog log(5);
  std::string out;
  log.Feed(Ev(TtyBpfEvent::kRead, kPts3, "ls\r", kPts3), kT0, &out);
  log.Feed(Ev(TtyBpfEvent::kExec, kPts4, std::string_view("ls\0", 3), kPts4), kT0 + 5, &out);
  log.Flush(-1, &out);
  const auto recs = Records(out);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].what, kTtyOpen);
  EXPECT_EQ(recs[1].what, kTtyWrite) << "gathered data goes out before a later record";
  EXPECT_EQ(recs[2].what, kTtyOpen);
  EXPECT_EQ(recs[2].data, "pts/4");
  EXPECT_EQ(recs[3].what, kTtyExec);
  EXPECT_EQ(recs[3].tty, 6u);
}

// ---- ids across restarts ------------------------------------------------------

TEST_F(TtyBpfTest, FirstIdIsStartTimeTimes65536OrPastTheFilesLargest) {
  const int64_t sec = 1'795'710'149;
  EXPECT_EQ(FirstTtyId(sec, dir_ + "/missing.ttylog"), uint64_t(sec) << 16);

  const std::string older = dir_ + "/older.ttylog";
  TtyLogBuilder a;
  a.Open(uint64_t(sec - 100) << 16, 0, "pts/0", kT0).Close(uint64_t(sec - 100) << 16, kT0);
  ASSERT_TRUE(a.AppendTo(older).ok());
  EXPECT_EQ(FirstTtyId(sec, older), uint64_t(sec) << 16);

  // A capture that ran a second ago and opened many ttys: continue past them.
  const std::string busy = dir_ + "/busy.ttylog";
  const uint64_t high = (uint64_t(sec) << 16) + 70'000;
  TtyLogBuilder b;
  b.Open(high - 1, 0, "pts/1", kT0).Output(high, "x", kT0).Exec(high - 5, {"sh"}, kT0);
  ASSERT_TRUE(b.AppendTo(busy).ok());
  EXPECT_EQ(FirstTtyId(sec, busy), high + 1);

  // A corrupt or truncated tail does not stop the capture: ids before it count.
  TtyLogBuilder c;
  c.Raw(std::string(20, '\xff'));
  ASSERT_TRUE(c.AppendTo(busy).ok());
  EXPECT_EQ(FirstTtyId(sec, busy), high + 1);
}

// ---- what needs no privileges of the capture itself ---------------------------

TEST_F(TtyBpfTest, StartRefusesBadTargetsBeforeLoadingAnything) {
  auto none = TtyBpfCapture::Start({});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no honeypot"), std::string::npos);

  TtyBpfTarget a{"hp1", 4026531836, dir_ + "/hp1.ttylog"};
  TtyBpfTarget zero{"hp2", 0, dir_ + "/hp2.ttylog"};
  auto z = TtyBpfCapture::Start({zero});
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.status().message().find("not a pid namespace inode"), std::string::npos);

  TtyBpfTarget same_ns{"hp2", a.pidns_inode, dir_ + "/hp2.ttylog"};
  auto twice = TtyBpfCapture::Start({a, same_ns});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("named twice"), std::string::npos);

  TtyBpfTarget same_file{"hp2", a.pidns_inode + 1, a.log_path};
  auto shared = TtyBpfCapture::Start({a, same_file});
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("used by another honeypot"), std::string::npos);
  EXPECT_FALSE(fs::exists(a.log_path)) << "nothing is created for a refused start";

  // Its own pid namespace (the host's): every terminal of the machine. Refused.
  auto own = PidNamespaceInode(getpid());
  ASSERT_TRUE(own.ok());
  TtyBpfTarget host{"host", *own, dir_ + "/host.ttylog"};
  auto h = TtyBpfCapture::Start({host});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("the capture's own"), std::string::npos) << h.status().message();
  EXPECT_FALSE(fs::exists(host.log_path));
}

TEST_F(TtyBpfTest, PidNamespaceInodeIsThatOfProcSelf) {
  struct stat st{};
  ASSERT_EQ(stat("/proc/self/ns/pid", &st), 0);
  auto ino = PidNamespaceInode(getpid());
  ASSERT_TRUE(ino.ok()) << ino.status().message();
  EXPECT_EQ(*ino, uint64_t(st.st_ino));
  EXPECT_FALSE(PidNamespaceInode(0).ok());
  auto gone = PidNamespaceInode(0x3fffffff);  // above pid_max
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.status().message().find("no such process"), std::string::npos);
}

}  // namespace
}  // namespace hn
