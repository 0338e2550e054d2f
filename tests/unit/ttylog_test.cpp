// TTY logs (src/analysis/ttylog.*): the reader on synthetic files (every
// record type, truncated tails, corrupt headers, a file growing while read),
// sessions (nested ptys, reused ids, sessions without OPEN), and replay
// (output bytes, marked input, pauses).
#include "analysis/ttylog.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hn {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'795'710'149'000'000;  // 2026-11-26T16:22:29Z in microseconds

class TtyLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-ttylog-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const TtyLogBuilder& b) {
    const std::string path = dir_ + "/" + name;
    Status st = b.AppendTo(path);
    EXPECT_TRUE(st.ok()) << st.message();
    return path;
  }

  // Every record of path until the reader stops; *end gets how it stopped.
  static std::vector<TtyRecord> ReadAll(const std::string& path, Result<TtyLogReader::Next>* end) {
    std::vector<TtyRecord> out;
    auto r = TtyLogReader::Open(path);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return out;
    TtyRecord rec;
    for (;;) {
      *end = (*r)->Read(&rec);
      if (!end->ok() || **end != TtyLogReader::Next::kRecord) return out;
      out.push_back(rec);
    }
  }

  // A login on pts/0 (tty 3) with a password, a command, a nested pty
  // (tty 4, parent 3: `screen`), and output of an unrelated console (tty 1)
  // interleaved.
  static TtyLogBuilder Login() {
    TtyLogBuilder b;
    b.Open(3, 0, "pts/0", kT0)
        .Output(3, "login: ", kT0 + 100'000)
        .Output(1, "console noise\r\n", kT0 + 150'000)
        .Input(3, "root\r", kT0 + 1'000'000)
        .Output(3, "root\r\nPassword: ", kT0 + 1'010'000)
        .Input(3, "s3cret\n", kT0 + 2'000'000)
        .Output(3, "\r\n# ", kT0 + 2'100'000)
        .Input(3, "uname -a\r", kT0 + 3'000'000)
        .Exec(3, {"uname", "-a"}, kT0 + 3'050'000)
        .Output(3, "uname -a\r\nLinux hp1 6.1.0\r\n# ", kT0 + 3'100'000)
        .Exec(3, {"screen"}, kT0 + 4'000'000)
        .Open(4, 3, "pts/1", kT0 + 4'100'000)
        .Output(4, "[screen 0: sh]\r\n$ ", kT0 + 4'200'000)
        .Input(4, "id\r", kT0 + 5'000'000)
        .Exec(4, {"id"}, kT0 + 5'010'000)
        .Output(4, "uid=0(root)\r\n", kT0 + 5'020'000)
        .Close(4, kT0 + 6'000'000)
        .Output(3, "logout\r\n", kT0 + 7'000'000)
        .Close(3, kT0 + 7'500'000);
    return b;
  }

  std::string dir_;
};

TEST_F(TtyLogTest, EncodesTheDocumentedLayout) {
  const std::string r = EncodeTtyRecord(kTtyWrite, 7, kTtyDirRead, 1'700'000'000'250'000, "ab");
  ASSERT_EQ(r.size(), kTtyHeaderBytes + 2);
  const uint8_t expect[48] = {
      3, 0, 0, 0, 0, 0, 0, 0,                 // what WRITE
      7, 0, 0, 0, 0, 0, 0, 0,                 // tty
      2, 0, 0, 0, 0, 0, 0, 0,                 // len
      1, 0, 0, 0, 0, 0, 0, 0,                 // direction READ
      0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0,     // sec 1700000000
      0x90, 0xd0, 0x03, 0, 0, 0, 0, 0,        // usec 250000
  };
  EXPECT_EQ(std::string(r.data(), 48), std::string(reinterpret_cast<const char*>(expect), 48));
  EXPECT_EQ(r.substr(48), "ab");
}

TEST_F(TtyLogTest, ReaderReturnsEveryRecordWithItsFields) {
  const std::string path = Write("hp1.ttylog", Login());
  Result<TtyLogReader::Next> end = TtyLogReader::Next::kRecord;
  const std::vector<TtyRecord> recs = ReadAll(path, &end);
  ASSERT_TRUE(end.ok()) << end.status().message();
  EXPECT_EQ(*end, TtyLogReader::Next::kEnd);
  ASSERT_EQ(recs.size(), 19u);
  EXPECT_EQ(recs[0].what, kTtyOpen);
  EXPECT_EQ(recs[0].tty, 3u);
  EXPECT_EQ(recs[0].direction, 0u);
  EXPECT_EQ(recs[0].data, "pts/0");
  EXPECT_EQ(recs[0].offset, 0u);
  EXPECT_EQ(recs[0].TimeUs(), kT0);
  EXPECT_EQ(recs[1].offset, kTtyHeaderBytes + 5);
  EXPECT_EQ(recs[3].direction, kTtyDirRead);
  EXPECT_EQ(recs[3].data, "root\r");
  EXPECT_EQ(recs[3].sec, uint64_t(kT0 / 1'000'000 + 1));
  EXPECT_EQ(recs[3].usec, 0u);
  EXPECT_EQ(recs[8].what, kTtyExec);
  EXPECT_EQ(recs[8].Argv(), (std::vector<std::string>{"uname", "-a"}));
  EXPECT_EQ(recs[8].usec, 50'000u);
  EXPECT_EQ(recs[11].direction, 3u);  // OPEN: the parent
  EXPECT_EQ(recs[18].what, kTtyClose);
  EXPECT_EQ(recs[18].len, 0u);
  EXPECT_EQ(fs::file_size(path), recs[18].offset + kTtyHeaderBytes);
}

TEST_F(TtyLogTest, ArgvWithoutFinalNulAndEmptyArguments) {
  TtyRecord r;
  r.data = std::string("sh\0-c\0\0echo hi", 15);
  EXPECT_EQ(r.Argv(), (std::vector<std::string>{"sh", "-c", "", "echo hi"}));
  r.data.clear();
  EXPECT_TRUE(r.Argv().empty());
}

TEST_F(TtyLogTest, RecordsBiggerThanTheReadBufferAndAtTheMaximumLength) {
  // 5 records of 65536 bytes (the maximum) cross every buffer boundary.
  TtyLogBuilder b;
  for (int i = 0; i < 5; i++) b.Output(2, std::string(kTtyMaxData, char('a' + i)), kT0 + i);
  b.Exec(2, {"ls"}, kT0 + 9);
  const std::string path = Write("big.ttylog", b);
  Result<TtyLogReader::Next> end = TtyLogReader::Next::kRecord;
  const std::vector<TtyRecord> recs = ReadAll(path, &end);
  ASSERT_TRUE(end.ok()) << end.status().message();
  ASSERT_EQ(recs.size(), 6u);
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(recs[size_t(i)].data, std::string(kTtyMaxData, char('a' + i))) << i;
    EXPECT_EQ(recs[size_t(i)].offset, uint64_t(i) * (kTtyHeaderBytes + kTtyMaxData));
  }
  EXPECT_EQ(recs[5].Argv(), std::vector<std::string>{"ls"});
}

TEST_F(TtyLogTest, TruncatedTailIsReportedAndAGrowingFileCompletesIt) {
  const std::string full = EncodeTtyRecord(kTtyExec, 3, 0, kT0 + 5, std::string("whoami\0", 7));
  TtyLogBuilder b;
  b.Open(3, 0, "pts/0", kT0).Raw(full.substr(0, 20));  // half a header
  const std::string path = Write("hp1.ttylog", b);
  auto r = TtyLogReader::Open(path);
  ASSERT_TRUE(r.ok());
  TtyRecord rec;
  auto n = (*r)->Read(&rec);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, TtyLogReader::Next::kRecord);
  n = (*r)->Read(&rec);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, TtyLogReader::Next::kTruncated);
  EXPECT_EQ((*r)->offset(), kTtyHeaderBytes + 5);
  EXPECT_EQ((*r)->pending(), 20u);

  // The header arrives, the data not yet: still truncated (now inside the data).
  ASSERT_TRUE(TtyLogBuilder().Raw(full.substr(20, 30)).AppendTo(path).ok());
  n = (*r)->Read(&rec);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, TtyLogReader::Next::kTruncated);
  EXPECT_EQ((*r)->pending(), 50u);

  // The rest, and one more record: both come out whole.
  ASSERT_TRUE(TtyLogBuilder().Raw(full.substr(50)).Close(3, kT0 + 6).AppendTo(path).ok());
  n = (*r)->Read(&rec);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, TtyLogReader::Next::kRecord);
  EXPECT_EQ(rec.what, kTtyExec);
  EXPECT_EQ(rec.Argv(), std::vector<std::string>{"whoami"});
  EXPECT_EQ(rec.offset, kTtyHeaderBytes + 5);
  n = (*r)->Read(&rec);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, TtyLogReader::Next::kRecord);
  EXPECT_EQ(rec.what, kTtyClose);
  n = (*r)->Read(&rec);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, TtyLogReader::Next::kEnd);
}

