// Tests for Decode(): hand-built frames for every protocol, lying headers,
// truncation at every length, fragments, ICMP error quotes, padding, and a
// deterministic mutation fuzz that checks the view never points outside the
// buffer (run under ASan+UBSan to catch over-reads).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "decode/packet.h"

namespace hn {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- frame builders (independent of the code under test) ----------------

void Put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void Put32(Bytes& b, uint32_t v) {
  Put16(b, uint16_t(v >> 16));
  Put16(b, uint16_t(v));
}
void Append(Bytes& b, const Bytes& x) { b.insert(b.end(), x.begin(), x.end()); }

// Plain RFC 1071 checksum, written out separately from src/decode/checksum.cpp.
uint16_t RefChecksum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i < n; i += 2) s += uint32_t(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

const uint8_t kMacDst[6] = {0x02, 0, 0, 0, 0, 0x02};
const uint8_t kMacSrc[6] = {0x02, 0, 0, 0, 0, 0x01};
const Bytes kIpA = {10, 0, 0, 1};
const Bytes kIpB = {10, 0, 0, 2};
const Bytes kIp6A = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const Bytes kIp6B = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

struct Tag {
  uint16_t tpid;
  uint16_t tci;
};

Bytes Eth(uint16_t type, std::initializer_list<Tag> tags = {}) {
  Bytes b(kMacDst, kMacDst + 6);
  b.insert(b.end(), kMacSrc, kMacSrc + 6);
  for (const Tag& t : tags) {
    Put16(b, t.tpid);
    Put16(b, t.tci);
  }
  Put16(b, type);
  return b;
}

struct V4Opts {
  uint8_t proto = kProtoTcp;
  Bytes src = kIpA, dst = kIpB;
  Bytes options;            // IP options (multiple of 4 bytes)
  uint16_t id = 0x1c46;
  uint16_t frag = 0x4000;   // flags + fragment offset field (DF by default)
  uint8_t ttl = 64;
  int total_delta = 0;      // added to the true total length (to make it lie)
};

// IPv4 header (with correct checksum) followed by payload.
Bytes Ipv4(const V4Opts& o, const Bytes& payload) {
  Bytes h;
  const size_t hl = 20 + o.options.size();
  h.push_back(uint8_t(0x40 | (hl / 4)));
  h.push_back(0);
  Put16(h, uint16_t(int(hl + payload.size()) + o.total_delta));
  Put16(h, o.id);
  Put16(h, o.frag);
  h.push_back(o.ttl);
  h.push_back(o.proto);
  Put16(h, 0);
  Append(h, o.src);
  Append(h, o.dst);
  Append(h, o.options);
  uint16_t c = RefChecksum(h.data(), h.size());
  h[10] = uint8_t(c >> 8);
  h[11] = uint8_t(c);
  Append(h, payload);
  return h;
}

Bytes Ipv6(uint8_t nh, const Bytes& payload, int plen_delta = 0) {
  Bytes h;
  Put32(h, 0x60000000);
  Put16(h, uint16_t(int(payload.size()) + plen_delta));
  h.push_back(nh);
  h.push_back(63);
  Append(h, kIp6A);
  Append(h, kIp6B);
  Append(h, payload);
  return h;
}

// TCP header; checksum left 0 (Decode does not check L4 checksums).
Bytes Tcp(uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack, uint8_t flags, const Bytes& options = {},
          const Bytes& data = {}, int doff_override = -1) {
  Bytes t;
  Put16(t, sp);
  Put16(t, dp);
  Put32(t, seq);
  Put32(t, ack);
  int doff = doff_override >= 0 ? doff_override : int((20 + options.size()) / 4);
  t.push_back(uint8_t(doff << 4));
  t.push_back(flags);
  Put16(t, 65535);
  Put16(t, 0);
  Put16(t, 0);
  Append(t, options);
  Append(t, data);
  return t;
}

Bytes Udp(uint16_t sp, uint16_t dp, const Bytes& data, int len_override = -1) {
  Bytes u;
  Put16(u, sp);
  Put16(u, dp);
  Put16(u, uint16_t(len_override >= 0 ? len_override : int(8 + data.size())));
  Put16(u, 0);
  Append(u, data);
  return u;
}

// ICMP/ICMPv6 message: type, code, checksum 0, then 4 bytes (id/seq or unused) and data.
Bytes Icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq, const Bytes& data = {}) {
  Bytes m = {type, code, 0, 0};
  Put16(m, id);
  Put16(m, seq);
  Append(m, data);
  return m;
}

Bytes Concat(std::initializer_list<Bytes> parts) {
  Bytes b;
  for (const Bytes& p : parts) Append(b, p);
  return b;
}

// A decoded frame that keeps its own copy of the bytes.
struct Decoded {
  Bytes buf;
  Packet p;
  DecodeError err;
};

Decoded Dec(const Bytes& frame, DecodeOptions opt = {}) {
  Decoded d{frame, {}, DecodeError::kOk};
  d.err = Decode(d.buf.data(), uint32_t(d.buf.size()), &d.p, opt);
  return d;
}

// Checks that every offset/length the view exposes lies inside [0, len).
void ExpectViewInBounds(const Packet& p, uint32_t len, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_LE(p.l3_off, len);
  if (p.l3 == L3::kArp && p.arp_tpa_off != 0) {
    EXPECT_LE(uint32_t(p.arp_tpa_off) + 4, len);
  }
  if (p.ip_src_off != 0) {
    const uint32_t alen = p.is_ipv6() ? 16 : 4;
    EXPECT_LE(uint32_t(p.ip_src_off) + alen, len);
    EXPECT_LE(uint32_t(p.ip_dst_off) + alen, len);
  }
  if (p.has_l4) {
    EXPECT_LE(uint32_t(p.l4_off) + p.l4_len, len);
    EXPECT_GE(p.payload_off, p.l4_off);
    EXPECT_LE(uint32_t(p.payload_off) + p.payload_len, uint32_t(p.l4_off) + p.l4_len);
  }
  if (p.has_inner) {
    EXPECT_TRUE(p.has_l4);
    EXPECT_GE(p.inner_ip_off, p.l4_off);
    EXPECT_LT(p.inner_ip_off, uint32_t(p.l4_off) + p.l4_len);
  }
}

