// Decode(): Ethernet / VLAN / ARP / IPv4 / IPv6 / TCP / UDP / ICMP / ICMPv6
// into a zero-copy Packet view.
//
// Rules followed throughout:
//  - every read is preceded by a check that the bytes lie inside [0, n),
//    where n is the frame length (clamped to 65535 so all offsets fit the
//    16-bit fields of Packet);
//  - the first error found is the one reported; later stages still fill
//    whatever is safe to fill (e.g. a bad IPv4 checksum or an IPv4 total
//    length beyond the buffer still yields ports, bounded by the buffer);
//  - no allocation, no I/O.
#include <algorithm>

#include "common/addr.h"
#include "decode/checksum.h"
#include "decode/packet.h"

namespace hn {

namespace {

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanTagLen = 4;
constexpr uint8_t kMaxVlanTags = 2;
constexpr uint32_t kArpLen = 28;  // Ethernet/IPv4 ARP body
constexpr uint32_t kIpv4MinHeader = 20;
constexpr uint32_t kIpv6Header = 40;
constexpr uint32_t kTcpMinHeader = 20;
constexpr uint32_t kUdpHeader = 8;
constexpr uint32_t kIcmpHeader = 8;
constexpr uint32_t kSctpCommonHeader = 12;
constexpr int kMaxIpv6ExtHeaders = 16;  // a longer chain is not walked (has_l4 = false)
constexpr uint8_t kProtoSctp = 132;

// IPv6 extension header numbers that Decode walks.
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6DestOpts = 60;

// Records e unless an earlier error is already recorded.
void SetError(Packet* p, DecodeError e) {
  if (p->error == DecodeError::kOk) p->error = e;
}

bool IsIcmp4Query(uint8_t type) {
  return type == 0 || type == 8 || (type >= 13 && type <= 18);
}
bool IsIcmp6Query(uint8_t type) { return type == 128 || type == 129; }
bool IsIcmp6Error(uint8_t type) { return type >= 1 && type <= 4; }

// ---- IPv6 extension header walk ----------------------------------------

enum class V6WalkEnd : uint8_t {
  kUpperLayer,        // reached a non-extension next header
  kNonFirstFragment,  // a fragment header with offset > 0: no L4 follows
  kCut,               // an extension header runs past end
  kTooMany,           // more than kMaxIpv6ExtHeaders
};

struct V6Walk {
  V6WalkEnd end = V6WalkEnd::kUpperLayer;
  uint8_t proto = 0;        // final next-header (or the one that could not be read)
  uint32_t off = 0;         // offset just past the walked extension headers
  bool fragment = false;    // a fragment header was seen
  uint16_t frag_offset = 0; // its offset in bytes
  bool more_fragments = false;
  uint32_t frag_id = 0;     // its identification
  bool routing = false;     // a routing header with segments left > 0
};

bool IsIpv6ExtHeader(uint8_t nh) {
  return nh == kIpv6HopByHop || nh == kIpv6Routing || nh == kIpv6Fragment || nh == kIpv6DestOpts;
}

// Walks the extension headers starting at off with next header nh, never
// reading at or past end.
V6Walk WalkIpv6ExtHeaders(const uint8_t* d, uint32_t off, uint32_t end, uint8_t nh) {
  V6Walk w;
  w.proto = nh;
  w.off = off;
  for (int count = 0; IsIpv6ExtHeader(w.proto); count++) {
    if (count == kMaxIpv6ExtHeaders) {
      w.end = V6WalkEnd::kTooMany;
      return w;
    }
    if (end < w.off || end - w.off < 8) {  // every extension header is at least 8 bytes
      w.end = V6WalkEnd::kCut;
      return w;
    }
    const uint8_t* h = d + w.off;
    uint32_t size = 8;
    if (w.proto == kIpv6Fragment) {
      uint16_t f = Load16(h + 2);
      w.fragment = true;
      w.frag_offset = uint16_t(f & 0xfff8);
      w.more_fragments = (f & 1) != 0;
      w.frag_id = Load32(h + 4);
    } else {
      size = (uint32_t(h[1]) + 1) * 8;
      if (end - w.off < size) {
        w.end = V6WalkEnd::kCut;
        return w;
      }
    }
    if (w.proto == kIpv6Routing && h[3] != 0) w.routing = true;
    w.proto = h[0];
    w.off += size;
    if (w.fragment && w.frag_offset > 0) {
      w.end = V6WalkEnd::kNonFirstFragment;
      return w;
    }
  }
  w.end = V6WalkEnd::kUpperLayer;
  return w;
}

// ---- ICMP error quotes ----------------------------------------------------

// Ports-like values of a quoted L4 header (8 bytes at l4 are present).
void FillInnerPorts(Packet* p, const uint8_t* l4, uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
    case kProtoUdp:
    case kProtoSctp:
      p->inner_sport = Load16(l4);
      p->inner_dport = Load16(l4 + 2);
      break;
    case kProtoIcmp:
    case kProtoIcmpv6:
      if (proto == kProtoIcmp ? IsIcmp4Query(l4[0]) : IsIcmp6Query(l4[0])) {
        p->inner_sport = p->inner_dport = Load16(l4 + 4);  // echo id, as MakeFlowKey does
      } else {
        p->inner_sport = l4[0];  // type
        p->inner_dport = l4[1];  // code
      }
      break;
    default:
      break;
  }
}

// The IPv4 datagram quoted by an ICMP error, in [off, end).
void DecodeInnerIpv4(Packet* p, uint32_t off, uint32_t end) {
  const uint8_t* d = p->data;
  if (end < off || end - off < kIpv4MinHeader) return;
  const uint8_t* ip = d + off;
  const uint32_t ihl = uint32_t(ip[0] & 0x0f) * 4;
  if ((ip[0] >> 4) != 4 || ihl < kIpv4MinHeader) return;
  if (end - off < ihl + 8) return;                // need the header and 8 bytes of L4
  if ((Load16(ip + 6) & 0x1fff) != 0) return;     // non-first fragment: no L4 header quoted
  p->has_inner = true;
  p->inner_ip_off = uint16_t(off);
  p->inner_proto = ip[9];
  FillInnerPorts(p, ip + ihl, ip[9]);
}

// The IPv6 packet quoted by an ICMPv6 error, in [off, end).
void DecodeInnerIpv6(Packet* p, uint32_t off, uint32_t end) {
  const uint8_t* d = p->data;
  if (end < off || end - off < kIpv6Header) return;
  if ((d[off] >> 4) != 6) return;
  V6Walk w = WalkIpv6ExtHeaders(d, off + kIpv6Header, end, d[off + 6]);
  if (w.end != V6WalkEnd::kUpperLayer) return;
  if (end - w.off < 8) return;
  p->has_inner = true;
  p->inner_ip_off = uint16_t(off);
  p->inner_proto = w.proto;
  FillInnerPorts(p, d + w.off, w.proto);
}

// ---- L4 ----------------------------------------------------------------

void DecodeTcp(Packet* p) {
  const uint8_t* t = p->data + p->l4_off;
  if (p->l4_len < kTcpMinHeader) {
    SetError(p, DecodeError::kTruncatedL4);
    return;
  }
  p->has_l4 = true;
  p->sport = Load16(t);
  p->dport = Load16(t + 2);
  p->tcp_seq = Load32(t + 4);
  p->tcp_ack = Load32(t + 8);
  p->tcp_flags = t[13];
  const uint32_t doff = uint32_t(t[12] >> 4) * 4;
  if (doff < kTcpMinHeader || doff > p->l4_len) {
    SetError(p, DecodeError::kBadTcpHeaderLength);
    p->payload_off = uint16_t(p->l4_off + p->l4_len);  // no trustworthy payload
    p->payload_len = 0;
    return;
  }
  p->payload_off = uint16_t(p->l4_off + doff);
  p->payload_len = uint16_t(p->l4_len - doff);
}

void DecodeUdp(Packet* p) {
  const uint8_t* u = p->data + p->l4_off;
  if (p->l4_len < kUdpHeader) {
    SetError(p, DecodeError::kTruncatedL4);
    return;
  }
  p->has_l4 = true;
  p->sport = Load16(u);
  p->dport = Load16(u + 2);
  const uint32_t ulen = Load16(u + 4);
  p->payload_off = uint16_t(p->l4_off + kUdpHeader);
  // In a first fragment the UDP length covers the whole datagram, not just
  // the bytes here: only a length below the header's own size is wrong then.
  const bool whole = !p->more_fragments;
  if (ulen < kUdpHeader || (whole && ulen > p->l4_len)) {
    SetError(p, DecodeError::kBadUdpLength);
    p->payload_len = uint16_t(p->l4_len - kUdpHeader);  // what is there, bounded by the datagram
    return;
  }
  p->payload_len = uint16_t(std::min<uint32_t>(ulen, p->l4_len) - kUdpHeader);
}

// ICMP (v4 = true) or ICMPv6.
void DecodeIcmp(Packet* p, bool v4) {
  const uint8_t* c = p->data + p->l4_off;
  if (p->l4_len < kIcmpHeader) {
    SetError(p, DecodeError::kTruncatedL4);
    return;
  }
  p->has_l4 = true;
  p->icmp_type = c[0];
  p->icmp_code = c[1];
  p->payload_off = uint16_t(p->l4_off + kIcmpHeader);
  p->payload_len = uint16_t(p->l4_len - kIcmpHeader);
  if (v4 ? IsIcmp4Query(c[0]) : IsIcmp6Query(c[0])) p->icmp_id = Load16(c + 4);
  const uint32_t quote = p->l4_off + kIcmpHeader;
  const uint32_t end = uint32_t(p->l4_off) + p->l4_len;
  if (v4 && IcmpIsError(c[0])) DecodeInnerIpv4(p, quote, end);
  if (!v4 && IsIcmp6Error(c[0])) DecodeInnerIpv6(p, quote, end);
}

void DecodeSctp(Packet* p) {
  const uint8_t* s = p->data + p->l4_off;
  if (p->l4_len < kSctpCommonHeader) {
    SetError(p, DecodeError::kTruncatedL4);
    return;
  }
  p->has_l4 = true;
  p->sport = Load16(s);
  p->dport = Load16(s + 2);
  p->payload_off = uint16_t(p->l4_off + kSctpCommonHeader);
  p->payload_len = uint16_t(p->l4_len - kSctpCommonHeader);
}

// Decodes the L4 header at l4_off, which runs to ip_end (both inside the buffer).
void DecodeL4(Packet* p, uint32_t l4_off, uint32_t ip_end) {
  p->l4_off = uint16_t(l4_off);
  p->l4_len = uint16_t(ip_end - l4_off);
  switch (p->ip_proto) {
    case kProtoTcp: DecodeTcp(p); break;
    case kProtoUdp: DecodeUdp(p); break;
    case kProtoIcmp: DecodeIcmp(p, /*v4=*/true); break;
    case kProtoIcmpv6: DecodeIcmp(p, /*v4=*/false); break;
    case kProtoSctp: DecodeSctp(p); break;
    default:  // a protocol we do not parse: all of it is payload
      p->has_l4 = true;
      p->payload_off = p->l4_off;
      p->payload_len = p->l4_len;
      break;
  }
}

// ---- L3 ----------------------------------------------------------------

void DecodeArp(Packet* p, uint32_t n) {
  const uint32_t off = p->l3_off;
  if (n - off < kArpLen) {
    SetError(p, DecodeError::kTruncatedArp);
    return;
  }
  const uint8_t* a = p->data + off;
  // htype 1 (Ethernet), ptype 0x0800 (IPv4), hlen 6, plen 4.
  if (Load16(a) != 1 || Load16(a + 2) != kEthIpv4 || a[4] != 6 || a[5] != 4) {
    SetError(p, DecodeError::kBadArp);
    return;
  }
  p->arp_op = Load16(a + 6);
  p->arp_sha_off = uint16_t(off + 8);
  p->arp_spa_off = uint16_t(off + 14);
  p->arp_tha_off = uint16_t(off + 18);
  p->arp_tpa_off = uint16_t(off + 24);
}

void DecodeIpv4(Packet* p, uint32_t n, const DecodeOptions& opt) {
  const uint32_t off = p->l3_off;
  const uint32_t avail = n - off;
  if (avail < kIpv4MinHeader) {
    SetError(p, DecodeError::kTruncatedIpv4);
    return;
  }
  const uint8_t* ip = p->data + off;
  if ((ip[0] >> 4) != 4) {
    SetError(p, DecodeError::kBadIpv4Version);
    return;
  }
  // The fixed 20 bytes are present: fill what they say before judging lengths.
  const uint32_t ihl = uint32_t(ip[0] & 0x0f) * 4;
  const uint32_t total = Load16(ip + 2);
  const uint16_t frag = Load16(ip + 6);
  p->ip_src_off = uint16_t(off + 12);
  p->ip_dst_off = uint16_t(off + 16);
  p->ip_hdr_len = uint16_t(ihl);
  p->ip_total_len = uint16_t(total);
  p->ip_proto = ip[9];
  p->ttl = ip[8];
  p->ip_id = Load16(ip + 4);
  p->frag_id = p->ip_id;
  p->frag_offset = uint16_t((frag & 0x1fff) * 8);
  p->more_fragments = (frag & 0x2000) != 0;
  p->is_fragment = p->more_fragments || p->frag_offset > 0;
  p->has_ip_options = ihl > kIpv4MinHeader;
  if (ihl < kIpv4MinHeader) {
    SetError(p, DecodeError::kBadIpv4HeaderLength);
    return;
  }
  if (ihl > avail) {
    SetError(p, DecodeError::kTruncatedIpv4);
    return;
  }
  if (total < ihl) {
    SetError(p, DecodeError::kBadIpv4TotalLength);
    return;
  }
  // A total length past the buffer is an error, but the L4 header may still
  // be read, bounded by the buffer. Bytes past total are Ethernet padding.
  if (total > avail) SetError(p, DecodeError::kBadIpv4TotalLength);
  if (opt.verify_ipv4_checksum && ChecksumFinish(ChecksumPartial(ip, ihl)) != 0)
    SetError(p, DecodeError::kBadIpv4Checksum);
  if (p->frag_offset > 0) return;  // non-first fragment: no L4 header here
  DecodeL4(p, off + ihl, off + std::min(total, avail));
}

void DecodeIpv6(Packet* p, uint32_t n) {
  const uint32_t off = p->l3_off;
  const uint32_t avail = n - off;
  if (avail < kIpv6Header) {
    SetError(p, DecodeError::kTruncatedIpv6);
    return;
  }
  const uint8_t* ip = p->data + off;
  if ((ip[0] >> 4) != 6) {
    SetError(p, DecodeError::kBadIpv6Version);
    return;
  }
  const uint32_t total = kIpv6Header + Load16(ip + 4);
  p->ip_src_off = uint16_t(off + 8);
  p->ip_dst_off = uint16_t(off + 24);
  p->ip_total_len = uint16_t(std::min<uint32_t>(total, 0xffff));
  p->ttl = ip[7];
  if (total > avail) SetError(p, DecodeError::kTruncatedIpv6);  // go on, bounded by the buffer
  const uint32_t ip_end = off + std::min(total, avail);
  V6Walk w = WalkIpv6ExtHeaders(p->data, off + kIpv6Header, ip_end, ip[6]);
  p->ip_proto = w.proto;
  p->ip_hdr_len = uint16_t(w.off - off);
  p->is_fragment = w.fragment && (w.more_fragments || w.frag_offset > 0);
  p->frag_offset = w.frag_offset;
  p->more_fragments = w.more_fragments;
  p->frag_id = w.frag_id;
  p->ipv6_routing = w.routing;
  switch (w.end) {
    case V6WalkEnd::kUpperLayer: DecodeL4(p, w.off, ip_end); break;
    case V6WalkEnd::kCut: SetError(p, DecodeError::kTruncatedIpv6); break;
    // Past 16 extension headers the upper layer (and its ports) is unknown:
    // treated as malformed, or one flow without ports would carry anything.
    case V6WalkEnd::kTooMany: SetError(p, DecodeError::kTooManyIpv6ExtHeaders); break;
    case V6WalkEnd::kNonFirstFragment: break;
  }
}

// ---- Ethernet ------------------------------------------------------------

// Reads the Ethernet header and up to kMaxVlanTags tags. Returns false on error.
bool DecodeEthernet(Packet* p, uint32_t n) {
  if (n < kEthHeaderLen) {
    SetError(p, DecodeError::kTruncatedEthernet);
    return false;
  }
  uint32_t off = 12;  // the first EtherType / TPID
  uint16_t type = Load16(p->data + off);
  off += 2;
  while (type == kEthVlan || type == kEthQinQ) {
    p->ethertype = type;
    p->l3_off = uint16_t(off);
    if (p->vlan_count == kMaxVlanTags) {
      SetError(p, DecodeError::kTooManyVlanTags);
      return false;
    }
    if (n - off < kVlanTagLen) {
      SetError(p, DecodeError::kTruncatedEthernet);
      return false;
    }
    if (p->vlan_count == 0) p->vlan_id = Load16(p->data + off) & 0x0fff;
    p->vlan_count++;
    type = Load16(p->data + off + 2);
    off += kVlanTagLen;
  }
  p->ethertype = type;
  p->l3_off = uint16_t(off);
  return true;
}

}  // namespace

