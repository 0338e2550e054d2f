// PcapInput: files written by the project's PcapWriter read back packet for
// packet; pcapng and microsecond pcap; and every way a file can be bad
// (truncated inside a record or its header, a damaged record header, garbage,
// empty, missing, a directory), where what came before must still be read and
// the error must name the file and the byte.
#include "analysis/pcap_input.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "capture/pcap_writer.h"

namespace hn {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1767323045LL * kSec + 123'456'789;  // 2026-01-02T03:04:05.123456789Z

struct Read {
  std::vector<PcapRecord> recs;        // data pointers not kept valid: see bytes
  std::vector<Bytes> bytes;
  Status status;
};

// Every packet of an open reader, then its final status.
Read ReadAll(PcapInput& in) {
  Read r;
  PcapRecord rec;
  while (in.Next(&rec)) {
    r.bytes.emplace_back(rec.data, rec.data + rec.caplen);
    rec.data = nullptr;
    r.recs.push_back(rec);
  }
  r.status = in.status();
  return r;
}

// A frame of n bytes whose content says which one it is.
Bytes Frame(size_t n, uint8_t tag) {
  Bytes f(n);
  for (size_t i = 0; i < n; i++) f[i] = uint8_t(tag + i * 7);
  return f;
}

class PcapInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hn-pcap-input-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes frames with PcapWriter (ns timestamps 1 ms apart from kT0); returns the file.
  std::string WriteWithPcapWriter(const std::vector<Bytes>& frames, uint32_t snaplen = 262144) {
    PcapWriter::Options o;
    o.dir = dir_ + "/cap";
    o.prefix = "inside";
    o.snaplen = snaplen;
    auto w = PcapWriter::Open(o);
    EXPECT_TRUE(w.ok()) << w.status().message();
    if (!w.ok()) return "";
    std::unique_ptr<PcapWriter> writer = std::move(*w);
    for (size_t i = 0; i < frames.size(); i++)
      EXPECT_TRUE(writer->Write(kT0 + int64_t(i) * 1'000'000, frames[i].data(), uint32_t(frames[i].size()),
                                uint32_t(frames[i].size())));
    const std::string path = writer->files().front();
    writer.reset();  // flush and close
    return path;
  }

  std::string WriteBytes(const std::string& name, const Bytes& b) {
    const std::string path = dir_ + "/" + name;
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    return path;
  }

  static Bytes Slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }

  std::string dir_;
};

const std::vector<Bytes> kFrames = {Frame(60, 1), Frame(1514, 2), Frame(42, 3), Frame(9000, 4), Frame(14, 5)};

TEST_F(PcapInputTest, FileFromPcapWriterReadsBackExactly) {
  const std::string path = WriteWithPcapWriter(kFrames);
  auto in = PcapInput::Open(path);
  ASSERT_TRUE(in.ok()) << in.status().message();
  EXPECT_EQ((*in)->linktype(), 1);  // Ethernet
  EXPECT_EQ((*in)->snaplen(), 262144u);
  EXPECT_EQ((*in)->name(), path);
  Read r = ReadAll(**in);
  EXPECT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.recs.size(), kFrames.size());
  uint64_t offset = 24;  // pcap file header
  for (size_t i = 0; i < kFrames.size(); i++) {
    EXPECT_EQ(r.recs[i].ts_ns, kT0 + int64_t(i) * 1'000'000) << i;  // nanoseconds kept
    EXPECT_EQ(r.recs[i].caplen, kFrames[i].size());
    EXPECT_EQ(r.recs[i].len, kFrames[i].size());
    EXPECT_EQ(r.bytes[i], kFrames[i]) << i;
    EXPECT_EQ(r.recs[i].offset, offset) << i;
    offset += 16 + kFrames[i].size();
  }
  EXPECT_EQ((*in)->packets(), kFrames.size());
  PcapRecord rec;
  EXPECT_FALSE((*in)->Next(&rec));  // stays at the end
  EXPECT_TRUE((*in)->status().ok());
}

TEST_F(PcapInputTest, SnapLengthCutFramesKeepTheirWireLength) {
  const std::string path = WriteWithPcapWriter({Frame(200, 9)}, 64);
  auto in = PcapInput::Open(path);
  ASSERT_TRUE(in.ok()) << in.status().message();
  Read r = ReadAll(**in);
  ASSERT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.recs[0].caplen, 64u);
  EXPECT_EQ(r.recs[0].len, 200u);
  const Bytes whole = Frame(200, 9);
  EXPECT_EQ(r.bytes[0], Bytes(whole.begin(), whole.begin() + 64));
}

