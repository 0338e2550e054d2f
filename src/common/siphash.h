// SipHash (Aumasson & Bernstein, 2012): a keyed 64-bit hash for hash tables
// whose keys an attacker chooses. Without the 128-bit key nobody can compute
// which keys collide, so a flood of crafted keys spreads like random ones.
//
// SipHash<2, 4> is the reference function (tested against the paper's vector);
// SipHash13 (1 compression and 3 finalization rounds, as Rust's and Python's
// hash tables use) is what the flow table takes: half the cost, and no practical
// attack on it is known.
//
// Who may call: anyone; pure functions, no state, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hn {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

namespace siphash_detail {

inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct State {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1; v1 = Rotl(v1, 13); v1 ^= v0; v0 = Rotl(v0, 32);
    v2 += v3; v3 = Rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = Rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = Rotl(v1, 17); v1 ^= v2; v2 = Rotl(v2, 32);
  }
};

// Little-endian load of 8 bytes, as the specification reads message words.
inline uint64_t Load64Le(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) v = __builtin_bswap64(v);
  return v;
}

}  // namespace siphash_detail

// SipHash-C-D of n bytes at p under key. Reads exactly n bytes.
template <int C, int D>
uint64_t SipHash(const uint8_t* p, size_t n, SipKey key) {
  using siphash_detail::Load64Le;
  siphash_detail::State s{key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
                          key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
  const size_t whole = n & ~size_t(7);
  for (size_t i = 0; i < whole; i += 8) {
    const uint64_t m = Load64Le(p + i);
    s.v3 ^= m;
    for (int r = 0; r < C; r++) s.Round();
    s.v0 ^= m;
  }
  uint64_t last = uint64_t(n & 0xff) << 56;
  for (size_t i = 0; i < (n & 7); i++) last |= uint64_t(p[whole + i]) << (8 * i);
  s.v3 ^= last;
  for (int r = 0; r < C; r++) s.Round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  for (int r = 0; r < D; r++) s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

inline uint64_t SipHash13(const uint8_t* p, size_t n, SipKey key) { return SipHash<1, 3>(p, n, key); }

}  // namespace hn