// Decodes the first n bytes of frame from a heap block of exactly n bytes, so
// that ASan reports any read past the end.
Packet DecodePrefix(const Bytes& frame, size_t n, DecodeError* err) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[n]);
  if (n > 0) std::memcpy(buf.get(), frame.data(), n);
  Packet p;
  *err = Decode(buf.get(), uint32_t(n), &p);
  ExpectViewInBounds(p, uint32_t(n), "prefix of " + std::to_string(n) + " bytes");
  p.data = nullptr;  // the block dies here
  return p;
}

// ---- Ethernet and VLAN ----------------------------------------------------

TEST(DecodeEthernet, ShorterThanHeaderIsTruncated) {
  Bytes f = Eth(kEthIpv4);
  for (size_t n = 0; n < 14; n++) {
    DecodeError e;
    DecodePrefix(f, n, &e);
    EXPECT_EQ(e, DecodeError::kTruncatedEthernet) << n;
  }
}

TEST(DecodeEthernet, UnknownEthertypeIsOtherAndOk) {
  Bytes f = Concat({Eth(0x88cc), Bytes(46, 0)});  // LLDP
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kOk);
  EXPECT_EQ(d.p.l3, L3::kOther);
  EXPECT_EQ(d.p.ethertype, 0x88cc);
  EXPECT_EQ(d.p.l3_off, 14);
  EXPECT_FALSE(d.p.has_l4);
  EXPECT_EQ(std::memcmp(d.p.dst_mac(), kMacDst, 6), 0);
  EXPECT_EQ(std::memcmp(d.p.src_mac(), kMacSrc, 6), 0);
}

TEST(DecodeVlan, OneTag) {
  Bytes f = Concat({Eth(kEthIpv4, {{kEthVlan, 0x2064}}), Ipv4({.proto = kProtoUdp}, Udp(1, 2, {}))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk) << DecodeErrorName(d.err);
  EXPECT_EQ(d.p.vlan_count, 1);
  EXPECT_EQ(d.p.vlan_id, 0x064);  // priority bits stripped
  EXPECT_EQ(d.p.ethertype, kEthIpv4);
  EXPECT_EQ(d.p.l3_off, 18);
  EXPECT_EQ(d.p.sport, 1);
  EXPECT_EQ(d.p.dport, 2);
}

TEST(DecodeVlan, QinQTwoTagsReportsOuterId) {
  Bytes f = Concat(
      {Eth(kEthIpv4, {{kEthQinQ, 100}, {kEthVlan, 200}}), Ipv4({.proto = kProtoUdp}, Udp(53, 5353, {1, 2}))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk);
  EXPECT_EQ(d.p.vlan_count, 2);
  EXPECT_EQ(d.p.vlan_id, 100);
  EXPECT_EQ(d.p.l3_off, 22);
  EXPECT_EQ(d.p.l3, L3::kIpv4);
  EXPECT_EQ(d.p.payload_len, 2);
}

TEST(DecodeVlan, ThreeTagsAreRefused) {
  Bytes f = Concat({Eth(kEthIpv4, {{kEthQinQ, 1}, {kEthVlan, 2}, {kEthVlan, 3}}),
                    Ipv4({.proto = kProtoUdp}, Udp(1, 2, {}))});
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kTooManyVlanTags);
  EXPECT_EQ(d.p.vlan_count, 2);
  EXPECT_NE(d.p.l3, L3::kIpv4);
  EXPECT_FALSE(d.p.has_l4);
}

TEST(DecodeVlan, TagCutShortIsTruncatedEthernet) {
  Bytes f = Eth(kEthIpv4, {{kEthVlan, 5}});  // 18 bytes: tag complete, nothing after
  for (size_t n = 14; n < 18; n++) {
    DecodeError e;
    DecodePrefix(f, n, &e);
    EXPECT_EQ(e, DecodeError::kTruncatedEthernet) << n;
  }
  // The second tag's TPID is present but not its TCI/ethertype.
  Bytes g = Concat({Eth(kEthIpv4, {{kEthQinQ, 5}, {kEthVlan, 6}})});
  DecodeError e;
  DecodePrefix(g, 20, &e);
  EXPECT_EQ(e, DecodeError::kTruncatedEthernet);
}

// ---- ARP ----------------------------------------------------------------

Bytes ArpBody(uint16_t htype = 1, uint16_t ptype = kEthIpv4, uint8_t hlen = 6, uint8_t plen = 4) {
  Bytes a;
  Put16(a, htype);
  Put16(a, ptype);
  a.push_back(hlen);
  a.push_back(plen);
  Put16(a, 1);  // request
  a.insert(a.end(), kMacSrc, kMacSrc + 6);
  Append(a, kIpA);
  Append(a, Bytes(6, 0));
  Append(a, kIpB);
  return a;
}

TEST(DecodeArp, RequestOffsets) {
  Bytes f = Concat({Eth(kEthArp), ArpBody(), Bytes(18, 0)});  // padded to 60
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk);
  EXPECT_EQ(d.p.l3, L3::kArp);
  EXPECT_EQ(d.p.arp_op, 1);
  EXPECT_EQ(std::memcmp(d.buf.data() + d.p.arp_sha_off, kMacSrc, 6), 0);
  EXPECT_EQ(Bytes(d.buf.begin() + d.p.arp_spa_off, d.buf.begin() + d.p.arp_spa_off + 4), kIpA);
  EXPECT_EQ(Bytes(d.buf.begin() + d.p.arp_tpa_off, d.buf.begin() + d.p.arp_tpa_off + 4), kIpB);
  EXPECT_EQ(d.p.arp_tha_off, 14 + 18);
}

