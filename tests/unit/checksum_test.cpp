// Tests for Internet checksums: RFC 1071 sums, known packets, RFC 1624
// incremental updates against full recomputation, UDP's zero checksum.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/addr.h"
#include "decode/checksum.h"
#include "decode/packet.h"

namespace hn {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes FromHex(const std::string& hex) {
  Bytes b;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) b.push_back(uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return b;
}

// Known-good frames. Built by a small Python script and checked with
// `tshark -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE`
// (all checksums reported "Good").
//
// UDP DNS query 192.168.1.52:54585 -> 8.8.8.8:53; IP csum 0x4c82, UDP csum 0xdd0d.
const char* kUdpFrame =
    "0200000000020200000000010800450000391c46400040114c82c0a8013408080808d53900350025dd0dabcd0100000100000000"
    "0000076578616d706c6503636f6d0000010001";
// TCP SYN with MSS 10.0.0.1:40000 -> 10.0.0.2:80; IP csum 0x0a84, TCP csum 0xe89c.
const char* kTcpFrame =
    "02000000000202000000000108004500002c1c46400040060a840a0000010a0000029c40005001020304000000006002faf0e89c"
    "0000020405b4";
// ICMP echo request id 0x1234 seq 1; IP csum 0x0a89, ICMP csum 0xa27f.
const char* kIcmpFrame =
    "02000000000202000000000108004500002c1c46400040010a890a0000010a0000020800a27f123400016162636465666768696a"
    "6b6c6d6e6f70";
// TCP SYN-ACK over IPv6 2001:db8::1:443 -> 2001:db8::2:51000 with 5 bytes; TCP csum 0x4783.
const char* kTcp6Frame =
    "02000000000202000000000186dd600000000019064020010db800000000000000000000000120010db80000000000000000000000"
    "0201bbc73800000007000000095012ffff4783000068656c6c6f";

Packet DecodeOk(Bytes& f) {
  Packet p;
  EXPECT_EQ(Decode(f.data(), uint32_t(f.size()), &p), DecodeError::kOk);
  return p;
}

// Sum over data including the checksum field: a valid packet folds to 0xffff,
// i.e. ChecksumFinish() gives 0.
bool Verifies(const uint8_t* data, size_t len, uint32_t initial = 0) {
  return ChecksumFinish(ChecksumPartial(data, len, initial)) == 0;
}

uint32_t PseudoV4(const uint8_t* ip, uint8_t proto, size_t l4_len) {
  uint8_t ph[12] = {ip[12], ip[13], ip[14], ip[15], ip[16], ip[17], ip[18], ip[19], 0, proto};
  Store16(ph + 10, uint16_t(l4_len));
  return ChecksumPartial(ph, sizeof ph);
}

TEST(ChecksumSum, Rfc1071Example) {
  // RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is 0x2ddf0, folded 0xddf2.
  const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  uint32_t partial = ChecksumPartial(d, sizeof d);
  EXPECT_EQ(partial % 0xffff, 0xddf2u % 0xffff);
  EXPECT_EQ(ChecksumFinish(partial), 0x220d);
  // Chaining partial sums over even-sized pieces gives the same result.
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(d + 4, 4, ChecksumPartial(d, 4))), 0x220d);
}

TEST(ChecksumSum, OddLengthPadsWithZero) {
  const uint8_t d[] = {0x12, 0x34, 0x56};
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(d, 3)), uint16_t(~(0x1234 + 0x5600)));
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(d, 0)), 0xffff);
}

TEST(ChecksumSum, LongBufferDoesNotOverflow) {
  Bytes big(65535, 0xff);
  // All-ones words sum to negative zero: checksum 0.
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(big.data(), 65534)), 0x0000);
  // A large initial value and a long odd-length buffer: same result in one go or in pieces.
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(big.data(), big.size(), 0xfffffff0u)),
            ChecksumFinish(ChecksumPartial(big.data() + 65534, 1, ChecksumPartial(big.data(), 65534, 0xfffffff0u))));
  // 0xfffffff0 + 32767 * 0xffff + 0xff00 folds to 0xfef1 (worked out separately in Python).
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(big.data(), big.size(), 0xfffffff0u)), uint16_t(~0xfef1));
}

