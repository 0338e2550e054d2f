// libFuzzer entry point for the decode harness (fuzz/harness/decode.h); see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "harness/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hn::fuzz::FuzzDecode(data, size);
}