TEST(DecodeArp, NotEthernetIpv4IsBad) {
  EXPECT_EQ(Dec(Concat({Eth(kEthArp), ArpBody(6)})).err, DecodeError::kBadArp);            // IEEE 802
  EXPECT_EQ(Dec(Concat({Eth(kEthArp), ArpBody(1, kEthIpv6)})).err, DecodeError::kBadArp);
  EXPECT_EQ(Dec(Concat({Eth(kEthArp), ArpBody(1, kEthIpv4, 8, 4)})).err, DecodeError::kBadArp);
  EXPECT_EQ(Dec(Concat({Eth(kEthArp), ArpBody(1, kEthIpv4, 6, 16)})).err, DecodeError::kBadArp);
}

TEST(DecodeArp, ShortBodyIsTruncated) {
  Bytes f = Concat({Eth(kEthArp), ArpBody()});
  f.resize(14 + 27);
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kTruncatedArp);
  EXPECT_EQ(d.p.l3, L3::kArp);
}

// ---- IPv4 + TCP/UDP -------------------------------------------------------

TEST(DecodeIpv4, TcpFieldsAndPayload) {
  Bytes mss = {2, 4, 0x05, 0xb4};
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.ttl = 61}, Tcp(40000, 80, 0x01020304, 0xa0b0c0d0, kSyn | kAck, mss,
                                                           {'G', 'E', 'T'}))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk) << DecodeErrorName(d.err);
  const Packet& p = d.p;
  EXPECT_TRUE(p.ok());
  EXPECT_TRUE(p.is_ipv4());
  EXPECT_EQ(p.l3_off, 14);
  EXPECT_EQ(p.ip_src_off, 26);
  EXPECT_EQ(p.ip_dst_off, 30);
  EXPECT_EQ(p.ip_hdr_len, 20);
  EXPECT_EQ(p.ip_total_len, 20 + 24 + 3);
  EXPECT_EQ(p.ip_proto, kProtoTcp);
  EXPECT_EQ(p.ttl, 61);
  EXPECT_EQ(p.ip_id, 0x1c46);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_FALSE(p.has_ip_options);
  ASSERT_TRUE(p.has_l4);
  EXPECT_EQ(p.l4_off, 34);
  EXPECT_EQ(p.l4_len, 27);
  EXPECT_EQ(p.sport, 40000);
  EXPECT_EQ(p.dport, 80);
  EXPECT_EQ(p.tcp_seq, 0x01020304u);
  EXPECT_EQ(p.tcp_ack, 0xa0b0c0d0u);
  EXPECT_EQ(p.tcp_flags, kSyn | kAck);
  EXPECT_EQ(p.payload_off, 34 + 24);
  EXPECT_EQ(p.payload_len, 3);
  EXPECT_EQ(d.buf[p.payload_off], 'G');
  EXPECT_FALSE(p.has_inner);
}

TEST(DecodeIpv4, OptionsMoveL4) {
  Bytes opts = {0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00};  // router alert, NOPs, EOL
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp, .options = opts}, Udp(5000, 6000, {9, 9, 9, 9}))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk);
  EXPECT_TRUE(d.p.has_ip_options);
  EXPECT_EQ(d.p.ip_hdr_len, 28);
  EXPECT_EQ(d.p.l4_off, 14 + 28);
  EXPECT_EQ(d.p.sport, 5000);
  EXPECT_EQ(d.p.dport, 6000);
  EXPECT_EQ(d.p.payload_len, 4);
}

TEST(DecodeIpv4, UdpFields) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(54585, 53, Bytes(29, 0x41)))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk);
  EXPECT_EQ(d.p.sport, 54585);
  EXPECT_EQ(d.p.dport, 53);
  EXPECT_EQ(d.p.l4_len, 37);
  EXPECT_EQ(d.p.payload_off, 14 + 20 + 8);
  EXPECT_EQ(d.p.payload_len, 29);
}

TEST(DecodeIpv4, EthernetPaddingAfterTotalLengthIsIgnored) {
  // 14 + 20 + 8 + 2 = 44 bytes, padded to the 60-byte minimum with junk.
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(7, 7, {0x11, 0x22})), Bytes(16, 0xee)});
  ASSERT_EQ(f.size(), 60u);
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk);
  EXPECT_EQ(d.p.ip_total_len, 30);
  EXPECT_EQ(d.p.l4_len, 10);
  EXPECT_EQ(d.p.payload_len, 2);

  Bytes t = Concat({Eth(kEthIpv4), Ipv4({}, Tcp(1, 2, 3, 4, kAck)), Bytes(6, 0xee)});
  Decoded dt = Dec(t);
  ASSERT_EQ(dt.err, DecodeError::kOk);
  EXPECT_EQ(dt.p.l4_len, 20);
  EXPECT_EQ(dt.p.payload_len, 0);  // the padding is not TCP payload
}

TEST(DecodeIpv4, BadVersion) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({}, Tcp(1, 2, 3, 4, kSyn))});
  f[14] = 0x55;
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kBadIpv4Version);
  EXPECT_FALSE(d.p.has_l4);
}

TEST(DecodeIpv4, IhlBelowFive) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({}, Tcp(1, 2, 3, 4, kSyn))});
  for (uint8_t ihl = 0; ihl < 5; ihl++) {
    f[14] = uint8_t(0x40 | ihl);
    Decoded d = Dec(f);
    EXPECT_EQ(d.err, DecodeError::kBadIpv4HeaderLength) << int(ihl);
    EXPECT_FALSE(d.p.has_l4);
  }
}

TEST(DecodeIpv4, IhlBeyondBuffer) {
  // IHL 15 (60 bytes) but only 20 + 8 bytes of IP present.
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(1, 2, {}))});
  f[14] = 0x4f;
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kTruncatedIpv4);
  EXPECT_FALSE(d.p.has_l4);
  EXPECT_EQ(d.p.ip_hdr_len, 60);
}

TEST(DecodeIpv4, TotalLengthBeyondBufferStillGivesPortsBoundedByBuffer) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.total_delta = 1000}, Tcp(1234, 22, 1, 0, kSyn, {}, {1, 2, 3}))});
  Decoded d = Dec(f, {.verify_ipv4_checksum = true});
  EXPECT_EQ(d.err, DecodeError::kBadIpv4TotalLength);
  ASSERT_TRUE(d.p.has_l4);
  EXPECT_EQ(d.p.sport, 1234);
  EXPECT_EQ(d.p.dport, 22);
  EXPECT_EQ(d.p.l4_len, 23);  // bounded by the buffer, not the 1000 extra bytes claimed
  EXPECT_EQ(d.p.payload_len, 3);
}

