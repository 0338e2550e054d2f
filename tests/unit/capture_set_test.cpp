// CaptureSet: files and honeywall capture directories read as one stream in
// time order: a rotated series in rotation order, series merged by
// timestamp, the port choice of a capture directory, damaged files that keep
// what came before and report file + byte, and what Open() refuses.
#include "analysis/capture_set.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace hn {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1795720083LL * kSec;  // 2026-11-26T19:08:03Z

// One packet to write: its time and a tag byte that says which it is.
struct Pkt {
  int64_t ts_ns;
  uint8_t tag;
};

void Put32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void Put16(std::string* s, uint16_t v) { s->append(reinterpret_cast<const char*>(&v), 2); }

// A nanosecond pcap (the honeywall's format) of 60-byte Ethernet frames whose
// first byte is the tag.
std::string PcapBytes(const std::vector<Pkt>& pkts, uint32_t linktype = 1, bool nano = true) {
  std::string s;
  Put32(&s, nano ? 0xa1b23c4d : 0xa1b2c3d4);
  Put16(&s, 2);
  Put16(&s, 4);
  Put32(&s, 0);
  Put32(&s, 0);
  Put32(&s, 262144);
  Put32(&s, linktype);
  for (const Pkt& p : pkts) {
    Put32(&s, uint32_t(p.ts_ns / kSec));
    Put32(&s, uint32_t(p.ts_ns % kSec / (nano ? 1 : 1000)));
    Put32(&s, 60);
    Put32(&s, 60);
    std::string frame(60, '\0');
    frame[0] = char(p.tag);
    s += frame;
  }
  return s;
}

class CaptureSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-capture-set-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& rel, const std::string& bytes) {
    const fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }

  struct Got {
    std::vector<uint8_t> tags;
    std::vector<int64_t> times;
    std::vector<std::string> files;
    std::vector<uint64_t> indexes;
  };
  static Got ReadAll(CaptureSet& set) {
    Got g;
    SetRecord r;
    while (set.Next(&r)) {
      EXPECT_EQ(r.rec.caplen, 60u);
      g.tags.push_back(r.rec.data[0]);
      g.times.push_back(r.rec.ts_ns);
      g.files.push_back(fs::path(*r.file).filename().string());
      g.indexes.push_back(r.index);
    }
    return g;
  }

  std::string dir_;
};