TEST_F(TtyLogTest, CorruptHeadersStopTheReaderNamingTheOffset) {
  struct Case {
    const char* name;
    std::string bad;
    const char* says;
  };
  std::string too_long = EncodeTtyRecord(kTtyWrite, 3, kTtyDirWrite, kT0, "x");
  too_long[16] = char(0x01);  // len 65537
  too_long[17] = 0;
  too_long[18] = char(0x01);
  const std::vector<Case> cases = {
      {"len", too_long, "length 65537 is over 65536"},
      {"what", EncodeTtyRecord(9, 3, 0, kT0, ""), "unknown record type (what) 9"},
      {"what0", EncodeTtyRecord(0, 3, 0, kT0, ""), "unknown record type (what) 0"},
      {"direction", EncodeTtyRecord(kTtyWrite, 3, 5, kT0, "x"), "direction 5"},
  };
  for (const Case& c : cases) {
    TtyLogBuilder b;
    b.Open(3, 0, "pts/0", kT0).Output(3, "ok", kT0 + 1).Raw(c.bad).Output(3, "after", kT0 + 2);
    const std::string path = Write(std::string(c.name) + ".ttylog", b);
    Result<TtyLogReader::Next> end = TtyLogReader::Next::kRecord;
    const std::vector<TtyRecord> recs = ReadAll(path, &end);
    EXPECT_EQ(recs.size(), 2u) << c.name;
    ASSERT_FALSE(end.ok()) << c.name;
    const std::string& m = end.status().message();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("corrupt record at offset 103"), std::string::npos) << m;  // 48+5 + 48+2
    EXPECT_NE(m.find(c.says), std::string::npos) << m;
  }
}

