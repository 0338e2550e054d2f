// libFuzzer entry point for the control harness (fuzz/harness/control.h); see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "harness/control.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hn::fuzz::FuzzControl(data, size);
}
