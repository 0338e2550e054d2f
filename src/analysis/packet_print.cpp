// Packet printing: see packet_print.h.
#include "analysis/packet_print.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>

#include "decode/packet.h"
#include "flow/community_id.h"

namespace hn {

namespace {

// Big-endian loads from bytes known to be present.
uint16_t Be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

constexpr uint8_t kProtoSctp = 132;

// ---------------------------------------------------------------- dissection

// The bytes left after `off`, and the frame, for the layer walkers.
struct Walk {
  const uint8_t* f;
  uint32_t cap;
  Dissection* d;
  uint32_t Left(uint32_t off) const { return off < cap ? cap - off : 0; }
  // From off on, `wire` bytes of payload by the headers (bytes past them are
  // padding); those present are shown.
  void Rest(uint32_t off, uint32_t wire) {
    d->payload_off = std::min(off, cap);
    d->payload_len = std::min(Left(off), wire);
    d->payload_wire_len = wire;
  }
  // Everything from off on is undecoded: the bytes present, plus what the
  // capture cut off the frame.
  void RestAll(uint32_t off) {
    const uint32_t cut = d->len > d->caplen ? d->len - d->caplen : 0;
    Rest(off, Left(off) + (off <= cap ? cut : 0));
  }
  void Cut(const char* layer, uint32_t off) {
    d->cut_layer = layer;
    RestAll(off);
  }
};

void DissectIcmpInner(Walk& w, uint32_t off, uint32_t end, bool v6);

// TCP/UDP/ICMP at off; the datagram's L4 bytes end at `end` by the IP header
// (it may lie past the captured bytes).
void DissectL4(Walk& w, uint8_t proto, uint32_t off, uint32_t end) {
  Dissection& d = *w.d;
  const uint32_t avail = std::min(end, w.cap);
  const uint32_t left = avail > off ? avail - off : 0;
  const uint32_t wire = end > off ? end - off : 0;
  d.l4_off = off;
  switch (proto) {
    case kProtoTcp: {
      d.transport = Dissection::Transport::kTcp;
      uint8_t t[20] = {};  // what is there of the header, zero-padded
      d.l4_have = std::min(left, 20u);
      std::memcpy(t, w.f + off, d.l4_have);
      d.sport = Be16(t);
      d.dport = Be16(t + 2);
      d.seq = Be32(t + 4);
      d.ack = Be32(t + 8);
      d.tcp_hdr_len = uint8_t((t[12] >> 4) * 4);
      d.tcp_ns = t[12] & 1;
      d.tcp_flags = t[13];
      d.tcp_win = Be16(t + 14);
      d.l4_checksum = Be16(t + 16);
      d.tcp_urp = Be16(t + 18);
      if (d.l4_have < 20) return w.Cut("tcp", off);
      d.has_l4 = true;
      if (d.tcp_hdr_len < 20) {
        d.problem = "TCP data offset < 5";
        w.Rest(off + 20, wire - 20);
        return;
      }
      if (d.tcp_hdr_len > left) {
        if (d.tcp_hdr_len > wire) d.problem = "TCP data offset beyond the segment";
        else d.cut_layer = "tcp options";
        w.Rest(off + 20, wire - 20);
        d.payload_off = avail;  // nothing of the payload is there
        d.payload_len = 0;
        d.payload_wire_len = wire > d.tcp_hdr_len ? wire - d.tcp_hdr_len : 0;
        return;
      }
      return w.Rest(off + d.tcp_hdr_len, wire - d.tcp_hdr_len);
    }
    case kProtoUdp: {
      d.transport = Dissection::Transport::kUdp;
      uint8_t u[8] = {};
      d.l4_have = std::min(left, 8u);
      std::memcpy(u, w.f + off, d.l4_have);
      d.sport = Be16(u);
      d.dport = Be16(u + 2);
      d.udp_len = Be16(u + 4);
      d.l4_checksum = Be16(u + 6);
      if (d.l4_have < 8) return w.Cut("udp", off);
      d.has_l4 = true;
      if (d.udp_len < 8) d.problem = "UDP length < 8";
      else if (d.udp_len > wire && !d.is_fragment) d.problem = "UDP length beyond the IP datagram";
      return w.Rest(off + 8, wire - 8);
    }
    case kProtoIcmp:
    case kProtoIcmpv6: {
      const bool v6 = proto == kProtoIcmpv6;
      d.transport = v6 ? Dissection::Transport::kIcmp6 : Dissection::Transport::kIcmp;
      uint8_t c[8] = {};
      d.l4_have = std::min(left, 8u);
      std::memcpy(c, w.f + off, d.l4_have);
      d.icmp_type = c[0];
      d.icmp_code = c[1];
      d.l4_checksum = Be16(c + 2);
      if (d.l4_have < 4) return w.Cut(v6 ? "icmpv6" : "icmp", off);
      const bool query = v6 ? (d.icmp_type == 128 || d.icmp_type == 129)
                            : (d.icmp_type == 0 || d.icmp_type == 8 || (d.icmp_type >= 13 && d.icmp_type <= 18));
      const bool error = v6 ? (d.icmp_type >= 1 && d.icmp_type <= 4) : IcmpIsError(d.icmp_type);
      if (left < 8) {
        if (query || error) return w.Cut(v6 ? "icmpv6" : "icmp", off);
        return w.Rest(off + 4, wire - 4);
      }
      d.has_l4 = true;
      if (query) {  // (8 bytes are there)
        d.icmp_has_idseq = true;
        d.icmp_id = Be16(c + 4);
        d.icmp_seq = Be16(c + 6);
      }
      if (error) DissectIcmpInner(w, off + 8, end, v6);
      return w.Rest(off + 8, wire - 8);
    }
    default:
      d.transport = Dissection::Transport::kOther;
      if (proto == kProtoSctp) {  // only its ports, for the flow key
        if (left < 12) {
          d.l4_have = left;
          return w.Cut("sctp", off);
        }
        d.sport = Be16(w.f + off);
        d.dport = Be16(w.f + off + 2);
      }
      d.has_l4 = true;
      return w.Rest(off, wire);
  }
}

// The datagram an ICMP error quotes: its addresses, protocol and ports.
void DissectIcmpInner(Walk& w, uint32_t off, uint32_t end, bool v6) {
  Dissection& d = *w.d;
  const uint32_t avail = std::min(end, w.cap);
  if (off >= avail) return;
  const uint8_t* q = w.f + off;
  const uint32_t left = avail - off;
  uint32_t l4 = 0;
  if (!v6) {
    if (left < 20 || (q[0] >> 4) != 4 || (q[0] & 0x0f) < 5) return;
    const uint32_t ihl = uint32_t(q[0] & 0x0f) * 4;
    std::memcpy(d.inner_src, q + 12, 4);
    std::memcpy(d.inner_dst, q + 16, 4);
    d.inner_proto = q[9];
    d.has_inner = true;
    if ((Be16(q + 6) & 0x1fff) != 0) return;  // a non-first fragment quoted: no ports
    l4 = ihl;
  } else {
    if (left < 40 || (q[0] >> 4) != 6) return;
    std::memcpy(d.inner_src, q + 8, 16);
    std::memcpy(d.inner_dst, q + 24, 16);
    d.inner_proto = q[6];
    d.inner_v6 = true;
    d.has_inner = true;
    l4 = 40;
  }
  if (left < l4 + 4) return;
  if (d.inner_proto == kProtoTcp || d.inner_proto == kProtoUdp || d.inner_proto == kProtoSctp) {
    d.inner_has_ports = true;
    d.inner_sport = Be16(q + l4);
    d.inner_dport = Be16(q + l4 + 2);
  }
}

void DissectIpv4(Walk& w, uint32_t off) {
  Dissection& d = *w.d;
  d.net = Dissection::Net::kIpv4;
  d.net_off = off;
  uint8_t ip[20] = {};  // what is there of the header, zero-padded
  d.net_have = std::min(w.Left(off), 20u);
  std::memcpy(ip, w.f + off, d.net_have);
  if (d.net_have >= 1 && (ip[0] >> 4) != 4) {
    d.problem = "IP version is not 4";
    return w.RestAll(off);
  }
  d.ip_hdr_len = uint16_t((ip[0] & 0x0f) * 4);
  d.tos = ip[1];
  d.ip_total_len = Be16(ip + 2);
  d.ip_id = Be16(ip + 4);
  const uint16_t ff = Be16(ip + 6);
  d.rf = ff & 0x8000;
  d.df = ff & 0x4000;
  d.mf = ff & 0x2000;
  d.frag_offset = uint32_t(ff & 0x1fff) * 8;
  d.is_fragment = d.mf || d.frag_offset > 0;
  d.ttl = ip[8];
  d.proto = ip[9];
  d.ip_checksum = Be16(ip + 10);
  std::memcpy(d.ip_src, ip + 12, 4);
  std::memcpy(d.ip_dst, ip + 16, 4);
  if (d.net_have < 20) return w.Cut("ipv4", off);
  d.has_ip_addrs = true;
  if (d.ip_hdr_len < 20) {
    d.problem = "IPv4 header length (IHL) < 5";
    return w.RestAll(off + 20);
  }
  if (d.ip_total_len < d.ip_hdr_len) {
    d.problem = "IPv4 total length shorter than its header";
    return w.RestAll(off + 20);
  }
  if (w.Left(off) < d.ip_hdr_len) return w.Cut("ipv4 options", off + 20);
  const uint32_t end = off + d.ip_total_len;
  if (end > w.cap && d.caplen >= d.len) d.problem = "IPv4 total length beyond the end of the frame";
  if (d.frag_offset > 0) {  // a later fragment: data only
    d.transport = Dissection::Transport::kNone;
    return w.Rest(off + d.ip_hdr_len, d.ip_total_len - d.ip_hdr_len);
  }
  DissectL4(w, d.proto, off + d.ip_hdr_len, end);
}

bool IsIpv6ExtHeader(uint8_t nh) { return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51 || nh == 135; }

void DissectIpv6(Walk& w, uint32_t off) {
  Dissection& d = *w.d;
  d.net = Dissection::Net::kIpv6;
  d.net_off = off;
  uint8_t ip[40] = {};
  d.net_have = std::min(w.Left(off), 40u);
  std::memcpy(ip, w.f + off, d.net_have);
  if (d.net_have >= 1 && (ip[0] >> 4) != 6) {
    d.problem = "IP version is not 6";
    return w.RestAll(off);
  }
  d.tos = uint8_t((Be16(ip) >> 4) & 0xff);
  d.flow_label = Be32(ip) & 0xfffff;
  d.ip_total_len = 40u + Be16(ip + 4);
  uint8_t nh = ip[6];
  d.ttl = ip[7];
  std::memcpy(d.ip_src, ip + 8, 16);
  std::memcpy(d.ip_dst, ip + 24, 16);
  if (d.net_have < 40) {
    d.proto = nh;
    return w.Cut("ipv6", off);
  }
  d.has_ip_addrs = true;
  const uint32_t end = off + d.ip_total_len;
  if (end > w.cap && d.caplen >= d.len) d.problem = "IPv6 payload length beyond the end of the frame";
  uint32_t at = off + 40;
  bool later_fragment = false;
  // Walk at most 16 extension headers, each bounded by the bytes present.
  for (int i = 0; i < 16 && IsIpv6ExtHeader(nh); i++) {
    if (w.Left(at) < 8) {
      d.proto = nh;
      d.ip_hdr_len = uint16_t(std::min<uint32_t>(at - off, 0xffff));
      return w.Cut("ipv6 extension header", at);
    }
    const uint8_t* x = w.f + at;
    uint32_t xlen;
    if (nh == 44) {
      d.v6_frag_header = true;
      d.is_fragment = true;
      d.frag_offset = uint32_t(Be16(x + 2) & 0xfff8);
      d.mf = x[3] & 1;
      d.ip_id = Be32(x + 4);
      later_fragment = d.frag_offset > 0;
      xlen = 8;
    } else if (nh == 51) {
      xlen = (uint32_t(x[1]) + 2) * 4;
    } else {
      xlen = (uint32_t(x[1]) + 1) * 8;
    }
    nh = x[0];
    at += xlen;
  }
  d.proto = nh;
  d.ip_hdr_len = uint16_t(std::min<uint32_t>(at - off, 0xffff));
  if (at > end) {
    d.problem = "IPv6 extension headers beyond the payload length";
    return w.RestAll(at);
  }
  if (later_fragment || nh == 59) return w.Rest(at, end - at);  // fragment data / no next header
  DissectL4(w, nh, at, end);
}

void DissectArp(Walk& w, uint32_t off) {
  Dissection& d = *w.d;
  d.net = Dissection::Net::kArp;
  d.net_off = off;
  if (w.Left(off) < 8) return w.Cut("arp", off);
  const uint8_t* a = w.f + off;
  d.arp_htype = Be16(a);
  d.arp_ptype = Be16(a + 2);
  d.arp_hlen = a[4];
  d.arp_plen = a[5];
  d.arp_op = Be16(a + 6);
  const uint32_t body = 2u * d.arp_hlen + 2u * d.arp_plen;
  if (w.Left(off + 8) < body) return w.Cut("arp", off + 8);
  if (d.arp_hlen == 6 && d.arp_plen == 4) {
    d.arp_eth_ip4 = d.arp_ptype == kEthIpv4;
    std::memcpy(d.arp_sha, a + 8, 6);
    std::memcpy(d.arp_spa, a + 14, 4);
    std::memcpy(d.arp_tha, a + 18, 6);
    std::memcpy(d.arp_tpa, a + 24, 4);
  }
  w.Rest(off + 8 + body, 0);  // the rest is padding
}

// By ethertype, the network layer at off.
void DissectNet(Walk& w, uint16_t type, uint32_t off) {
  switch (type) {
    case kEthIpv4: return DissectIpv4(w, off);
    case kEthIpv6: return DissectIpv6(w, off);
    case kEthArp: return DissectArp(w, off);
    default:
      w.d->net = Dissection::Net::kOther;
      w.d->net_off = off;
      return w.RestAll(off);
  }
}

// By the first nibble: raw IP.
void DissectRawIp(Walk& w, uint32_t off) {
  if (w.Left(off) < 1) return w.Cut("ip", off);
  const uint8_t v = w.f[off] >> 4;
  if (v == 4) return DissectIpv4(w, off);
  if (v == 6) return DissectIpv6(w, off);
  w.d->net = Dissection::Net::kOther;
  w.d->problem = "raw packet is neither IPv4 nor IPv6";
  w.RestAll(off);
}

void DissectEthernet(Walk& w) {
  Dissection& d = *w.d;
  d.link = Dissection::Link::kEthernet;
  if (w.cap < 14) {
    if (w.cap >= 12) {
      d.has_macs = true;
      std::memcpy(d.eth_dst, w.f, 6);
      std::memcpy(d.eth_src, w.f + 6, 6);
    }
    return w.Cut("ethernet", 0);
  }
  d.has_macs = true;
  std::memcpy(d.eth_dst, w.f, 6);
  std::memcpy(d.eth_src, w.f + 6, 6);
  uint32_t off = 12;
  uint16_t type = Be16(w.f + off);
  // Any number of 802.1Q / 802.1ad tags (the first kMaxVlan are kept).
  while (type == kEthVlan || type == kEthQinQ || type == 0x9100) {
    if (w.Left(off + 2) < 4) return w.Cut("vlan tag", off);
    const uint16_t tci = Be16(w.f + off + 2);
    if (d.vlan_count < Dissection::kMaxVlan) {
      Dissection::Vlan& v = d.vlan[d.vlan_count++];
      v.tpid = type;
      v.id = tci & 0x0fff;
      v.pcp = uint8_t(tci >> 13);
      v.dei = tci & 0x1000;
    }
    off += 4;
    type = Be16(w.f + off);
  }
  off += 2;
  d.ethertype = type;
  if (type < 0x0600) {  // 802.3: a length, then LLC
    d.llc = true;
    return w.Rest(off, type);
  }
  DissectNet(w, type, off);
}

// Linux cooked capture v1 (16 bytes) and v2 (20 bytes).
void DissectSll(Walk& w, bool v2) {
  Dissection& d = *w.d;
  d.link = v2 ? Dissection::Link::kSll2 : Dissection::Link::kSll;
  const uint32_t hdr = v2 ? 20 : 16;
  if (w.cap < hdr) return w.Cut(v2 ? "linux cooked v2" : "linux cooked", 0);
  if (v2) {
    d.ethertype = Be16(w.f);
    d.sll_pkttype = w.f[10];
  } else {
    d.sll_pkttype = Be16(w.f);
    d.ethertype = Be16(w.f + 14);
  }
  DissectNet(w, d.ethertype, hdr);
}

// BSD loopback: a 4-byte address family in the capturing host's byte order
// (DLT_NULL) or network order (DLT_LOOP).
void DissectNull(Walk& w) {
  w.d->link = Dissection::Link::kNull;
  if (w.cap < 4) return w.Cut("loopback", 0);
  DissectRawIp(w, 4);
}

// ---------------------------------------------------------------- formatting helpers

template <class... Args>
void Out(std::string* out, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(*out), f, std::forward<Args>(args)...);
}

void AppendMac(const uint8_t* m, std::string* out) {
  Out(out, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

// IPv4 dotted quad or RFC 5952 IPv6 (longest run of zero groups as "::",
// IPv4-mapped as ::ffff:a.b.c.d).
void AppendIp(const uint8_t* a, bool v6, std::string* out) {
  if (!v6) {
    Out(out, "{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    return;
  }
  uint16_t g[8];
  for (int i = 0; i < 8; i++) g[i] = Be16(a + 2 * i);
  bool mapped = true;
  for (int i = 0; i < 5; i++) mapped = mapped && g[i] == 0;
  if (mapped && g[5] == 0xffff) {
    Out(out, "::ffff:{}.{}.{}.{}", a[12], a[13], a[14], a[15]);
    return;
  }
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) { i++; continue; }
    int j = i;
    while (j < 8 && g[j] == 0) j++;
    if (j - i > best_len) { best = i; best_len = j - i; }
    i = j;
  }
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      out->append("::");
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) out->push_back(':');
    Out(out, "{:x}", g[i]);
  }
}

