// Packet printing for `honeynet read`: one packet as a block of text (like
// `snort -vd` / `tcpdump -X`) or as one JSON object per line.
//
// Dissect() walks the link layer (Ethernet with any number of VLAN/QinQ
// tags, Linux cooked v1/v2, raw IP, BSD loopback), ARP, IPv4 (options,
// fragments), IPv6 (extension headers, fragment header), TCP, UDP, ICMP and
// ICMPv6 (id/seq of queries; the quoted datagram of errors). It trusts no
// header: every field is read only when its bytes are present. A header cut
// short is named in cut_layer and printed as "[truncated]" with the bytes
// there are; a frame captured short of its wire length (caplen < len) says
// so. Any bytes decode without a crash (fuzzed in the unit tests).
//
// FormatText()/FormatJson() append to a caller's string (clear it between
// packets and reuse it: after the first packets nothing is allocated, except
// the Community ID string of IP packets in JSON).
//
// Who may call: the analysis commands; no state, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "analysis/capture_set.h"
#include "common/status.h"
#include "flow/flow_key.h"

namespace hn {

// What Dissect() found in one frame. Offsets are into the frame's bytes.
struct Dissection {
  enum class Link : uint8_t { kEthernet, kSll, kSll2, kRaw, kNull, kUnknown };
  enum class Net : uint8_t { kNone, kArp, kIpv4, kIpv6, kOther };
  enum class Transport : uint8_t { kNone, kTcp, kUdp, kIcmp, kIcmp6, kOther };

  Link link = Link::kUnknown;
  int linktype = 1;
  uint32_t caplen = 0, len = 0;

  // Ethernet / cooked.
  bool has_macs = false;       // Ethernet: dst and src MACs present
  uint8_t eth_dst[6] = {}, eth_src[6] = {};
  uint16_t ethertype = 0;      // after the VLAN tags (or the cooked protocol)
  bool llc = false;            // 802.3 frame: ethertype field is a length
  static constexpr int kMaxVlan = 8;
  int vlan_count = 0;          // tags read (at most kMaxVlan)
  struct Vlan { uint16_t tpid = 0, id = 0; uint8_t pcp = 0; bool dei = false; } vlan[kMaxVlan];
  uint16_t sll_pkttype = 0;    // Linux cooked: 0 to us, 4 outgoing, ...

  Net net = Net::kNone;
  uint32_t net_off = 0;
  uint32_t net_have = 0;       // bytes of the IP header's fixed part present (20 / 40 when whole)

  // ARP.
  uint16_t arp_op = 0, arp_htype = 0, arp_ptype = 0;
  uint8_t arp_hlen = 0, arp_plen = 0;
  bool arp_eth_ip4 = false;    // Ethernet/IPv4 ARP: the four addresses below are valid
  uint8_t arp_sha[6] = {}, arp_spa[4] = {}, arp_tha[6] = {}, arp_tpa[4] = {};

  // IP.
  bool has_ip_addrs = false;   // the header was there up to the addresses
  uint8_t ip_src[16] = {}, ip_dst[16] = {};
  uint8_t tos = 0;             // IPv4 TOS / IPv6 traffic class
  uint32_t flow_label = 0;     // IPv6
  uint16_t ip_hdr_len = 0;     // IPv4 IHL*4 / IPv6 40 + extension headers
  uint32_t ip_total_len = 0;   // from the header: IPv4 total length, IPv6 40 + payload length
  uint16_t ip_checksum = 0;
  uint8_t ttl = 0;             // TTL / hop limit
  uint8_t proto = 0;           // IPv4 protocol / IPv6 last next-header
  uint32_t ip_id = 0;          // IPv4 id; IPv6 fragment header id
  bool df = false, mf = false, rf = false;
  uint32_t frag_offset = 0;    // in bytes
  bool is_fragment = false;    // MF or offset > 0 (or an IPv6 fragment header)
  bool v6_frag_header = false;

  Transport transport = Transport::kNone;
  bool has_l4 = false;         // the L4 header was read (TCP 20, UDP 8, ICMP 8, SCTP 12 bytes)
  uint32_t l4_off = 0;
  uint32_t l4_have = 0;        // bytes of the L4 header present (TCP 20, UDP 8, ICMP 8 when whole)
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t tcp_flags = 0;       // the 8 flag bits (CWR..FIN)
  bool tcp_ns = false;         // the NS/AE bit
  uint16_t tcp_win = 0, tcp_urp = 0, l4_checksum = 0;
  uint8_t tcp_hdr_len = 0;
  uint16_t udp_len = 0;
  uint8_t icmp_type = 0, icmp_code = 0;
  bool icmp_has_idseq = false;
  uint16_t icmp_id = 0, icmp_seq = 0;
  // An ICMP/ICMPv6 error's quoted datagram.
  bool has_inner = false;
  bool inner_v6 = false;
  uint8_t inner_src[16] = {}, inner_dst[16] = {};
  uint8_t inner_proto = 0;
  bool inner_has_ports = false;
  uint16_t inner_sport = 0, inner_dport = 0;

  // What follows the last header decoded: the L4 payload, or the bytes of a
  // layer that was not decoded.
  uint32_t payload_off = 0;
  uint32_t payload_len = 0;       // bytes present
  uint32_t payload_wire_len = 0;  // what the headers say there should be (>= payload_len when cut)

  const char* cut_layer = nullptr;  // "ethernet", "ipv4", "tcp", ...: header cut short here
  const char* problem = nullptr;    // a header value that makes no sense, e.g. "IPv4 IHL < 5"

  bool truncated() const { return caplen < len || cut_layer != nullptr || payload_len < payload_wire_len; }
  bool is_ip() const { return net == Net::kIpv4 || net == Net::kIpv6; }
};

// Walks frame[0, caplen) of a file with this DLT_* link type.
void Dissect(const uint8_t* frame, uint32_t caplen, uint32_t len, int linktype, Dissection* d);

// The flow key of an IP packet as MakeFlowKey() builds it (src = the
// packet's source; ICMP queries use (id, id), other ICMP (type, code);
// non-first fragments have ports 0). false when the packet is not IP.
bool DissectionFlowKey(const Dissection& d, FlowKey* key);
// The packet's Community ID ("" when not IP), as the honeywall's events
// write it: CommunityId(key, 0, icmp type, icmp code).
std::string DissectionCommunityId(const Dissection& d);

struct PrintOptions {
  bool colour = false;       // ANSI colours (only for a terminal)
  bool frame_hex = false;    // hex dump of the whole frame, not only the payload
  bool show_file = false;    // name the packet's file (when reading several)
};

// Appends the text block of one packet (ending with a blank line).
void FormatText(const SetRecord& r, const Dissection& d, const PrintOptions& o, std::string* out);
// Appends one JSON object and '\n'. Field names: see docs/analysis.md.
void FormatJson(const SetRecord& r, const Dissection& d, const PrintOptions& o, std::string* out);

// "2026-11-26T19:08:03.123456Z": UTC with `digits` fractional digits (0-9).
void AppendUtc(int64_t ts_ns, int digits, std::string* out);
// TCP flags as text: "SYN,ACK" ("" for none).
void AppendTcpFlags(uint8_t flags, std::string* out);

// A time a user types: ISO-8601 UTC ("2026-11-26T19:08:03Z", with a fraction
// of up to 9 digits, 'Z' or "+00:00" or nothing; a space for the 'T' is
// fine; a date alone is midnight) or epoch seconds ("1795720083",
// "1795720083.25"). Nanoseconds since the epoch, or an error that shows the
// accepted forms.
Result<int64_t> ParseTimeArg(std::string_view s);

}  // namespace hn
