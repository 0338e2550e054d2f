// Internet checksums (RFC 1071) and incremental updates (RFC 1624).
#include "decode/checksum.h"

#include <bit>
#include <cstring>

#include "common/addr.h"

namespace hn {

namespace {

// Folds a 64-bit one's-complement accumulator into 32 bits, keeping the
// end-around carries (the value stays the same modulo 0xffff).
uint32_t Fold64To32(uint64_t s) {
  while (s >> 32) s = (s & 0xffffffffu) + (s >> 32);
  return uint32_t(s);
}

// Folds a 32-bit partial sum into 16 bits with end-around carry.
uint16_t Fold32To16(uint32_t s) {
  while (s >> 16) s = (s & 0xffffu) + (s >> 16);
  return uint16_t(s);
}

// Offset of the checksum field inside an L4 header, or -1 when unknown.
int L4ChecksumFieldOffset(uint8_t proto) {
  switch (proto) {
    case kProtoTcp: return 16;
    case kProtoUdp: return 6;
    case kProtoIcmp:
    case kProtoIcmpv6: return 2;
    default: return -1;
  }
}

// Sum of l4[0, len) with the 2-byte checksum field at field_off read as zero.
uint32_t SumSkippingField(const uint8_t* l4, size_t len, int field_off, uint32_t initial) {
  if (field_off < 0 || size_t(field_off) >= len) return ChecksumPartial(l4, len, initial);
  size_t f = size_t(field_off);
  uint32_t s = ChecksumPartial(l4, f, initial);  // f is even: word alignment is kept
  size_t after = f + 2;
  if (after < len) s = ChecksumPartial(l4 + after, len - after, s);
  return s;
}

// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
uint32_t Ipv6PseudoHeaderSum(const uint8_t* src16, const uint8_t* dst16, uint8_t proto, uint32_t l4_len) {
  uint32_t s = ChecksumPartial(src16, 16);
  s = ChecksumPartial(dst16, 16, s);
  uint8_t tail[8];
  Store32(tail, l4_len);
  tail[4] = tail[5] = tail[6] = 0;
  tail[7] = proto;
  return ChecksumPartial(tail, sizeof tail, s);
}

// Adds a one's-complement 16-bit value to a folded sum.
uint32_t AddWord(uint32_t s, uint16_t w) { return Fold32To16(s + w); }

}  // namespace

// On the forwarding path (a frame whose checksum the sender left to offload,
// NAT, ICMP errors): 8 bytes per step. The one's-complement sum does not depend
// on byte order (RFC 1071 section 2(B)): 64-bit native words are summed as two
// 32-bit halves (no carry is lost: each step adds < 2^33, so 2^30 steps fit),
// folded to 16 bits and byte-swapped once at the end on little-endian hosts.
uint32_t ChecksumPartial(const uint8_t* data, size_t len, uint32_t initial) {
  uint64_t wide = 0;
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    uint64_t w[4];
    std::memcpy(w, data + i, 32);
    wide += (w[0] & 0xffffffffu) + (w[0] >> 32) + (w[1] & 0xffffffffu) + (w[1] >> 32);
    wide += (w[2] & 0xffffffffu) + (w[2] >> 32) + (w[3] & 0xffffffffu) + (w[3] >> 32);
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    wide += (w & 0xffffffffu) + (w >> 32);
  }
  uint32_t native = Fold32To16(Fold64To32(wide));
  if constexpr (std::endian::native == std::endian::little) native = uint16_t(native << 8 | native >> 8);
  uint64_t s = uint64_t(initial) + native;
  for (; i + 1 < len; i += 2) s += uint32_t(data[i]) << 8 | data[i + 1];
  if (i < len) s += uint32_t(data[i]) << 8;  // odd byte: padded with a zero byte
  return Fold64To32(s);
}

uint16_t ChecksumFinish(uint32_t partial) { return uint16_t(~Fold32To16(partial)); }

uint16_t Ipv4HeaderChecksum(const uint8_t* ip_hdr, size_t hdr_len) {
  return ChecksumFinish(SumSkippingField(ip_hdr, hdr_len, 10, 0));
}

