// libFuzzer entry point for the pcap harness (fuzz/harness/pcap.h); see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>

#include "harness/pcap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return hn::fuzz::FuzzPcap(data, size);
}