const char* DecodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kOk: return "ok";
    case DecodeError::kTruncatedEthernet: return "truncated ethernet";
    case DecodeError::kTooManyVlanTags: return "too many vlan tags";
    case DecodeError::kTruncatedArp: return "truncated arp";
    case DecodeError::kBadArp: return "bad arp";
    case DecodeError::kTruncatedIpv4: return "truncated ipv4";
    case DecodeError::kBadIpv4Version: return "bad ipv4 version";
    case DecodeError::kBadIpv4HeaderLength: return "bad ipv4 header length";
    case DecodeError::kBadIpv4TotalLength: return "bad ipv4 total length";
    case DecodeError::kBadIpv4Checksum: return "bad ipv4 checksum";
    case DecodeError::kTruncatedIpv6: return "truncated ipv6";
    case DecodeError::kBadIpv6Version: return "bad ipv6 version";
    case DecodeError::kTruncatedL4: return "truncated l4 header";
    case DecodeError::kBadTcpHeaderLength: return "bad tcp header length";
    case DecodeError::kBadUdpLength: return "bad udp length";
    case DecodeError::kTooManyIpv6ExtHeaders: return "too many ipv6 extension headers";
  }
  return "unknown decode error";
}

bool IcmpIsError(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

bool IcmpIsQuery(uint8_t type) { return IsIcmp4Query(type) || IsIcmp6Query(type); }

DecodeError Decode(uint8_t* frame, uint32_t len, Packet* p, const DecodeOptions& opt) {
  *p = Packet{};
  p->data = frame;
  p->len = len;
  // Offsets in Packet are 16 bits: a (GRO-sized) frame longer than that is
  // decoded as its first 65535 bytes.
  const uint32_t n = std::min<uint32_t>(len, 0xffff);
  if (frame == nullptr && n > 0) {
    SetError(p, DecodeError::kTruncatedEthernet);
    return p->error;
  }
  if (!DecodeEthernet(p, n)) return p->error;
  switch (p->ethertype) {
    case kEthArp:
      p->l3 = L3::kArp;
      DecodeArp(p, n);
      break;
    case kEthIpv4:
      p->l3 = L3::kIpv4;
      DecodeIpv4(p, n, opt);
      break;
    case kEthIpv6:
      p->l3 = L3::kIpv6;
      DecodeIpv6(p, n);
      break;
    default:
      p->l3 = L3::kOther;
      break;
  }
  return p->error;
}

}  // namespace hn
