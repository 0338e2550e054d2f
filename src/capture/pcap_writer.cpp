// PcapWriter: see pcap_writer.h.
#include "capture/pcap_writer.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace hn {

namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr uint64_t kFileHeaderBytes = 24;    // pcap global header
constexpr uint64_t kRecordHeaderBytes = 16;  // per-frame header on disk

pcap_t* Pcap(void* p) { return static_cast<pcap_t*>(p); }
pcap_dumper_t* Dumper(void* p) { return static_cast<pcap_dumper_t*>(p); }

// Splits ns into seconds and the nanoseconds within them (floor, also for < 0).
void SplitNs(int64_t ns, int64_t* sec, int64_t* frac) {
  *sec = ns / kNsPerSecond;
  *frac = ns % kNsPerSecond;
  if (*frac < 0) {
    *frac += kNsPerSecond;
    *sec -= 1;
  }
}

// "PREFIX-YYYYmmddTHHMMSSZ-NNNN.pcap" in dir.
std::string FileName(const std::string& dir, const std::string& prefix, int64_t ts_ns, uint32_t seq) {
  int64_t sec, frac;
  SplitNs(ts_ns, &sec, &frac);
  time_t t = time_t(sec);
  tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  char name[64];
  snprintf(name, sizeof name, "-%s-%04u.pcap", stamp, seq);
  return dir + "/" + prefix + name;
}

}  // namespace

Status MakeDirectories(const std::string& dir) {
  if (dir.empty()) return Status::Error("capture directory is empty: set capture.dir");
  std::string cur;
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t slash = dir.find('/', pos);
    if (slash == std::string::npos) slash = dir.size();
    cur = dir.substr(0, slash);
    pos = slash + 1;
    if (cur.empty()) continue;  // leading '/'
    if (mkdir(cur.c_str(), 0750) != 0 && errno != EEXIST)
      return Status::Error("cannot make directory " + cur + ": " + strerror(errno) +
                           " (check capture.dir and its permissions)");
  }
  struct stat st{};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::Error(dir + " is not a directory (check capture.dir)");
  return Status::Ok();
}

Result<std::unique_ptr<PcapWriter>> PcapWriter::Open(const Options& opt) {
  if (opt.prefix.empty() || opt.prefix.find('/') != std::string::npos)
    return Status::Error("pcap file prefix '" + opt.prefix + "' must be a plain non-empty name");
  if (opt.snaplen == 0) return Status::Error("pcap snaplen must be > 0");
  Status st = MakeDirectories(opt.dir);
  if (!st.ok()) return st;
  std::unique_ptr<PcapWriter> w(new PcapWriter());
  w->opt_ = opt;
  w->pcap_ = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, int(opt.snaplen), PCAP_TSTAMP_PRECISION_NANO);
  if (w->pcap_ == nullptr) return Status::Error("libpcap could not make a dead handle (out of memory?)");
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  st = w->Rotate(int64_t(now.tv_sec) * kNsPerSecond + now.tv_nsec);
  if (!st.ok()) return st;
  return w;
}

PcapWriter::~PcapWriter() {
  if (dumper_ != nullptr) {
    Flush();
    if (dumper_ != nullptr) pcap_dump_close(Dumper(dumper_));
  }
  if (pcap_ != nullptr) pcap_close(Pcap(pcap_));
}