TEST(DecodeIpv4, TotalLengthBelowHeader) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.total_delta = -10}, Tcp(1, 2, 3, 4, kSyn))});
  // total = 40 - 10 = 30 >= 20: then TCP is cut to 10 bytes.
  EXPECT_EQ(Dec(f).err, DecodeError::kTruncatedL4);
  Bytes g = Concat({Eth(kEthIpv4), Ipv4({.total_delta = -25}, Tcp(1, 2, 3, 4, kSyn))});
  // total = 15 < 20.
  Decoded d = Dec(g);
  EXPECT_EQ(d.err, DecodeError::kBadIpv4TotalLength);
  EXPECT_FALSE(d.p.has_l4);
}

TEST(DecodeIpv4, BadChecksumOnlyWhenVerifying) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({}, Tcp(1111, 2222, 5, 6, kSyn))});
  f[14 + 10] ^= 0x5a;
  Decoded d = Dec(f, {.verify_ipv4_checksum = true});
  EXPECT_EQ(d.err, DecodeError::kBadIpv4Checksum);
  EXPECT_STREQ(DecodeErrorName(d.err), DecodeErrorName(DecodeError::kBadIpv4Checksum));
  // The rest of the view is still filled.
  EXPECT_TRUE(d.p.has_l4);
  EXPECT_EQ(d.p.sport, 1111);
  EXPECT_EQ(d.p.dport, 2222);
  EXPECT_EQ(d.p.tcp_flags, kSyn);

  Decoded n = Dec(f, {.verify_ipv4_checksum = false});
  EXPECT_EQ(n.err, DecodeError::kOk);
  EXPECT_EQ(n.p.sport, 1111);

  // And a correct checksum passes verification.
  Bytes good = Concat({Eth(kEthIpv4), Ipv4({.options = {1, 1, 1, 0}}, Tcp(1, 2, 3, 4, kSyn))});
  EXPECT_EQ(Dec(good, {.verify_ipv4_checksum = true}).err, DecodeError::kOk);
}

TEST(DecodeTcp, DataOffsetBeyondSegment) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({}, Tcp(1, 2, 3, 4, kAck, {}, {}, /*doff=*/8))});  // 32 > 20 present
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kBadTcpHeaderLength);
  EXPECT_EQ(d.p.sport, 1);  // the fixed header was read
  EXPECT_EQ(d.p.payload_len, 0);
}

TEST(DecodeTcp, DataOffsetBelowFive) {
  for (int doff = 0; doff < 5; doff++) {
    Bytes f = Concat({Eth(kEthIpv4), Ipv4({}, Tcp(1, 2, 3, 4, kAck, {}, Bytes(20, 0), doff))});
    EXPECT_EQ(Dec(f).err, DecodeError::kBadTcpHeaderLength) << doff;
  }
}

TEST(DecodeTcp, HeaderCutShort) {
  Bytes t = Tcp(1, 2, 3, 4, kSyn);
  t.resize(19);
  Decoded d = Dec(Concat({Eth(kEthIpv4), Ipv4({}, t)}));
  EXPECT_EQ(d.err, DecodeError::kTruncatedL4);
  EXPECT_FALSE(d.p.has_l4);
  EXPECT_EQ(d.p.l4_len, 19);
}

TEST(DecodeUdp, LengthLies) {
  // Longer than the datagram.
  Decoded big = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(1, 2, {1, 2, 3, 4}, 100))}));
  EXPECT_EQ(big.err, DecodeError::kBadUdpLength);
  EXPECT_EQ(big.p.sport, 1);
  EXPECT_LE(big.p.payload_len, 4);
  // Shorter than its own header.
  Decoded small = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(1, 2, {1, 2, 3, 4}, 7))}));
  EXPECT_EQ(small.err, DecodeError::kBadUdpLength);
  // Shorter than the datagram (legal: the rest is not UDP payload).
  Decoded shorter = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(1, 2, {1, 2, 3, 4}, 10))}));
  EXPECT_EQ(shorter.err, DecodeError::kOk);
  EXPECT_EQ(shorter.p.payload_len, 2);
}

// ---- fragments --------------------------------------------------------------

TEST(DecodeFragment, FirstFragmentHasL4) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp, .frag = 0x2000}, Udp(4000, 53, Bytes(100, 1), 1008))});
  Decoded d = Dec(f);
  // The UDP length covers the whole datagram, not this fragment: a first
  // fragment's UDP length legitimately exceeds what is here.
  EXPECT_EQ(d.err, DecodeError::kOk) << DecodeErrorName(d.err);
  EXPECT_EQ(d.p.payload_len, 100);
  EXPECT_TRUE(d.p.is_fragment);
  EXPECT_TRUE(d.p.more_fragments);
  EXPECT_EQ(d.p.frag_offset, 0);
  ASSERT_TRUE(d.p.has_l4);
  EXPECT_EQ(d.p.sport, 4000);
  EXPECT_EQ(d.p.dport, 53);
}

TEST(DecodeFragment, NonFirstFragmentHasNoL4) {
  // Offset 185 * 8 = 1480; the bytes there look like a UDP header but are not one.
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp, .frag = 185}, Udp(9999, 9999, Bytes(40, 2)))});
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kOk);
  EXPECT_TRUE(d.p.is_fragment);
  EXPECT_FALSE(d.p.more_fragments);
  EXPECT_EQ(d.p.frag_offset, 1480);
  EXPECT_FALSE(d.p.has_l4);
  EXPECT_EQ(d.p.sport, 0);
  EXPECT_EQ(d.p.ip_proto, kProtoUdp);
  EXPECT_EQ(d.p.ip_id, 0x1c46);

  // Middle fragment: MF and an offset.
  Bytes m = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoTcp, .frag = 0x2000 | 3}, Bytes(24, 0))});
  Decoded dm = Dec(m);
  EXPECT_EQ(dm.err, DecodeError::kOk);
  EXPECT_TRUE(dm.p.more_fragments);
  EXPECT_EQ(dm.p.frag_offset, 24);
  EXPECT_FALSE(dm.p.has_l4);
}

