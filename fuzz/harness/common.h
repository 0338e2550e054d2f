// Shared by the fuzz harnesses (fuzz/harness/*.h): invariant checks and a
// reader that turns the fuzzer's bytes into values.
//
// A harness is a plain function `int Fuzz<Name>(const uint8_t*, size_t)`,
// header-only so that the libFuzzer targets (fuzz/fuzz_<name>.cpp, clang) and
// the unit tests (tests/unit/fuzz_regression_test.cpp, any compiler) run the
// very same code on an input without extra sources in either build.
//
// A broken invariant prints what broke and aborts, which libFuzzer records as
// a crash with the input that caused it. Unit tests call SetThrowOnFailure()
// so that it throws InvariantFailure instead and the test reports it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace hn::fuzz {

struct InvariantFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline bool& ThrowOnFailureFlag() {
  static bool flag = false;
  return flag;
}
// Unit tests: a broken invariant throws InvariantFailure instead of aborting.
inline void SetThrowOnFailure(bool on) { ThrowOnFailureFlag() = on; }

[[noreturn]] inline void Fail(const char* file, int line, const char* cond, const std::string& detail) {
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": fuzz invariant broken: " + cond;
  if (!detail.empty()) msg += " (" + detail + ")";
  if (ThrowOnFailureFlag()) throw InvariantFailure(msg);
  std::fprintf(stderr, "%s\n", msg.c_str());
  std::abort();
}

// HN_FUZZ_CHECK(cond) / HN_FUZZ_CHECK(cond, "detail " + std::to_string(x)):
// the detail expression is evaluated only when cond is false.
#define HN_FUZZ_CHECK(cond, ...)                                              \
  do {                                                                        \
    if (!(cond)) ::hn::fuzz::Fail(__FILE__, __LINE__, #cond, std::string(__VA_ARGS__)); \
  } while (0)

// Reads values from the front of the fuzzer's input; past its end every read
// gives zeros (so a short input is still a complete, if dull, scenario).
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), left_(size) {}

  size_t left() const { return left_; }
  bool empty() const { return left_ == 0; }

  uint8_t U8() {
    if (left_ == 0) return 0;
    left_--;
    return *p_++;
  }
  // Big-endian; the locals fix the order of the reads.
  uint16_t U16() {
    const uint16_t hi = U8();
    return uint16_t(hi << 8 | U8());
  }
  uint32_t U32() {
    const uint32_t hi = U16();
    return hi << 16 | U16();
  }
  uint64_t U64() {
    const uint64_t hi = U32();
    return hi << 32 | U32();
  }
  bool Bit() { return U8() & 1; }
  // A value in [lo, hi] (hi - lo < 2^32).
  uint32_t Range(uint32_t lo, uint32_t hi) {
    const uint64_t span = uint64_t(hi) - lo + 1;
    return uint32_t(lo + U32() % span);
  }
  // Up to n bytes (fewer when the input ends): returns how many, at *out.
  size_t Take(size_t n, const uint8_t** out) {
    if (n > left_) n = left_;
    *out = p_;
    p_ += n;
    left_ -= n;
    return n;
  }

 private:
  const uint8_t* p_;
  size_t left_;
};

}  // namespace hn::fuzz
