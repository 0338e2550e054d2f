#include "common/addr.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>

namespace hn {

std::string Mac::ToString() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5]);
}

std::optional<Mac> Mac::Parse(std::string_view s) {
  Mac m;
  if (s.size() != 17) return std::nullopt;
  for (int i = 0; i < 6; i++) {
    if (i > 0 && s[i * 3 - 1] != ':' && s[i * 3 - 1] != '-') return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i * 3, s.data() + i * 3 + 2, v, 16);
    if (ec != std::errc() || p != s.data() + i * 3 + 2) return std::nullopt;
    m.b[i] = uint8_t(v);
  }
  return m;
}

std::string Ip4::ToString() const {
  return fmt::format("{}.{}.{}.{}", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
}

std::optional<Ip4> Ip4::Parse(std::string_view s) {
  std::string str(s);
  in_addr a{};
  if (inet_pton(AF_INET, str.c_str(), &a) != 1) return std::nullopt;
  return Ip4::FromNet(reinterpret_cast<const uint8_t*>(&a.s_addr));
}

std::string Ip6::ToString() const { return IpBytesToString(b.data(), true); }

std::optional<Ip6> Ip6::Parse(std::string_view s) {
  std::string str(s);
  Ip6 a;
  if (inet_pton(AF_INET6, str.c_str(), a.b.data()) != 1) return std::nullopt;
  return a;
}

Ip6 Ip6::LinkLocalOf(const Mac& mac) {
  Ip6 a;
  a.b[0] = 0xfe;
  a.b[1] = 0x80;
  a.b[8] = mac.b[0] ^ 0x02;
  a.b[9] = mac.b[1];
  a.b[10] = mac.b[2];
  a.b[11] = 0xff;
  a.b[12] = 0xfe;
  a.b[13] = mac.b[3];
  a.b[14] = mac.b[4];
  a.b[15] = mac.b[5];
  return a;
}

std::optional<Ip4Prefix> Ip4Prefix::Parse(std::string_view s) {
  Ip4Prefix p;
  auto slash = s.find('/');
  auto ip = Ip4::Parse(s.substr(0, slash));
  if (!ip) return std::nullopt;
  p.addr = *ip;
  if (slash != std::string_view::npos) {
    auto rest = s.substr(slash + 1);
    int len = -1;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), len);
    if (ec != std::errc() || ptr != rest.data() + rest.size() || len < 0 || len > 32) return std::nullopt;
    p.len = len;
  }
  return p;
}

std::string IpBytesToString(const uint8_t* p, bool v6) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, p, buf, sizeof buf);
  return buf;
}

}  // namespace hn