TEST(DecodeFragment, DontFragmentIsNotAFragment) {
  Decoded d = Dec(Concat({Eth(kEthIpv4), Ipv4({.frag = 0x4000}, Tcp(1, 2, 3, 4, kSyn))}));
  EXPECT_FALSE(d.p.is_fragment);
  EXPECT_FALSE(d.p.more_fragments);
}

// ---- ICMP -------------------------------------------------------------------

TEST(DecodeIcmp, EchoRequestAndReply) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(8, 0, 0x1234, 7, Bytes(56, 0x61)))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk);
  ASSERT_TRUE(d.p.has_l4);
  EXPECT_EQ(d.p.icmp_type, 8);
  EXPECT_EQ(d.p.icmp_code, 0);
  EXPECT_EQ(d.p.icmp_id, 0x1234);
  EXPECT_EQ(d.p.payload_len, 56);
  EXPECT_FALSE(d.p.has_inner);

  Decoded r = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(0, 0, 0x1234, 7))}));
  EXPECT_EQ(r.p.icmp_type, 0);
  EXPECT_EQ(r.p.icmp_id, 0x1234);
}

TEST(DecodeIcmp, TooShort) {
  Bytes m = Icmp(8, 0, 1, 1);
  m.resize(7);
  Decoded d = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, m)}));
  EXPECT_EQ(d.err, DecodeError::kTruncatedL4);
  EXPECT_FALSE(d.p.has_l4);
}

TEST(DecodeIcmp, PortUnreachableQuotesUdp) {
  // 10.0.0.2 answers 10.0.0.1's UDP 33434 -> 33435 with port unreachable,
  // quoting the IP header and the first 8 bytes (the UDP header).
  Bytes orig = Ipv4({.proto = kProtoUdp, .src = kIpA, .dst = kIpB}, Udp(33434, 33435, Bytes(32, 0)));
  Bytes quote(orig.begin(), orig.begin() + 28);
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp, .src = kIpB, .dst = kIpA}, Icmp(3, 3, 0, 0, quote))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk);
  EXPECT_EQ(d.p.icmp_type, 3);
  EXPECT_EQ(d.p.icmp_code, 3);
  EXPECT_EQ(d.p.icmp_id, 0);  // not a query
  ASSERT_TRUE(d.p.has_inner);
  EXPECT_EQ(d.p.inner_ip_off, 14 + 20 + 8);
  EXPECT_EQ(d.p.inner_proto, kProtoUdp);
  EXPECT_EQ(d.p.inner_sport, 33434);
  EXPECT_EQ(d.p.inner_dport, 33435);
  // The inner source is the original sender.
  EXPECT_EQ(Bytes(d.buf.begin() + d.p.inner_ip_off + 12, d.buf.begin() + d.p.inner_ip_off + 16), kIpA);
}

TEST(DecodeIcmp, TimeExceededQuotesEchoWithOptionsAndTcp) {
  Bytes echo = Ipv4({.proto = kProtoIcmp, .options = {1, 1, 1, 1}}, Icmp(8, 0, 0xbeef, 1, Bytes(8, 0)));
  Bytes q1(echo.begin(), echo.begin() + 24 + 8);
  Decoded d = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(11, 0, 0, 0, q1))}));
  ASSERT_TRUE(d.p.has_inner);
  EXPECT_EQ(d.p.inner_proto, kProtoIcmp);
  EXPECT_EQ(d.p.inner_sport, 0xbeef);
  EXPECT_EQ(d.p.inner_dport, 0xbeef);

  Bytes syn = Ipv4({}, Tcp(50000, 443, 1, 0, kSyn));
  Bytes q2(syn.begin(), syn.begin() + 28);
  Decoded t = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(3, 13, 0, 0, q2))}));
  ASSERT_TRUE(t.p.has_inner);
  EXPECT_EQ(t.p.inner_proto, kProtoTcp);
  EXPECT_EQ(t.p.inner_sport, 50000);
  EXPECT_EQ(t.p.inner_dport, 443);
}

TEST(DecodeIcmp, QuoteTooShortOrInvalidHasNoInner) {
  Bytes orig = Ipv4({.proto = kProtoUdp}, Udp(1, 2, {}));
  // IP header + 4 bytes of UDP only.
  Bytes shortq(orig.begin(), orig.begin() + 24);
  Decoded a = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(3, 1, 0, 0, shortq))}));
  EXPECT_EQ(a.err, DecodeError::kOk);
  EXPECT_FALSE(a.p.has_inner);
  // Not IPv4 inside.
  Bytes bad = orig;
  bad[0] = 0x65;
  Decoded b = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(3, 1, 0, 0, bad))}));
  EXPECT_FALSE(b.p.has_inner);
  // Inner IHL claims more than is quoted.
  Bytes big = orig;
  big[0] = 0x4f;
  Decoded c = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(3, 1, 0, 0, big))}));
  EXPECT_FALSE(c.p.has_inner);
  // Inner is a non-first fragment: its first 8 bytes are not an L4 header.
  Bytes frag = Ipv4({.proto = kProtoUdp, .frag = 10}, Udp(1, 2, {}));
  Decoded e = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(11, 1, 0, 0, frag))}));
  EXPECT_FALSE(e.p.has_inner);
  // Not an error type: a quote-like body is not parsed.
  Decoded g = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(8, 0, 1, 1, orig))}));
  EXPECT_FALSE(g.p.has_inner);
}

TEST(DecodeIcmp, TypeClassification) {
  for (int t : {3, 4, 5, 11, 12}) EXPECT_TRUE(IcmpIsError(uint8_t(t))) << t;
  for (int t : {0, 8, 9, 10, 13, 14, 128, 129}) EXPECT_FALSE(IcmpIsError(uint8_t(t))) << t;
  for (int t : {0, 8, 13, 14, 15, 16, 17, 18, 128, 129}) EXPECT_TRUE(IcmpIsQuery(uint8_t(t))) << t;
  for (int t : {3, 5, 9, 10, 11, 12, 130, 135}) EXPECT_FALSE(IcmpIsQuery(uint8_t(t))) << t;
}

