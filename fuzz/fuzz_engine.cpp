// libFuzzer entry point for the engine harness (fuzz/harness/engine.h); see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "harness/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hn::fuzz::FuzzEngine(data, size);
}