const char* EtherTypeName(uint16_t t) {
  switch (t) {
    case kEthIpv4: return "IPv4";
    case kEthIpv6: return "IPv6";
    case kEthArp: return "ARP";
    case 0x8035: return "RARP";
    case kEthVlan: return "802.1Q";
    case kEthQinQ: return "802.1ad";
    case 0x88cc: return "LLDP";
    case 0x8863: return "PPPoE-discovery";
    case 0x8864: return "PPPoE";
    case 0x8847: return "MPLS";
    default: return nullptr;
  }
}

const char* ProtoText(uint8_t p, char* buf) {
  switch (p) {
    case kProtoTcp: return "TCP";
    case kProtoUdp: return "UDP";
    case kProtoIcmp: return "ICMP";
    case kProtoIcmpv6: return "ICMPv6";
    case 2: return "IGMP";
    case 47: return "GRE";
    case 50: return "ESP";
    case 51: return "AH";
    case kProtoSctp: return "SCTP";
    default:
      std::snprintf(buf, 8, "%u", unsigned(p));
      return buf;
  }
}

const char* IcmpName(bool v6, uint8_t type) {
  if (v6) {
    switch (type) {
      case 1: return "destination unreachable";
      case 2: return "packet too big";
      case 3: return "time exceeded";
      case 4: return "parameter problem";
      case 128: return "echo request";
      case 129: return "echo reply";
      case 133: return "router solicitation";
      case 134: return "router advertisement";
      case 135: return "neighbor solicitation";
      case 136: return "neighbor advertisement";
      case 137: return "redirect";
      case 143: return "MLDv2 report";
      default: return nullptr;
    }
  }
  switch (type) {
    case 0: return "echo reply";
    case 3: return "destination unreachable";
    case 4: return "source quench";
    case 5: return "redirect";
    case 8: return "echo request";
    case 9: return "router advertisement";
    case 10: return "router solicitation";
    case 11: return "time exceeded";
    case 12: return "parameter problem";
    case 13: return "timestamp request";
    case 14: return "timestamp reply";
    case 15: return "information request";
    case 16: return "information reply";
    case 17: return "address mask request";
    case 18: return "address mask reply";
    default: return nullptr;
  }
}