TEST(DecodeIcmp, TimestampCarriesId) {
  Decoded d = Dec(Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(13, 0, 0x4242, 0, Bytes(12, 0)))}));
  EXPECT_EQ(d.p.icmp_id, 0x4242);
}

// ---- IPv6 -------------------------------------------------------------------

// An extension header of the given kind: next header, length, then filler
// up to (len8 + 1) * 8 bytes.
Bytes Ext(uint8_t next, uint8_t len8) {
  Bytes e = {next, len8};
  e.resize((size_t(len8) + 1) * 8, 0);
  if (e.size() >= 4) e[2] = 1;  // a PadN-looking option; content is not parsed
  return e;
}

Bytes FragHdr(uint8_t next, uint16_t offset_bytes, bool more, uint32_t id = 0xabcdef01) {
  Bytes e = {next, 0};
  Put16(e, uint16_t(offset_bytes | (more ? 1 : 0)));
  Put32(e, id);
  return e;
}

TEST(DecodeIpv6, TcpFields) {
  Bytes f = Concat({Eth(kEthIpv6), Ipv6(kProtoTcp, Tcp(443, 51000, 7, 9, kSyn | kAck, {}, {'h', 'i'}))});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk) << DecodeErrorName(d.err);
  EXPECT_TRUE(d.p.is_ipv6());
  EXPECT_EQ(d.p.ip_src_off, 14 + 8);
  EXPECT_EQ(d.p.ip_dst_off, 14 + 24);
  EXPECT_EQ(d.p.ip_hdr_len, 40);
  EXPECT_EQ(d.p.ip_total_len, 40 + 22);
  EXPECT_EQ(d.p.ttl, 63);
  EXPECT_EQ(d.p.ip_proto, kProtoTcp);
  ASSERT_TRUE(d.p.has_l4);
  EXPECT_EQ(d.p.l4_off, 54);
  EXPECT_EQ(d.p.sport, 443);
  EXPECT_EQ(d.p.dport, 51000);
  EXPECT_EQ(d.p.payload_len, 2);
}

TEST(DecodeIpv6, WalksExtensionHeaders) {
  // hop-by-hop (8) -> routing (16) -> dest opts (8) -> UDP
  Bytes chain = Concat({Ext(43, 0), Ext(60, 1), Ext(kProtoUdp, 0), Udp(546, 547, {1, 2, 3})});
  Bytes f = Concat({Eth(kEthIpv6), Ipv6(0, chain)});
  Decoded d = Dec(f);
  ASSERT_EQ(d.err, DecodeError::kOk) << DecodeErrorName(d.err);
  EXPECT_EQ(d.p.ip_proto, kProtoUdp);
  EXPECT_EQ(d.p.ip_hdr_len, 40 + 8 + 16 + 8);
  EXPECT_EQ(d.p.l4_off, 14 + 72);
  EXPECT_EQ(d.p.sport, 546);
  EXPECT_EQ(d.p.dport, 547);
  EXPECT_EQ(d.p.payload_len, 3);
}

TEST(DecodeIpv6, FirstAndNonFirstFragments) {
  Bytes first = Concat({Eth(kEthIpv6), Ipv6(44, Concat({FragHdr(kProtoUdp, 0, true), Udp(1000, 2000, Bytes(16, 0), 2000)}))});
  Decoded a = Dec(first);
  EXPECT_EQ(a.err, DecodeError::kOk) << DecodeErrorName(a.err);
  EXPECT_TRUE(a.p.is_fragment);
  EXPECT_TRUE(a.p.more_fragments);
  EXPECT_EQ(a.p.frag_offset, 0);
  ASSERT_TRUE(a.p.has_l4);
  EXPECT_EQ(a.p.ip_proto, kProtoUdp);
  EXPECT_EQ(a.p.sport, 1000);
  EXPECT_EQ(a.p.ip_hdr_len, 48);

  Bytes later = Concat({Eth(kEthIpv6), Ipv6(44, Concat({FragHdr(kProtoUdp, 1232, false), Bytes(24, 7)}))});
  Decoded b = Dec(later);
  EXPECT_EQ(b.err, DecodeError::kOk);
  EXPECT_TRUE(b.p.is_fragment);
  EXPECT_FALSE(b.p.more_fragments);
  EXPECT_EQ(b.p.frag_offset, 1232);
  EXPECT_FALSE(b.p.has_l4);
  EXPECT_EQ(b.p.ip_proto, kProtoUdp);
  EXPECT_EQ(b.p.sport, 0);
}

TEST(DecodeIpv6, ExtensionChainRunningOffTheEnd) {
  // Hop-by-hop says 4 * 8 + 8 = 40 bytes, only 16 are there.
  Bytes hbh = Ext(kProtoTcp, 4);
  hbh.resize(16);
  Decoded a = Dec(Concat({Eth(kEthIpv6), Ipv6(0, hbh)}));
  EXPECT_EQ(a.err, DecodeError::kTruncatedIpv6);
  EXPECT_FALSE(a.p.has_l4);
  // Fewer than 8 bytes for the next extension header.
  Decoded b = Dec(Concat({Eth(kEthIpv6), Ipv6(60, Bytes(5, 0))}));
  EXPECT_EQ(b.err, DecodeError::kTruncatedIpv6);
  EXPECT_FALSE(b.p.has_l4);
  // The chain fits the buffer but not the payload length: bytes past it are padding.
  Bytes c = Concat({Eth(kEthIpv6), Ipv6(60, Concat({Ext(kProtoUdp, 0), Udp(1, 2, {})}), -8)});
  Decoded dc = Dec(c);
  EXPECT_EQ(dc.err, DecodeError::kTruncatedL4);
  EXPECT_FALSE(dc.p.has_l4);
}

