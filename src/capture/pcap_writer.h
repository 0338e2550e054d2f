// PcapWriter: one rotating series of pcap files (libpcap's format, so tcpdump,
// Wireshark and tshark read them unchanged). A new file starts when the
// current one would pass rotate_bytes or is older than rotate_ns. Writes are
// buffered (stdio via pcap_dump); Flush() pushes them to the kernel.
//
// Files are named DIR/PREFIX-YYYYmmddTHHMMSSZ-NNNN.pcap (UTC, NNNN counts up).
//
// Who may call: the capture thread (one writer per series); tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

class PcapWriter {
 public:
  struct Options {
    std::string dir;
    std::string prefix;                 // e.g. "inside"
    uint64_t rotate_bytes = 100ULL << 20;
    int64_t rotate_ns = 3600LL * 1'000'000'000;
    uint32_t snaplen = 262144;
  };
  static Result<std::unique_ptr<PcapWriter>> Open(const Options& opt);
  ~PcapWriter();  // flushes and closes

  // Appends one frame; ts_ns is wall-clock. caplen <= wire_len.
  // Returns false when the write failed (disk full, ...): the caller counts a drop.
  bool Write(int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len);
  void Flush();
  // Paths of every file this writer has made, oldest first.
  const std::vector<std::string>& files() const { return files_; }
  uint64_t frames_written() const { return frames_; }

 private:
  PcapWriter() = default;
  Status Rotate(int64_t ts_ns);
  Options opt_;
  void* pcap_ = nullptr;    // pcap_t* (dead handle)
  void* dumper_ = nullptr;  // pcap_dumper_t*
  uint64_t cur_bytes_ = 0;
  int64_t cur_start_ns_ = 0;
  uint32_t seq_ = 0;
  uint64_t frames_ = 0;
  std::vector<std::string> files_;
};

}  // namespace hn
