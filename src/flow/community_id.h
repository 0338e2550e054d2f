// Community ID v1 (https://github.com/corelight/community-id-spec): a hash of a
// flow's 5-tuple that Zeek, Suricata, Arkime and Elastic agree on, so our
// events line up with theirs. Computed once per flow (at creation), not per
// packet. Allocates only for the returned string.
#pragma once

#include <cstdint>
#include <string>

#include "flow/flow_key.h"

namespace hn {

// "1:" + base64(sha1(seed, ordered tuple)). For ICMP/ICMPv6 the spec's type
// and code mapping is applied: pass icmp_type/icmp_code for those protocols
// (sport/dport of the key are ignored then).
std::string CommunityId(const FlowKey& key, uint16_t seed = 0, uint8_t icmp_type = 0, uint8_t icmp_code = 0);

// SHA-1 of data (20 bytes into out). Only Community ID needs it.
void Sha1(const uint8_t* data, size_t len, uint8_t out[20]);

}  // namespace hn
