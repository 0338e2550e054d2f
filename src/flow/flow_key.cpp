// FlowKey construction, direction-independent hashing and printing.
#include "flow/flow_key.h"

#include <cstdio>

#include "common/addr.h"

namespace hn {

namespace {

constexpr uint8_t kProtoSctp = 132;

// 64x64 -> 128 multiply folded to 64 bits (the core of xxh3/wyhash mixing).
inline uint64_t MulFold(uint64_t a, uint64_t b) {
  unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return uint64_t(r) ^ uint64_t(r >> 64);
}

// xxh3's final avalanche.
inline uint64_t Avalanche(uint64_t h) {
  h ^= h >> 37;
  h *= 0x165667919e3779f9ULL;
  h ^= h >> 32;
  return h;
}

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// True when endpoint (a, ap) sorts before (b, bp): the bytes compared as two
// big-endian words (the order memcmp gives, without the call).
inline bool EndpointLess(const std::array<uint8_t, 16>& a, uint16_t ap, const std::array<uint8_t, 16>& b,
                         uint16_t bp) {
  const uint64_t a0 = __builtin_bswap64(Load64(a.data())), b0 = __builtin_bswap64(Load64(b.data()));
  if (a0 != b0) return a0 < b0;
  const uint64_t a1 = __builtin_bswap64(Load64(a.data() + 8)), b1 = __builtin_bswap64(Load64(b.data() + 8));
  if (a1 != b1) return a1 < b1;
  return ap < bp;
}

bool IsQuery(uint8_t proto, uint8_t type) {
  if (proto == kProtoIcmpv6) return type == 128 || type == 129;
  return type == 0 || type == 8 || (type >= 13 && type <= 18);
}

}  // namespace

uint64_t FlowKey::Hash() const {
  // Order the two endpoints so that both directions hash the same.
  const bool fwd = EndpointLess(src, sport, dst, dport);
  const std::array<uint8_t, 16>& a = fwd ? src : dst;
  const std::array<uint8_t, 16>& b = fwd ? dst : src;
  const uint16_t ap = fwd ? sport : dport;
  const uint16_t bp = fwd ? dport : sport;
  // Random odd constants (from xxh3's secret) keep zero inputs from collapsing.
  const uint64_t meta = uint64_t(ap) << 32 | uint64_t(bp) << 16 | uint64_t(proto) << 8 | (v6 ? 1 : 0);
  uint64_t h = MulFold(Load64(a.data()) ^ 0xbe4ba423396cfeb8ULL, Load64(b.data()) ^ 0x1cad21f72c81017cULL);
  h += MulFold(Load64(a.data() + 8) ^ 0xdb979083e96dd4deULL, Load64(b.data() + 8) ^ 0x1f67b3b7a4a44072ULL);
  h += MulFold(meta ^ 0x78e5c0cc4ee679cbULL, h ^ 0x2172ffcc7dd05a82ULL);
  return Avalanche(h);
}

uint64_t FlowHash(const FlowKey& k, SipKey key) {
  const bool fwd = EndpointLess(k.src, k.sport, k.dst, k.dport);
  const std::array<uint8_t, 16>& a = fwd ? k.src : k.dst;
  const std::array<uint8_t, 16>& b = fwd ? k.dst : k.src;
  const uint16_t ap = fwd ? k.sport : k.dport;
  const uint16_t bp = fwd ? k.dport : k.sport;
  // Fixed-size inputs (16 bytes for IPv4, 40 for IPv6) so that the compiler
  // unrolls SipHash; the last word carries the address family, so a v4 key
  // never hashes as a v6 one.
  const uint64_t meta = uint64_t(ap) | uint64_t(bp) << 16 | uint64_t(k.proto) << 32 | uint64_t(k.v6 ? 6 : 4) << 40;
  uint8_t buf[40];
  if (!k.v6) {
    std::memcpy(buf, a.data(), 4);
    std::memcpy(buf + 4, b.data(), 4);
    std::memcpy(buf + 8, &meta, 8);
    return SipHash13(buf, 16, key);
  }
  std::memcpy(buf, a.data(), 16);
  std::memcpy(buf + 16, b.data(), 16);
  std::memcpy(buf + 32, &meta, 8);
  return SipHash13(buf, 40, key);
}

std::string FlowKey::SrcString() const { return IpBytesToString(src.data(), v6); }
std::string FlowKey::DstString() const { return IpBytesToString(dst.data(), v6); }

FlowKey MakeFlowKey(const Packet& p) {
  FlowKey k;
  if (!p.is_ipv4() && !p.is_ipv6()) return k;
  if (p.ip_src_off == 0 || p.ip_dst_off == 0) return k;  // IP header was not readable
  k.v6 = p.is_ipv6();
  const size_t alen = k.v6 ? 16 : 4;
  std::memcpy(k.src.data(), p.data + p.ip_src_off, alen);
  std::memcpy(k.dst.data(), p.data + p.ip_dst_off, alen);
  k.proto = p.ip_proto;
  if (!p.has_l4) return k;  // non-first fragment or unreadable L4: no ports
  switch (p.ip_proto) {
    case kProtoTcp:
    case kProtoUdp:
    case kProtoSctp:
      k.sport = p.sport;
      k.dport = p.dport;
      break;
    case kProtoIcmp:
    case kProtoIcmpv6:
      if (IsQuery(p.ip_proto, p.icmp_type)) {
        k.sport = k.dport = p.icmp_id;
      } else {
        k.sport = p.icmp_type;
        k.dport = p.icmp_code;
      }
      break;
    default:
      break;
  }
  return k;
}

const char* ProtoName(uint8_t proto, char* buf) {
  switch (proto) {
    case kProtoTcp: return "TCP";
    case kProtoUdp: return "UDP";
    case kProtoIcmp: return "ICMP";
    case kProtoIcmpv6: return "IPv6-ICMP";
    default:
      std::snprintf(buf, 4, "%u", unsigned(proto));
      return buf;
  }
}

}  // namespace hn
