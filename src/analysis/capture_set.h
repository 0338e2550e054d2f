// CaptureSet: the packets of the files a user names, as one stream in time
// order. The input of `honeynet read`, `flows`, `sessions` and `report`.
//
// A path is a capture file (pcap or pcapng) or a directory. A directory
// contributes its *.pcap, *.pcapng and *.cap files; when it is a honeywall
// capture directory (files PREFIX-YYYYmmddTHHMMSSZ-NNNN.pcap, PREFIX =
// "inside" / "outside") only the files of the chosen port are taken (default
// "inside": the honeypot side sees every frame the honeypots send or get,
// the dropped ones too; "outside" or "all" on request). Files of one series
// (same PREFIX) are read one after the other in name order (rotation order);
// series and files named on their own are merged by timestamp (a k-way merge
// that holds one packet per open series), so memory is bounded by the number
// of series, not the size of the files.
//
// A damaged file is not the end: every packet before the damage is yielded,
// the damage goes to errors() (file, byte offset, what was wrong) and the
// series goes on with its next file. Open() fails only when no path can be
// read at all (missing path, nothing that is a capture).
//
// Who may call: the analysis commands; one reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analysis/pcap_input.h"
#include "common/status.h"

namespace hn {

struct CaptureSetOptions {
  // For honeywall capture directories: "inside", "outside" or "all".
  std::string port = "inside";
};

// One packet of the set: the record plus where it came from.
struct SetRecord {
  PcapRecord rec;                     // data valid until the next Next()
  int linktype = 1;                   // DLT_* of its file
  int ts_digits = 9;                  // its file's timestamp precision: 6 (microsecond pcap/pcapng) or 9
  const std::string* file = nullptr;  // path of its file (valid for the set's life)
  uint64_t index = 0;                 // 1-based number of the packet in the whole stream
};

class CaptureSet {
 public:
  static Result<std::unique_ptr<CaptureSet>> Open(const std::vector<std::string>& paths,
                                                  const CaptureSetOptions& opts = {});
  ~CaptureSet();
  CaptureSet(const CaptureSet&) = delete;
  CaptureSet& operator=(const CaptureSet&) = delete;

  // The next packet in time order (ties: the order the files were named).
  bool Next(SetRecord* out);

  // Damaged files met so far, one Status each, in the order met; their
  // messages name the file and the byte offset.
  const std::vector<Status>& errors() const { return errors_; }
  // Every file in the set, in the order they are read.
  const std::vector<std::string>& files() const { return files_; }
  // Sum of the files' sizes, and bytes read so far (record offsets): for a
  // progress bar.
  uint64_t total_bytes() const { return total_bytes_; }
  uint64_t bytes_read() const;

 private:
  struct Series;
  CaptureSet() = default;
  // Moves s to its next packet (opening its next file when one ends; damage
  // goes to errors_).
  void Advance(Series* s);
  // Heap order: true when a's head comes after b's.
  static bool Later(const Series* a, const Series* b);
  std::vector<std::unique_ptr<Series>> series_;
  std::vector<Series*> heap_;         // series with a head, min-heap by (time, order)
  Series* pending_ = nullptr;         // series whose head Next() gave out last
  std::vector<std::string> files_;
  std::vector<Status> errors_;
  uint64_t total_bytes_ = 0;
  uint64_t index_ = 0;
};

}  // namespace hn
