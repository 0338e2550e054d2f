// PcapWriter: see pcap_writer.h.
#include "capture/pcap_writer.h"

#include "capture/retention.h"
#include "common/thread_name.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace hn {

namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr uint64_t kFileHeaderBytes = 24;    // pcap global header
constexpr uint64_t kRecordHeaderBytes = 16;  // per-frame header on disk
constexpr size_t kBufferBytes = 1 << 20;     // a write() per ~700 full-size frames
constexpr size_t kAlign = 4096;              // O_DIRECT: buffer address, file offset and length
constexpr uint32_t kMagicNano = 0xa1b23c4d;  // classic pcap, nanosecond timestamps
constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kLinkEthernet = 1;        // DLT_EN10MB

// The classic pcap file header, host byte order (as libpcap writes it).
void FileHeader(uint8_t* out, uint32_t snaplen) {
  const uint32_t magic = kMagicNano;
  const uint16_t major = 2, minor = 4;
  const int32_t zone = 0;
  const uint32_t sigfigs = 0, link = kLinkEthernet;
  std::memcpy(out, &magic, 4);
  std::memcpy(out + 4, &major, 2);
  std::memcpy(out + 6, &minor, 2);
  std::memcpy(out + 8, &zone, 4);
  std::memcpy(out + 12, &sigfigs, 4);
  std::memcpy(out + 16, &snaplen, 4);
  std::memcpy(out + 20, &link, 4);
}

uint32_t Swap32(uint32_t v) { return __builtin_bswap32(v); }

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
  w->behind_ = std::make_unique<WriteBehind>(opt.write_behind == UINT64_MAX ? WriteBehind::DefaultBehind()
                                                                           : opt.write_behind);
  w->buf_store_.reset(new uint8_t[kBufferBytes + kAlign]);
  w->buf_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(w->buf_store_.get()) + kAlign - 1) &
                                       ~uintptr_t(kAlign - 1));
  w->RepairNewestFile();
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  st = w->Rotate(int64_t(now.tv_sec) * kNsPerSecond + now.tv_nsec);
  if (!st.ok()) return st;
  return w;
}

PcapWriter::~PcapWriter() {
  if (fd_ >= 0) {
    FlushBuffer();
    if (fd_ >= 0) CloseCurrent();
  }
  if (io_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(io_mu_);
      io_stop_ = true;
    }
    io_cv_.notify_all();
    io_thread_.join();
  }
}

// The direct-write helper: one job at a time, the buffer it was handed stays
// untouched by Write() until WaitIo() has seen the job done.
void PcapWriter::IoLoop() {
  std::unique_lock<std::mutex> lock(io_mu_);
  for (;;) {
    io_cv_.wait(lock, [&] { return io_stop_ || (io_busy_ && io_data_ != nullptr); });
    if (io_data_ == nullptr) return;  // stop, nothing in flight
    const uint8_t* data = io_data_;
    const size_t len = io_len_;
    const uint64_t off = io_off_;
    const int fd = io_fd_;
    lock.unlock();
    const bool ok = PwriteAll(fd, data, len, off);
    const int err = ok ? 0 : errno;
    lock.lock();
    io_err_ = err;
    io_data_ = nullptr;
    io_busy_ = false;
    io_cv_.notify_all();
  }
}

bool PcapWriter::WaitIo() {
  if (!io_thread_.joinable()) return true;
  int err;
  {
    std::unique_lock<std::mutex> lock(io_mu_);
    io_cv_.wait(lock, [&] { return !io_busy_; });
    err = io_err_;
    io_err_ = 0;
  }
  if (err != 0 && fd_ >= 0) {
    CloseBroken("pcap write", err);
    return false;
  }
  return true;
}