TEST_F(PcapInputTest, TruncatedInsideAPacketYieldsWhatCameBeforeAndNamesTheByte) {
  const Bytes whole = Slurp(WriteWithPcapWriter(kFrames));
  // Cut in the middle of the third frame's bytes.
  const size_t third = 24 + (16 + 60) + (16 + 1514);
  const std::string path = WriteBytes("cut.pcap", Bytes(whole.begin(), whole.begin() + third + 16 + 10));
  auto in = PcapInput::Open(path);
  ASSERT_TRUE(in.ok()) << in.status().message();
  Read r = ReadAll(**in);
  ASSERT_EQ(r.recs.size(), 2u);
  EXPECT_EQ(r.bytes[0], kFrames[0]);
  EXPECT_EQ(r.bytes[1], kFrames[1]);
  ASSERT_FALSE(r.status.ok());
  const std::string& m = r.status.message();
  EXPECT_EQ(m.rfind(path + ": byte " + std::to_string(third) + " (after 2 packets): ", 0), 0u) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  EXPECT_NE(m.find("cut short"), std::string::npos) << m;
  PcapRecord rec;
  EXPECT_FALSE((*in)->Next(&rec));
}

TEST_F(PcapInputTest, TruncatedInsideARecordHeader) {
  const Bytes whole = Slurp(WriteWithPcapWriter(kFrames));
  const size_t second = 24 + 16 + 60;
  const std::string path = WriteBytes("cut-header.pcap", Bytes(whole.begin(), whole.begin() + second + 5));
  auto in = PcapInput::Open(path);
  ASSERT_TRUE(in.ok());
  Read r = ReadAll(**in);
  ASSERT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.bytes[0], kFrames[0]);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message().rfind(path + ": byte " + std::to_string(second) + " (after 1 packets)", 0), 0u)
      << r.status.message();
}

TEST_F(PcapInputTest, DamagedRecordHeaderStopsThereWithAnError) {
  Bytes b = Slurp(WriteWithPcapWriter(kFrames));
  const size_t third = 24 + (16 + 60) + (16 + 1514);
  // caplen of the third record: far beyond any snapshot length.
  const uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
  std::copy(huge, huge + 4, b.begin() + long(third) + 8);
  const std::string path = WriteBytes("damaged.pcap", b);
  auto in = PcapInput::Open(path);
  ASSERT_TRUE(in.ok());
  Read r = ReadAll(**in);
  EXPECT_EQ(r.recs.size(), 2u);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.message().rfind(path + ": byte " + std::to_string(third) + " (after 2 packets)", 0), 0u)
      << r.status.message();
}

TEST_F(PcapInputTest, GarbageIsNotACapture) {
  const std::string path = WriteBytes("notes.txt", Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '\n'});
  auto in = PcapInput::Open(path);
  ASSERT_FALSE(in.ok());
  const std::string& m = in.status().message();
  EXPECT_EQ(m.rfind(path + ": byte 0", 0), 0u) << m;
  EXPECT_NE(m.find("not a pcap or pcapng"), std::string::npos) << m;
}

TEST_F(PcapInputTest, EmptyFileIsNotACapture) {
  const std::string path = WriteBytes("empty.pcap", {});
  auto in = PcapInput::Open(path);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.status().message(), path + ": byte 0: empty file (0 bytes): not a pcap or pcapng capture");
}

TEST_F(PcapInputTest, HeaderOnlyFileHasNoPacketsAndNoError) {
  const Bytes whole = Slurp(WriteWithPcapWriter(kFrames));
  const std::string path = WriteBytes("header-only.pcap", Bytes(whole.begin(), whole.begin() + 24));
  auto in = PcapInput::Open(path);
  ASSERT_TRUE(in.ok()) << in.status().message();
  Read r = ReadAll(**in);
  EXPECT_TRUE(r.recs.empty());
  EXPECT_TRUE(r.status.ok()) << r.status.message();
}

TEST_F(PcapInputTest, ShortFileHeaderIsAnOpenError) {
  const Bytes whole = Slurp(WriteWithPcapWriter(kFrames));
  const std::string path = WriteBytes("short.pcap", Bytes(whole.begin(), whole.begin() + 10));
  auto in = PcapInput::Open(path);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.status().message().rfind(path + ": byte 0 (file header): ", 0), 0u) << in.status().message();
}

TEST_F(PcapInputTest, MissingFileAndDirectoryAreClearErrors) {
  auto missing = PcapInput::Open(dir_ + "/nope.pcap");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot open " + dir_ + "/nope.pcap"), std::string::npos);
  auto d = PcapInput::Open(dir_);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("is a directory"), std::string::npos) << d.status().message();
}

void Le32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; i++) b.push_back(uint8_t(v >> (8 * i)));
}

