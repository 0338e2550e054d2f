// PcapWriter: one rotating series of pcap files (libpcap's classic format, so
// tcpdump, Wireshark and tshark read them unchanged). Timestamps are stored with
// nanosecond precision (pcap magic 0xa1b23c4d). A new file starts when the
// current one would pass rotate_bytes or when a frame is rotate_ns or more
// past the first frame of the current file (0 turns either rule off).
//
// Writes are buffered (1 MiB) and reach the file only as whole records: the
// buffer never holds part of a record, and Flush() hands the kernel the whole
// buffer; WriteFrames() hands the kernel whole runs of records, from the
// caller's memory. So a file cut off at any point the writer chose (a crash,
// SIGKILL after a write) ends on a record boundary. A write() the kernel itself cut
// short (a fatal signal in the middle of a large write, a full disk), or a
// crash between the two writes of a direct flush (below), can still leave
// half a record: Open() checks the newest existing file of the series and
// cuts a partial last record off (repaired() says what it did), and a failed
// write is cut back at once (below).
//
// Direct I/O (Options::direct_io, capture.direct_io, off by default): the whole
// 4 KiB blocks of a flush go to the file through a second, O_DIRECT
// descriptor, so they skip the page cache: no copy into it by the capture
// thread and no writeback later, both of which competed with forwarding for
// the CPUs (docs/performance.md). The last partial block goes through the
// page cache at once (a reader sees every record written so far) and again,
// direct, as part of the next block. A filesystem without O_DIRECT (tmpfs)
// gets buffered writes. Off by default because the writes are synchronous:
// under capture-first the forwarder then waits for the disk (measured in
// docs/performance.md: less CPU, but no more throughput on this machine).
//
// Files are named DIR/PREFIX-YYYYmmddTHHMMSSZ-NNNN.pcap (UTC, NNNN counts up),
// made with O_EXCL and mode 0640 (an existing file is never overwritten: NNNN
// is bumped instead). DIR is made (mkdir -p, 0750) when missing.
//
// Failures: a write or flush error closes the current file, cut back to its
// last good flush (so it stays a valid pcap), and counts the frames written
// since then as lost; the next Write() opens a new file (at most one attempt
// per second of frame time while that fails).
// frames_written() + frames_lost() = frames offered.
//
// Who may call: the capture thread (one writer per series); tests.
#pragma once

#include <sys/uio.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "capture/frame_ref.h"
#include "capture/write_behind.h"
#include "common/status.h"

namespace hn {

class CaptureDisk;

// mkdir -p with mode 0750 for the parts it makes. Used for capture.dir.
Status MakeDirectories(const std::string& dir);

class PcapWriter {
 public:
  struct Options {
    std::string dir;
    std::string prefix;                 // e.g. "inside"
    uint64_t rotate_bytes = 100ULL << 20;
    int64_t rotate_ns = 3600LL * 1'000'000'000;
    uint32_t snaplen = 262144;
    // Retention (capture/retention.h), or nullptr: every write is reserved
    // there first; what it refuses is dropped and counted in frames_lost()
    // (frames_refused() too), and the file stays open and valid.
    CaptureDisk* disk = nullptr;
    bool direct_io = false;             // see above
    // Buffered writes: bytes left to the page cache before they are streamed
    // to disk (capture/write_behind.h). UINT64_MAX: WriteBehind::DefaultBehind().
    uint64_t write_behind = UINT64_MAX;
  };
  // Makes DIR and opens the first file (named after the current wall time).
  static Result<std::unique_ptr<PcapWriter>> Open(const Options& opt);
  ~PcapWriter();  // flushes and closes

  // Appends one frame; ts_ns is wall-clock. caplen <= wire_len (caplen is cut
  // to snaplen). Returns false when the write failed (disk full, ...): the
  // frame (and any buffered ones) are counted in frames_lost().
  bool Write(int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len);
  // Appends frames[0, n) (their bytes unchanged until it returns) with the same result as n calls of Write(), but
  // hands the kernel the frames where they are (pwritev of each record's
  // header and the caller's bytes), not after a copy into the buffer: for a
  // caller that holds many frames in memory already (the inline capture's
  // ring). A frame that needs a new file, one cut to snaplen and every frame
  // under direct I/O go through Write(). Returns the frames written.
  size_t WriteFrames(const FrameRef* frames, size_t n);
  // Pushes buffered frames to the kernel. False when that failed (the
  // buffered frames are then counted in frames_lost()). Also notices when the
  // current file was deleted (someone freeing space): it is closed, and the
  // next Write() starts a new file instead of writing on into nothing.
  bool Flush();
  // Paths of every file this writer has made, oldest first.
  const std::vector<std::string>& files() const { return files_; }
  uint64_t frames_written() const { return frames_; }
  uint64_t frames_lost() const { return lost_; }
  // Of frames_lost(): those retention refused (the bounds were reached).
  uint64_t frames_refused() const { return refused_; }
  // The last open/write error, for diagnostics ("" when none).
  const std::string& last_error() const { return last_error_; }
  // True while no file is open after a failure (frames are being lost).
  bool failing() const { return fd_ < 0; }
  // Files found deleted while being written (see Flush()).
  uint64_t files_deleted() const { return files_deleted_; }
  // What Open() did to the newest earlier file of the series: "" when nothing,
  // else e.g. "DIR/inside-...pcap ended in a partial record: cut 517 bytes".
  const std::string& repaired() const { return repaired_; }

