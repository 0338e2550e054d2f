// Test-only frame builder: Ethernet/IPv4/TCP/UDP/ICMP/ARP frames with correct
// checksums, as byte vectors. Used by the engine tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/addr.h"
#include "decode/checksum.h"
#include "decode/packet.h"

namespace hn::test {

inline Mac M(const char* s) { return *Mac::Parse(s); }
inline Ip4 I(const char* s) { return *Ip4::Parse(s); }

struct Ip4Spec {
  Ip4 src, dst;
  uint8_t proto = kProtoTcp;
  uint8_t ttl = 64;
  uint16_t id = 1;
  uint16_t frag_off_bytes = 0;
  bool mf = false;
};

inline std::vector<uint8_t> Eth(Mac dst, Mac src, uint16_t type) {
  std::vector<uint8_t> f(14);
  dst.CopyTo(f.data());
  src.CopyTo(f.data() + 6);
  Store16(f.data() + 12, type);
  return f;
}

// Appends an IPv4 header + l4 bytes (l4's checksum must already be right, see below).
inline std::vector<uint8_t> Ipv4Frame(Mac dst, Mac src, const Ip4Spec& s, std::vector<uint8_t> l4) {
  auto f = Eth(dst, src, kEthIpv4);
  uint8_t ip[20] = {0x45, 0};
  Store16(ip + 2, uint16_t(20 + l4.size()));
  Store16(ip + 4, s.id);
  Store16(ip + 6, uint16_t((s.mf ? 0x2000 : 0) | (s.frag_off_bytes / 8)));
  ip[8] = s.ttl;
  ip[9] = s.proto;
  s.src.ToNet(ip + 12);
  s.dst.ToNet(ip + 16);
  Store16(ip + 10, Ipv4HeaderChecksum(ip, 20));
  f.insert(f.end(), ip, ip + 20);
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

inline std::vector<uint8_t> TcpSeg(Ip4 src, Ip4 dst, uint16_t sport, uint16_t dport, uint8_t flags,
                                   const std::string& payload = "", uint32_t seq = 1000) {
  std::vector<uint8_t> t(20 + payload.size());
  Store16(t.data(), sport);
  Store16(t.data() + 2, dport);
  Store32(t.data() + 4, seq);
  t[12] = 5 << 4;
  t[13] = flags;
  Store16(t.data() + 14, 65535);
  std::copy(payload.begin(), payload.end(), t.begin() + 20);
  uint8_t s[4], d[4];
  src.ToNet(s);
  dst.ToNet(d);
  Store16(t.data() + 16, L4ChecksumIpv4(s, d, kProtoTcp, t.data(), t.size()));
  return t;
}

inline std::vector<uint8_t> UdpDgram(Ip4 src, Ip4 dst, uint16_t sport, uint16_t dport, const std::string& payload,
                                     bool zero_csum = false) {
  std::vector<uint8_t> u(8 + payload.size());
  Store16(u.data(), sport);
  Store16(u.data() + 2, dport);
  Store16(u.data() + 4, uint16_t(u.size()));
  std::copy(payload.begin(), payload.end(), u.begin() + 8);
  if (!zero_csum) {
    uint8_t s[4], d[4];
    src.ToNet(s);
    dst.ToNet(d);
    Store16(u.data() + 6, L4ChecksumIpv4(s, d, kProtoUdp, u.data(), u.size()));
  }
  return u;
}

inline std::vector<uint8_t> IcmpMsg(uint8_t type, uint8_t code, uint16_t id, uint16_t seq,
                                    const std::vector<uint8_t>& body) {
  std::vector<uint8_t> m(8 + body.size());
  m[0] = type;
  m[1] = code;
  Store16(m.data() + 4, id);
  Store16(m.data() + 6, seq);
  std::copy(body.begin(), body.end(), m.begin() + 8);
  Store16(m.data() + 2, ChecksumFinish(ChecksumPartial(m.data(), m.size())));
  return m;
}

inline std::vector<uint8_t> Arp(Mac eth_dst, Mac sha, uint16_t op, Ip4 spa, Mac tha, Ip4 tpa) {
  auto f = Eth(eth_dst, sha, kEthArp);
  uint8_t a[28] = {0, 1, 8, 0, 6, 4};
  Store16(a + 6, op);
  sha.CopyTo(a + 8);
  spa.ToNet(a + 14);
  tha.CopyTo(a + 18);
  tpa.ToNet(a + 24);
  f.insert(f.end(), a, a + 28);
  f.resize(60, 0);
  return f;
}

// True when the IPv4 header and TCP/UDP/ICMP checksums of the frame are right.
inline bool ChecksumsValid(std::vector<uint8_t> f) {
  Packet p;
  if (Decode(f.data(), uint32_t(f.size()), &p) != DecodeError::kOk || !p.is_ipv4()) return false;
  std::vector<uint8_t> g = f;
  Packet q;
  Decode(g.data(), uint32_t(g.size()), &q);
  RecomputeChecksums(&q);
  return f == g;
}

}  // namespace hn::test