// The word-at-a-time sum against the RFC 1071 definition (16-bit big-endian
// words, odd byte padded), over random bytes, lengths 0..2100 (every tail
// size), unaligned starts and large initial values.
TEST(ChecksumSum, WideSumEqualsTheDefinition) {
  std::mt19937 rng(7);
  Bytes buf(2200);
  for (auto& b : buf) b = uint8_t(rng());
  auto reference = [](const uint8_t* d, size_t n, uint32_t init) {
    uint64_t s = init;
    for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(d[i]) << 8 | d[i + 1];
    if (n % 2) s += uint32_t(d[n - 1]) << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(s);
  };
  for (size_t len = 0; len <= 2100; len += (len < 80 ? 1 : 37)) {
    for (size_t start : {0, 1, 3, 8}) {
      for (uint32_t init : {0u, 0x1234u, 0xffffu, 0xfffffff0u}) {
        const uint8_t* d = buf.data() + start;
        ASSERT_EQ(ChecksumFinish(ChecksumPartial(d, len, init)), uint16_t(~reference(d, len, init)))
            << "len " << len << " start " << start << " init " << init;
      }
    }
  }
}

TEST(ChecksumIpv4, WikipediaHeader) {
  // The classic example header; its checksum is 0xb861.
  Bytes h = FromHex("450000730000400040110000c0a80001c0a800c7");
  EXPECT_EQ(Ipv4HeaderChecksum(h.data(), h.size()), 0xb861);
  // The field is treated as zero whatever it holds.
  h[10] = 0x12;
  h[11] = 0x34;
  EXPECT_EQ(Ipv4HeaderChecksum(h.data(), h.size()), 0xb861);
}

TEST(ChecksumKnown, UdpTcpIcmpAndIpHeaders) {
  struct Case {
    const char* hex;
    uint16_t ip_csum;
    uint16_t l4_csum;
  } cases[] = {{kUdpFrame, 0x4c82, 0xdd0d}, {kTcpFrame, 0x0a84, 0xe89c}, {kIcmpFrame, 0x0a89, 0xa27f}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.hex);
    Bytes f = FromHex(c.hex);
    Packet p = DecodeOk(f);
    const uint8_t* ip = f.data() + p.l3_off;
    const uint8_t* l4 = f.data() + p.l4_off;
    EXPECT_EQ(Ipv4HeaderChecksum(ip, p.ip_hdr_len), c.ip_csum);
    if (p.ip_proto == kProtoIcmp) {
      Bytes m(l4, l4 + p.l4_len);
      m[2] = m[3] = 0;
      EXPECT_EQ(ChecksumFinish(ChecksumPartial(m.data(), m.size())), c.l4_csum);
    } else {
      EXPECT_EQ(L4ChecksumIpv4(ip + 12, ip + 16, p.ip_proto, l4, p.l4_len), c.l4_csum);
    }
    EXPECT_TRUE(Verifies(ip, p.ip_hdr_len));
  }
}

TEST(ChecksumRecompute, RestoresZeroedFields) {
  for (const char* hex : {kUdpFrame, kTcpFrame, kIcmpFrame, kTcp6Frame}) {
    SCOPED_TRACE(hex);
    const Bytes good = FromHex(hex);
    Bytes f = good;
    Packet p = DecodeOk(f);
    // Wipe every checksum (as TP_STATUS_CSUMNOTREADY frames may carry junk).
    if (p.is_ipv4()) {
      f[p.l3_off + 10] = 0xde;
      f[p.l3_off + 11] = 0xad;
    }
    int field = p.ip_proto == kProtoTcp ? 16 : p.ip_proto == kProtoUdp ? 6 : 2;
    f[p.l4_off + field] = 0x55;
    f[p.l4_off + field + 1] = 0x66;
    RecomputeChecksums(&p);
    EXPECT_EQ(f, good);
  }
}

TEST(ChecksumRecompute, UdpZeroChecksumStaysZero) {
  Bytes f = FromHex(kUdpFrame);
  Packet p = DecodeOk(f);
  f[p.l4_off + 6] = 0;
  f[p.l4_off + 7] = 0;
  f[p.l3_off + 10] ^= 0xff;  // the IP header checksum is still repaired
  RecomputeChecksums(&p);
  EXPECT_EQ(Load16(f.data() + p.l4_off + 6), 0);
  EXPECT_EQ(Load16(f.data() + p.l3_off + 10), 0x4c82);
}

TEST(ChecksumUdp, ComputedZeroIsSentAsAllOnes) {
  Bytes f = FromHex(kUdpFrame);
  Packet p = DecodeOk(f);
  uint8_t* ip = f.data() + p.l3_off;
  uint8_t* l4 = f.data() + p.l4_off;
  // Make the data sum to negative zero: put the current checksum into the
  // first payload word (which was 0xabcd) after clearing it.
  Store16(l4 + 8, 0);
  uint16_t c = L4ChecksumIpv4(ip + 12, ip + 16, kProtoUdp, l4, p.l4_len);
  Store16(l4 + 8, c);
  EXPECT_EQ(L4ChecksumIpv4(ip + 12, ip + 16, kProtoUdp, l4, p.l4_len), 0xffff);
  // TCP has no such rule: the same bytes give 0.
  EXPECT_EQ(ChecksumFinish(ChecksumPartial(l4 + 8, p.l4_len - 8,
                                           ChecksumPartial(l4, 6, PseudoV4(ip, kProtoUdp, p.l4_len)))),
            0x0000);
  // And 0xffff verifies as a valid UDP checksum.
  Store16(l4 + 6, 0xffff);
  EXPECT_TRUE(Verifies(l4, p.l4_len, PseudoV4(ip, kProtoUdp, p.l4_len)));
}