TEST(DecodeIpv6, EndlessChainIsBounded) {
  // 100 destination-options headers each pointing to another.
  Bytes chain;
  for (int i = 0; i < 100; i++) Append(chain, Ext(60, 0));
  Append(chain, Udp(1, 2, {}));
  Decoded d = Dec(Concat({Eth(kEthIpv6), Ipv6(60, chain)}));
  EXPECT_FALSE(d.p.has_l4);
  EXPECT_EQ(d.p.ip_proto, 60);
  EXPECT_LE(d.p.ip_hdr_len, 40 + 16 * 8);
  // Past 16 headers the packet is malformed (its ports are unknown: one
  // portless flow would carry anything); 16 are still read.
  EXPECT_EQ(d.err, DecodeError::kTooManyIpv6ExtHeaders);
  Bytes sixteen;
  for (int i = 0; i < 15; i++) Append(sixteen, Ext(60, 0));
  Append(sixteen, Ext(kProtoUdp, 0));
  Append(sixteen, Udp(1, 2, {}));
  Decoded ok = Dec(Concat({Eth(kEthIpv6), Ipv6(60, sixteen)}));
  EXPECT_EQ(ok.err, DecodeError::kOk) << DecodeErrorName(ok.err);
  EXPECT_TRUE(ok.p.has_l4);
  Bytes seventeen;
  for (int i = 0; i < 16; i++) Append(seventeen, Ext(60, 0));
  Append(seventeen, Ext(kProtoUdp, 0));
  Append(seventeen, Udp(1, 2, {}));
  EXPECT_EQ(Dec(Concat({Eth(kEthIpv6), Ipv6(60, seventeen)})).err, DecodeError::kTooManyIpv6ExtHeaders);
}

TEST(DecodeIpv6, RoutingHeaderWithSegmentsLeftAndFragmentIds) {
  Bytes rh = Ext(kProtoUdp, 2);
  rh[2] = 0;  // type 0
  rh[3] = 1;  // one segment left: a source route
  Decoded a = Dec(Concat({Eth(kEthIpv6), Ipv6(43, Concat({rh, Udp(1, 2, {})}))}));
  EXPECT_EQ(a.err, DecodeError::kOk);
  EXPECT_TRUE(a.p.ipv6_routing);
  rh[3] = 0;  // no segment left: only a record
  EXPECT_FALSE(Dec(Concat({Eth(kEthIpv6), Ipv6(43, Concat({rh, Udp(1, 2, {})}))})).p.ipv6_routing);
  // The 32-bit fragment id is read (fragments of two datagrams are told apart).
  Decoded f = Dec(Concat({Eth(kEthIpv6), Ipv6(44, Concat({FragHdr(kProtoUdp, 8, false, 0x12345678), Bytes(8, 0)}))}));
  EXPECT_EQ(f.p.frag_id, 0x12345678u);
}

TEST(DecodeIpv6, PayloadLengthLiesAndBadVersion) {
  Decoded a = Dec(Concat({Eth(kEthIpv6), Ipv6(kProtoUdp, Udp(5, 6, {1}), 500)}));
  EXPECT_EQ(a.err, DecodeError::kTruncatedIpv6);
  EXPECT_EQ(a.p.sport, 5);  // still read, bounded by the buffer
  EXPECT_EQ(a.p.l4_len, 9);

  Bytes v = Concat({Eth(kEthIpv6), Ipv6(kProtoUdp, Udp(5, 6, {}))});
  v[14] = 0x40;
  EXPECT_EQ(Dec(v).err, DecodeError::kBadIpv6Version);

  Bytes pad = Concat({Eth(kEthIpv6), Ipv6(kProtoUdp, Udp(5, 6, {1, 2})), Bytes(10, 0xcc)});
  Decoded p = Dec(pad);
  EXPECT_EQ(p.err, DecodeError::kOk);
  EXPECT_EQ(p.p.l4_len, 10);
  EXPECT_EQ(p.p.payload_len, 2);
}

TEST(DecodeIcmpv6, EchoAndNeighborSolicitation) {
  Decoded e = Dec(Concat({Eth(kEthIpv6), Ipv6(kProtoIcmpv6, Icmp(128, 0, 0x0102, 1, Bytes(8, 0)))}));
  ASSERT_EQ(e.err, DecodeError::kOk);
  EXPECT_EQ(e.p.icmp_type, 128);
  EXPECT_EQ(e.p.icmp_id, 0x0102);
  Decoded r = Dec(Concat({Eth(kEthIpv6), Ipv6(kProtoIcmpv6, Icmp(129, 0, 0x0102, 1))}));
  EXPECT_EQ(r.p.icmp_id, 0x0102);
  Decoded ns = Dec(Concat({Eth(kEthIpv6), Ipv6(kProtoIcmpv6, Icmp(135, 0, 0, 0, kIp6B))}));
  EXPECT_EQ(ns.p.icmp_type, 135);
  EXPECT_EQ(ns.p.icmp_id, 0);
  EXPECT_FALSE(ns.p.has_inner);
}

TEST(DecodeIcmpv6, DestinationUnreachableQuotesIpv6) {
  Bytes orig = Ipv6(kProtoUdp, Udp(40000, 53, Bytes(20, 0)));
  Bytes quote(orig.begin(), orig.begin() + 48);
  Decoded d = Dec(Concat({Eth(kEthIpv6), Ipv6(kProtoIcmpv6, Icmp(1, 4, 0, 0, quote))}));
  ASSERT_EQ(d.err, DecodeError::kOk);
  ASSERT_TRUE(d.p.has_inner);
  EXPECT_EQ(d.p.inner_ip_off, 14 + 40 + 8);
  EXPECT_EQ(d.p.inner_proto, kProtoUdp);
  EXPECT_EQ(d.p.inner_sport, 40000);
  EXPECT_EQ(d.p.inner_dport, 53);
  Bytes cut(orig.begin(), orig.begin() + 44);
  EXPECT_FALSE(Dec(Concat({Eth(kEthIpv6), Ipv6(kProtoIcmpv6, Icmp(1, 4, 0, 0, cut))})).p.has_inner);
}

// ---- truncation at every length, and fuzz --------------------------------

