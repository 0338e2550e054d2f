// Port checks: before forwarding, make sure the host kernel will not also
// forward or answer frames on the honeywall's data ports, and turn off the
// offloads that would hand us frames bigger than the wire's (GRO/GSO/TSO/LRO).
//
// Who may call: the honeywall at start (needs CAP_NET_ADMIN); tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

// Refuses (with a message that says what to run) when the interface
//  - does not exist or is down,
//  - has an IPv4 or IPv6 address,
//  - is enslaved to a kernel bridge/bond (the kernel would switch frames itself),
//  - has IPv6 enabled (autoconf would add an address and send RS/MLD/DAD frames),
//  - has IPv4 forwarding enabled on it (net.ipv4.conf.IF.forwarding=1).
Status CheckDataPort(const std::string& ifname);

// Turns off GRO, GSO, TSO, LRO (and on tap/veth, TX checksum offload is left as
// it is: the honeywall finishes partial checksums itself). Returns one line per
// change made, e.g. "hw-in: turned off gro", for the user to see.
// keep_segmentation (gso = true): GSO and TSO are left as they are, so a
// super-segment the honeywall sends on goes out whole where the link allows.
// want_gro (gro = true): GRO is turned on instead of off ("hw-in: turned on gro").
// want_segmentation (coalesce, docs/config.md): GSO and TSO (and what TSO
// needs: TX checksums, scatter-gather) are turned on where they are off and
// the device can ("hw-in: turned on tso"), so the super-segments the
// honeywall joins reach the receiver whole.
Result<std::vector<std::string>> DisableOffloads(const std::string& ifname, bool keep_segmentation = false,
                                                 bool want_gro = false, bool want_segmentation = false);

// The most bytes the device takes in one super-segment (IFLA_GSO_MAX_SIZE;
// the kernel cuts an skb of that length or longer); 0 when it cannot be read.
uint32_t GsoMaxSize(const std::string& ifname);

// Sets the interface up and promiscuous is done by the port itself; this brings
// the link up if it is down (lab convenience). Status error says why not.
Status SetLinkUp(const std::string& ifname);

}  // namespace hn