// Direct, buffer full: its whole blocks go to the helper thread, the rest
// (under 4 KiB, a record cut by the block edge) starts the spare buffer, and
// Write() goes on there. The frames stay "unflushed" (a failure of this write
// loses them, counted) until the next full FlushBuffer().
bool PcapWriter::SubmitFull() {
  if (!WaitIo()) return false;
  const size_t fresh = buf_len_ - buf_keep_;
  if (fresh > 0 && !Reserve(fresh)) return FlushBuffer();  // counts the refusal as FlushBuffer does
  const size_t aligned = buf_len_ & ~(kAlign - 1);
  if (!spare_store_) {
    spare_store_.reset(new uint8_t[kBufferBytes + kAlign]);
    spare_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(spare_store_.get()) + kAlign - 1) &
                                        ~uintptr_t(kAlign - 1));
  }
  if (!io_thread_.joinable()) io_thread_ = std::thread([this] {
    NameThread("pcap-io");
    IoLoop();
  });
  std::memcpy(spare_, buf_ + aligned, buf_len_ - aligned);
  {
    std::lock_guard<std::mutex> lock(io_mu_);
    io_data_ = buf_;
    io_len_ = aligned;
    io_off_ = buf_off_;
    io_fd_ = dfd_;
    io_busy_ = true;
  }
  io_cv_.notify_all();
  Landed(fresh);
  std::swap(buf_, spare_);
  std::swap(buf_store_, spare_store_);
  buf_off_ += aligned;
  buf_len_ -= aligned;
  // The bytes carried over are on disk only as far as a flush had written them.
  buf_keep_ = buf_keep_ > aligned ? buf_keep_ - aligned : 0;
  return true;
}

void PcapWriter::CloseCurrent() {
  if (io_thread_.joinable()) {  // the write in flight uses dfd_
    std::unique_lock<std::mutex> lock(io_mu_);
    io_cv_.wait(lock, [&] { return !io_busy_; });
  }
  behind_->Closed();
  close(fd_);
  fd_ = -1;
  if (dfd_ >= 0) close(dfd_);
  dfd_ = -1;
  if (opt_.disk != nullptr && !files_.empty()) opt_.disk->Closed(files_.back());
}

bool PcapWriter::Reserve(uint64_t n) {
  return opt_.disk == nullptr || opt_.disk->Reserve(n);
}

void PcapWriter::Landed(uint64_t n) {
  if (opt_.disk != nullptr) opt_.disk->Landed(n);
}

// The newest file of this series (names sort by start time, then sequence
// number) is the one a crashed run was writing: cut a torn last record off.
void PcapWriter::RepairNewestFile() {
  DIR* d = opendir(opt_.dir.c_str());
  if (d == nullptr) return;
  const std::string want = opt_.prefix + "-";
  std::string newest;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > want.size() + 5 && name.compare(0, want.size(), want) == 0 && name.ends_with(".pcap")) {
      // Longer names sort after shorter ones: sequence numbers past 9999 have more digits.
      if (newest.empty() || name.size() > newest.size() || (name.size() == newest.size() && name > newest))
        newest = name;
    }
  }
  closedir(d);
  if (newest.empty()) return;
  const std::string path = opt_.dir + "/" + newest;
  auto cut = TrimPartialRecord(path);
  if (!cut.ok()) {
    repaired_ = path + ": not checked: " + cut.status().message();
  } else if (cut.value() > 0) {
    repaired_ = path + " ended in a partial record (a crash while writing): cut " + std::to_string(cut.value()) +
                " bytes off, to its last whole frame";
  }
}

