// Packet: a zero-copy view of one Ethernet frame, filled by Decode().
//
// Everything here is offsets into the caller's buffer plus the few header
// fields the later stages need. Decode() checks every length against the
// buffer and never trusts a header; a frame it cannot fully read gets an
// error code and as much of the view as was safe to fill. The buffer is
// mutable because the NAT stage rewrites addresses in place.
//
// Who may call: anyone; Decode() allocates nothing and does no I/O.
#pragma once

#include <cstdint>

namespace hn {

enum class L3 : uint8_t { kNone, kArp, kIpv4, kIpv6, kOther };

enum class DecodeError : uint8_t {
  kOk = 0,
  kTruncatedEthernet,   // shorter than 14 bytes (or a VLAN tag cut short)
  kTooManyVlanTags,     // more than 2 tags (QinQ is the most we read)
  kTruncatedArp,
  kBadArp,              // not Ethernet/IPv4 ARP
  kTruncatedIpv4,       // shorter than 20 bytes or than its IHL
  kBadIpv4Version,
  kBadIpv4HeaderLength, // IHL < 5
  kBadIpv4TotalLength,  // total length < IHL*4 or > bytes present
  kBadIpv4Checksum,
  kTruncatedIpv6,
  kBadIpv6Version,
  kTruncatedL4,         // TCP/UDP/ICMP header cut short (first fragment only)
  kBadTcpHeaderLength,  // data offset < 5 or beyond the segment
  kBadUdpLength,
  kTooManyIpv6ExtHeaders,  // more than 16 IPv6 extension headers: no host needs that many
};

const char* DecodeErrorName(DecodeError e);

// TCP flag bits as in the header's 13th byte.
enum TcpFlags : uint8_t {
  kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20, kEce = 0x40, kCwr = 0x80,
};

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;

inline constexpr uint16_t kEthIpv4 = 0x0800;
inline constexpr uint16_t kEthArp = 0x0806;
inline constexpr uint16_t kEthIpv6 = 0x86dd;
inline constexpr uint16_t kEthVlan = 0x8100;
inline constexpr uint16_t kEthQinQ = 0x88a8;

struct Packet {
  uint8_t* data = nullptr;   // the frame, starting at the Ethernet header
  uint32_t len = 0;          // bytes of the frame present in data
  DecodeError error = DecodeError::kOk;

  // Ethernet: dst MAC at data+0, src MAC at data+6.
  uint16_t ethertype = 0;    // the one after any VLAN tags
  uint8_t vlan_count = 0;    // 0, 1 or 2 tags
  uint16_t vlan_id = 0;      // outer tag's VLAN id when vlan_count > 0
  L3 l3 = L3::kNone;
  uint16_t l3_off = 0;       // offset of the ARP/IP header

  // ARP (Ethernet/IPv4 only): operation and the four address offsets.
  uint16_t arp_op = 0;       // 1 request, 2 reply
  uint16_t arp_sha_off = 0, arp_spa_off = 0, arp_tha_off = 0, arp_tpa_off = 0;

  // IP (v4 or v6). For IPv4 the addresses are at data+ip_src_off, 4 bytes;
  // for IPv6, 16 bytes.
  uint16_t ip_src_off = 0, ip_dst_off = 0;
  uint16_t ip_hdr_len = 0;   // IPv4: IHL*4 (options included); IPv6: 40 + extension headers walked
  uint16_t ip_total_len = 0; // IPv4 total length / IPv6 40 + payload length (bytes past that are padding)
  uint8_t ip_proto = 0;      // IPv4 protocol / IPv6 final next-header
  uint8_t ttl = 0;           // TTL / hop limit
  uint16_t ip_id = 0;        // IPv4 identification
  uint32_t frag_id = 0;      // fragment identification: IPv4 ip_id, IPv6 fragment header's 32-bit id
  uint16_t frag_offset = 0;  // IPv4 fragment offset in bytes
  bool more_fragments = false;
  bool is_fragment = false;  // MF set or offset > 0
  bool has_ip_options = false;
  bool ipv6_routing = false; // an IPv6 routing header with segments left > 0 (a source route)

  // L4, present when has_l4 (IPv4/IPv6 and not a non-first fragment).
  bool has_l4 = false;
  uint16_t l4_off = 0;       // offset of the TCP/UDP/ICMP header
  uint16_t l4_len = 0;       // bytes from l4_off to the end of the IP datagram (bounded by the buffer)
  uint16_t payload_off = 0;  // offset of the L4 payload
  uint16_t payload_len = 0;
  uint16_t sport = 0, dport = 0;  // TCP/UDP/SCTP ports
  uint8_t tcp_flags = 0;
  uint32_t tcp_seq = 0, tcp_ack = 0;
  uint8_t icmp_type = 0, icmp_code = 0;
  uint16_t icmp_id = 0;      // echo request/reply identifier

  // ICMP errors (dest unreachable, time exceeded, ...) quote the datagram that
  // caused them. When that quote holds at least an IPv4 header and 8 bytes of
  // L4, these describe it (as the original sender saw it). ICMPv6 errors
  // (types 1-4) are read the same way, with an inner IPv6 header.
  bool has_inner = false;
  uint16_t inner_ip_off = 0;
  uint8_t inner_proto = 0;
  uint16_t inner_sport = 0, inner_dport = 0;  // or ICMP echo id in inner_sport for inner ICMP

  bool ok() const { return error == DecodeError::kOk; }
  bool is_ipv4() const { return l3 == L3::kIpv4; }
  bool is_ipv6() const { return l3 == L3::kIpv6; }
  const uint8_t* dst_mac() const { return data; }
  const uint8_t* src_mac() const { return data + 6; }
};

// Options for Decode; defaults are what the honeywall uses.
struct DecodeOptions {
  bool verify_ipv4_checksum = true;  // a bad IPv4 header checksum is kBadIpv4Checksum
};

// Fills *p from frame[0, len). Returns p->error. Never reads past len.
DecodeError Decode(uint8_t* frame, uint32_t len, Packet* p, const DecodeOptions& opt = {});

// True when the ICMP type is an error that quotes a datagram (3, 4, 5, 11, 12).
bool IcmpIsError(uint8_t type);
// True for ICMP types that are queries with an identifier (echo, timestamp, ...).
bool IcmpIsQuery(uint8_t type);

}  // namespace hn