const char* ArpOpName(uint16_t op) {
  switch (op) {
    case 1: return "request";
    case 2: return "reply";
    case 3: return "rarp-request";
    case 4: return "rarp-reply";
    default: return nullptr;
  }
}

// JSON string body with the escapes RFC 8259 requires.
void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      Out(out, "\\u{:04x}", unsigned(u));
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void AppendHex(const uint8_t* p, uint32_t n, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (uint32_t i = 0; i < n; i++) {
    out->push_back(kDigits[p[i] >> 4]);
    out->push_back(kDigits[p[i] & 15]);
  }
}

// hexdump -C style: offset, 16 bytes in two groups of 8, printable ASCII.
void AppendHexDump(const uint8_t* p, uint32_t n, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (uint32_t row = 0; row < n; row += 16) {
    Out(out, "    {:04x}  ", row);
    for (uint32_t i = 0; i < 16; i++) {
      if (i == 8) out->push_back(' ');
      if (row + i < n) {
        const uint8_t b = p[row + i];
        out->push_back(kDigits[b >> 4]);
        out->push_back(kDigits[b & 15]);
        out->push_back(' ');
      } else {
        out->append("   ");
      }
    }
    out->append(" ");
    for (uint32_t i = 0; i < 16 && row + i < n; i++) {
      const uint8_t b = p[row + i];
      out->push_back(b >= 0x20 && b < 0x7f ? char(b) : '.');
    }
    out->push_back('\n');
  }
}