Result<uint64_t> PcapWriter::TrimPartialRecord(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::Error("cannot open " + path + ": " + strerror(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::Error(path + " is not a regular file");
  }
  const uint64_t size = uint64_t(st.st_size);
  if (size < kFileHeaderBytes) {  // not even the file header: nothing to keep
    close(fd);
    return Status::Error(path + " is shorter than a pcap file header (" + std::to_string(size) + " bytes)");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    const std::string err = strerror(errno);
    close(fd);
    return Status::Error("cannot read " + path + ": " + err);
  }
  const auto* p = static_cast<const uint8_t*>(map);
  uint32_t magic;
  std::memcpy(&magic, p, 4);
  bool swap = false;
  if (magic == Swap32(kMagicNano) || magic == Swap32(kMagicMicro)) {
    swap = true;
  } else if (magic != kMagicNano && magic != kMagicMicro) {
    munmap(map, size);
    close(fd);
    return Status::Error(path + " is not a classic pcap file");
  }
  uint64_t off = kFileHeaderBytes;
  while (size - off >= kRecordHeaderBytes) {
    uint32_t caplen;
    std::memcpy(&caplen, p + off + 8, 4);
    if (swap) caplen = Swap32(caplen);
    if (size - off - kRecordHeaderBytes < caplen) break;  // record runs past the end
    off += kRecordHeaderBytes + caplen;
  }
  munmap(map, size);
  Result<uint64_t> out = uint64_t(0);
  if (off < size) {
    if (ftruncate(fd, off_t(off)) != 0) out = Status::Error("cannot cut " + path + " back: " + strerror(errno));
    else out = size - off;
  }
  close(fd);
  return out;
}

// Writes all of data at offset off of fd; false (errno set) when the kernel
// refused part of it.
bool PcapWriter::PwriteAll(int fd, const uint8_t* data, size_t len, uint64_t off) {
  iovec one{const_cast<uint8_t*>(data), len};
  return PwritevAll(fd, &one, 1, off);
}

// Writes all of a gather list at offset off of fd; false (errno set) when the
// kernel refused part of it. Advances iov past what each pwritev() took (a
// short write resumes inside a record).
bool PcapWriter::PwritevAll(int fd, iovec* iov, int count, uint64_t off) {
  while (count > 0) {
    const ssize_t n = pwritev(fd, iov, std::min(count, 1024), off_t(off));  // 1024: IOV_MAX on Linux
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = ENOSPC;
      return false;
    }
    off += uint64_t(n);
    size_t left = size_t(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      iov->iov_base = static_cast<uint8_t*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

// Opens the next file (never overwriting one) and, on success, closes the
// current one. On failure the current file, if any, stays in use.
Status PcapWriter::Rotate(int64_t ts_ns) {
  int fd = -1;
  std::string path;
  if (!Reserve(kFileHeaderBytes)) {
    last_error_ = "no room for a new file within capture.max_total / capture.min_free";
    return Status::Error(last_error_);
  }
  for (int attempt = 0; attempt < 10000; attempt++) {
    path = FileName(opt_.dir, opt_.prefix, ts_ns, seq_);
    seq_++;
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) {
    Landed(kFileHeaderBytes);
    last_error_ = "cannot create " + path + ": " + strerror(errno);
    return Status::Error(last_error_ + " (check capture.dir: exists, writable, not full)");
  }
  // The file header goes to disk at once: a good (empty) pcap file from the start.
  uint8_t header[kFileHeaderBytes];
  FileHeader(header, opt_.snaplen);
  ssize_t n;
  do {
    n = write(fd, header, sizeof header);
  } while (n < 0 && errno == EINTR);
  Landed(kFileHeaderBytes);
  if (n != ssize_t(sizeof header)) {
    last_error_ = "cannot write " + path + ": " + strerror(n < 0 ? errno : ENOSPC);
    close(fd);
    unlink(path.c_str());
    return Status::Error(last_error_ + " (check capture.dir: writable, not full)");
  }
  if (opt_.disk != nullptr) opt_.disk->Opened(path);
  if (fd_ >= 0) {
    FlushBuffer();
    if (fd_ >= 0) CloseCurrent();
  }
  fd_ = fd;
  cur_bytes_ = kFileHeaderBytes;
  good_bytes_ = kFileHeaderBytes;
  cur_frames_ = 0;
  cur_start_ns_ = ts_ns;
  unflushed_ = 0;
  buf_len_ = 0;
  buf_keep_ = 0;
  buf_off_ = kFileHeaderBytes;
  // Direct writes (see the header): a second descriptor with O_DIRECT, and
  // the buffer starts at offset 0 with the header already on disk in it.
  if (opt_.direct_io && direct_ok_) {
    dfd_ = open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);
    if (dfd_ < 0) {
      direct_ok_ = false;  // e.g. tmpfs: EINVAL; buffered from now on
    } else {
      std::memcpy(buf_, header, sizeof header);
      buf_len_ = buf_keep_ = sizeof header;
      buf_off_ = 0;
    }
  }
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

// Gives up the current file after a write error. The frames since the last
// good flush are lost; the file is cut back to that point so it ends with a
// whole record (and holds exactly frames_written() of this file's frames).
// The next Write() starts a new file.
void PcapWriter::CloseBroken(const char* what, int err) {
  const std::string path = files_.back();
  last_error_ = std::string(what) + " failed on " + path + ": " + strerror(err);
  lost_ += unflushed_;
  frames_ -= unflushed_;
  unflushed_ = 0;
  buf_len_ = buf_keep_ = 0;
  if (ftruncate(fd_, off_t(good_bytes_)) != 0)
    last_error_ += "; could not cut it back: " + std::string(strerror(errno));
  CloseCurrent();
}

// Retention has no room: the frames since the last good flush are dropped;
// the file stays as it was then (whole records) and open.
void PcapWriter::DropUnflushed(bool refused) {
  if (refused)
    last_error_ = "capture.max_total / capture.min_free reached with no closed capture file left to delete";
  lost_ += unflushed_;
  if (refused) refused_ += unflushed_;
  frames_ -= unflushed_;
  cur_frames_ -= unflushed_;
  cur_bytes_ = good_bytes_;
  unflushed_ = 0;
}

bool PcapWriter::FlushBuffer() {
  if (fd_ < 0) return true;
  if (!WaitIo()) return false;
  const size_t fresh = buf_len_ - buf_keep_;  // bytes not on disk yet
  if (fresh > 0 && !Reserve(fresh)) {
    DropUnflushed(/*refused=*/true);
    buf_len_ = buf_keep_;
    return false;
  }
  if (fresh > 0) {
    bool ok;
    if (dfd_ >= 0) {
      // Whole aligned blocks straight to the disk, the rest (under 4 KiB)
      // through the page cache so the file holds every record now; that rest
      // stays in the buffer and goes out again, direct, with the next block.
      const size_t aligned = buf_len_ & ~(kAlign - 1);
      ok = PwriteAll(dfd_, buf_, aligned, buf_off_);
      if (!ok && errno == EINVAL) {
        // The filesystem takes O_DIRECT opens but not these writes: buffered from now on.
        close(dfd_);
        dfd_ = -1;
        direct_ok_ = false;
        ok = PwriteAll(fd_, buf_ + buf_keep_, fresh, buf_off_ + buf_keep_);
        buf_off_ += buf_len_;
        buf_len_ = buf_keep_ = 0;
      } else {
        if (ok && buf_len_ > aligned) ok = PwriteAll(fd_, buf_ + aligned, buf_len_ - aligned, buf_off_ + aligned);
        std::memmove(buf_, buf_ + aligned, buf_len_ - aligned);
        buf_off_ += aligned;
        buf_len_ -= aligned;
        buf_keep_ = buf_len_;
      }
    } else {
      ok = PwriteAll(fd_, buf_ + buf_keep_, fresh, buf_off_ + buf_keep_);
      buf_off_ += buf_len_;
      buf_len_ = buf_keep_ = 0;
    }
    const int err = errno;
    Landed(fresh);
    if (!ok) {
      CloseBroken("pcap write", err);
      return false;
    }
  }
  unflushed_ = 0;
  good_bytes_ = cur_bytes_;
  DropWritten();
  return true;
}

// Buffered writes: pcap bytes are written once and read, if ever, much later;
// WriteBehind decides when they go to writeback and leave the page cache.
void PcapWriter::DropWritten() {
  if (dfd_ >= 0 || fd_ < 0) return;
  behind_->Written(fd_, files_.back(), buf_off_ + buf_len_);
}

bool PcapWriter::Write(int64_t ts_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
  if (caplen > opt_.snaplen) caplen = opt_.snaplen;
  if (wire_len < caplen) wire_len = caplen;
  const uint64_t record = kRecordHeaderBytes + caplen;
  if (fd_ < 0 || NeedRotate(ts_ns, record)) {
    // After a failed open, try again only a second (of frame time) later, so
    // a full disk does not cost an open() per frame.
    if (ts_ns >= retry_after_ns_ || ts_ns < retry_after_ns_ - 2 * kNsPerSecond) {
      if (Rotate(ts_ns).ok()) {
        retry_after_ns_ = INT64_MIN;
      } else {
        retry_after_ns_ = ts_ns + kNsPerSecond;
      }
    }
    if (fd_ < 0) {
      lost_++;
      return false;
    }
  }
  if (cur_frames_ == 0) cur_start_ns_ = ts_ns;

  int64_t sec, frac;
  SplitNs(ts_ns, &sec, &frac);
  const uint32_t hdr[4] = {uint32_t(sec), uint32_t(frac), caplen, wire_len};
  if (buf_len_ + record > kBufferBytes && !(dfd_ >= 0 && record <= kBufferBytes ? SubmitFull() : FlushBuffer())) {
    lost_++;
    return false;
  }
  if (record > kBufferBytes) {
    // Larger than the buffer (snaplen over 1 MiB): one write of the whole record.
    if (!Reserve(record)) {
      lost_++;
      refused_++;
      return false;
    }
    // Goes after what the buffer holds (FlushBuffer above wrote it), through
    // the page cache; direct writes stop for this file (the buffer would no
    // longer end where the file does).
    if (!FlushBuffer()) {
      lost_++;
      return false;
    }
    if (dfd_ >= 0) {
      close(dfd_);
      dfd_ = -1;
    }
    const uint64_t at = buf_off_ + buf_len_;
    buf_off_ = at + record;
    buf_len_ = buf_keep_ = 0;
    iovec iov[2] = {{const_cast<uint32_t*>(hdr), sizeof hdr}, {const_cast<uint8_t*>(data), caplen}};
    ssize_t n;
    do {
      n = pwritev(fd_, iov, 2, off_t(at));
    } while (n < 0 && errno == EINTR);
    const int err = errno;
    Landed(record);
    errno = err;
    if (n != ssize_t(record)) {
      CloseBroken("pcap write", n < 0 ? errno : ENOSPC);
      lost_++;
      return false;
    }
    frames_++;
    cur_frames_++;
    cur_bytes_ += record;
    good_bytes_ = cur_bytes_;
    return true;
  }
  std::memcpy(buf_ + buf_len_, hdr, sizeof hdr);
  std::memcpy(buf_ + buf_len_ + sizeof hdr, data, caplen);
  buf_len_ += record;
  frames_++;
  unflushed_++;
  cur_frames_++;
  cur_bytes_ += record;
  return true;
}

// Runs of up to kRun frames, each one pwritev() straight from the caller's
// memory: the capture thread's copy of every byte into the buffer was as
// costly as the kernel's copy into the page cache (docs/performance.md).
// The accounting is Write()'s: a run's frames are "unflushed" until the
// write lands, and a failed or refused run is lost as a failed flush is.
size_t PcapWriter::WriteFrames(const FrameRef* frames, size_t n) {
  constexpr size_t kRun = 256;  // 2 iovecs per frame, within IOV_MAX
  uint32_t hdr[kRun][4];
  iovec iov[2 * kRun];
  size_t written = 0;
  size_t i = 0;
  auto one_by_one = [&](const FrameRef& f) {
    if (Write(f.ts_ns, f.data, f.caplen, f.wire_len)) written++;
  };
  while (i < n) {
    // Opening a file (and its retry pacing) and direct I/O are Write()'s.
    if (fd_ < 0 || dfd_ >= 0) {
      one_by_one(frames[i++]);
      continue;
    }
    if (buf_len_ > buf_keep_ && !FlushBuffer()) continue;  // file closed: Write() takes the frame above
    size_t k = 0;
    uint64_t bytes = 0;
    while (i + k < n && k < kRun) {
      const FrameRef& f = frames[i + k];
      const uint64_t record = kRecordHeaderBytes + f.caplen;
      if (f.caplen > opt_.snaplen || NeedRotate(f.ts_ns, record)) break;
      if (cur_frames_ == 0) cur_start_ns_ = f.ts_ns;
      int64_t sec, frac;
      SplitNs(f.ts_ns, &sec, &frac);
      hdr[k][0] = uint32_t(sec);
      hdr[k][1] = uint32_t(frac);
      hdr[k][2] = f.caplen;
      hdr[k][3] = std::max(f.wire_len, f.caplen);
      iov[2 * k] = {hdr[k], kRecordHeaderBytes};
      iov[2 * k + 1] = {const_cast<uint8_t*>(f.data), f.caplen};
      frames_++;
      unflushed_++;
      cur_frames_++;
      cur_bytes_ += record;
      bytes += record;
      k++;
    }
    if (k == 0) {  // frames[i] needs a new file or a cut to snaplen: Write()'s
      one_by_one(frames[i++]);
      continue;
    }
    i += k;
    if (!Reserve(bytes)) {
      DropUnflushed(/*refused=*/true);
      continue;
    }
    const bool ok = PwritevAll(fd_, iov, int(2 * k), buf_off_);
    const int err = errno;
    Landed(bytes);
    if (!ok) {
      CloseBroken("pcap write", err);
      continue;
    }
    buf_off_ += bytes;
    unflushed_ = 0;
    good_bytes_ = cur_bytes_;
    written += k;
    DropWritten();
  }
  return written;
}

bool PcapWriter::Flush() {
  if (!FlushBuffer()) return false;
  struct stat st{};
  if (fd_ >= 0 && fstat(fd_, &st) == 0 && st.st_nlink == 0) {
    // Deleted under us: what is written goes nowhere, and its space comes back
    // only when we close it. Start a new file with the next frame.
    last_error_ = files_.back() + " was deleted while being written (its " + std::to_string(cur_frames_) +
                  " frames are gone with it)";
    CloseCurrent();
    files_deleted_++;
    retry_after_ns_ = INT64_MIN;
  }
  return true;
}

}  // namespace hn