TEST_F(TtyLogTest, CorruptionIsStickyAndScanKeepsWhatCameBefore) {
  TtyLogBuilder b = Login();
  b.Raw(EncodeTtyRecord(42, 3, 0, kT0, "")).Open(9, 0, "pts/9", kT0 + 9'000'000);
  const std::string path = Write("hp1.ttylog", b);
  auto r = TtyLogReader::Open(path, b.bytes().size() - 2 * kTtyHeaderBytes - 5);
  ASSERT_TRUE(r.ok());
  TtyRecord rec;
  EXPECT_FALSE((*r)->Read(&rec).ok());
  EXPECT_FALSE((*r)->Read(&rec).ok());  // stays stopped

  TtyLogScan scan = ScanTtyLog(path);
  EXPECT_FALSE(scan.error.ok());
  EXPECT_NE(scan.error.message().find("corrupt record"), std::string::npos);
  ASSERT_EQ(scan.sessions.size(), 3u);  // tty 1, 3 and 4: nothing of tty 9
  EXPECT_EQ(scan.sessions[0].id, "hp1:3");
}

TEST_F(TtyLogTest, SessionsOfALoginWithANestedPty) {
  const std::string path = Write("hp1.ttylog", Login());
  TtyLogScan scan = ScanTtyLog(path);
  ASSERT_TRUE(scan.error.ok()) << scan.error.message();
  EXPECT_FALSE(scan.truncated);
  EXPECT_EQ(scan.honeypot, "hp1");
  ASSERT_EQ(scan.sessions.size(), 3u);

  const TtySession& login = scan.sessions[0];
  EXPECT_EQ(login.id, "hp1:3");
  EXPECT_EQ(login.honeypot, "hp1");
  EXPECT_EQ(login.name, "pts/0");
  EXPECT_TRUE(login.opened);
  EXPECT_TRUE(login.closed);
  EXPECT_EQ(login.start_us, kT0);
  EXPECT_EQ(login.end_us, kT0 + 7'500'000);
  EXPECT_EQ(login.DurationUs(), 7'500'000);
  EXPECT_EQ(login.bytes_in, 5u + 7u + 9u);
  EXPECT_EQ(login.bytes_out, 7u + 16u + 4u + 29u + 8u);
  ASSERT_EQ(login.commands.size(), 2u);
  EXPECT_EQ(login.commands[0].Text(), "uname -a");
  EXPECT_EQ(login.commands[0].time_us, kT0 + 3'050'000);
  EXPECT_EQ(login.commands[1].Text(), "screen");
  EXPECT_EQ(login.children, std::vector<std::string>{"hp1:4"});
  EXPECT_EQ(login.parent, "");

  const TtySession& console = scan.sessions[1];  // data without OPEN: a session all the same
  EXPECT_EQ(console.id, "hp1:1");
  EXPECT_FALSE(console.opened);
  EXPECT_FALSE(console.closed);
  EXPECT_EQ(console.name, "");
  EXPECT_EQ(console.bytes_out, 15u);
  EXPECT_EQ(console.DurationUs(), 0);

  const TtySession& screen = scan.sessions[2];
  EXPECT_EQ(screen.id, "hp1:4");
  EXPECT_EQ(screen.name, "pts/1");
  EXPECT_EQ(screen.parent_tty, 3u);
  EXPECT_EQ(screen.parent, "hp1:3");
  EXPECT_EQ(screen.start_us, kT0 + 4'100'000);
  EXPECT_EQ(screen.DurationUs(), 1'900'000);
  EXPECT_EQ(screen.bytes_in, 3u);
  EXPECT_EQ(screen.bytes_out, 18u + 13u);
  ASSERT_EQ(screen.commands.size(), 1u);
  EXPECT_EQ(screen.commands[0].argv, std::vector<std::string>{"id"});
}

