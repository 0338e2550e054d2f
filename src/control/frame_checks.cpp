// Data Control's per-frame checks. See frame_checks.h.
#include "control/frame_checks.h"

#include <cstring>

namespace hn {

bool HasSourceRoute(const Packet& p) {
  const uint8_t* o = p.data + p.l3_off + 20;
  const uint8_t* end = p.data + p.l3_off + p.ip_hdr_len;
  while (o < end) {
    const uint8_t type = o[0];
    if (type == 0) return false;  // end of options
    if (type == 1) {              // no-operation
      o++;
      continue;
    }
    if (end - o < 2 || o[1] < 2 || o[1] > end - o) return true;  // malformed: treated as a source route
    if ((type & 0x1f) == 3 || (type & 0x1f) == 9) return true;
    o += o[1];
  }
  return false;
}

bool IsRealBroadcast(const Packet& p) {
  const uint8_t* m = p.data;
  const uint8_t* d = p.data + p.ip_dst_off;
  if (p.is_ipv6()) return d[0] == 0xff && m[0] == 0x33 && m[1] == 0x33 && std::memcmp(m + 2, d + 12, 4) == 0;
  const uint32_t a = Load32(d);
  if (a == 0xffffffffu) return Mac::From(m).IsBroadcast();
  if ((a >> 28) != 0xe) return false;
  return m[0] == 0x01 && m[1] == 0x00 && m[2] == 0x5e && m[3] == (d[1] & 0x7f) && m[4] == d[2] && m[5] == d[3];
}

bool GsoFits(uint8_t gso_type, const Packet& p) {
  switch (gso_type & 0x7f) {  // 0x80: ECN
    case 1: return p.is_ipv4() && p.ip_proto == kProtoTcp;
    case 4: return p.is_ipv6() && p.ip_proto == kProtoTcp;
    case 3:
    case 5: return p.ip_proto == kProtoUdp;
    default: return false;
  }
}

bool V6Identity::Owns(const uint8_t* addr) const {
  if (mac && Ip6::LinkLocalOf(*mac).Equals(addr)) return true;
  if (ip6)
    for (const Ip6& a : *ip6)
      if (a.Equals(addr)) return true;
  return false;
}

bool V6SourceOk(const V6Identity& id, const Packet& p) {
  const uint8_t* s = p.data + p.ip_src_off;
  if (id.Owns(s)) return true;
  static constexpr uint8_t kZero[16] = {};
  if (std::memcmp(s, kZero, 16) != 0) return false;
  return p.has_l4 && p.ip_proto == kProtoIcmpv6 && (p.icmp_type == 135 || p.icmp_type == 143 || p.icmp_type == 131);
}

Reason CheckNdp(const V6Identity& id, const Packet& p) {
  if (p.ttl != 255 || p.l4_len > kMaxNdpLen) return Reason::kMalformed;
  const uint8_t* m = p.data + p.l4_off;
  const uint16_t body = p.icmp_type == 133 ? 8 : 24;  // RS: header; NS/NA: + target address
  if (p.l4_len < body) return Reason::kMalformed;
  if (p.icmp_type == 136 && ((m[4] & 0x80) != 0 || !id.Owns(m + 8))) return Reason::kSpoofedSource;
  for (uint16_t o = body; o < p.l4_len;) {
    if (p.l4_len - o < 8 || m[o + 1] == 0 || m[o + 1] * 8u > uint32_t(p.l4_len - o)) return Reason::kMalformed;
    const uint8_t type = m[o], len8 = m[o + 1];
    if (type == 1 || type == 2) {  // source / target link-layer address
      if (len8 != 1 || std::memcmp(m + o + 2, id.mac->b.data(), 6) != 0) return Reason::kSpoofedSource;
    } else if (type != 14) {       // nonce (RFC 7527); nothing else
      return Reason::kMalformed;
    }
    o += uint16_t(len8 * 8);
  }
  return Reason::kCount;
}

}  // namespace hn