TEST_F(CaptureSetTest, OneFileInOrderWithNanoseconds) {
  const std::string f = Write("a.pcap", PcapBytes({{kT0 + 1, 1}, {kT0 + 999'999'999, 2}, {kT0 + 2 * kSec, 3}}));
  auto set = CaptureSet::Open({f});
  ASSERT_TRUE(set.ok()) << set.status().message();
  const Got g = ReadAll(**set);
  EXPECT_EQ(g.tags, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(g.times, (std::vector<int64_t>{kT0 + 1, kT0 + 999'999'999, kT0 + 2 * kSec}));
  EXPECT_EQ(g.indexes, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE((*set)->errors().empty());
  EXPECT_EQ((*set)->total_bytes(), fs::file_size(f));
  EXPECT_EQ((*set)->bytes_read(), fs::file_size(f));
}

TEST_F(CaptureSetTest, RotatedSeriesReadsInRotationOrderAndOnlyTheChosenPort) {
  // Rotation files; the later one's name sorts after, and its packets are later.
  Write("cap/inside-20261126T190803Z-0001.pcap", PcapBytes({{kT0, 1}, {kT0 + 10, 2}}));
  Write("cap/inside-20261126T190900Z-0002.pcap", PcapBytes({{kT0 + 60 * kSec, 3}}));
  Write("cap/outside-20261126T190803Z-0001.pcap", PcapBytes({{kT0 + 5, 101}, {kT0 + 60 * kSec + 1, 102}}));
  Write("cap/events.json", "{}\n");
  {
    auto set = CaptureSet::Open({dir_ + "/cap"});
    ASSERT_TRUE(set.ok()) << set.status().message();
    const Got g = ReadAll(**set);
    EXPECT_EQ(g.tags, (std::vector<uint8_t>{1, 2, 3}));
    EXPECT_EQ(g.files, (std::vector<std::string>{"inside-20261126T190803Z-0001.pcap",
                                                 "inside-20261126T190803Z-0001.pcap",
                                                 "inside-20261126T190900Z-0002.pcap"}));
    EXPECT_EQ((*set)->files().size(), 2u);
  }
  {
    CaptureSetOptions o;
    o.port = "outside";
    auto set = CaptureSet::Open({dir_ + "/cap"}, o);
    ASSERT_TRUE(set.ok()) << set.status().message();
    EXPECT_EQ(ReadAll(**set).tags, (std::vector<uint8_t>{101, 102}));
  }
  {
    CaptureSetOptions o;
    o.port = "all";
    auto set = CaptureSet::Open({dir_ + "/cap"}, o);
    ASSERT_TRUE(set.ok()) << set.status().message();
    const Got g = ReadAll(**set);
    EXPECT_EQ(g.tags, (std::vector<uint8_t>{1, 101, 2, 3, 102}));  // merged by time
    EXPECT_TRUE(std::is_sorted(g.times.begin(), g.times.end()));
  }
}

TEST_F(CaptureSetTest, SeriesFilesNamedOutOfOrderAreReadInRotationOrder) {
  const std::string a = Write("inside-20261126T190803Z-0001.pcap", PcapBytes({{kT0, 1}}));
  const std::string b = Write("inside-20261126T190803Z-0002.pcap", PcapBytes({{kT0 + 1, 2}}));
  const std::string c = Write("inside-20261126T190803Z-10000.pcap", PcapBytes({{kT0 + 2, 3}}));
  auto set = CaptureSet::Open({c, b, a, a});
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(ReadAll(**set).tags, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ((*set)->files().size(), 3u);  // the duplicate once
}

TEST_F(CaptureSetTest, FilesOnTheirOwnAreMergedByTimeTiesInNamedOrder) {
  const std::string a = Write("a.pcap", PcapBytes({{kT0 + 0, 1}, {kT0 + 20, 3}, {kT0 + 30, 5}}));
  const std::string b = Write("b.pcap", PcapBytes({{kT0 + 10, 2}, {kT0 + 20, 4}, {kT0 + 40, 6}}));
  auto set = CaptureSet::Open({a, b});
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(ReadAll(**set).tags, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  // Named the other way round, the tie goes to b first.
  auto rev = CaptureSet::Open({b, a});
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ(ReadAll(**rev).tags, (std::vector<uint8_t>{1, 2, 4, 3, 5, 6}));
}

TEST_F(CaptureSetTest, PlainDirectoryTakesEveryCaptureFile) {
  Write("d/x.pcap", PcapBytes({{kT0 + 2, 2}}));
  Write("d/y.cap", PcapBytes({{kT0 + 1, 1}}));
  Write("d/notes.txt", "not a capture");
  auto set = CaptureSet::Open({dir_ + "/d"});
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(ReadAll(**set).tags, (std::vector<uint8_t>{1, 2}));
}

TEST_F(CaptureSetTest, TruncatedFileKeepsPacketsBeforeAndSeriesGoesOn) {
  std::string first = PcapBytes({{kT0, 1}, {kT0 + 1, 2}, {kT0 + 2, 3}});
  const size_t third_at = 24 + 2 * (16 + 60);
  first.resize(third_at + 16 + 30);  // cut inside the third record's data
  Write("cap/inside-20261126T190803Z-0001.pcap", first);
  Write("cap/inside-20261126T190804Z-0002.pcap", PcapBytes({{kT0 + kSec, 4}}));
  auto set = CaptureSet::Open({dir_ + "/cap"});
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(ReadAll(**set).tags, (std::vector<uint8_t>{1, 2, 4}));
  ASSERT_EQ((*set)->errors().size(), 1u);
  const std::string& msg = (*set)->errors()[0].message();
  EXPECT_NE(msg.find("inside-20261126T190803Z-0001.pcap"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte " + std::to_string(third_at)), std::string::npos) << msg;
}

TEST_F(CaptureSetTest, GarbageFileAmongGoodOnesIsAnErrorNotTheEnd) {
  const std::string bad = Write("bad.pcap", "this is not a capture file at all");
  const std::string good = Write("good.pcap", PcapBytes({{kT0, 7}}));
  auto set = CaptureSet::Open({bad, good});
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(ReadAll(**set).tags, (std::vector<uint8_t>{7}));
  ASSERT_EQ((*set)->errors().size(), 1u);
  EXPECT_NE((*set)->errors()[0].message().find("bad.pcap: byte 0"), std::string::npos);
}

TEST_F(CaptureSetTest, EmptyCaptureIsFineNoPackets) {
  const std::string f = Write("e.pcap", PcapBytes({}));
  auto set = CaptureSet::Open({f});
  ASSERT_TRUE(set.ok()) << set.status().message();
  SetRecord r;
  EXPECT_FALSE((*set)->Next(&r));
  EXPECT_FALSE((*set)->Next(&r));
  EXPECT_TRUE((*set)->errors().empty());
}

TEST_F(CaptureSetTest, OpenRefusesWhatCannotBeRead) {
  auto none = CaptureSet::Open({});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no capture given"), std::string::npos);

  auto missing = CaptureSet::Open({dir_ + "/nope.pcap"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.pcap"), std::string::npos);

  fs::create_directories(dir_ + "/empty");
  auto empty_dir = CaptureSet::Open({dir_ + "/empty"});
  ASSERT_FALSE(empty_dir.ok());
  EXPECT_NE(empty_dir.status().message().find("no capture files"), std::string::npos);

  const std::string bad = Write("bad.pcap", "garbage garbage garbage garbage");
  auto only_bad = CaptureSet::Open({bad});
  ASSERT_FALSE(only_bad.ok());
  EXPECT_NE(only_bad.status().message().find("bad.pcap: byte 0"), std::string::npos);

  Write("cap/outside-20261126T190803Z-0001.pcap", PcapBytes({{kT0, 1}}));
  auto no_inside = CaptureSet::Open({dir_ + "/cap"});
  ASSERT_FALSE(no_inside.ok());
  EXPECT_NE(no_inside.status().message().find("--port"), std::string::npos);

  CaptureSetOptions o;
  o.port = "sideways";
  EXPECT_FALSE(CaptureSet::Open({dir_ + "/cap"}, o).ok());
}

TEST_F(CaptureSetTest, KeepsLinktypeOfEachFile) {
  const std::string raw = Write("raw.pcap", PcapBytes({{kT0, 1}}, 113));
  const std::string eth = Write("eth.pcap", PcapBytes({{kT0 + 1, 2}}, 1));
  auto set = CaptureSet::Open({raw, eth});
  ASSERT_TRUE(set.ok());
  SetRecord r;
  ASSERT_TRUE((*set)->Next(&r));
  EXPECT_EQ(r.linktype, 113);  // DLT_LINUX_SLL
  ASSERT_TRUE((*set)->Next(&r));
  EXPECT_EQ(r.linktype, 1);
}

TEST_F(CaptureSetTest, TimestampPrecisionOfEachFile) {
  const std::string us = Write("us.pcap", PcapBytes({{kT0 + 123'456'000, 1}}, 1, /*nano=*/false));
  const std::string ns = Write("ns.pcap", PcapBytes({{kT0 + 123'456'789, 2}}));
  auto set = CaptureSet::Open({us, ns});
  ASSERT_TRUE(set.ok());
  SetRecord r;
  ASSERT_TRUE((*set)->Next(&r));
  EXPECT_EQ(r.ts_digits, 6);
  EXPECT_EQ(r.rec.ts_ns, kT0 + 123'456'000);
  ASSERT_TRUE((*set)->Next(&r));
  EXPECT_EQ(r.ts_digits, 9);
  EXPECT_EQ(r.rec.ts_ns, kT0 + 123'456'789);
}

}  // namespace
}  // namespace hn
