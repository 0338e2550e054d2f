// Data Control's checks of one decoded frame, before any flow: is it what it
// says it is, and may a honeypot send it at all. Pure functions over a Packet
// (decode/packet.h) and what is known of the honeypot; no state, no I/O.
//
// Who may call: the forwarding thread (wall/engine.cpp) and tests.
#pragma once

#include <cstdint>
#include <vector>

#include "common/addr.h"
#include "control/control.h"
#include "decode/packet.h"

namespace hn {

// Longest neighbour discovery message a honeypot may send: RS/NS/NA with one
// link-layer address option and a DAD nonce (RFC 7527) fit in 40 bytes.
inline constexpr uint16_t kMaxNdpLen = 40;

// An IPv4 header with a loose or strict source route option (3 or 9, whatever
// the copy/class bits), or an option list the receiver cannot read: fail
// closed, since some stacks read further than we do.
bool HasSourceRoute(const Packet& p);

// Broadcast or multicast at layer 2 and layer 3 alike, the MAC the one the
// group maps to: ff:ff:ff:ff:ff:ff with 255.255.255.255, 01:00:5e + the low 23
// bits of a 224/4 group, 33:33 + the low 32 bits of an ff00::/8 group. An IP
// broadcast in a frame to one host's MAC, or a unicast IP in a broadcast
// frame, is a flow to that host like any other.
bool IsRealBroadcast(const Packet& p);

// ICMPv6 router solicitation, neighbour solicitation or advertisement.
inline bool IsNdp(uint8_t icmp6_type) { return icmp6_type == 133 || icmp6_type == 135 || icmp6_type == 136; }

// The segmentation a virtio-net header asks for fits the packet: TCPv4 (1) an
// IPv4 TCP segment, TCPv6 (4) an IPv6 one, UDP (3) / UDP_L4 (5) a UDP datagram.
bool GsoFits(uint8_t gso_type, const Packet& p);

// A honeypot's IPv6 identity: its MAC (nullptr while not known) and its
// configured addresses (honeypot.ip6).
struct V6Identity {
  const Mac* mac = nullptr;
  const std::vector<Ip6>* ip6 = nullptr;
  // addr (16 bytes) is one of its own: in ip6, or fe80::EUI-64(mac).
  bool Owns(const uint8_t* addr) const;
};

// An IPv6 source a honeypot may use: its own, or :: in the messages of
// duplicate address detection and MLD (RFC 4862 5.4.2, RFC 3810 5.2.13).
bool V6SourceOk(const V6Identity& id, const Packet& p);

// Neighbour discovery from a honeypot, checked as ARP is: hop limit 255, at
// most kMaxNdpLen bytes, link-layer address options only its own MAC (plus a
// DAD nonce), an advertisement only for an address of its own and never as a
// router. Returns Reason::kCount when it may pass, else the drop reason.
// id.mac must be set (the sender was identified by its MAC).
Reason CheckNdp(const V6Identity& id, const Packet& p);

}  // namespace hn