// Opens the next file (never overwriting one) and, on success, closes the
// current one. On failure the current file, if any, stays in use.
Status PcapWriter::Rotate(int64_t ts_ns) {
  int fd = -1;
  std::string path;
  for (int attempt = 0; attempt < 10000; attempt++) {
    path = FileName(opt_.dir, opt_.prefix, ts_ns, seq_);
    seq_++;
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) {
    last_error_ = "cannot create " + path + ": " + strerror(errno);
    return Status::Error(last_error_ + " (check capture.dir: exists, writable, not full)");
  }
  FILE* f = fdopen(fd, "w");
  if (f == nullptr) {
    last_error_ = "fdopen " + path + ": " + strerror(errno);
    close(fd);
    unlink(path.c_str());
    return Status::Error(last_error_);
  }
  // 1 MiB of stdio buffer: a write() per ~700 full-size frames instead of per ~3.
  setvbuf(f, nullptr, _IOFBF, 1 << 20);
  pcap_dumper_t* d = pcap_dump_fopen(Pcap(pcap_), f);  // writes the file header
  if (d == nullptr) {
    last_error_ = "libpcap cannot write " + path + ": " + pcap_geterr(Pcap(pcap_));
    fclose(f);
    unlink(path.c_str());
    return Status::Error(last_error_);
  }
  if (pcap_dump_flush(d) != 0) {  // the header on disk now: a good file from the start
    last_error_ = "cannot write " + path + ": " + strerror(errno);
    pcap_dump_close(d);
    unlink(path.c_str());
    return Status::Error(last_error_ + " (check capture.dir: writable, not full)");
  }
  if (dumper_ != nullptr) {
    Flush();
    if (dumper_ != nullptr) pcap_dump_close(Dumper(dumper_));
  }
  dumper_ = d;
  cur_bytes_ = kFileHeaderBytes;
  good_bytes_ = kFileHeaderBytes;
  cur_frames_ = 0;
  cur_start_ns_ = ts_ns;
  unflushed_ = 0;
  files_.push_back(path);
  return Status::Ok();
}

bool PcapWriter::NeedRotate(int64_t ts_ns, uint64_t record_bytes) const {
  if (cur_frames_ == 0) return false;  // a frame always fits an empty file
  if (opt_.rotate_bytes != 0 && cur_bytes_ + record_bytes > opt_.rotate_bytes) return true;
  if (opt_.rotate_ns > 0) {
    // Forward by a period, or backward by one (the clock was set back).
    if (ts_ns - cur_start_ns_ >= opt_.rotate_ns || cur_start_ns_ - ts_ns >= opt_.rotate_ns) return true;
  }
  return false;
}

// Gives up the current file after a write/flush error. The frames since the
// last good flush are lost; the file is cut back to that point so it ends
// with a whole record (and holds exactly frames_written() of this file's
// frames). The next Write() starts a new file.
void PcapWriter::CloseBroken(const char* what) {
  const std::string path = files_.back();
  last_error_ = std::string(what) + " failed on " + path + ": " + strerror(errno);
  lost_ += unflushed_;
  frames_ -= unflushed_;
  unflushed_ = 0;
  pcap_dump_close(Dumper(dumper_));  // may write a bit more of the buffer: cut below
  dumper_ = nullptr;
  if (truncate(path.c_str(), off_t(good_bytes_)) != 0) last_error_ += "; could not cut it back: " + std::string(strerror(errno));
}

bool PcapWriter::Write(int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
  if (caplen > opt_.snaplen) caplen = opt_.snaplen;
  if (wire_len < caplen) wire_len = caplen;
  const uint64_t record = kRecordHeaderBytes + caplen;
  if (dumper_ == nullptr || NeedRotate(ts_ns, record)) {
    // After a failed open, try again only a second (of frame time) later, so
    // a full disk does not cost an open() per frame.
    if (ts_ns >= retry_after_ns_ || ts_ns < retry_after_ns_ - 2 * kNsPerSecond) {
      if (Rotate(ts_ns).ok()) {
        retry_after_ns_ = INT64_MIN;
      } else {
        retry_after_ns_ = ts_ns + kNsPerSecond;
      }
    }
    if (dumper_ == nullptr) {
      lost_++;
      return false;
    }
  }
  if (cur_frames_ == 0) cur_start_ns_ = ts_ns;

  pcap_pkthdr h{};
  int64_t sec, frac;
  SplitNs(ts_ns, &sec, &frac);
  h.ts.tv_sec = time_t(sec);
  h.ts.tv_usec = suseconds_t(frac);  // nanoseconds: the handle has nano precision
  h.caplen = caplen;
  h.len = wire_len;
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, data);
  FILE* f = pcap_dump_file(Dumper(dumper_));
  if (ferror(f)) {
    CloseBroken("pcap write");
    lost_++;
    return false;
  }
  frames_++;
  unflushed_++;
  cur_frames_++;
  cur_bytes_ += record;
  return true;
}

bool PcapWriter::Flush() {
  if (dumper_ == nullptr) return true;
  if (pcap_dump_flush(Dumper(dumper_)) != 0 || ferror(pcap_dump_file(Dumper(dumper_)))) {
    CloseBroken("pcap flush");
    return false;
  }
  unflushed_ = 0;
  good_bytes_ = cur_bytes_;
  return true;
}

}  // namespace hn
