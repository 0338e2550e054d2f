// Capture retention: keeps the capture directory within `[capture] max_total`,
// `max_age` and `min_free` (docs/capture.md#retention), so that the disk never
// fills because of capture.
//
// Two parts:
//   - PlanDeletions(): pure. Given the files of the directory, the policy and
//     the filesystem's numbers, which files go (oldest first; never an open
//     file, never one that is kept, e.g. budgets.json or the current
//     events.json). Unit-tested without a disk.
//   - CaptureDisk: the one object every capture writer of a honeywall shares.
//     A writer calls Reserve(n) before it hands n bytes to the kernel; Reserve
//     deletes the oldest closed files until the bytes fit, or refuses (the
//     writer then drops them and counts them lost: capture never overruns the
//     bounds). Sweep() (once a second, from the event thread) applies
//     max_age and picks up what other processes wrote (TTY logs).
//     Every deletion is kept for TakeDeletions(), which the event writer turns
//     into events (no callbacks: a writer may hold its own locks).
//
// Who may call: CaptureDisk is thread-safe (one mutex; Reserve is called once
// per flushed buffer, about 1 MiB, not per frame).
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace hn {

struct RetentionPolicy {
  uint64_t max_total = 0;      // bytes of all capture files; 0 = no limit
  int64_t max_age_ns = 0;      // files older than this go; 0 = no limit
  uint64_t min_free = 0;       // bytes the filesystem keeps free; 0 = none
  double min_free_pct = 0;     // or a percentage of the filesystem (0-100)
  bool any() const { return max_total != 0 || max_age_ns != 0 || min_free != 0 || min_free_pct > 0; }
};

struct CaptureFileInfo {
  std::string path;
  uint64_t bytes = 0;        // space it takes (allocated blocks)
  int64_t mtime_ns = 0;
  bool deletable = false;    // closed and not kept (see CaptureDisk)
};

struct FsSpace {
  uint64_t total = 0;  // bytes of the filesystem
  uint64_t avail = 0;  // bytes free for us
};

struct PlannedDeletion {
  size_t index;        // into the files given
  const char* reason;  // "max_total", "min_free" or "max_age"
};

// Which files to delete so that `incoming` more bytes fit: first every
// deletable file older than max_age, then the oldest deletable files (by
// mtime, then path) until total + incoming <= max_total and avail - incoming
// >= the free-space floor. *fits says whether the bounds hold after it.
std::vector<PlannedDeletion> PlanDeletions(const std::vector<CaptureFileInfo>& files, const RetentionPolicy& p,
                                           int64_t now_ns, FsSpace fs, uint64_t incoming, bool* fits);

// The free-space floor in bytes for a filesystem of `total` bytes.
uint64_t MinFreeBytes(const RetentionPolicy& p, uint64_t total);

// What a writer's rotation size should be at most, so that open files (which
// are never deleted) cannot take the whole allowance: an eighth of it (at
// least 64 KiB). 0 when the policy sets no size bound.
uint64_t RotateCap(const RetentionPolicy& p, uint64_t fs_total);

struct RetentionDeletion {
  std::string path;
  uint64_t bytes;
  const char* reason;
  int64_t ts_ns;
};

class CaptureDisk {
 public:
  // dir: the capture directory (its files and those of dir/tty count).
  // keep: file names (in dir) never deleted, e.g. "budgets.json", "events.json".
  CaptureDisk(std::string dir, RetentionPolicy policy, std::vector<std::string> keep);
  ~CaptureDisk();

  const RetentionPolicy& policy() const { return policy_; }
  // RotateCap() for this directory's filesystem (0 = no cap).
  uint64_t rotate_cap() const { return rotate_cap_; }

  // A writer opened / closed path: open files are never deleted.
  void Opened(const std::string& path);
  void Closed(const std::string& path);

  // Makes room for n more bytes; false when they do not fit the bounds even
  // with every deletable file gone (the caller drops them). After a true
  // Reserve(n) the caller writes and then calls Landed(n), also when the
  // write failed: until then the bytes count against the free-space floor as
  // if written, so that two writers reserving at once cannot both pass a
  // floor that only one of them fits (the file system's free count only
  // drops once the bytes are there).
  bool Reserve(uint64_t n);
  void Landed(uint64_t n);

  // Applies max_age and re-reads the directory (files others wrote or
  // deleted). Call about once a second.
  void Sweep();

  // Deletions since the last call, oldest first.
  std::vector<RetentionDeletion> TakeDeletions();

  uint64_t deleted_files() const;
  uint64_t deleted_bytes() const;
  uint64_t refused_bytes() const;  // bytes writers had to drop
  uint64_t total_bytes() const;    // capture bytes as last counted

 private:
  std::vector<CaptureFileInfo> Scan() const;  // caller holds mu_
  FsSpace Space() const;
  bool Enforce(uint64_t incoming, bool age_only);  // caller holds mu_

  const std::string dir_;
  const RetentionPolicy policy_;
  const std::set<std::string> keep_;
  int dir_fd_ = -1;
  uint64_t rotate_cap_ = 0;
  mutable std::mutex mu_;
  std::set<std::string> open_;
  uint64_t total_ = 0;  // as of the last scan, plus what was reserved since
  uint64_t inflight_ = 0;  // reserved, not yet Landed()
  uint64_t deleted_files_ = 0, deleted_bytes_ = 0, refused_bytes_ = 0;
  std::vector<RetentionDeletion> pending_;
};

}  // namespace hn