// ANSI colours (the analysis library does not link the CLI's terminal code;
// the command decides with UseColour() whether they are on).
enum class Colour { kBold, kDim, kRed, kGreen, kYellow, kCyan };
void Paint(std::string_view text, Colour c, std::string* out) {
  static constexpr const char* kCodes[] = {"\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m"};
  out->append(kCodes[int(c)]);
  out->append(text);
  out->append("\x1b[0m");
}

// A layer label, painted when colour is on.
void Label(std::string_view name, Colour c, const PrintOptions& o, std::string* out) {
  out->append("  ");
  if (o.colour) {
    Paint(name, c, out);
  } else {
    out->append(name);
  }
  for (size_t i = name.size(); i < 6; i++) out->push_back(' ');
}

void AppendTruncMark(const PrintOptions& o, std::string* out) {
  if (o.colour) Paint("[truncated]", Colour::kRed, out);
  else out->append("[truncated]");
}

bool IsV6(const Dissection& d) { return d.net == Dissection::Net::kIpv6; }

bool CutIs(const Dissection& d, std::string_view layer) { return d.cut_layer != nullptr && layer == d.cut_layer; }
// The network header (IP/ARP) was cut short.
bool NetCut(const Dissection& d) { return CutIs(d, "ipv4") || CutIs(d, "ipv6") || CutIs(d, "arp") || CutIs(d, "ip"); }
// The L4 header was cut short.
bool L4Cut(const Dissection& d) {
  return CutIs(d, "tcp") || CutIs(d, "udp") || CutIs(d, "icmp") || CutIs(d, "icmpv6") || CutIs(d, "sctp");
}

const char* LinkName(Dissection::Link l) {
  switch (l) {
    case Dissection::Link::kEthernet: return "ethernet";
    case Dissection::Link::kSll: return "linux-sll";
    case Dissection::Link::kSll2: return "linux-sll2";
    case Dissection::Link::kRaw: return "raw";
    case Dissection::Link::kNull: return "loopback";
    default: return "unknown";
  }
}

std::string_view BaseName(const std::string* f) {
  if (f == nullptr) return {};
  std::string_view s = *f;
  const size_t slash = s.rfind('/');
  return slash == std::string_view::npos ? s : s.substr(slash + 1);
}

}  // namespace

// ---------------------------------------------------------------- public

void Dissect(const uint8_t* frame, uint32_t caplen, uint32_t len, int linktype, Dissection* d) {
  *d = Dissection();
  d->linktype = linktype;
  d->caplen = caplen;
  d->len = len;
  if (frame == nullptr) caplen = 0;
  Walk w{frame, caplen, d};
  switch (linktype) {
    case 1: return DissectEthernet(w);                         // DLT_EN10MB
    case 113: return DissectSll(w, false);                     // DLT_LINUX_SLL
    case 276: return DissectSll(w, true);                      // DLT_LINUX_SLL2
    case 12: case 14: case 101:                                // DLT_RAW (by platform), LINKTYPE_RAW
      d->link = Dissection::Link::kRaw;
      return DissectRawIp(w, 0);
    case 228: d->link = Dissection::Link::kRaw; return DissectIpv4(w, 0);  // DLT_IPV4
    case 229: d->link = Dissection::Link::kRaw; return DissectIpv6(w, 0);  // DLT_IPV6
    case 0: case 108: return DissectNull(w);                   // DLT_NULL, DLT_LOOP
    default:
      d->link = Dissection::Link::kUnknown;
      return w.Rest(0, len);
  }
}

