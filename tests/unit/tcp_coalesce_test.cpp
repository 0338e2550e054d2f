// Tests for TcpCoalescer (GRO on transmit): which segments join, and that
// cutting a super-segment the way the kernel's TCP segmentation does
// (tcp_gso_segment: IP ID + i, sequence + i * gso_size, PSH on the last
// only, checksums recomputed) gives back exactly the frames that went in.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "decode/checksum.h"
#include "io/tcp_coalesce.h"
#include "frames.h"

namespace hn {
namespace {

using Bytes = std::vector<uint8_t>;
using test::I;
using test::M;

struct Seg {
  uint32_t seq = 5000;
  uint16_t id = 100;
  uint8_t flags = kAck;
  uint32_t payload = 1448;
  uint8_t tos = 0;
  uint16_t sport = 40000;
  uint32_t tsval = 77;  // TCP timestamp option
  bool ip_options = false;
  uint16_t frag = 0x4000;  // DF
};

// An Ethernet + IPv4 + TCP frame with a timestamp option (12 bytes, as Linux
// sends them) and a payload whose bytes depend on their sequence number.
Bytes Frame(const Seg& s) {
  const uint32_t ihl = s.ip_options ? 24 : 20;
  const uint32_t tcp_len = 32;
  Bytes f(14 + ihl + tcp_len + s.payload);
  Bytes eth = test::Eth(M("02:00:00:00:00:02"), M("02:00:00:00:00:01"), kEthIpv4);
  std::memcpy(f.data(), eth.data(), 14);
  uint8_t* ip = f.data() + 14;
  ip[0] = uint8_t(0x40 | ihl / 4);
  ip[1] = s.tos;
  Store16(ip + 2, uint16_t(ihl + tcp_len + s.payload));
  Store16(ip + 4, s.id);
  Store16(ip + 6, s.frag);
  ip[8] = 64;
  ip[9] = kProtoTcp;
  I("10.0.0.5").ToNet(ip + 12);
  I("192.0.2.9").ToNet(ip + 16);
  if (s.ip_options) ip[20] = 1, ip[21] = 1, ip[22] = 1, ip[23] = 0;
  Store16(ip + 10, Ipv4HeaderChecksum(ip, ihl));
  uint8_t* t = ip + ihl;
  Store16(t, s.sport);
  Store16(t + 2, 8080);
  Store32(t + 4, s.seq);
  Store32(t + 8, 900);
  t[12] = uint8_t(tcp_len / 4) << 4;
  t[13] = s.flags;
  Store16(t + 14, 501);
  t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10;
  Store32(t + 24, s.tsval);
  Store32(t + 28, 55);
  for (uint32_t i = 0; i < s.payload; i++) t[tcp_len + i] = uint8_t((s.seq + i) * 7 + 3);
  Store16(t + 16, L4ChecksumIpv4(ip + 12, ip + 16, kProtoTcp, t, tcp_len + s.payload));
  return f;
}

// The frames the kernel's segmentation makes of a super-segment.
std::vector<Bytes> Cut(const uint8_t* sup, uint32_t len, const GsoInstr& g) {
  std::vector<Bytes> out;
  const uint32_t hdr = g.hdr_len;
  const uint32_t total = len - hdr;
  const uint16_t id0 = Load16(sup + 18);
  const uint32_t seq0 = Load32(sup + g.csum_start + 4);
  const uint8_t flags = sup[g.csum_start + 13];
  for (uint32_t off = 0, i = 0; off < total; off += g.gso_size, i++) {
    const uint32_t n = std::min<uint32_t>(g.gso_size, total - off);
    Bytes f(sup, sup + hdr);
    f.insert(f.end(), sup + hdr + off, sup + hdr + off + n);
    uint8_t* ip = f.data() + 14;
    Store16(ip + 2, uint16_t(hdr - 14 + n));
    Store16(ip + 4, uint16_t(id0 + i));
    Store16(ip + 10, 0);
    Store16(ip + 10, Ipv4HeaderChecksum(ip, 20));
    uint8_t* t = f.data() + g.csum_start;
    Store32(t + 4, seq0 + off);
    const bool last = off + n == total;
    t[13] = last ? flags : uint8_t(flags & ~kPsh);
    Store16(t + 16, L4ChecksumIpv4(ip + 12, ip + 16, kProtoTcp, t, f.size() - g.csum_start));
    out.push_back(std::move(f));
  }
  return out;
}

struct Offered {
  std::vector<Bytes> in;
  Bytes buf = Bytes(70000);
  TcpCoalescer c;
  // Offers each frame; returns how many joined the open super-segment (the first included).
  int Offer() {
    int joined = 0;
    for (const Bytes& f : in) {
      TcpSegInfo s;
      if (!TcpCoalescer::Parse(f.data(), uint32_t(f.size()), &s)) break;
      if (!c.open()) {
        if (!c.Start(buf.data(), uint32_t(buf.size()), f.data(), uint32_t(f.size()), s)) break;
      } else if (!c.Append(f.data(), uint32_t(f.size()), s)) {
        break;
      }
      joined++;
    }
    return joined;
  }
};

std::vector<Bytes> Stream(int n, uint32_t last_payload = 1448, uint8_t last_flags = kAck) {
  std::vector<Bytes> v;
  for (int i = 0; i < n; i++) {
    Seg s;
    s.seq = 5000 + uint32_t(i) * 1448;
    s.id = uint16_t(100 + i);
    if (i == n - 1) s.payload = last_payload, s.flags = last_flags;
    v.push_back(Frame(s));
  }
  return v;
}

TEST(TcpCoalesce, CutsBackIntoTheFramesThatWentIn) {
  Offered r;
  r.in = Stream(10, 700, kAck | kPsh);
  ASSERT_EQ(r.Offer(), 10);
  EXPECT_TRUE(r.c.ended());  // PSH and a shorter payload end it
  GsoInstr g;
  const uint32_t len = r.c.Finish(&g);
  EXPECT_EQ(len, 14u + 20 + 32 + 9 * 1448 + 700);
  EXPECT_EQ(g.gso_size, 1448);
  EXPECT_EQ(g.hdr_len, 14 + 20 + 32);
  EXPECT_EQ(g.csum_start, 34);
  EXPECT_EQ(g.segments, 10);
  // The super-segment's own headers: IPv4 length and checksum right, the TCP
  // checksum field the pseudo-header sum the offload starts from.
  const uint8_t* ip = r.buf.data() + 14;
  EXPECT_EQ(Load16(ip + 2), len - 14);
  EXPECT_EQ(Ipv4HeaderChecksum(ip, 20), Load16(ip + 10));
  uint8_t pseudo[12];
  std::memcpy(pseudo, ip + 12, 8);
  pseudo[8] = 0, pseudo[9] = kProtoTcp;
  Store16(pseudo + 10, uint16_t(len - 34));
  EXPECT_EQ(Load16(r.buf.data() + 34 + 16), uint16_t(ChecksumPartial(pseudo, 12)));
  auto cut = Cut(r.buf.data(), len, g);
  ASSERT_EQ(cut.size(), r.in.size());
  for (size_t i = 0; i < cut.size(); i++) EXPECT_EQ(cut[i], r.in[i]) << "segment " << i;
}

// The port's own cutting (for a link whose TSO went off after segments were
// joined) gives back the same frames as the kernel's, byte for byte.
TEST(TcpCoalesce, CutSegmentGivesBackEachFrame) {
  for (uint32_t last : {1448u, 700u}) {
    Offered r;
    r.in = Stream(12, last, last == 1448 ? kAck : kAck | kPsh);
    ASSERT_EQ(r.Offer(), 12);
    GsoInstr g;
    const uint32_t len = r.c.Finish(&g);
    Bytes out(g.hdr_len + g.gso_size);
    for (uint32_t i = 0; i < 12; i++) {
      const uint32_t n = TcpCoalescer::CutSegment(r.buf.data(), len, g, i, out.data());
      ASSERT_EQ(n, r.in[i].size()) << "segment " << i;
      EXPECT_EQ(Bytes(out.begin(), out.begin() + n), r.in[i]) << "segment " << i << ", last payload " << last;
    }
    EXPECT_EQ(TcpCoalescer::CutSegment(r.buf.data(), len, g, 12, out.data()), 0u);
    GsoInstr bad = g;
    bad.gso_size = 0;
    EXPECT_EQ(TcpCoalescer::CutSegment(r.buf.data(), len, bad, 0, out.data()), 0u);
    // A sender's own super-segment may carry CWR and FIN: CWR stays on the
    // first segment only, FIN (like PSH) on the last only.
    r.buf[g.csum_start + 13] |= kCwr | kFin;
    for (uint32_t i : {0u, 5u, 11u}) {
      ASSERT_GT(TcpCoalescer::CutSegment(r.buf.data(), len, g, i, out.data()), 0u);
      const uint8_t flags = out[g.csum_start + 13];
      EXPECT_EQ((flags & kCwr) != 0, i == 0) << i;
      EXPECT_EQ((flags & kFin) != 0, i == 11) << i;
    }
  }
}

TEST(TcpCoalesce, StopsAt64KiB) {
  Offered r;
  r.in = Stream(60);
  const int joined = r.Offer();
  EXPECT_EQ(joined, (65535 - 20 - 32) / 1448);  // 45 segments of 1448 bytes fit an IPv4 length
  GsoInstr g;
  const uint32_t len = r.c.Finish(&g);
  EXPECT_LE(len - 14, 65535u);
  auto cut = Cut(r.buf.data(), len, g);
  ASSERT_EQ(int(cut.size()), joined);
  for (int i = 0; i < joined; i++) EXPECT_EQ(cut[size_t(i)], r.in[size_t(i)]);
}

// Each case breaks the run at its third segment: two join, the third does not.
TEST(TcpCoalesce, WhatDoesNotJoin) {
  struct Case {
    const char* what;
    void (*change)(Seg&);
  } cases[] = {
      {"a gap in the sequence", [](Seg& s) { s.seq += 1; }},
      {"an IP ID that is not the next", [](Seg& s) { s.id += 2; }},
      {"another flow", [](Seg& s) { s.sport = 40001; }},
      {"another TOS", [](Seg& s) { s.tos = 2; }},
      {"other TCP options", [](Seg& s) { s.tsval = 78; }},
      {"a longer payload", [](Seg& s) { s.payload = 1449; }},
      {"FIN", [](Seg& s) { s.flags = kAck | kFin; }},
      {"URG", [](Seg& s) { s.flags = kAck | kUrg; }},
      {"CWR", [](Seg& s) { s.flags = kAck | kCwr; }},
  };
  for (const Case& k : cases) {
    Offered r;
    r.in = Stream(4);
    Seg s;
    s.seq = 5000 + 2 * 1448;
    s.id = 102;
    k.change(s);
    r.in[2] = Frame(s);
    EXPECT_EQ(r.Offer(), 2) << k.what;
  }
}

TEST(TcpCoalesce, NotACandidate) {
  TcpSegInfo info;
  Seg s;
  Bytes good = Frame(s);
  EXPECT_TRUE(TcpCoalescer::Parse(good.data(), uint32_t(good.size()), &info));
  EXPECT_EQ(info.payload, 1448u);
  EXPECT_EQ(info.tcp_len, 32u);

  Bytes bad = good;
  bad[bad.size() - 1] ^= 1;  // a payload the checksum does not match: its receiver drops it
  EXPECT_FALSE(TcpCoalescer::Parse(bad.data(), uint32_t(bad.size()), &info));
  // ... unless its checksum is left to offload (the field is not a sum yet).
  EXPECT_TRUE(TcpCoalescer::Parse(bad.data(), uint32_t(bad.size()), &info, /*partial=*/true));
  Bytes badip = good;
  badip[14 + 10] ^= 1;
  EXPECT_FALSE(TcpCoalescer::Parse(badip.data(), uint32_t(badip.size()), &info, true));

  Seg o;
  o.ip_options = true;
  Bytes opt = Frame(o);
  EXPECT_FALSE(TcpCoalescer::Parse(opt.data(), uint32_t(opt.size()), &info));
  Seg fr;
  fr.frag = 0x2000;  // MF: a fragment
  Bytes frag = Frame(fr);
  EXPECT_FALSE(TcpCoalescer::Parse(frag.data(), uint32_t(frag.size()), &info));
  Seg syn;
  syn.flags = kSyn | kAck;
  Bytes sa = Frame(syn);
  EXPECT_FALSE(TcpCoalescer::Parse(sa.data(), uint32_t(sa.size()), &info));
  Seg ack;
  ack.payload = 0;  // a pure ACK: nothing to join
  Bytes pure = Frame(ack);
  EXPECT_FALSE(TcpCoalescer::Parse(pure.data(), uint32_t(pure.size()), &info));
  Bytes padded = good;
  padded.push_back(0);  // Ethernet padding / trailing bytes: not ours to carry
  EXPECT_FALSE(TcpCoalescer::Parse(padded.data(), uint32_t(padded.size()), &info));
  EXPECT_FALSE(TcpCoalescer::Parse(good.data(), 40, &info));
}

TEST(TcpCoalesce, SmallOrPushedSegmentsDoNotStartOne) {
  Offered r;
  r.in = Stream(3, 1448);
  Seg small;
  small.payload = 100;
  Bytes f = Frame(small);
  TcpSegInfo info;
  ASSERT_TRUE(TcpCoalescer::Parse(f.data(), uint32_t(f.size()), &info));
  EXPECT_FALSE(r.c.Start(r.buf.data(), uint32_t(r.buf.size()), f.data(), uint32_t(f.size()), info));
  Seg psh;
  psh.flags = kAck | kPsh;
  f = Frame(psh);
  ASSERT_TRUE(TcpCoalescer::Parse(f.data(), uint32_t(f.size()), &info));
  EXPECT_FALSE(r.c.Start(r.buf.data(), uint32_t(r.buf.size()), f.data(), uint32_t(f.size()), info));
  EXPECT_FALSE(r.c.open());
  // A lone segment given back as it came.
  EXPECT_EQ(r.Offer(), 3);
  Offered one;
  one.in = Stream(1);
  ASSERT_EQ(one.Offer(), 1);
  const uint32_t len = one.c.Abandon();
  EXPECT_EQ(Bytes(one.buf.begin(), one.buf.begin() + len), one.in[0]);
  EXPECT_FALSE(one.c.open());
}

}  // namespace
}  // namespace hn
