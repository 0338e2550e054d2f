// libFuzzer entry point for the config harness (fuzz/harness/config.h); see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "harness/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hn::fuzz::FuzzConfig(data, size);
}