TEST_F(TtyLogTest, ReusedTtyIdsGetOrdinalsAndAReopenEndsTheOldSession) {
  TtyLogBuilder b;
  b.Open(5, 0, "pts/2", kT0)
      .Output(5, "a", kT0 + 1)
      .Close(5, kT0 + 2)
      .Output(5, "late", kT0 + 3)     // after the CLOSE: a session without OPEN
      .Open(5, 0, "pts/2", kT0 + 10)  // reopens it without a CLOSE
      .Open(6, 99, "pts/3", kT0 + 11) // parent 99 never seen
      .Open(5, 0, "pts/2", kT0 + 20)
      .Close(5, kT0 + 25);
  const std::string path = Write("web-1.ttylog", b);
  TtyLogScan scan = ScanTtyLog(path);
  ASSERT_TRUE(scan.error.ok());
  ASSERT_EQ(scan.sessions.size(), 5u);
  EXPECT_EQ(scan.sessions[0].id, "web-1:5");
  EXPECT_TRUE(scan.sessions[0].closed);
  EXPECT_EQ(scan.sessions[1].id, "web-1:5.2");
  EXPECT_FALSE(scan.sessions[1].opened);
  EXPECT_EQ(scan.sessions[1].bytes_out, 4u);
  EXPECT_EQ(scan.sessions[2].id, "web-1:5.3");
  EXPECT_TRUE(scan.sessions[2].opened);
  EXPECT_FALSE(scan.sessions[2].closed);
  EXPECT_EQ(scan.sessions[3].id, "web-1:6");
  EXPECT_EQ(scan.sessions[3].parent_tty, 99u);
  EXPECT_EQ(scan.sessions[3].parent, "");
  EXPECT_EQ(scan.sessions[4].id, "web-1:5.4");
  EXPECT_TRUE(scan.sessions[4].closed);
  EXPECT_EQ(scan.sessions[4].DurationUs(), 5);
}

TEST_F(TtyLogTest, ScanReportsATruncatedTail) {
  TtyLogBuilder b = Login();
  b.Raw(EncodeTtyRecord(kTtyWrite, 3, kTtyDirWrite, kT0 + 8'000'000, "cut short").substr(0, 52));
  const std::string path = Write("hp1.ttylog", b);
  TtyLogScan scan = ScanTtyLog(path);
  EXPECT_TRUE(scan.error.ok()) << scan.error.message();
  EXPECT_TRUE(scan.truncated);
  EXPECT_EQ(scan.truncated_at, Login().bytes().size());
  EXPECT_EQ(scan.truncated_bytes, 52u);
  EXPECT_EQ(scan.sessions.size(), 3u);

  TtyLogScan missing = ScanTtyLog(dir_ + "/nope.ttylog");
  EXPECT_FALSE(missing.error.ok());
  EXPECT_NE(missing.error.message().find("nope.ttylog"), std::string::npos);
}

