// Community ID v1 (https://github.com/corelight/community-id-spec) and the
// SHA-1 (FIPS 180-4) it needs.
#include "flow/community_id.h"

#include <cstring>
#include <utility>

namespace hn {

namespace {

// ---- SHA-1 (FIPS 180-4, section 6.1) --------------------------------------

inline uint32_t Rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

// Processes one 64-byte block into state h.
void Sha1Block(uint32_t h[5], const uint8_t* block) {
  uint32_t w[80];
  for (int t = 0; t < 16; t++)
    w[t] = uint32_t(block[4 * t]) << 24 | uint32_t(block[4 * t + 1]) << 16 | uint32_t(block[4 * t + 2]) << 8 |
           block[4 * t + 3];
  for (int t = 16; t < 80; t++) w[t] = Rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int t = 0; t < 80; t++) {
    uint32_t f, k;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    uint32_t tmp = Rotl(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = Rotl(b, 30);
    b = a;
    a = tmp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

// ---- ICMP type/code to "ports" (Zeek's mapping, as the spec uses) --------

struct IcmpPorts {
  uint16_t sport, dport;
  bool one_way;  // no counterpart type: the tuple is not reordered
};

// The counterpart of a request/response ICMP type, or -1 when there is none.
int Icmp4Counterpart(uint8_t type) {
  switch (type) {
    case 8: return 0;    // echo -> echo reply
    case 0: return 8;
    case 13: return 14;  // timestamp
    case 14: return 13;
    case 15: return 16;  // information
    case 16: return 15;
    case 10: return 9;   // router solicitation -> advertisement
    case 9: return 10;
    case 17: return 18;  // address mask
    case 18: return 17;
    default: return -1;
  }
}

int Icmp6Counterpart(uint8_t type) {
  switch (type) {
    case 128: return 129;  // echo
    case 129: return 128;
    case 130: return 131;  // MLD listener query / report
    case 131: return 130;
    case 133: return 134;  // router solicitation / advertisement
    case 134: return 133;
    case 135: return 136;  // neighbor solicitation / advertisement
    case 136: return 135;
    case 139: return 140;  // who-are-you request / reply
    case 140: return 139;
    case 144: return 145;  // home agent address discovery request / reply
    case 145: return 144;
    default: return -1;
  }
}

IcmpPorts MapIcmp(bool v6, uint8_t type, uint8_t code) {
  int other = v6 ? Icmp6Counterpart(type) : Icmp4Counterpart(type);
  if (other < 0) return {type, code, true};
  return {type, uint16_t(other), false};
}

bool HasPorts(uint8_t proto) {
  return proto == kProtoIcmp || proto == kProtoTcp || proto == kProtoUdp || proto == kProtoIcmpv6 ||
         proto == 132 /* SCTP */;
}

void Base64(const uint8_t* in, size_t len, std::string* out) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = uint32_t(in[i]) << 16 | uint32_t(in[i + 1]) << 8 | in[i + 2];
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  if (len - i == 1) {
    uint32_t v = uint32_t(in[i]) << 16;
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->append("==");
  } else if (len - i == 2) {
    uint32_t v = uint32_t(in[i]) << 16 | uint32_t(in[i + 1]) << 8;
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back('=');
  }
}

}  // namespace

void Sha1(const uint8_t* data, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  size_t i = 0;
  for (; i + 64 <= len; i += 64) Sha1Block(h, data + i);
  // Padding: 0x80, zeros, then the length in bits as a 64-bit big-endian value.
  uint8_t tail[128] = {};
  const size_t rest = len - i;
  if (rest > 0) std::memcpy(tail, data + i, rest);
  tail[rest] = 0x80;
  const size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = uint64_t(len) * 8;
  for (int b = 0; b < 8; b++) tail[tail_len - 1 - b] = uint8_t(bits >> (8 * b));
  for (size_t t = 0; t < tail_len; t += 64) Sha1Block(h, tail + t);
  for (int w = 0; w < 5; w++) {
    out[4 * w] = uint8_t(h[w] >> 24);
    out[4 * w + 1] = uint8_t(h[w] >> 16);
    out[4 * w + 2] = uint8_t(h[w] >> 8);
    out[4 * w + 3] = uint8_t(h[w]);
  }
}

std::string CommunityId(const FlowKey& key, uint16_t seed, uint8_t icmp_type, uint8_t icmp_code) {
  const size_t alen = key.v6 ? 16 : 4;
  const uint8_t* sa = key.src.data();
  const uint8_t* da = key.dst.data();
  uint16_t sp = key.sport, dp = key.dport;
  bool one_way = false;
  if (key.proto == kProtoIcmp || key.proto == kProtoIcmpv6) {
    IcmpPorts m = MapIcmp(key.proto == kProtoIcmpv6, icmp_type, icmp_code);
    sp = m.sport;
    dp = m.dport;
    one_way = m.one_way;
  }
  // Order the endpoints so that the smaller (address, port) comes first.
  if (!one_way) {
    int c = std::memcmp(sa, da, alen);
    if (!(c < 0 || (c == 0 && sp < dp))) {
      std::swap(sa, da);
      std::swap(sp, dp);
    }
  }
  // seed(2) . saddr . daddr . proto(1) . 0(1) [. sport(2) . dport(2)]
  uint8_t buf[2 + 16 + 16 + 2 + 4];
  size_t n = 0;
  buf[n++] = uint8_t(seed >> 8);
  buf[n++] = uint8_t(seed);
  std::memcpy(buf + n, sa, alen);
  n += alen;
  std::memcpy(buf + n, da, alen);
  n += alen;
  buf[n++] = key.proto;
  buf[n++] = 0;
  if (HasPorts(key.proto)) {
    buf[n++] = uint8_t(sp >> 8);
    buf[n++] = uint8_t(sp);
    buf[n++] = uint8_t(dp >> 8);
    buf[n++] = uint8_t(dp);
  }
  uint8_t digest[20];
  Sha1(buf, n, digest);
  std::string out = "1:";
  out.reserve(2 + 28);
  Base64(digest, sizeof digest, &out);
  return out;
}

}  // namespace hn