TEST_F(PcapInputTest, PcapngWithNanosecondResolution) {
  Bytes ng;
  for (uint32_t v : {0x0a0d0d0au, 28u, 0x1a2b3c4du, 1u}) Le32(ng, v);  // SHB, version 1.0
  for (int i = 0; i < 8; i++) ng.push_back(0xff);                     // section length: unknown
  Le32(ng, 28);
  for (uint32_t v : {1u, 32u, 1u, 65535u}) Le32(ng, v);  // IDB: Ethernet, snaplen 65535
  for (uint32_t v : {0x00010009u, 9u, 0u}) Le32(ng, v);  // if_tsresol = 9 (ns), end of options
  Le32(ng, 32);
  const uint64_t ts = uint64_t(kT0);
  for (const Bytes& f : {kFrames[0], kFrames[2]}) {
    const uint32_t n = uint32_t(f.size()), pad = (4 - n % 4) % 4, total = 32 + n + pad;
    for (uint32_t v : {6u, total, 0u, uint32_t(ts >> 32), uint32_t(ts), n, n}) Le32(ng, v);
    ng.insert(ng.end(), f.begin(), f.end());
    ng.resize(ng.size() + pad, 0);
    Le32(ng, total);
  }
  const std::string path = WriteBytes("two.pcapng", ng);
  auto in = PcapInput::Open(path);
  ASSERT_TRUE(in.ok()) << in.status().message();
  EXPECT_EQ((*in)->linktype(), 1);
  Read r = ReadAll(**in);
  EXPECT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.recs.size(), 2u);
  EXPECT_EQ(r.recs[0].ts_ns, kT0);
  EXPECT_EQ(r.bytes[0], kFrames[0]);
  EXPECT_EQ(r.bytes[1], kFrames[2]);
  EXPECT_EQ(r.recs[1].offset, 28u + 32u + 32u + 60u);

  // Cut inside the second packet block: the first is still read.
  const std::string cut = WriteBytes("cut.pcapng", Bytes(ng.begin(), ng.end() - 20));
  auto in2 = PcapInput::Open(cut);
  ASSERT_TRUE(in2.ok());
  Read r2 = ReadAll(**in2);
  ASSERT_EQ(r2.recs.size(), 1u);
  ASSERT_FALSE(r2.status.ok());
  EXPECT_EQ(r2.status.message().rfind(cut + ": byte 152 (after 1 packets)", 0), 0u) << r2.status.message();
}

// A pcapng timestamp is any 64-bit count of any unit: past 2262 in ns it does
// not fit an int64 and saturates instead of overflowing.
TEST_F(PcapInputTest, PcapngTimestampBeyondInt64Saturates) {
  Bytes ng;
  for (uint32_t v : {0x0a0d0d0au, 28u, 0x1a2b3c4du, 1u, 0xffffffffu, 0xffffffffu, 28u}) Le32(ng, v);
  for (uint32_t v : {1u, 20u, 1u, 65535u, 20u}) Le32(ng, v);  // IDB without options: microseconds
  const Bytes& f = kFrames[0];
  for (uint32_t v : {6u, 32u + 60u, 0u, 0xffffffffu, 0xffffffffu, 60u, 60u}) Le32(ng, v);
  ng.insert(ng.end(), f.begin(), f.end());
  Le32(ng, 32 + 60);
  auto in = PcapInput::Open(WriteBytes("far.pcapng", ng));
  ASSERT_TRUE(in.ok()) << in.status().message();
  Read r = ReadAll(**in);
  EXPECT_TRUE(r.status.ok()) << r.status.message();
  ASSERT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.recs[0].ts_ns, INT64_MAX);
  EXPECT_EQ(r.bytes[0], f);
}

TEST_F(PcapInputTest, MicrosecondPcapTimestampsBecomeNanoseconds) {
  Bytes b;
  for (uint32_t v : {0xa1b2c3d4u, 0x00040002u, 0u, 0u, 65535u, 1u}) Le32(b, v);  // usec magic, v2.4
  for (uint32_t v : {1767323045u, 123456u, 60u, 60u}) Le32(b, v);
  b.insert(b.end(), kFrames[0].begin(), kFrames[0].end());
  auto in = PcapInput::Open(WriteBytes("usec.pcap", b));
  ASSERT_TRUE(in.ok()) << in.status().message();
  Read r = ReadAll(**in);
  ASSERT_EQ(r.recs.size(), 1u);
  EXPECT_EQ(r.recs[0].ts_ns, 1767323045LL * kSec + 123'456'000);
}

TEST_F(PcapInputTest, ReadsFromAnInMemoryStream) {
  Bytes b = Slurp(WriteWithPcapWriter(kFrames));
  FILE* f = fmemopen(b.data(), b.size(), "r");
  ASSERT_NE(f, nullptr);
  auto in = PcapInput::OpenStream(f, "memory.pcap");
  ASSERT_TRUE(in.ok()) << in.status().message();
  Read r = ReadAll(**in);
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.recs.size(), kFrames.size());
  auto none = PcapInput::OpenStream(nullptr, "nothing.pcap");
  EXPECT_FALSE(none.ok());
}

}  // namespace
}  // namespace hn