TEST_F(TtyLogTest, SessionIdsAndFileNames) {
  std::string hp;
  uint64_t tty = 0;
  uint32_t ord = 0;
  ASSERT_TRUE(ParseTtySessionId("hp1:3", &hp, &tty, &ord));
  EXPECT_EQ(hp, "hp1");
  EXPECT_EQ(tty, 3u);
  EXPECT_EQ(ord, 1u);
  ASSERT_TRUE(ParseTtySessionId("web-1:12.4", &hp, &tty, &ord));
  EXPECT_EQ(hp, "web-1");
  EXPECT_EQ(tty, 12u);
  EXPECT_EQ(ord, 4u);
  ASSERT_TRUE(ParseTtySessionId("hp1:3.1", &hp, &tty, &ord));
  EXPECT_EQ(ord, 1u);
  for (const char* bad : {"hp1", ":3", "hp1:", "hp1:x", "hp1:3.", "hp1:3.0", "hp1:-3", "hp1:3.2.1", "hp1:3a"})
    EXPECT_FALSE(ParseTtySessionId(bad, &hp, &tty, &ord)) << bad;

  EXPECT_EQ(HoneypotOfTtyLog("/a/b/hp1.ttylog"), "hp1");
  EXPECT_EQ(HoneypotOfTtyLog("hp2.ttylog"), "hp2");
  EXPECT_EQ(HoneypotOfTtyLog("/x/raw.log"), "raw.log");

  for (const char* f : {"b.ttylog", "a.ttylog", "notes.txt", ".hidden.ttylog"}) Write(f, TtyLogBuilder());
  fs::create_directory(dir_ + "/sub.ttylog");
  auto files = FindTtyLogs({dir_});
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(*files, (std::vector<std::string>{dir_ + "/a.ttylog", dir_ + "/b.ttylog"}));
  files = FindTtyLogs({dir_ + "/notes.txt"});
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 1u);
  files = FindTtyLogs({dir_ + "/missing"});
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.status().message().find(dir_ + "/missing"), std::string::npos);
}

