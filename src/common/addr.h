// Addresses: MAC and IPv4 values, parsing and printing. Plain values, usable
// anywhere (per-packet path included: no allocation except ToString()).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace hn {

struct Mac {
  std::array<uint8_t, 6> b{};
  static Mac From(const uint8_t* p) { Mac m; std::memcpy(m.b.data(), p, 6); return m; }
  void CopyTo(uint8_t* p) const { std::memcpy(p, b.data(), 6); }
  bool IsZero() const { return (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0; }
  bool IsBroadcast() const { return (b[0] & b[1] & b[2] & b[3] & b[4] & b[5]) == 0xff; }
  bool IsMulticast() const { return b[0] & 1; }  // includes broadcast
  bool operator==(const Mac&) const = default;
  std::string ToString() const;
  static std::optional<Mac> Parse(std::string_view s);
};

// IPv4 address in host byte order (so comparisons and masks read naturally).
struct Ip4 {
  uint32_t v = 0;
  static Ip4 FromNet(const uint8_t* p) {
    return Ip4{(uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]};
  }
  void ToNet(uint8_t* p) const { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
  bool operator==(const Ip4&) const = default;
  std::string ToString() const;
  static std::optional<Ip4> Parse(std::string_view s);
};

// IPv6 address, 16 bytes in network order.
struct Ip6 {
  std::array<uint8_t, 16> b{};
  static Ip6 FromNet(const uint8_t* p) { Ip6 a; std::memcpy(a.b.data(), p, 16); return a; }
  bool Equals(const uint8_t* p) const { return std::memcmp(b.data(), p, 16) == 0; }
  bool operator==(const Ip6&) const = default;
  std::string ToString() const;
  static std::optional<Ip6> Parse(std::string_view s);
  // fe80::/64 with the modified EUI-64 interface id of mac (RFC 4291 appendix A):
  // the link-local address Linux gives an interface by default.
  static Ip6 LinkLocalOf(const Mac& mac);
};

// An IPv4 address with a prefix length, as in "10.0.0.1/24".
struct Ip4Prefix {
  Ip4 addr;
  int len = 32;
  uint32_t Mask() const { return len == 0 ? 0 : ~uint32_t(0) << (32 - len); }
  bool Contains(Ip4 a) const { return (a.v & Mask()) == (addr.v & Mask()); }
  Ip4 Broadcast() const { return Ip4{(addr.v & Mask()) | ~Mask()}; }
  static std::optional<Ip4Prefix> Parse(std::string_view s);
  bool operator==(const Ip4Prefix&) const = default;
};

// Big-endian loads and stores for header fields.
inline uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void Store16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = uint8_t(v); }
inline void Store32(uint8_t* p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = uint8_t(v); }

// Text of an IPv4 or IPv6 address given as 4 or 16 network-order bytes.
std::string IpBytesToString(const uint8_t* p, bool v6);

}  // namespace hn