bool DissectionFlowKey(const Dissection& d, FlowKey* key) {
  if (!d.is_ip() || !d.has_ip_addrs) return false;
  *key = FlowKey();
  key->v6 = IsV6(d);
  std::memcpy(key->src.data(), d.ip_src, key->v6 ? 16 : 4);
  std::memcpy(key->dst.data(), d.ip_dst, key->v6 ? 16 : 4);
  key->proto = d.proto;
  if (!d.has_l4) return true;  // a later fragment, or the L4 header cut short: no ports
  switch (d.transport) {
    case Dissection::Transport::kTcp:
    case Dissection::Transport::kUdp:
      key->sport = d.sport;
      key->dport = d.dport;
      break;
    case Dissection::Transport::kIcmp:
    case Dissection::Transport::kIcmp6:
      if (d.icmp_has_idseq) {
        key->sport = key->dport = d.icmp_id;
      } else {
        key->sport = d.icmp_type;
        key->dport = d.icmp_code;
      }
      break;
    case Dissection::Transport::kOther:
      if (d.proto == kProtoSctp) {
        key->sport = d.sport;
        key->dport = d.dport;
      }
      break;
    default:
      break;
  }
  return true;
}

std::string DissectionCommunityId(const Dissection& d) {
  FlowKey k;
  if (!DissectionFlowKey(d, &k)) return {};
  return d.has_l4 ? CommunityId(k, 0, d.icmp_type, d.icmp_code) : CommunityId(k);
}

void AppendUtc(int64_t ts_ns, int digits, std::string* out) {
  int64_t sec = ts_ns / 1'000'000'000;
  int64_t frac = ts_ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    sec -= 1;
  }
  const time_t t = time_t(sec);
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) {
    Out(out, "@{}", ts_ns);
    return;
  }
  Out(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
      tm.tm_min, tm.tm_sec);
  digits = std::clamp(digits, 0, 9);
  if (digits > 0) {
    int64_t div = 1;
    for (int i = digits; i < 9; i++) div *= 10;
    Out(out, ".{:0{}}", frac / div, digits);
  }
  out->push_back('Z');
}