TEST(ChecksumRecompute, FragmentKeepsL4Checksum) {
  Bytes f = FromHex(kTcpFrame);
  Packet p0 = DecodeOk(f);
  // Set MF and fix the IP header checksum so it still decodes cleanly.
  f[p0.l3_off + 6] = 0x20;
  Store16(f.data() + p0.l3_off + 10, Ipv4HeaderChecksum(f.data() + p0.l3_off, 20));
  Packet p = DecodeOk(f);
  ASSERT_TRUE(p.is_fragment);
  Store16(f.data() + p.l4_off + 16, 0x1111);
  f[p.l3_off + 10] = 0;
  RecomputeChecksums(&p);
  EXPECT_EQ(Load16(f.data() + p.l4_off + 16), 0x1111);  // a fragment's L4 sum covers bytes we lack
  EXPECT_TRUE(Verifies(f.data() + p.l3_off, 20));
}

// Rewrites the IPv4 source address of a decoded packet incrementally (IP
// header, and the TCP/UDP checksum through the pseudo-header), the way NAT does.
void RewriteSrcIncremental(Packet& p, uint32_t new_src) {
  uint8_t* ip = p.data + p.l3_off;
  uint8_t* l4 = p.data + p.l4_off;
  const uint32_t old_src = Load32(ip + 12);
  ChecksumUpdate32(ip + 10, old_src, new_src);
  if (p.ip_proto == kProtoTcp) ChecksumUpdate32(l4 + 16, old_src, new_src);
  if (p.ip_proto == kProtoUdp && Load16(l4 + 6) != 0) {
    ChecksumUpdate32(l4 + 6, old_src, new_src);
    if (Load16(l4 + 6) == 0) Store16(l4 + 6, 0xffff);  // UDP: a computed 0 is sent as 0xffff
  }
  Store32(ip + 12, new_src);
}

TEST(ChecksumIncremental, AddressRewriteMatchesFullRecompute) {
  std::mt19937 rng(4242);
  for (const char* hex : {kTcpFrame, kUdpFrame}) {
    Bytes f = FromHex(hex);
    Packet p = DecodeOk(f);
    for (int round = 0; round < 5000; round++) {
      uint32_t addr = uint32_t(rng());
      if (round % 100 == 0) addr = round % 200 == 0 ? 0 : 0xffffffffu;  // extremes too
      RewriteSrcIncremental(p, addr);
      // Full recomputation of the same packet.
      Bytes g = f;
      Packet q = DecodeOk(g);
      RecomputeChecksums(&q);
      ASSERT_EQ(Load16(f.data() + p.l3_off + 10), Load16(g.data() + q.l3_off + 10)) << "round " << round;
      const int field = p.ip_proto == kProtoTcp ? 16 : 6;
      ASSERT_EQ(Load16(f.data() + p.l4_off + field), Load16(g.data() + q.l4_off + field)) << "round " << round;
      ASSERT_TRUE(Verifies(f.data() + p.l3_off, p.ip_hdr_len));
    }
  }
}

TEST(ChecksumIncremental, PortAndRandomWordUpdates) {
  std::mt19937 rng(7);
  Bytes f = FromHex(kTcpFrame);
  Packet p = DecodeOk(f);
  uint8_t* l4 = f.data() + p.l4_off;
  for (int round = 0; round < 5000; round++) {
    // Change a random 16-bit word of the TCP header or payload (not the checksum).
    size_t off;
    do off = 2 * (rng() % (p.l4_len / 2)); while (off == 16);
    uint16_t old_v = Load16(l4 + off);
    uint16_t new_v = uint16_t(rng());
    if (round % 50 == 0) new_v = uint16_t(~old_v);
    ChecksumUpdate16(l4 + 16, old_v, new_v);
    Store16(l4 + off, new_v);
    const uint8_t* ip = f.data() + p.l3_off;
    ASSERT_EQ(Load16(l4 + 16), L4ChecksumIpv4(ip + 12, ip + 16, kProtoTcp, l4, p.l4_len)) << "round " << round;
  }
}

TEST(ChecksumIncremental, Rfc1624Example) {
  // RFC 1624 section 4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
  uint8_t field[2];
  Store16(field, 0xdd2f);
  ChecksumUpdate16(field, 0x5555, 0x3285);
  EXPECT_EQ(Load16(field), 0x0000);
}

}  // namespace
}  // namespace hn
