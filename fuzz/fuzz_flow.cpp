// libFuzzer entry point for the flow harness (fuzz/harness/flow.h); see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "harness/flow.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hn::fuzz::FuzzFlow(data, size);
}
