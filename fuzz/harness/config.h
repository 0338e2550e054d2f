// Fuzz harness: the config parser (src/config/config.h).
//
// Input: the text of a config file, as it is (any bytes).
// Invariants:
//  - ParseConfig() returns a config or an error, never crashes, never throws;
//  - LoadConfig() of a file with that text (a memfd) says the same: accepted
//    or not, and the same config;
//  - an error has a message that names the file (the source given);
//  - a config it accepts survives DumpConfig() -> ParseConfig() -> DumpConfig()
//    unchanged (what --print-config prints reads back as the same config);
//  - ParseDuration()/ParseSize() of the text never crash and give no negative duration.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "config/config.h"
#include "common.h"

namespace hn::fuzz {

inline int FuzzConfig(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;  // config files are small; keeps each run fast
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz.toml";
  Result<Config> r = ParseConfig(text, source);
  if (!r.ok()) {
    const std::string& msg = r.status().message();
    HN_FUZZ_CHECK(!msg.empty() && msg != "ok", "an error without a message");
    HN_FUZZ_CHECK(msg.find(source) != std::string::npos, "error does not name the file: " + msg.substr(0, 200));
  } else {
    const std::string dump = DumpConfig(*r);
    Result<Config> again = ParseConfig(dump, "dump.toml");
    HN_FUZZ_CHECK(again.ok(), "DumpConfig output does not parse: " + again.status().message().substr(0, 300));
    HN_FUZZ_CHECK(DumpConfig(*again) == dump, "DumpConfig -> ParseConfig -> DumpConfig changed the config");
  }
  // The same text from a file. memfd: no file system, nothing to clean up.
  const int fd = memfd_create("fuzz.toml", MFD_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, data, size) == ssize_t(size)) {
      Result<Config> loaded = LoadConfig("/proc/self/fd/" + std::to_string(fd));
      HN_FUZZ_CHECK(loaded.ok() == r.ok(), "LoadConfig and ParseConfig disagree: " + loaded.status().message().substr(0, 200));
      if (loaded.ok()) HN_FUZZ_CHECK(DumpConfig(*loaded) == DumpConfig(*r), "LoadConfig read another config");
    }
    close(fd);
  }
  if (size <= 64) {
    if (auto d = ParseDuration(text)) HN_FUZZ_CHECK(*d >= 0, "negative duration from " + text);
    (void)ParseSize(text);
  }
  return 0;
}

}  // namespace hn::fuzz
