// FlowKey: the 5-tuple that names a flow, in the direction of its first packet
// (the initiator is "src"). IPv4 addresses are stored as 4 bytes in the first
// 4 of the 16-byte arrays. For ICMP query/reply pairs the ports hold
// (echo id, 0)-style values chosen by MakeFlowKey so that request and reply
// map to the same flow; for protocols without ports both ports are 0.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/siphash.h"
#include "decode/packet.h"

namespace hn {

struct FlowKey {
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t proto = 0;
  bool v6 = false;

  bool operator==(const FlowKey&) const = default;
  FlowKey Reversed() const {
    FlowKey r = *this;
    r.src = dst; r.dst = src; r.sport = dport; r.dport = sport;
    return r;
  }
  // Unkeyed, direction-independent (k.Hash() == k.Reversed().Hash()). Only for
  // offline tables (pcap analysis); the honeywall's flow table uses FlowHash.
  uint64_t Hash() const;
  std::string SrcString() const;  // address as text
  std::string DstString() const;
};

// The flow table's hash: SipHash-1-3 under a secret key of the table's own,
// over the endpoints in a fixed order, so both directions hash the same and
// nobody without the key can make flows that share a slot.
uint64_t FlowHash(const FlowKey& k, SipKey key);

// Builds the key of the packet as it is (src = packet's source). Needs an IPv4
// or IPv6 packet. For ICMP: echo/query types use (id, id) as ports so the reply
// matches the request; other types use (type, code). Non-first fragments
// have no ports: their key has ports 0 (callers look up the fragment table).
FlowKey MakeFlowKey(const Packet& p);

// The proto name used in events and logs: "TCP", "UDP", "ICMP", "IPv6-ICMP" (as Suricata writes them), or the number.
const char* ProtoName(uint8_t proto, char* buf /* >= 4 bytes */);

}  // namespace hn
