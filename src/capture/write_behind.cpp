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

WriteBehind::File* WriteBehind::Find(uint64_t id) {
  for (File& f : files_)
    if (f.id == id) return &f;
  return nullptr;
}

void WriteBehind::Written(int fd, const std::string& path, uint64_t end) {
  if (files_.empty() || files_.back().fd != fd) files_.push_back(File{next_id_++, path, fd, 0, 0});
  File& cur = files_.back();
  if (end > cur.end) {
    backlog_ += end - cur.end;
    cur.end = end;
  }
  // Oldest first: whole chunks, and the tail of a file that is closed.
  while (backlog_ > behind_) {
    File* f = nullptr;
    for (File& c : files_)
      if (c.kicked < c.end) {
        f = &c;
        break;
      }
    if (f == nullptr) break;
    const uint64_t len = std::min(chunk_, f->end - f->kicked);
    if (len < chunk_ && f->fd >= 0) break;  // the current file's last partial chunk waits
    const int fd_now = f->fd >= 0 ? f->fd : Reopen(f->path);
    if (fd_now >= 0) {
      sync_file_range(fd_now, off_t(f->kicked), off_t(len), SYNC_FILE_RANGE_WRITE);
      if (fd_now != f->fd) close(fd_now);
      kicks_.push_back(Kick{f->id, f->kicked, len});
    }
    // A file that is gone (deleted by retention): nothing to write back.
    f->kicked += len;
    backlog_ -= len;
    while (kicks_.size() > 2) DropOldestKick();
  }
  ForgetDone();
}

void WriteBehind::DropOldestKick() {
  const Kick k = kicks_.front();
  kicks_.pop_front();
  File* f = Find(k.id);
  if (f == nullptr) return;
  const int fd_now = f->fd >= 0 ? f->fd : Reopen(f->path);
  if (fd_now < 0) return;
  sync_file_range(fd_now, off_t(k.off), off_t(k.len),
                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  posix_fadvise(fd_now, off_t(k.off), off_t(k.len), POSIX_FADV_DONTNEED);
  if (fd_now != f->fd) close(fd_now);
  chunks_dropped_++;
}

void WriteBehind::Closed() {
  if (!files_.empty() && files_.back().fd >= 0) files_.back().fd = -1;
  ForgetDone();
}

void WriteBehind::ForgetDone() {
  while (!files_.empty()) {
    const File& f = files_.front();
    if (f.fd >= 0 || f.kicked < f.end) return;
    const bool in_flight =
        std::any_of(kicks_.begin(), kicks_.end(), [&](const Kick& k) { return k.id == f.id; });
    if (in_flight) return;
    files_.pop_front();
  }
}

}  // namespace hn
