// Tests for SHA-1, Community ID v1 (against the spec's published vectors)
// and FlowKey (construction from packets, direction-independent hash, text).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/addr.h"
#include "decode/packet.h"
#include "flow/community_id.h"
#include "flow/flow_key.h"

namespace hn {
namespace {

std::string Hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

std::string Sha1Hex(const std::string& msg) {
  uint8_t out[20];
  Sha1(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), out);
  return Hex(out, 20);
}

// A key from text addresses (v4 or v6, detected by a ':').
FlowKey Key(uint8_t proto, const std::string& src, const std::string& dst, uint16_t sport = 0, uint16_t dport = 0) {
  FlowKey k;
  k.v6 = src.find(':') != std::string::npos;
  const int af = k.v6 ? AF_INET6 : AF_INET;
  EXPECT_EQ(inet_pton(af, src.c_str(), k.src.data()), 1) << src;
  EXPECT_EQ(inet_pton(af, dst.c_str(), k.dst.data()), 1) << dst;
  k.proto = proto;
  k.sport = sport;
  k.dport = dport;
  return k;
}

// ---- SHA-1 -------------------------------------------------------------------

TEST(CommunityIdSha1, Fips180Vectors) {
  // FIPS 180-2 appendix A and the classic empty-string digest.
  EXPECT_EQ(Sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Sha1Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(Sha1Hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(CommunityIdSha1, PaddingBoundaries) {
  // Lengths around the 55/56/64-byte padding edges; digests from Python's hashlib.
  struct {
    size_t n;
    const char* hex;
  } cases[] = {
      {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"}, {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
      {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"}, {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
      {65, "11655326c708d70319be2610e8a57d9a5b959d3b"}, {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
      {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"}, {128, "ad5b3fdbcb526778c2839d2f151ea753995e26a0"},
  };
  for (const auto& c : cases) EXPECT_EQ(Sha1Hex(std::string(c.n, 'a')), c.hex) << c.n;
}

// ---- Community ID: the spec's tables ----------------------------------------

// From https://github.com/corelight/community-id-spec/blob/master/baseline/README.md
// ("Default settings" and "A custom seed=1 value" tables, made by make-tables.py).
// For ICMP/ICMPv6 rows, sport/dport are the ICMP type and code.
struct TableRow {
  uint8_t proto;
  const char* saddr;
  const char* daddr;
  uint16_t sport, dport;
  const char* id_seed0;
  const char* id_seed1;
};

const char* kS4 = "1.2.3.4";
const char* kD4 = "5.6.7.8";
const char* kS6 = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D";
const char* kD6 = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D";

const TableRow kTable[] = {
    {6, kS4, kD4, 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {6, kD4, kS4, 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {17, kS4, kD4, 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
    {17, kD4, kS4, 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
    {132, kS4, kD4, 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
    {132, kD4, kS4, 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
    {1, kS4, kD4, 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {1, kD4, kS4, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {1, kS4, kD4, 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
    {58, kS6, kD6, 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
    {58, kD6, kS6, 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
    {58, kS6, kD6, 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
    {46, kS4, kD4, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
    {46, kD4, kS4, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
    {46, kS6, kD6, 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
    {46, kD6, kS6, 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
};

std::string IdFor(uint8_t proto, const char* s, const char* d, uint16_t sp, uint16_t dp, uint16_t seed) {
  const bool icmp = proto == kProtoIcmp || proto == kProtoIcmpv6;
  FlowKey k = Key(proto, s, d, icmp ? 0 : sp, icmp ? 0 : dp);
  return CommunityId(k, seed, icmp ? uint8_t(sp) : 0, icmp ? uint8_t(dp) : 0);
}

TEST(CommunityIdSpec, BaselineTableSeed0And1) {
  for (const TableRow& r : kTable) {
    SCOPED_TRACE(std::to_string(r.proto) + " " + r.saddr + " " + std::to_string(r.sport) + " -> " + r.daddr + " " +
                 std::to_string(r.dport));
    EXPECT_EQ(IdFor(r.proto, r.saddr, r.daddr, r.sport, r.dport, 0), r.id_seed0);
    EXPECT_EQ(IdFor(r.proto, r.saddr, r.daddr, r.sport, r.dport, 1), r.id_seed1);
  }
}

TEST(CommunityIdSpec, HashInputLayout) {
  // The "No base64-encoding" table gives the raw digest for TCP 1.2.3.4:1122 -> 5.6.7.8:3344:
  // c026f7386ef200559e95a53276ed03fb5db908b3. The spec's layout is
  // seed(2) . saddr . daddr . proto . 0 . sport . dport.
  const uint8_t in[] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 0, 0x04, 0x62, 0x0d, 0x10};
  uint8_t out[20];
  Sha1(in, sizeof in, out);
  EXPECT_EQ(Hex(out, 20), "c026f7386ef200559e95a53276ed03fb5db908b3");
}

// From https://github.com/corelight/community-id-spec/blob/master/baseline/baseline_deflt.json
// and baseline_seed1.json (community-id-pcap over pcaps/combined.pcap.gz). For
// ICMP rows the tool prints the type as sport and the code (one-way types) or
// the counterpart type (request/response types) as dport.
struct PcapRow {
  uint8_t proto;
  const char* saddr;
  const char* daddr;
  uint16_t sport, dport;
  const char* id_seed0;
  const char* id_seed1;
};

const PcapRow kPcapRows[] = {
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
     "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
     "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck=",
     "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
    {58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=",
     "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
    {58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4,
     "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="},
    {58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
     "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
     "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=",
     "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
    {58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00=",
     "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="},
    {1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
    {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
     "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
     "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {46, "10.1.12.1", "10.1.12.2", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
    {46, "10.1.12.2", "10.1.12.1", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
};

TEST(CommunityIdSpec, PcapBaselineSeed0And1) {
  for (const PcapRow& r : kPcapRows) {
    SCOPED_TRACE(std::to_string(r.proto) + " " + r.saddr + " " + std::to_string(r.sport) + " -> " + r.daddr + " " +
                 std::to_string(r.dport));
    EXPECT_EQ(IdFor(r.proto, r.saddr, r.daddr, r.sport, r.dport, 0), r.id_seed0);
    EXPECT_EQ(IdFor(r.proto, r.saddr, r.daddr, r.sport, r.dport, 1), r.id_seed1);
  }
}

TEST(CommunityIdSpec, SpecOrderingExampleAndFormat) {
  // README: TCP 10.0.0.1:1234 -> 127.0.0.1:80 and its reverse hash the same.
  FlowKey k = Key(kProtoTcp, "10.0.0.1", "127.0.0.1", 1234, 80);
  std::string a = CommunityId(k);
  EXPECT_EQ(a, CommunityId(k.Reversed()));
  EXPECT_EQ(a.size(), 30u);  // "1:" + 28 base64 characters: fits Flow::community_id[32]
  EXPECT_EQ(a.substr(0, 2), "1:");
  EXPECT_EQ(a.back(), '=');
  // Same addresses: the ports decide the order, and both directions agree.
  FlowKey same = Key(kProtoUdp, "10.0.0.1", "10.0.0.1", 9000, 53);
  EXPECT_EQ(CommunityId(same), CommunityId(same.Reversed()));
  // The seed matters.
  EXPECT_NE(CommunityId(k, 0), CommunityId(k, 2));
}

TEST(CommunityIdSpec, OneWayIcmpIsNotReordered) {
  // Time exceeded from 5.6.7.8 to 1.2.3.4 differs from 1.2.3.4 to 5.6.7.8.
  FlowKey k = Key(kProtoIcmp, kS4, kD4);
  EXPECT_NE(CommunityId(k, 0, 11, 0), CommunityId(k.Reversed(), 0, 11, 0));
  // While echo request one way and reply the other agree.
  EXPECT_EQ(CommunityId(k, 0, 8, 0), CommunityId(k.Reversed(), 0, 0, 0));
  // The key's ports (echo ids) are ignored for ICMP.
  FlowKey with_ids = k;
  with_ids.sport = with_ids.dport = 0x1234;
  EXPECT_EQ(CommunityId(with_ids, 0, 8, 0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
}

// ---- end to end: decoded frame -> FlowKey -> Community ID -------------------

using Bytes = std::vector<uint8_t>;

Bytes IcmpEchoFrame(const uint8_t src[4], const uint8_t dst[4], uint8_t type, uint16_t id) {
  Bytes f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
             0x45, 0, 0, 28, 0, 1, 0, 0, 64, kProtoIcmp, 0, 0};
  f.insert(f.end(), src, src + 4);
  f.insert(f.end(), dst, dst + 4);
  Bytes icmp = {type, 0, 0, 0, uint8_t(id >> 8), uint8_t(id), 0, 1};
  f.insert(f.end(), icmp.begin(), icmp.end());
  return f;
}

TEST(CommunityIdFromPacket, EchoRequestAndReplyShareFlowAndId) {
  const uint8_t a[4] = {192, 168, 0, 89};
  const uint8_t b[4] = {192, 168, 0, 1};
  Bytes req = IcmpEchoFrame(a, b, 8, 0x0a0b);
  Bytes rep = IcmpEchoFrame(b, a, 0, 0x0a0b);
  Packet pq, pr;
  DecodeOptions no_csum{.verify_ipv4_checksum = false};
  ASSERT_EQ(Decode(req.data(), uint32_t(req.size()), &pq, no_csum), DecodeError::kOk);
  ASSERT_EQ(Decode(rep.data(), uint32_t(rep.size()), &pr, no_csum), DecodeError::kOk);
  FlowKey kq = MakeFlowKey(pq), kr = MakeFlowKey(pr);
  EXPECT_EQ(kq, kr.Reversed());
  EXPECT_EQ(kq.Hash(), kr.Hash());
  // Same value as the spec's pcap baseline for 192.168.0.89 -> 192.168.0.1 echo.
  EXPECT_EQ(CommunityId(kq, 0, pq.icmp_type, pq.icmp_code), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
  EXPECT_EQ(CommunityId(kr, 0, pr.icmp_type, pr.icmp_code), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
}

// ---- FlowKey ------------------------------------------------------------------

Bytes TcpV4Frame(const uint8_t src[4], const uint8_t dst[4], uint16_t sp, uint16_t dp, uint16_t frag = 0) {
  Bytes f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0, 40, 0, 1,
             uint8_t(frag >> 8), uint8_t(frag), 64, kProtoTcp, 0, 0};
  f.insert(f.end(), src, src + 4);
  f.insert(f.end(), dst, dst + 4);
  Bytes t(20, 0);
  Store16(t.data(), sp);
  Store16(t.data() + 2, dp);
  t[12] = 0x50;
  t[13] = kSyn;
  f.insert(f.end(), t.begin(), t.end());
  return f;
}

TEST(FlowKey, FromTcpV4Packet) {
  const uint8_t a[4] = {10, 1, 2, 3};
  const uint8_t b[4] = {93, 184, 216, 34};
  Bytes f = TcpV4Frame(a, b, 41000, 443);
  Packet p;
  ASSERT_EQ(Decode(f.data(), uint32_t(f.size()), &p, {.verify_ipv4_checksum = false}), DecodeError::kOk);
  FlowKey k = MakeFlowKey(p);
  EXPECT_FALSE(k.v6);
  EXPECT_EQ(k.proto, kProtoTcp);
  EXPECT_EQ(k.sport, 41000);
  EXPECT_EQ(k.dport, 443);
  EXPECT_EQ(std::memcmp(k.src.data(), a, 4), 0);
  EXPECT_EQ(std::memcmp(k.dst.data(), b, 4), 0);
  for (int i = 4; i < 16; i++) EXPECT_EQ(k.src[i] | k.dst[i], 0) << i;  // v4: the rest is zero
  EXPECT_EQ(k.SrcString(), "10.1.2.3");
  EXPECT_EQ(k.DstString(), "93.184.216.34");
}

TEST(FlowKey, NonFirstFragmentHasNoPorts) {
  const uint8_t a[4] = {10, 0, 0, 1};
  const uint8_t b[4] = {10, 0, 0, 2};
  Bytes f = TcpV4Frame(a, b, 1, 2, /*frag=*/0x0010);
  Packet p;
  ASSERT_EQ(Decode(f.data(), uint32_t(f.size()), &p, {.verify_ipv4_checksum = false}), DecodeError::kOk);
  FlowKey k = MakeFlowKey(p);
  EXPECT_EQ(k.proto, kProtoTcp);
  EXPECT_EQ(k.sport, 0);
  EXPECT_EQ(k.dport, 0);
}

TEST(FlowKey, IcmpErrorUsesTypeAndCode) {
  Bytes f = IcmpEchoFrame(std::array<uint8_t, 4>{10, 0, 0, 9}.data(), std::array<uint8_t, 4>{10, 0, 0, 1}.data(),
                          3, 0);
  f[14 + 20 + 1] = 10;  // code: host administratively prohibited
  Packet p;
  ASSERT_EQ(Decode(f.data(), uint32_t(f.size()), &p, {.verify_ipv4_checksum = false}), DecodeError::kOk);
  FlowKey k = MakeFlowKey(p);
  EXPECT_EQ(k.sport, 3);
  EXPECT_EQ(k.dport, 10);
}

TEST(FlowKey, Ipv6KeyAndText) {
  FlowKey k = Key(kProtoUdp, "2001:db8::1", "fe80::1", 5353, 5353);
  EXPECT_TRUE(k.v6);
  EXPECT_EQ(k.SrcString(), "2001:db8::1");
  EXPECT_EQ(k.DstString(), "fe80::1");
  EXPECT_EQ(k.Hash(), k.Reversed().Hash());
  FlowKey v4 = Key(kProtoUdp, "32.1.13.184", "254.128.0.0", 5353, 5353);  // same first 4 bytes
  EXPECT_NE(v4.Hash(), k.Hash());
}

TEST(FlowKey, NotIpGivesEmptyKey) {
  Bytes arp = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1};
  arp.resize(42, 0);
  Packet p;
  ASSERT_EQ(Decode(arp.data(), uint32_t(arp.size()), &p), DecodeError::kOk);
  EXPECT_EQ(MakeFlowKey(p), FlowKey{});
}

TEST(FlowKey, HashIsDirectionIndependentAndSpreads) {
  std::mt19937_64 rng(1);
  std::unordered_set<uint64_t> seen;
  for (int i = 0; i < 20000; i++) {
    FlowKey k;
    k.v6 = (i % 3) == 0;
    uint64_t r1 = rng(), r2 = rng();
    std::memcpy(k.src.data(), &r1, k.v6 ? 8 : 4);
    std::memcpy(k.dst.data(), &r2, k.v6 ? 8 : 4);
    k.sport = uint16_t(rng());
    k.dport = uint16_t(rng());
    k.proto = (i % 2) ? kProtoTcp : kProtoUdp;
    ASSERT_EQ(k.Hash(), k.Reversed().Hash());
    seen.insert(k.Hash());
  }
  EXPECT_EQ(seen.size(), 20000u);  // no 64-bit collisions expected

  // Keys that differ only in the client port (a scan from one host) must
  // spread over the low bits the flow table uses as its slot index.
  constexpr int kBuckets = 1024;
  std::vector<int> count(kBuckets, 0);
  FlowKey base = Key(kProtoTcp, "10.0.0.5", "198.51.100.7", 0, 80);
  const int n = 65536;
  for (int port = 0; port < n; port++) {
    base.sport = uint16_t(port);
    count[base.Hash() & (kBuckets - 1)]++;
  }
  const int mean = n / kBuckets;
  for (int c : count) {
    EXPECT_GT(c, mean / 3);
    EXPECT_LT(c, mean * 2);
  }
  // Same for sequential addresses.
  std::fill(count.begin(), count.end(), 0);
  for (int i = 0; i < n; i++) {
    FlowKey k = Key(kProtoUdp, "10.0.0.0", "8.8.8.8", 5000, 53);
    Store32(k.src.data(), 0x0a000000u + uint32_t(i));
    count[k.Hash() & (kBuckets - 1)]++;
  }
  for (int c : count) {
    EXPECT_GT(c, mean / 3);
    EXPECT_LT(c, mean * 2);
  }
}

TEST(FlowKey, HashSeparatesProtoAndPorts) {
  FlowKey a = Key(kProtoTcp, "10.0.0.1", "10.0.0.2", 1000, 80);
  FlowKey b = a;
  b.proto = kProtoUdp;
  EXPECT_NE(a.Hash(), b.Hash());
  FlowKey c = a;
  c.sport = 80;
  c.dport = 1000;  // ports swapped but addresses not: a different flow
  EXPECT_NE(a.Hash(), c.Hash());
}

TEST(FlowKey, ProtoNames) {
  char buf[4];
  EXPECT_STREQ(ProtoName(kProtoTcp, buf), "TCP");
  EXPECT_STREQ(ProtoName(kProtoUdp, buf), "UDP");
  EXPECT_STREQ(ProtoName(kProtoIcmp, buf), "ICMP");
  EXPECT_STREQ(ProtoName(kProtoIcmpv6, buf), "IPv6-ICMP");
  EXPECT_STREQ(ProtoName(47, buf), "47");
  EXPECT_STREQ(ProtoName(255, buf), "255");
  EXPECT_STREQ(ProtoName(0, buf), "0");
}

}  // namespace
}  // namespace hn