// Full frames whose every strict prefix is malformed (no trailing padding).
std::vector<std::pair<std::string, Bytes>> FullFrames() {
  Bytes orig = Ipv4({.proto = kProtoUdp}, Udp(33434, 33435, Bytes(8, 0)));
  Bytes quote(orig.begin(), orig.begin() + 28);
  Bytes orig6 = Ipv6(kProtoTcp, Tcp(1, 2, 3, 4, kSyn));
  Bytes quote6(orig6.begin(), orig6.begin() + 48);
  return {
      {"arp", Concat({Eth(kEthArp), ArpBody()})},
      {"ipv4 tcp options", Concat({Eth(kEthIpv4), Ipv4({.options = {1, 1, 1, 0}},
                                                       Tcp(1, 2, 3, 4, kSyn, {2, 4, 5, 0xb4}, {1, 2, 3}))})},
      {"ipv4 udp", Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(53, 53, Bytes(12, 3)))})},
      {"qinq ipv4 udp", Concat({Eth(kEthIpv4, {{kEthQinQ, 1}, {kEthVlan, 2}}),
                                Ipv4({.proto = kProtoUdp}, Udp(53, 53, {1}))})},
      {"ipv4 icmp echo", Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(8, 0, 1, 2, {5, 6}))})},
      {"ipv4 icmp error", Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoIcmp}, Icmp(3, 3, 0, 0, quote))})},
      {"ipv6 ext tcp", Concat({Eth(kEthIpv6), Ipv6(0, Concat({Ext(60, 0), Ext(kProtoTcp, 1),
                                                              Tcp(80, 8080, 1, 1, kAck, {}, {9, 9})}))})},
      {"ipv6 frag udp", Concat({Eth(kEthIpv6), Ipv6(44, Concat({FragHdr(kProtoUdp, 0, true), Udp(1, 2, {7})}))})},
      {"ipv6 icmpv6 error", Concat({Eth(kEthIpv6), Ipv6(kProtoIcmpv6, Icmp(3, 0, 0, 0, quote6))})},
  };
}

TEST(DecodeTruncation, EveryPrefixIsAnErrorAndStaysInBounds) {
  for (const auto& [name, frame] : FullFrames()) {
    SCOPED_TRACE(name);
    DecodeError full_err;
    Packet full = DecodePrefix(frame, frame.size(), &full_err);
    ASSERT_EQ(full_err, DecodeError::kOk) << DecodeErrorName(full_err);
    ASSERT_NE(full.l3, L3::kOther);
    for (size_t n = 0; n < frame.size(); n++) {
      DecodeError e;
      DecodePrefix(frame, n, &e);
      EXPECT_NE(e, DecodeError::kOk) << name << " cut to " << n << " of " << frame.size();
    }
  }
}

TEST(DecodeFuzz, RandomMutationsNeverLeaveTheBuffer) {
  std::mt19937 rng(12345);
  auto frames = FullFrames();
  std::set<DecodeError> seen;
  for (int iter = 0; iter < 20000; iter++) {
    Bytes f = frames[rng() % frames.size()].second;
    const int flips = 1 + int(rng() % 6);
    for (int i = 0; i < flips; i++) f[rng() % f.size()] = uint8_t(rng());
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    if (rng() % 8 == 0) f.resize(f.size() + rng() % 64, uint8_t(rng()));
    DecodeError e;
    Packet p = DecodePrefix(f, f.size(), &e);
    seen.insert(e);
    EXPECT_EQ(p.error, e);
    if (HasFailure()) FAIL() << "iteration " << iter;
  }
  EXPECT_GE(seen.size(), 8u);  // the mutations reached many different error paths
}

TEST(DecodeFuzz, RandomBytes) {
  std::mt19937 rng(999);
  for (int iter = 0; iter < 5000; iter++) {
    Bytes f(rng() % 200);
    for (auto& b : f) b = uint8_t(rng());
    if (f.size() >= 14 && rng() % 2) {  // steer towards IP
      uint16_t types[] = {kEthIpv4, kEthIpv6, kEthVlan, kEthArp};
      uint16_t t = types[rng() % 4];
      f[12] = uint8_t(t >> 8);
      f[13] = uint8_t(t);
      if (f.size() > 14) f[14] = uint8_t(t == kEthIpv6 ? 0x60 : 0x45);
    }
    DecodeError e;
    DecodePrefix(f, f.size(), &e);
    if (HasFailure()) FAIL() << "iteration " << iter;
  }
}

TEST(DecodeErrors, EveryCodeHasADistinctName) {
  std::set<std::string> names;
  for (int e = 0; e <= int(DecodeError::kBadUdpLength); e++) {
    const char* n = DecodeErrorName(DecodeError(e));
    ASSERT_NE(n, nullptr);
    EXPECT_GT(std::strlen(n), 0u);
    names.insert(n);
  }
  EXPECT_EQ(names.size(), size_t(DecodeError::kBadUdpLength) + 1);
  EXPECT_STREQ(DecodeErrorName(DecodeError::kOk), "ok");
}

TEST(DecodeMisc, DecodeResetsThePreviousView) {
  Bytes tcp = Concat({Eth(kEthIpv4), Ipv4({}, Tcp(1, 2, 3, 4, kSyn))});
  Bytes arp = Concat({Eth(kEthArp), ArpBody()});
  Packet p;
  ASSERT_EQ(Decode(tcp.data(), uint32_t(tcp.size()), &p), DecodeError::kOk);
  ASSERT_EQ(Decode(arp.data(), uint32_t(arp.size()), &p), DecodeError::kOk);
  EXPECT_FALSE(p.has_l4);
  EXPECT_EQ(p.sport, 0);
  EXPECT_EQ(p.ip_src_off, 0);
  EXPECT_EQ(p.l3, L3::kArp);
}

TEST(DecodeMisc, HugeFrameDecodesItsFirst64k) {
  Bytes f = Concat({Eth(kEthIpv4), Ipv4({.proto = kProtoUdp}, Udp(1, 2, {3}))});
  f.resize(70000, 0);
  Decoded d = Dec(f);
  EXPECT_EQ(d.err, DecodeError::kOk);
  EXPECT_EQ(d.p.len, 70000u);
  EXPECT_EQ(d.p.payload_len, 1);
}

}  // namespace
}  // namespace hn