// Plays id from the files with no pauses; returns the text.
std::string PlayText(const std::vector<std::string>& files, const std::string& id, TtyPlayOptions opt,
                     Status* st = nullptr) {
  std::string out;
  opt.wait = false;
  Status s = PlayTtySession(
      files, id, opt, [&](std::string_view b) { out.append(b); }, [](int64_t) { ADD_FAILURE() << "slept"; });
  if (st != nullptr) *st = s;
  else EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

TEST_F(TtyLogTest, PlayPrintsTheOutputBytesOfTheSessionAndItsChildren) {
  const std::string path = Write("hp1.ttylog", Login());
  // Every WRITE of tty 3 and tty 4 (its child), in file order; not the console's.
  std::string expect;
  TtyLogScan scan = ScanTtyLog(path, [&](const TtyRecord& r, const TtySession&) {
    if (r.what == kTtyWrite && r.direction == kTtyDirWrite && (r.tty == 3 || r.tty == 4)) expect += r.data;
  });
  ASSERT_TRUE(scan.error.ok());
  EXPECT_EQ(expect,
            "login: root\r\nPassword: \r\n# uname -a\r\nLinux hp1 6.1.0\r\n# [screen 0: sh]\r\n$ uid=0(root)\r\n"
            "logout\r\n");
  TtyPlayOptions opt;
  EXPECT_EQ(PlayText({path}, "hp1:3", opt), expect);

  opt.children = false;
  EXPECT_EQ(PlayText({path}, "hp1:3", opt), "login: root\r\nPassword: \r\n# uname -a\r\nLinux hp1 6.1.0\r\n# logout\r\n");
  opt.children = true;
  EXPECT_EQ(PlayText({path}, "hp1:4", opt), "[screen 0: sh]\r\n$ uid=0(root)\r\n");
  EXPECT_EQ(PlayText({path}, "hp1:1", opt), "console noise\r\n");
  EXPECT_EQ(PlayText({path}, "hp1:3.1", opt), expect);
}

TEST_F(TtyLogTest, PlayWithInputMarksWhatWasTypedPasswordsIncluded) {
  const std::string path = Write("hp1.ttylog", Login());
  TtyPlayOptions opt;
  opt.input = true;
  EXPECT_EQ(PlayText({path}, "hp1:3", opt),
            "login: \n"
            "[input] root\n"
            "root\r\nPassword: \n"
            "[input] s3cret\n"
            "\r\n# \n"
            "[input] uname -a\n"
            "uname -a\r\nLinux hp1 6.1.0\r\n# [screen 0: sh]\r\n$ \n"
            "[input] id\n"
            "uid=0(root)\r\nlogout\r\n");
  opt.color = true;
  const std::string colored = PlayText({path}, "hp1:3", opt);
  EXPECT_NE(colored.find("\x1b[1;33m[input] s3cret\x1b[0m\n"), std::string::npos) << colored;
}

TEST_F(TtyLogTest, PlayedInputShowsControlCharactersAndLongLines) {
  TtyLogBuilder b;
  b.Open(2, 0, "pts/0", kT0)
      .Input(2, "l", kT0 + 1)
      .Output(2, "l", kT0 + 2)
      .Input(2, "s\x7f\x03\x1b[A\xc3\xa9", kT0 + 3)
      .Input(2, "\r\n", kT0 + 4)  // one Enter
      .Input(2, "\r", kT0 + 5)    // an empty line is an Enter too
      .Input(2, std::string(300, 'y'), kT0 + 6)
      .Input(2, "tail", kT0 + 7);  // no Enter before the end
  const std::string path = Write("hp1.ttylog", b);
  TtyPlayOptions opt;
  opt.input = true;
  EXPECT_EQ(PlayText({path}, "hp1:2", opt),
            "l\n[input] ls^?^C^[[A\\xc3\\xa9\n[input] \n[input] " + std::string(256, 'y') + "\n[input] " +
                std::string(44, 'y') + "tail\n");
}

TEST_F(TtyLogTest, PlayPausesAtTheRealPaceScaledAndCapped) {
  TtyLogBuilder b;
  b.Open(3, 0, "pts/0", kT0)
      .Output(3, "a", kT0 + 1'000'000)
      .Input(3, "x\r", kT0 + 1'500'000)
      .Output(3, "b", kT0 + 3'000'000)
      .Output(3, "c", kT0 + 63'000'000)  // a minute later
      .Output(3, "d", kT0 + 62'000'000)  // clock stepped back: no pause
      .Output(3, "e", kT0 + 64'000'000);
  const std::string path = Write("hp1.ttylog", b);
  auto play = [&](TtyPlayOptions opt) {
    std::vector<int64_t> sleeps;
    std::string out;
    Status st = PlayTtySession(
        {path}, "hp1:3", opt, [&](std::string_view s) { out.append(s); }, [&](int64_t us) { sleeps.push_back(us); });
    EXPECT_TRUE(st.ok()) << st.message();
    return sleeps;
  };
  TtyPlayOptions opt;
  EXPECT_EQ(play(opt), (std::vector<int64_t>{2'000'000, 5'000'000, 1'000'000}));
  opt.speed = 4;
  EXPECT_EQ(play(opt), (std::vector<int64_t>{500'000, 1'250'000, 250'000}));  // the capped gap too
  opt.max_gap_us = 0;  // --real-gaps
  EXPECT_EQ(play(opt), (std::vector<int64_t>{500'000, 15'000'000, 250'000}));
  opt.speed = 1;
  opt.max_gap_us = 5'000'000;
  opt.input = true;  // the typed line is shown at its time
  EXPECT_EQ(play(opt), (std::vector<int64_t>{500'000, 1'500'000, 5'000'000, 1'000'000}));
  opt.wait = false;
  EXPECT_TRUE(play(opt).empty());
}

TEST_F(TtyLogTest, PlayErrorsSayWhatExists) {
  const std::string path = Write("hp1.ttylog", Login());
  Status st;
  PlayText({path}, "hp1:8", TtyPlayOptions(), &st);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no session hp1:8"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("hp1:3, hp1:1, hp1:4"), std::string::npos) << st.message();
  PlayText({path}, "hp2:3", TtyPlayOptions(), &st);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("hp2.ttylog"), std::string::npos) << st.message();
  PlayText({path}, "three", TtyPlayOptions(), &st);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a session id"), std::string::npos) << st.message();

  // A session found before the corruption plays, and the error is reported.
  TtyLogBuilder b = Login();
  b.Raw(EncodeTtyRecord(kTtyWrite, 3, 9, kT0, "x"));
  const std::string bad = Write("hp3.ttylog", b);
  std::string out = PlayText({bad}, "hp3:4", TtyPlayOptions(), &st);
  EXPECT_EQ(out, "[screen 0: sh]\r\n$ uid=0(root)\r\n");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("corrupt record"), std::string::npos);
}

}  // namespace
}  // namespace hn
