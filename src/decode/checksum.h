// Internet checksums (RFC 1071) and their incremental update (RFC 1624).
// Used by the NAT stage to keep IPv4/TCP/UDP/ICMP checksums right after
// rewriting addresses, and by decode/tests to verify them. No allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "decode/packet.h"

namespace hn {

// One's-complement sum of data folded to 16 bits, starting from `initial`
// (an unfolded 32-bit partial sum). Not inverted.
uint32_t ChecksumPartial(const uint8_t* data, size_t len, uint32_t initial = 0);
// Folds and inverts a partial sum into the value stored in a header.
uint16_t ChecksumFinish(uint32_t partial);

// The value an IPv4 header's checksum field must hold (computed with the field as zero).
uint16_t Ipv4HeaderChecksum(const uint8_t* ip_hdr, size_t hdr_len);

// The TCP/UDP checksum over the IPv4 pseudo-header and l4[0, l4_len) with
// the checksum field treated as zero. For UDP a result of 0 is returned as 0xffff.
uint16_t L4ChecksumIpv4(const uint8_t* src4, const uint8_t* dst4, uint8_t proto,
                        const uint8_t* l4, size_t l4_len);

// RFC 1624 eqn. 3: update checksum field *csum (network order bytes at p) when
// a 16-bit or 32-bit word covered by it changes from old to new. For UDP the
// caller must skip a field that is 0 ("no checksum") and store a result of 0
// as 0xffff.
void ChecksumUpdate16(uint8_t* csum_field, uint16_t old_v, uint16_t new_v);
void ChecksumUpdate32(uint8_t* csum_field, uint32_t old_v, uint32_t new_v);

// Recomputes from scratch every checksum of a decoded IPv4 packet that we can:
// the IPv4 header, and the TCP/UDP/ICMP checksum when the packet is not a
// fragment. UDP checksum 0 ("none") is left as 0. For IPv6 packets the TCP/
// UDP/ICMPv6 checksum (with the IPv6 pseudo-header) is recomputed the same
// way. Packets with a length error keep their L4 checksum. Used when the kernel hands
// us a frame whose L4 checksum is not yet filled in (TP_STATUS_CSUMNOTREADY).
void RecomputeChecksums(Packet* p);

}  // namespace hn
