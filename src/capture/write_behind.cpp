// WriteBehind: see write_behind.h.
#include "capture/write_behind.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

namespace hn {

namespace {

// A descriptor for a file the writer has closed; -1 when it is gone.
int Reopen(const std::string& path) {
  return open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

}  // namespace

uint64_t WriteBehind::DefaultBehind() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  const uint64_t cap = 512ULL << 20;
  if (pages <= 0 || page <= 0) return 0;
  return std::min(cap, uint64_t(pages) * uint64_t(page) / 32);
}

void WriteBehind::Written(int fd, const std::string& path, uint64_t end) {
  if (files_.empty() || files_.back().fd != fd) files_.push_back(File{path, fd, 0, 0, 0});
  File& cur = files_.back();
  if (end > cur.end) {
    backlog_ += end - cur.end;
    cur.end = end;
  }
  // Oldest first: whole chunks, and the tail of a file that is closed.
  while (backlog_ > behind_) {
    auto f = std::find_if(files_.begin(), files_.end(), [](const File& c) { return c.kicked < c.end; });
    if (f == files_.end()) break;
    const uint64_t len = std::min(chunk_, f->end - f->kicked);
    if (len < chunk_ && f->fd >= 0) break;  // the current file's last partial chunk waits
    const int fd_now = f->fd >= 0 ? f->fd : Reopen(f->path);
    if (fd_now < 0) {  // gone (deleted by retention): nothing of it to write back or drop
      in_flight_ -= (f->kicked - f->dropped + chunk_ - 1) / chunk_;
      backlog_ -= f->end - f->kicked;
      f->dropped = f->kicked = f->end;
      continue;
    }
    sync_file_range(fd_now, off_t(f->kicked), off_t(len), SYNC_FILE_RANGE_WRITE);
    if (fd_now != f->fd) close(fd_now);
    in_flight_++;
    f->kicked += len;
    backlog_ -= len;
    while (in_flight_ > 2) DropOldestChunk();
  }
  ForgetDone();
}

void WriteBehind::DropOldestChunk() {
  auto f = std::find_if(files_.begin(), files_.end(), [](const File& c) { return c.dropped < c.kicked; });
  if (f == files_.end()) return;
  const uint64_t off = f->dropped;
  const uint64_t len = std::min(chunk_, f->kicked - off);
  f->dropped += len;
  in_flight_--;
  const int fd_now = f->fd >= 0 ? f->fd : Reopen(f->path);
  if (fd_now < 0) return;
  sync_file_range(fd_now, off_t(off), off_t(len),
                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  posix_fadvise(fd_now, off_t(off), off_t(len), POSIX_FADV_DONTNEED);
  if (fd_now != f->fd) close(fd_now);
  chunks_dropped_++;
}

void WriteBehind::Closed() {
  if (!files_.empty() && files_.back().fd >= 0) files_.back().fd = -1;
  ForgetDone();
}

void WriteBehind::ForgetDone() {
  while (!files_.empty() && files_.front().fd < 0 && files_.front().dropped == files_.front().end)
    files_.pop_front();
}

}  // namespace hn