uint16_t L4ChecksumIpv4(const uint8_t* src4, const uint8_t* dst4, uint8_t proto, const uint8_t* l4,
                        size_t l4_len) {
  uint8_t pseudo[12];
  for (int i = 0; i < 4; i++) {
    pseudo[i] = src4[i];
    pseudo[4 + i] = dst4[i];
  }
  pseudo[8] = 0;
  pseudo[9] = proto;
  Store16(pseudo + 10, uint16_t(l4_len));
  uint32_t s = ChecksumPartial(pseudo, sizeof pseudo);
  s = SumSkippingField(l4, l4_len, L4ChecksumFieldOffset(proto), s);
  uint16_t c = ChecksumFinish(s);
  if (proto == kProtoUdp && c == 0) c = 0xffff;  // 0 means "no checksum" in UDP
  return c;
}

void ChecksumUpdate16(uint8_t* csum_field, uint16_t old_v, uint16_t new_v) {
  // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')
  uint32_t s = uint16_t(~Load16(csum_field));
  s = AddWord(s, uint16_t(~old_v));
  s = AddWord(s, new_v);
  Store16(csum_field, uint16_t(~s));
}

void ChecksumUpdate32(uint8_t* csum_field, uint32_t old_v, uint32_t new_v) {
  uint32_t s = uint16_t(~Load16(csum_field));
  s = AddWord(s, uint16_t(~(old_v >> 16)));
  s = AddWord(s, uint16_t(~old_v));
  s = AddWord(s, uint16_t(new_v >> 16));
  s = AddWord(s, uint16_t(new_v));
  Store16(csum_field, uint16_t(~s));
}

namespace {

// Recomputes the TCP/UDP/ICMP(v6) checksum of a decoded, unfragmented packet.
void RecomputeL4(Packet* p) {
  uint8_t* ip = p->data + p->l3_off;
  uint8_t* l4 = p->data + p->l4_off;
  size_t len = p->l4_len;
  const uint8_t proto = p->ip_proto;
  const int field = L4ChecksumFieldOffset(proto);
  if (field < 0 || len < size_t(field) + 2) return;
  if (proto == kProtoUdp) {
    uint16_t udp_len = Load16(l4 + 4);
    if (udp_len >= 8 && udp_len <= len) len = udp_len;
    // UDP over IPv4 with checksum 0 carries no checksum: keep it that way.
    if (p->is_ipv4() && Load16(l4 + 6) == 0) return;
  }
  uint16_t c = 0;
  if (p->is_ipv4()) {
    if (proto == kProtoIcmp) {
      c = ChecksumFinish(SumSkippingField(l4, len, field, 0));  // ICMP has no pseudo-header
    } else if (proto == kProtoTcp || proto == kProtoUdp) {
      c = L4ChecksumIpv4(ip + 12, ip + 16, proto, l4, len);
    } else {
      return;
    }
  } else {
    if (proto != kProtoTcp && proto != kProtoUdp && proto != kProtoIcmpv6) return;
    uint32_t s = Ipv6PseudoHeaderSum(ip + 8, ip + 24, proto, uint32_t(len));
    c = ChecksumFinish(SumSkippingField(l4, len, field, s));
    if (proto == kProtoUdp && c == 0) c = 0xffff;
  }
  Store16(l4 + field, c);
}

// True when the L4 part of *p was fully read and is safe to checksum.
bool L4Checksummable(const Packet& p) {
  if (!p.has_l4 || p.is_fragment) return false;
  return p.error == DecodeError::kOk || p.error == DecodeError::kBadIpv4Checksum;
}

}  // namespace

void RecomputeChecksums(Packet* p) {
  if (p->is_ipv4()) {
    const uint32_t hl = p->ip_hdr_len;
    if (hl < 20 || uint32_t(p->l3_off) + hl > p->len) return;  // header not readable
    uint8_t* ip = p->data + p->l3_off;
    if ((ip[0] >> 4) != 4) return;
    Store16(ip + 10, Ipv4HeaderChecksum(ip, hl));
  } else if (!p->is_ipv6()) {
    return;
  }
  if (L4Checksummable(*p)) RecomputeL4(p);
}

}  // namespace hn
