// Fuzz harness: the frame decoder (src/decode) and the checksums.
//
// Input: one Ethernet frame, as it would come off a port.
// Invariants checked (beyond "no crash, no out-of-bounds read, no UB"):
//  - every offset/length in the Packet view lies inside the frame;
//  - Decode() is the same with and without IPv4 checksum verification, except
//    for the checksum error itself;
//  - a frame that decodes ok as IPv4 has a header checksum that verifies;
//  - RecomputeChecksums() is idempotent, and after it the IPv4 header and (for
//    unfragmented TCP/UDP) the L4 checksum verify;
//  - RFC 1624 incremental updates (as the NAT rewrite does them) keep both
//    checksums valid;
//  - MakeFlowKey()/Hash()/CommunityId() are direction-independent.
#pragma once

#include <cstdint>
#include <vector>

#include "common/addr.h"
#include "decode/checksum.h"
#include "decode/packet.h"
#include "flow/community_id.h"
#include "flow/flow_key.h"
#include "common.h"

namespace hn::fuzz {

namespace decode_detail {

inline bool InFrame(uint32_t off, uint32_t len, uint32_t n) { return off <= n && len <= n - off; }

// The view's offsets never point outside the first n bytes.
inline void CheckBounds(const Packet& p, uint32_t n) {
  HN_FUZZ_CHECK(p.vlan_count <= 2);
  HN_FUZZ_CHECK(p.l3_off <= n, std::to_string(p.l3_off));
  if (p.ip_src_off != 0) {
    const uint32_t alen = p.is_ipv6() ? 16 : 4;
    HN_FUZZ_CHECK(InFrame(p.ip_src_off, alen, n));
    HN_FUZZ_CHECK(InFrame(p.ip_dst_off, alen, n));
  }
  if (p.has_l4) {
    HN_FUZZ_CHECK(InFrame(p.l4_off, p.l4_len, n), std::to_string(p.l4_off) + "+" + std::to_string(p.l4_len));
    HN_FUZZ_CHECK(p.payload_off >= p.l4_off);
    HN_FUZZ_CHECK(InFrame(p.payload_off, p.payload_len, n));
    HN_FUZZ_CHECK(uint32_t(p.payload_off) + p.payload_len <= uint32_t(p.l4_off) + p.l4_len);
    HN_FUZZ_CHECK(p.l4_off >= p.l3_off + p.ip_hdr_len);
  }
  if (p.has_inner) {
    HN_FUZZ_CHECK(p.has_l4);
    HN_FUZZ_CHECK(p.inner_ip_off >= p.l4_off + 8u);
    HN_FUZZ_CHECK(p.inner_ip_off < uint32_t(p.l4_off) + p.l4_len);
  }
  if (p.is_ipv4()) HN_FUZZ_CHECK(p.is_fragment == (p.more_fragments || p.frag_offset > 0));
  if (!p.ok()) return;
  switch (p.l3) {
    case L3::kArp: HN_FUZZ_CHECK(InFrame(p.arp_tpa_off, 4, n)); break;
    case L3::kIpv4:
      HN_FUZZ_CHECK(p.ip_hdr_len >= 20);
      HN_FUZZ_CHECK(InFrame(p.l3_off, p.ip_total_len, n));
      HN_FUZZ_CHECK(p.ip_total_len >= p.ip_hdr_len);
      break;
    case L3::kIpv6:
      HN_FUZZ_CHECK(InFrame(p.l3_off, 40, n));
      HN_FUZZ_CHECK(InFrame(p.l3_off, p.ip_total_len, n));
      break;
    default: break;
  }
  if (p.has_l4 && p.ip_proto == kProtoTcp) HN_FUZZ_CHECK(p.payload_off - p.l4_off >= 20);
}

// Every field of the view but the error code.
inline bool SameView(const Packet& a, const Packet& b) {
  return a.ethertype == b.ethertype && a.vlan_count == b.vlan_count && a.vlan_id == b.vlan_id && a.l3 == b.l3 &&
         a.l3_off == b.l3_off && a.arp_op == b.arp_op && a.arp_tpa_off == b.arp_tpa_off &&
         a.ip_src_off == b.ip_src_off && a.ip_dst_off == b.ip_dst_off && a.ip_hdr_len == b.ip_hdr_len &&
         a.ip_total_len == b.ip_total_len && a.ip_proto == b.ip_proto && a.ttl == b.ttl && a.ip_id == b.ip_id &&
         a.frag_offset == b.frag_offset && a.more_fragments == b.more_fragments &&
         a.is_fragment == b.is_fragment && a.has_l4 == b.has_l4 && a.l4_off == b.l4_off &&
         a.l4_len == b.l4_len && a.payload_off == b.payload_off && a.payload_len == b.payload_len &&
         a.sport == b.sport && a.dport == b.dport && a.tcp_flags == b.tcp_flags && a.tcp_seq == b.tcp_seq &&
         a.tcp_ack == b.tcp_ack && a.icmp_type == b.icmp_type && a.icmp_code == b.icmp_code &&
         a.icmp_id == b.icmp_id && a.has_inner == b.has_inner && a.inner_ip_off == b.inner_ip_off &&
         a.inner_proto == b.inner_proto && a.inner_sport == b.inner_sport && a.inner_dport == b.inner_dport;
}

inline bool Ipv4HeaderVerifies(const uint8_t* ip, uint32_t ihl) {
  return ChecksumFinish(ChecksumPartial(ip, ihl)) == 0;
}

// The TCP/UDP checksum over pseudo-header + segment, checksum field included, verifies.
inline bool L4Ipv4Verifies(const uint8_t* ip, uint8_t proto, const uint8_t* l4, uint32_t len) {
  uint8_t pseudo[12] = {};
  std::memcpy(pseudo, ip + 12, 8);
  pseudo[9] = proto;
  Store16(pseudo + 10, uint16_t(len));
  return ChecksumFinish(ChecksumPartial(l4, len, ChecksumPartial(pseudo, 12))) == 0;
}

// IPv4 header fully present and decodable (errors after the header allowed).
inline bool Ipv4HeaderReadable(const Packet& p) {
  return p.is_ipv4() && p.ip_hdr_len >= 20 && uint32_t(p.l3_off) + p.ip_hdr_len <= p.len &&
         p.error != DecodeError::kTruncatedIpv4 && p.error != DecodeError::kBadIpv4Version &&
         p.error != DecodeError::kBadIpv4HeaderLength && p.error != DecodeError::kTruncatedEthernet &&
         p.error != DecodeError::kTooManyVlanTags;
}

// An unfragmented, fully decoded TCP segment or UDP datagram (length == what is there).
inline bool WholeTcpOrUdp(const Packet& p) {
  if (!p.ok() || !p.is_ipv4() || !p.has_l4 || p.is_fragment) return false;
  if (p.ip_proto == kProtoTcp) return true;
  return p.ip_proto == kProtoUdp && Load16(p.data + p.l4_off + 4) == p.l4_len &&
         Load16(p.data + p.l4_off + 6) != 0;
}

// Checksum recomputation and the NAT-style incremental updates on a copy.
inline void CheckChecksums(const std::vector<uint8_t>& frame, const Packet& orig) {
  std::vector<uint8_t> a = frame;
  Packet p;
  Decode(a.data(), uint32_t(a.size()), &p);
  RecomputeChecksums(&p);
  std::vector<uint8_t> once = a;
  Packet q;
  Decode(a.data(), uint32_t(a.size()), &q);
  RecomputeChecksums(&q);
  HN_FUZZ_CHECK(a == once, "RecomputeChecksums is not idempotent");
  if (!Ipv4HeaderReadable(orig)) return;

  Packet r;
  Decode(a.data(), uint32_t(a.size()), &r);
  HN_FUZZ_CHECK(r.error != DecodeError::kBadIpv4Checksum);
  uint8_t* ip = a.data() + r.l3_off;
  HN_FUZZ_CHECK(Ipv4HeaderVerifies(ip, r.ip_hdr_len));
  const bool l4 = WholeTcpOrUdp(r);
  if (l4) HN_FUZZ_CHECK(L4Ipv4Verifies(ip, r.ip_proto, a.data() + r.l4_off, r.l4_len));

  // NAT: rewrite the source address with RFC 1624 updates; both still verify.
  const uint32_t old_a = Load32(ip + 12);
  const uint32_t new_a = old_a ^ 0x5a5a00ffu;
  Store32(ip + 12, new_a);
  ChecksumUpdate32(ip + 10, old_a, new_a);
  if (l4) {
    uint8_t* field = a.data() + r.l4_off + (r.ip_proto == kProtoTcp ? 16 : 6);
    ChecksumUpdate32(field, old_a, new_a);
    if (r.ip_proto == kProtoUdp && Load16(field) == 0) Store16(field, 0xffff);
    HN_FUZZ_CHECK(L4Ipv4Verifies(ip, r.ip_proto, a.data() + r.l4_off, r.l4_len), "after ChecksumUpdate32");
  }
  HN_FUZZ_CHECK(Ipv4HeaderVerifies(ip, r.ip_hdr_len), "after ChecksumUpdate32");
  // TTL decrement as in NAT mode: the word holding TTL and protocol.
  const uint16_t old_w = Load16(ip + 8);
  ip[8] = uint8_t(ip[8] - 1);
  ChecksumUpdate16(ip + 10, old_w, Load16(ip + 8));
  HN_FUZZ_CHECK(Ipv4HeaderVerifies(ip, r.ip_hdr_len), "after ChecksumUpdate16");
}

inline void CheckFlowKey(const Packet& p) {
  if (!p.is_ipv4() && !p.is_ipv6()) return;
  const FlowKey k = MakeFlowKey(p);
  const FlowKey rev = k.Reversed();
  HN_FUZZ_CHECK(rev.Reversed() == k);
  HN_FUZZ_CHECK(k.Hash() == rev.Hash(), "Hash depends on direction");
  if (p.ip_src_off == 0) return;
  HN_FUZZ_CHECK(k.proto == p.ip_proto);
  if (p.ip_proto == kProtoTcp || p.ip_proto == kProtoUdp) {
    const std::string id = CommunityId(k);
    HN_FUZZ_CHECK(id.size() < 32 && id.rfind("1:", 0) == 0, id);
    HN_FUZZ_CHECK(id == CommunityId(rev), "Community ID depends on direction");
  }
}

}  // namespace decode_detail

inline int FuzzDecode(const uint8_t* data, size_t size) {
  using namespace decode_detail;
  if (size > 0x20000) return 0;  // longer than any frame; Decode reads at most 65535 bytes anyway
  // An exact-size heap copy: ASan then sees a read one byte past the frame.
  std::vector<uint8_t> frame(data, data + size);
  const uint32_t len = uint32_t(size);
  Packet p;
  const DecodeError e = Decode(frame.data(), len, &p);
  HN_FUZZ_CHECK(e == p.error);
  HN_FUZZ_CHECK(p.len == len);
  HN_FUZZ_CHECK(DecodeErrorName(e) != nullptr);
  const uint32_t n = len < 0xffff ? len : 0xffff;
  CheckBounds(p, n);
  if (p.ok() && p.is_ipv4()) HN_FUZZ_CHECK(Ipv4HeaderVerifies(frame.data() + p.l3_off, p.ip_hdr_len));

  DecodeOptions no_verify;
  no_verify.verify_ipv4_checksum = false;
  Packet nv;
  Decode(frame.data(), len, &nv, no_verify);
  HN_FUZZ_CHECK(SameView(p, nv), "checksum verification changed the view");
  if (p.error != DecodeError::kBadIpv4Checksum) HN_FUZZ_CHECK(nv.error == p.error);
  HN_FUZZ_CHECK(nv.error != DecodeError::kBadIpv4Checksum);
  HN_FUZZ_CHECK(std::vector<uint8_t>(data, data + size) == frame, "Decode wrote to the frame");

  CheckChecksums(frame, p);
  CheckFlowKey(p);
  return 0;
}

}  // namespace hn::fuzz
