// WriteBehind: when a capture writer's buffered pcap bytes leave the page
// cache. The newest `behind` bytes of the writer's files (across rotations)
// are left to the page cache: a burst of up to that much costs the capture
// no disk I/O while it lasts, as for tcpdump. Past that, the oldest bytes
// are handed to writeback in `chunk`s (sync_file_range) and, two chunks
// later, waited for and dropped from the page cache (POSIX_FADV_DONTNEED):
// a longer stream is written at the rate it comes, the page cache keeps
// reusing a few recently freed pages, and the writer's share of it stays
// under behind + 3 chunks. With behind = 0 every chunk goes to writeback as
// soon as it is full. Measured in docs/performance.md ("Stop 29").
//
// Files the writer has closed (rotation, errors) are not held open: their
// remaining bytes are handled by reopening them by path (read-only) when
// their turn comes, so a file that retention deleted gives its space back at
// once and is simply skipped.
//
// Who may call: the owning PcapWriter's thread (buffered writes only).
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace hn {

class WriteBehind {
 public:
  static constexpr uint64_t kChunk = 8ULL << 20;
  // min(512 MiB, physical memory / 32): what one writer may leave dirty.
  static uint64_t DefaultBehind();

  explicit WriteBehind(uint64_t behind, uint64_t chunk = kChunk) : behind_(behind), chunk_(chunk) {}

  // The writer's current file (its descriptor fd, which stays the writer's,
  // and its path) now holds bytes [0, end). Hands what is due to writeback.
  void Written(int fd, const std::string& path, uint64_t end);
  // The writer closed its current file: its bytes are handled by path from now on.
  void Closed();

  // Bytes written but not yet handed to writeback.
  uint64_t backlog() const { return backlog_; }
  // Chunks handed to writeback and then dropped from the page cache so far.
  uint64_t chunks_dropped() const { return chunks_dropped_; }

 private:
  // A file's bytes [0, end) are written; [dropped, kicked) were handed to
  // writeback in chunks from offset 0 (its last one may be short) and are
  // not dropped yet; [kicked, end) wait in the page cache.
  struct File {
    std::string path;
    int fd;            // the writer's descriptor while it is the current file, else -1
    uint64_t dropped;
    uint64_t kicked;
    uint64_t end;
  };
  void DropOldestChunk();
  void ForgetDone();   // closed files with nothing left to do

  const uint64_t behind_;
  const uint64_t chunk_;
  std::deque<File> files_;   // oldest first; the current file (fd >= 0), if any, last
  size_t in_flight_ = 0;     // chunks handed to writeback, not yet dropped
  uint64_t backlog_ = 0;
  uint64_t chunks_dropped_ = 0;
};

}  // namespace hn