void AppendTcpFlags(uint8_t flags, std::string* out) {
  static constexpr const char* kNames[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
  // The order people read them in: SYN,ACK rather than ACK,SYN.
  static constexpr int kOrder[8] = {1, 0, 2, 3, 4, 5, 6, 7};
  bool first = true;
  for (const int bit : kOrder) {
    if (!(flags & (1u << bit))) continue;
    if (!first) out->push_back(',');
    out->append(kNames[bit]);
    first = false;
  }
}

void FormatText(const SetRecord& r, const Dissection& d, const PrintOptions& o, std::string* out) {
  char pbuf[8];
  // Header line: number, time, sizes, file.
  Out(out, "#{} ", r.index);
  if (o.colour) out->append("\x1b[1m");
  AppendUtc(r.rec.ts_ns, r.ts_digits, out);
  if (o.colour) out->append("\x1b[0m");
  Out(out, "  {} bytes", r.rec.len);
  if (r.rec.caplen < r.rec.len) {
    Out(out, " (captured {}) ", r.rec.caplen);
    AppendTruncMark(o, out);
  } else if (r.rec.caplen > r.rec.len) {
    Out(out, " (captured {}: more than on the wire)", r.rec.caplen);
  }
  if (o.show_file && r.file != nullptr) Out(out, "  {}", BaseName(r.file));
  out->push_back('\n');

  // Link layer.
  switch (d.link) {
    case Dissection::Link::kEthernet:
      Label("eth", Colour::kDim, o, out);
      if (d.has_macs) {
        AppendMac(d.eth_src, out);
        out->append(" > ");
        AppendMac(d.eth_dst, out);
      }
      for (int i = 0; i < d.vlan_count; i++) {
        Out(out, "  vlan {}", d.vlan[i].id);
        if (d.vlan[i].pcp) Out(out, " pcp {}", d.vlan[i].pcp);
        if (d.vlan[i].tpid != kEthVlan) Out(out, " (tpid 0x{:04x})", d.vlan[i].tpid);
      }
      if (d.ethertype != 0 || d.cut_layer == nullptr) {
        if (d.llc) {
          Out(out, "  802.3 length {}", d.ethertype);
        } else if (const char* n = EtherTypeName(d.ethertype)) {
          Out(out, "  type {} (0x{:04x})", n, d.ethertype);
        } else {
          Out(out, "  type 0x{:04x}", d.ethertype);
        }
      }
      break;
    case Dissection::Link::kSll:
    case Dissection::Link::kSll2:
      Label("sll", Colour::kDim, o, out);
      Out(out, "packet type {}  protocol 0x{:04x}", d.sll_pkttype, d.ethertype);
      break;
    case Dissection::Link::kRaw:
      Label("raw", Colour::kDim, o, out);
      Out(out, "linktype {}", d.linktype);
      break;
    case Dissection::Link::kNull:
      Label("lo", Colour::kDim, o, out);
      Out(out, "linktype {}", d.linktype);
      break;
    default:
      Label("link", Colour::kDim, o, out);
      Out(out, "linktype {} (not decoded)", d.linktype);
      break;
  }
  if (d.cut_layer != nullptr && (d.net == Dissection::Net::kNone)) {
    out->push_back(' ');
    AppendTruncMark(o, out);
    Out(out, " ({} cut short)", d.cut_layer);
  }
  out->push_back('\n');

  // Network layer: each field printed when its bytes are there.
  const bool net_cut = NetCut(d);
  if (d.net == Dissection::Net::kArp) {
    Label("arp", Colour::kYellow, o, out);
    if (!(net_cut && d.arp_op == 0 && d.arp_htype == 0)) {
      if (const char* n = ArpOpName(d.arp_op)) out->append(n);
      else Out(out, "op {}", d.arp_op);
      if (d.arp_eth_ip4) {
        out->append("  ");
        AppendIp(d.arp_spa, false, out);
        out->append(" (");
        AppendMac(d.arp_sha, out);
        out->append(") > ");
        AppendIp(d.arp_tpa, false, out);
        out->append(" (");
        AppendMac(d.arp_tha, out);
        out->push_back(')');
      } else if (!net_cut) {
        Out(out, "  htype {} ptype 0x{:04x} hlen {} plen {}", d.arp_htype, d.arp_ptype, d.arp_hlen, d.arp_plen);
      }
    }
  } else if (d.net == Dissection::Net::kIpv4) {
    const uint32_t h = d.net_have;
    Label("ip", Colour::kCyan, o, out);
    if (h >= 16) AppendIp(d.ip_src, false, out);
    if (h >= 20) {
      out->append(" > ");
      AppendIp(d.ip_dst, false, out);
    }
    if (h >= 9) Out(out, "  ttl {}", d.ttl);
    if (h >= 6) Out(out, "  id {}", d.ip_id);
    if (h >= 8) {
      if (d.df || d.mf || d.rf) {
        out->append("  flags ");
        bool first = true;
        for (const auto& [on, n] : {std::pair{d.rf, "RF"}, std::pair{d.df, "DF"}, std::pair{d.mf, "MF"}}) {
          if (!on) continue;
          if (!first) out->push_back(',');
          out->append(n);
          first = false;
        }
      }
      if (d.is_fragment) Out(out, "  frag offset {}", d.frag_offset);
    }
    if (h >= 4) Out(out, "  len {}", d.ip_total_len);
    if (h >= 1) Out(out, "  hdr {}", d.ip_hdr_len);
    if (h >= 10) Out(out, "  proto {}", ProtoText(d.proto, pbuf));
    if (h >= 2 && d.tos) Out(out, "  tos 0x{:02x}", d.tos);
  } else if (d.net == Dissection::Net::kIpv6) {
    const uint32_t h = d.net_have;
    Label("ip6", Colour::kCyan, o, out);
    if (h >= 24) AppendIp(d.ip_src, true, out);
    if (h >= 40) {
      out->append(" > ");
      AppendIp(d.ip_dst, true, out);
    }
    if (h >= 8) Out(out, "  hlim {}", d.ttl);
    if (h >= 6) Out(out, "  len {}", d.ip_total_len - 40);
    if (h >= 7) Out(out, "  next {}", ProtoText(d.proto, pbuf));
    if (h >= 4 && d.flow_label) Out(out, "  flow 0x{:05x}", d.flow_label);
    if (h >= 2 && d.tos) Out(out, "  tc 0x{:02x}", d.tos);
    if (d.v6_frag_header) Out(out, "  frag id {} offset {}{}", d.ip_id, d.frag_offset, d.mf ? " MF" : "");
  }
  if (d.net != Dissection::Net::kNone && d.net != Dissection::Net::kOther) {
    if (d.cut_layer != nullptr && !L4Cut(d)) {
      out->push_back(' ');
      AppendTruncMark(o, out);
      Out(out, " ({} cut short)", d.cut_layer);
    }
    out->push_back('\n');
  }

  // Transport layer, the same way.
  const uint32_t h = d.l4_have;
  switch (d.transport) {
    case Dissection::Transport::kTcp:
      Label("tcp", Colour::kGreen, o, out);
      if (h >= 2) Out(out, "{} > ", d.sport);
      if (h >= 4) Out(out, "{}", d.dport);
      if (h >= 14) {
        out->append("  [");
        AppendTcpFlags(d.tcp_flags, out);
        out->push_back(']');
      }
      if (h >= 8) Out(out, "  seq {}", d.seq);
      if (h >= 12) Out(out, "  ack {}", d.ack);
      if (h >= 16) Out(out, "  win {}", d.tcp_win);
      if (h >= 13) Out(out, "  hdr {}", d.tcp_hdr_len);
      if (h >= 20) Out(out, "  len {}", d.payload_wire_len);
      if (h >= 20 && d.tcp_urp) Out(out, "  urg {}", d.tcp_urp);
      break;
    case Dissection::Transport::kUdp:
      Label("udp", Colour::kGreen, o, out);
      if (h >= 2) Out(out, "{} > ", d.sport);
      if (h >= 4) Out(out, "{}", d.dport);
      if (h >= 6) Out(out, "  len {}", d.udp_len);
      break;
    case Dissection::Transport::kIcmp:
    case Dissection::Transport::kIcmp6: {
      const bool v6 = d.transport == Dissection::Transport::kIcmp6;
      Label(v6 ? "icmp6" : "icmp", Colour::kGreen, o, out);
      if (h >= 2) {
        if (const char* n = IcmpName(v6, d.icmp_type)) Out(out, "{} (type {} code {})", n, d.icmp_type, d.icmp_code);
        else Out(out, "type {} code {}", d.icmp_type, d.icmp_code);
      } else if (h >= 1) {
        Out(out, "type {}", d.icmp_type);
      }
      if (d.icmp_has_idseq) Out(out, "  id {}  seq {}", d.icmp_id, d.icmp_seq);
      if (d.has_inner) {
        out->append("  quoting ");
        AppendIp(d.inner_src, d.inner_v6, out);
        if (d.inner_has_ports) Out(out, ":{}", d.inner_sport);
        out->append(" > ");
        AppendIp(d.inner_dst, d.inner_v6, out);
        if (d.inner_has_ports) Out(out, ":{}", d.inner_dport);
        Out(out, " {}", ProtoText(d.inner_proto, pbuf));
      }
      break;
    }
    default:
      break;
  }
  if (d.transport != Dissection::Transport::kNone && d.transport != Dissection::Transport::kOther) {
    if (L4Cut(d)) {
      out->push_back(' ');
      AppendTruncMark(o, out);
      Out(out, " ({} cut short)", d.cut_layer);
    }
    out->push_back('\n');
  }
  if (d.problem != nullptr) {
    Label("!", Colour::kRed, o, out);
    Out(out, "{}\n", d.problem);
  }

  // Bytes: the payload (or whatever was not decoded), or the whole frame.
  const uint8_t* data = r.rec.data;
  if (o.frame_hex) {
    if (r.rec.caplen > 0 && data != nullptr) {
      Label("frame", Colour::kDim, o, out);
      Out(out, "{} bytes\n", r.rec.caplen);
      AppendHexDump(data, r.rec.caplen, out);
    }
  } else if (d.payload_len > 0 || d.payload_wire_len > 0) {
    const bool is_payload = d.transport != Dissection::Transport::kNone &&
                            d.transport != Dissection::Transport::kOther && d.cut_layer == nullptr;
    Label(is_payload ? "data" : "bytes", Colour::kDim, o, out);
    Out(out, "{} bytes", d.payload_len);
    if (d.payload_len < d.payload_wire_len) {
      Out(out, " of {} ", d.payload_wire_len);
      AppendTruncMark(o, out);
    }
    out->push_back('\n');
    if (data != nullptr && d.payload_len > 0) AppendHexDump(data + d.payload_off, d.payload_len, out);
  }
  out->push_back('\n');
}

void FormatJson(const SetRecord& r, const Dissection& d, const PrintOptions& o, std::string* out) {
  Out(out, "{{\"n\":{},\"ts\":\"", r.index);
  AppendUtc(r.rec.ts_ns, r.ts_digits, out);
  int64_t sec = r.rec.ts_ns / 1'000'000'000, frac = r.rec.ts_ns % 1'000'000'000;
  if (frac < 0) { frac += 1'000'000'000; sec -= 1; }
  Out(out, "\",\"ts_epoch\":\"{}.{:09}\",\"caplen\":{},\"len\":{}", sec, frac, r.rec.caplen, r.rec.len);
  if (o.show_file && r.file != nullptr) {
    out->append(",\"file\":");
    AppendJsonString(*r.file, out);
  }
  Out(out, ",\"truncated\":{}", d.truncated() ? "true" : "false");
  if (d.cut_layer != nullptr) Out(out, ",\"cut_layer\":\"{}\"", d.cut_layer);
  if (d.problem != nullptr) Out(out, ",\"problem\":\"{}\"", d.problem);
  Out(out, ",\"link\":\"{}\"", LinkName(d.link));

  if (d.link == Dissection::Link::kEthernet && d.has_macs) {
    out->append(",\"eth\":{\"src\":\"");
    AppendMac(d.eth_src, out);
    out->append("\",\"dst\":\"");
    AppendMac(d.eth_dst, out);
    out->push_back('"');
    if (d.ethertype != 0 || d.cut_layer == nullptr) Out(out, ",\"type\":{}", d.ethertype);
    if (d.llc) out->append(",\"llc\":true");
    if (d.vlan_count > 0) {
      out->append(",\"vlan\":[");
      for (int i = 0; i < d.vlan_count; i++)
        Out(out, "{}{{\"tpid\":{},\"id\":{},\"pcp\":{},\"dei\":{}}}", i ? "," : "", d.vlan[i].tpid, d.vlan[i].id,
            d.vlan[i].pcp, d.vlan[i].dei ? 1 : 0);
      out->push_back(']');
    }
    out->push_back('}');
  } else if (d.link == Dissection::Link::kSll || d.link == Dissection::Link::kSll2) {
    Out(out, ",\"sll\":{{\"pkttype\":{},\"protocol\":{}}}", d.sll_pkttype, d.ethertype);
  }

  const bool net_cut = NetCut(d);
  if (d.net == Dissection::Net::kArp && !(net_cut && d.arp_htype == 0 && d.arp_op == 0)) {
    Out(out, ",\"arp\":{{\"op\":{},\"htype\":{},\"ptype\":{},\"hlen\":{},\"plen\":{}", d.arp_op, d.arp_htype,
        d.arp_ptype, d.arp_hlen, d.arp_plen);
    if (d.arp_eth_ip4) {
      out->append(",\"sha\":\"");
      AppendMac(d.arp_sha, out);
      out->append("\",\"spa\":\"");
      AppendIp(d.arp_spa, false, out);
      out->append("\",\"tha\":\"");
      AppendMac(d.arp_tha, out);
      out->append("\",\"tpa\":\"");
      AppendIp(d.arp_tpa, false, out);
      out->push_back('"');
    }
    out->push_back('}');
  }
  // IP and L4: the fields whose bytes are there.
  if (d.is_ip() && d.net_have > 0) {
    const bool v6 = IsV6(d);
    const uint32_t h = d.net_have;
    Out(out, ",\"ip\":{{\"version\":{}", v6 ? 6 : 4);
    if (h >= (v6 ? 24u : 16u)) {
      out->append(",\"src\":\"");
      AppendIp(d.ip_src, v6, out);
      out->push_back('"');
    }
    if (h >= (v6 ? 40u : 20u)) {
      out->append(",\"dst\":\"");
      AppendIp(d.ip_dst, v6, out);
      out->push_back('"');
    }
    if (h >= (v6 ? 8u : 9u)) Out(out, ",\"ttl\":{}", d.ttl);
    if (h >= (v6 ? 6u : 4u)) Out(out, ",\"len\":{}", d.ip_total_len);
    if (!v6 || h >= 40) Out(out, ",\"hdr_len\":{}", d.ip_hdr_len);
    if (h >= (v6 ? 7u : 10u)) Out(out, ",\"proto\":{}", d.proto);
    if (h >= 2) Out(out, ",\"tos\":{}", d.tos);
    if (!v6) {
      if (h >= 6) Out(out, ",\"id\":{}", d.ip_id);
      if (h >= 8)
        Out(out, ",\"flags\":{},\"df\":{},\"mf\":{},\"frag_offset\":{}", (d.rf ? 4 : 0) | (d.df ? 2 : 0) | (d.mf ? 1 : 0),
            d.df ? "true" : "false", d.mf ? "true" : "false", d.frag_offset);
      if (h >= 12) Out(out, ",\"checksum\":{}", d.ip_checksum);
    } else {
      if (h >= 4) Out(out, ",\"flow_label\":{}", d.flow_label);
      if (d.v6_frag_header)
        Out(out, ",\"frag\":{{\"id\":{},\"offset\":{},\"mf\":{}}}", d.ip_id, d.frag_offset, d.mf ? "true" : "false");
    }
    out->push_back('}');
    FlowKey k;
    if (DissectionFlowKey(d, &k)) {
      out->append(",\"community_id\":\"");
      out->append(d.has_l4 ? CommunityId(k, 0, d.icmp_type, d.icmp_code) : CommunityId(k));
      out->push_back('"');
    }
  }

  const uint32_t h = d.l4_have;
  switch (d.transport) {
    case Dissection::Transport::kTcp:
    case Dissection::Transport::kUdp: {
      const bool tcp = d.transport == Dissection::Transport::kTcp;
      if (h == 0) break;
      Out(out, ",\"{}\":{{", tcp ? "tcp" : "udp");
      const char* sep = "";
      if (h >= 2) Out(out, "\"sport\":{}", d.sport), sep = ",";
      if (h >= 4) Out(out, ",\"dport\":{}", d.dport);
      if (tcp) {
        if (h >= 8) Out(out, "{}\"seq\":{}", sep, d.seq), sep = ",";
        if (h >= 12) Out(out, ",\"ack\":{}", d.ack);
        if (h >= 14) {
          Out(out, "{}\"flags\":{},\"flags_text\":\"", sep, unsigned(d.tcp_flags) | (d.tcp_ns ? 0x100u : 0u));
          AppendTcpFlags(d.tcp_flags, out);
          out->append("\",\"hdr_len\":");
          Out(out, "{}", d.tcp_hdr_len);
          sep = ",";
        }
        if (h >= 16) Out(out, "{}\"win\":{}", sep, d.tcp_win), sep = ",";
        if (h >= 18) Out(out, ",\"checksum\":{}", d.l4_checksum);
        if (h >= 20) Out(out, ",\"urp\":{},\"payload_len\":{}", d.tcp_urp, d.payload_wire_len);
      } else {
        if (h >= 6) Out(out, "{}\"len\":{}", sep, d.udp_len), sep = ",";
        if (h >= 8) Out(out, ",\"checksum\":{},\"payload_len\":{}", d.l4_checksum, d.payload_wire_len);
      }
      out->push_back('}');
      break;
    }
    case Dissection::Transport::kIcmp:
    case Dissection::Transport::kIcmp6:
      if (h == 0) break;
      Out(out, ",\"{}\":{{\"type\":{}", d.transport == Dissection::Transport::kIcmp ? "icmp" : "icmp6", d.icmp_type);
      if (h >= 2) Out(out, ",\"code\":{}", d.icmp_code);
      if (d.icmp_has_idseq) Out(out, ",\"id\":{},\"seq\":{}", d.icmp_id, d.icmp_seq);
      if (d.has_inner) {
        out->append(",\"inner\":{\"src\":\"");
        AppendIp(d.inner_src, d.inner_v6, out);
        out->append("\",\"dst\":\"");
        AppendIp(d.inner_dst, d.inner_v6, out);
        Out(out, "\",\"proto\":{}", d.inner_proto);
        if (d.inner_has_ports) Out(out, ",\"sport\":{},\"dport\":{}", d.inner_sport, d.inner_dport);
        out->push_back('}');
      }
      out->push_back('}');
      break;
    default:
      break;
  }
  Out(out, ",\"payload_len\":{}", d.payload_len);
  if (d.payload_wire_len != d.payload_len) Out(out, ",\"payload_wire_len\":{}", d.payload_wire_len);
  if (r.rec.data != nullptr) {
    if (o.frame_hex) {
      out->append(",\"frame_hex\":\"");
      AppendHex(r.rec.data, r.rec.caplen, out);
      out->push_back('"');
    } else if (d.payload_len > 0) {
      out->append(",\"payload_hex\":\"");
      AppendHex(r.rec.data + d.payload_off, d.payload_len, out);
      out->push_back('"');
    }
  }
  out->append("}\n");
}

Result<int64_t> ParseTimeArg(std::string_view s) {
  const auto bad = [&]() -> Status {
    return Status::Error("\"" + std::string(s) +
                         "\" is not a time: give UTC as 2026-11-26T19:08:03Z (a fraction like .123456 is fine) "
                         "or epoch seconds like 1795720083 or 1795720083.5");
  };
  if (s.empty() || s.size() > 64) return bad();
  // Parses digits [i, i+n) as a number; false when they are not all digits.
  const auto num = [&](size_t i, size_t n, int64_t* v) {
    if (i + n > s.size()) return false;
    int64_t x = 0;
    for (size_t k = i; k < i + n; k++) {
      if (s[k] < '0' || s[k] > '9') return false;
      x = x * 10 + (s[k] - '0');
    }
    *v = x;
    return true;
  };
  // A fraction at s[i] == '.': its nanoseconds; *end = where it stops.
  const auto fraction = [&](size_t i, int64_t* ns, size_t* end) {
    *ns = 0;
    *end = i;
    if (i >= s.size() || s[i] != '.') return true;
    size_t k = i + 1;
    int64_t scale = 100'000'000;
    while (k < s.size() && s[k] >= '0' && s[k] <= '9') {
      if (k - i > 9) return false;
      *ns += (s[k] - '0') * scale;
      scale /= 10;
      k++;
    }
    if (k == i + 1) return false;
    *end = k;
    return true;
  };

  const bool iso = s.size() >= 10 && s[4] == '-' && s[7] == '-';
  if (!iso) {
    int64_t sec = 0;
    size_t k = 0;
    while (k < s.size() && s[k] >= '0' && s[k] <= '9') k++;
    if (k == 0 || k > 11 || !num(0, k, &sec)) return bad();
    int64_t ns = 0;
    size_t end = 0;
    if (!fraction(k, &ns, &end) || end != s.size()) return bad();
    return sec * 1'000'000'000 + ns;
  }
  int64_t y, mo, da, h = 0, mi = 0, se = 0, ns = 0;
  if (!num(0, 4, &y) || !num(5, 2, &mo) || !num(8, 2, &da)) return bad();
  size_t at = 10;
  if (at < s.size()) {
    if ((s[at] != 'T' && s[at] != 't' && s[at] != ' ') || s.size() < 19 || s[13] != ':' || s[16] != ':' ||
        !num(11, 2, &h) || !num(14, 2, &mi) || !num(17, 2, &se))
      return bad();
    size_t end = 0;
    if (!fraction(19, &ns, &end)) return bad();
    at = end;
    const std::string_view zone = s.substr(at);
    if (!(zone.empty() || zone == "Z" || zone == "z" || zone == "+00:00" || zone == "+0000" || zone == "-00:00"))
      return Status::Error("\"" + std::string(s) + "\": give the time in UTC (ending in Z), not with offset " +
                           std::string(zone));
  }
  if (mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || se > 60) return bad();
  // Days from the civil date (Howard Hinnant's days_from_civil).
  const int64_t yy = y - (mo <= 2 ? 1 : 0);
  const int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
  const int64_t yoe = yy - era * 400;
  const int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + da - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + doe - 719468;
  return ((days * 24 + h) * 60 + mi) * 60 * 1'000'000'000 + se * 1'000'000'000 + ns;
}

}  // namespace hn