  // Cuts a partial last record off the pcap file at path (a write cut short by
  // a crash). Returns the bytes cut (0 when the file ends on a record boundary),
  // or an error when the file is not a pcap file or cannot be read/cut.
  static Result<uint64_t> TrimPartialRecord(const std::string& path);

 private:
  PcapWriter() = default;
  Status Rotate(int64_t ts_ns);
  bool NeedRotate(int64_t ts_ns, uint64_t record_bytes) const;
  static bool PwriteAll(int fd, const uint8_t* data, size_t len, uint64_t off);  // false: errno says why
  static bool PwritevAll(int fd, iovec* iov, int count, uint64_t off);   // changes iov; false: errno
  void DropUnflushed(bool refused);  // the frames since the last good flush are lost (or refused by retention)
  bool FlushBuffer();
  bool SubmitFull();   // direct: hands the buffer's whole blocks to io_thread_, goes on in the spare
  bool WaitIo();       // direct: waits for the write in flight; false (file closed) when it failed
  void DropWritten();  // buffered: tells behind_ what was written
  void IoLoop();
  void CloseBroken(const char* what, int err);
  void CloseCurrent();  // close fd_ and tell the disk
  bool Reserve(uint64_t n);
  void Landed(uint64_t n);  // after the write a true Reserve(n) allowed
  void RepairNewestFile();
  Options opt_;
  int fd_ = -1;               // current file, -1 when none
  int dfd_ = -1;              // the current file opened O_DIRECT, -1 when not writing direct
  bool direct_ok_ = true;     // false once the filesystem refused O_DIRECT
  std::unique_ptr<uint8_t[]> buf_store_;
  uint8_t* buf_ = nullptr;    // 4 KiB-aligned view of buf_store_: whole records not yet written...
  size_t buf_len_ = 0;
  size_t buf_keep_ = 0;       // ... after buf_[0, buf_keep_), already in the file (direct: its last partial block)
  uint64_t buf_off_ = 0;      // file offset of buf_[0] (direct: a multiple of 4 KiB)
  std::unique_ptr<WriteBehind> behind_;  // buffered writes: when written pages leave the page cache
  // Direct writes of full buffers run on io_thread_ while Write() fills the
  // other buffer (one write in flight at most).
  std::unique_ptr<uint8_t[]> spare_store_;
  uint8_t* spare_ = nullptr;
  std::thread io_thread_;
  std::mutex io_mu_;
  std::condition_variable io_cv_;
  bool io_busy_ = false;      // guarded by io_mu_: a job is in flight
  bool io_stop_ = false;      // guarded by io_mu_
  const uint8_t* io_data_ = nullptr;  // the job (guarded by io_mu_)
  size_t io_len_ = 0;
  uint64_t io_off_ = 0;
  int io_fd_ = -1;
  int io_err_ = 0;            // guarded by io_mu_: errno of the last job, 0 when it succeeded
  uint64_t cur_bytes_ = 0;
  uint64_t good_bytes_ = 0;   // size of the current file at its last good flush
  uint64_t cur_frames_ = 0;   // frames in the current file
  int64_t cur_start_ns_ = 0;  // first frame's time (open time while empty)
  uint32_t seq_ = 0;
  uint64_t frames_ = 0;
  uint64_t unflushed_ = 0;    // frames handed to stdio since the last good flush
  uint64_t lost_ = 0;
  uint64_t refused_ = 0;
  uint64_t files_deleted_ = 0;
  int64_t retry_after_ns_ = INT64_MIN;  // no new file before this frame time after a failure
  std::string last_error_;
  std::string repaired_;
  std::vector<std::string> files_;
};

}  // namespace hn
