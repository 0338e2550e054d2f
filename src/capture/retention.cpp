// Capture retention: see retention.h. Sizes are what the files take on disk
// (the larger of their length and their allocated blocks), so the bound holds
// for `du` as well as for `ls -l`.
#include "capture/retention.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace hn {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMinRotateCap = 64 * 1024;

int64_t WallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t RoundUp(uint64_t n) { return (n + kPage - 1) / kPage * kPage; }
// What n bytes appended to a file may take from the free count: whole pages,
// plus the page the file's last partial page spills into.
uint64_t FreeCost(uint64_t n) { return RoundUp(n) + kPage; }

}  // namespace

uint64_t MinFreeBytes(const RetentionPolicy& p, uint64_t total) {
  uint64_t pct = 0;
  if (p.min_free_pct > 0) pct = uint64_t(double(total) * std::min(p.min_free_pct, 100.0) / 100.0);
  return std::max(p.min_free, pct);
}

uint64_t RotateCap(const RetentionPolicy& p, uint64_t fs_total) {
  uint64_t allowance = p.max_total;
  const uint64_t floor = MinFreeBytes(p, fs_total);
  if (floor > 0 && fs_total > floor) {
    const uint64_t usable = fs_total - floor;
    allowance = allowance == 0 ? usable : std::min(allowance, usable);
  }
  if (allowance == 0) return 0;
  return std::max(allowance / 8, kMinRotateCap);
}

std::vector<PlannedDeletion> PlanDeletions(const std::vector<CaptureFileInfo>& files, const RetentionPolicy& p,
                                           int64_t now_ns, FsSpace fs, uint64_t incoming, bool* fits) {
  std::vector<size_t> order;
  uint64_t total = 0;
  for (size_t i = 0; i < files.size(); i++) {
    total += files[i].bytes;
    if (files[i].deletable) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (files[a].mtime_ns != files[b].mtime_ns) return files[a].mtime_ns < files[b].mtime_ns;
    return files[a].path < files[b].path;
  });
  const uint64_t floor = MinFreeBytes(p, fs.total);
  uint64_t avail = fs.avail;
  auto over_total = [&] { return p.max_total != 0 && total + incoming > p.max_total; };
  auto under_free = [&] { return floor != 0 && (avail < incoming || avail - incoming < floor); };

  std::vector<PlannedDeletion> out;
  std::vector<bool> taken(files.size(), false);
  auto take = [&](size_t i, const char* why) {
    taken[i] = true;
    total -= files[i].bytes;
    avail += files[i].bytes;
    out.push_back({i, why});
  };
  if (p.max_age_ns > 0)
    for (size_t i : order)
      if (now_ns - files[i].mtime_ns > p.max_age_ns) take(i, "max_age");
  for (size_t i : order) {
    if (taken[i]) continue;
    if (over_total()) {
      take(i, "max_total");
    } else if (under_free()) {
      take(i, "min_free");
    } else {
      break;
    }
  }
  if (fits) *fits = !over_total() && !under_free();
  return out;
}

CaptureDisk::CaptureDisk(std::string dir, RetentionPolicy policy, std::vector<std::string> keep)
    : dir_(std::move(dir)), policy_(policy), keep_(keep.begin(), keep.end()) {
  dir_fd_ = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  rotate_cap_ = RotateCap(policy_, Space().total);
  std::lock_guard<std::mutex> lock(mu_);
  for (const CaptureFileInfo& f : Scan()) total_ += f.bytes;
}

CaptureDisk::~CaptureDisk() {
  if (dir_fd_ >= 0) close(dir_fd_);
}

FsSpace CaptureDisk::Space() const {
  FsSpace s;
  struct statvfs v{};
  if (dir_fd_ >= 0 && fstatvfs(dir_fd_, &v) == 0) {
    s.total = uint64_t(v.f_blocks) * v.f_frsize;
    s.avail = uint64_t(v.f_bavail) * v.f_frsize;
  }
  return s;
}

std::vector<CaptureFileInfo> CaptureDisk::Scan() const {
  std::vector<CaptureFileInfo> out;
  auto scan = [&](const std::string& d, bool top) {
    DIR* dp = opendir(d.c_str());
    if (dp == nullptr) return;
    while (dirent* e = readdir(dp)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string path = d + "/" + name;
      struct stat st{};
      if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      CaptureFileInfo f;
      f.path = path;
      f.bytes = std::max(uint64_t(st.st_size), uint64_t(st.st_blocks) * 512);
      f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      // Deletable: closed files of ours in the top directory. TTY logs are
      // written by the guests (we cannot tell whether one is still open) and
      // temporary files are someone's write in progress: counted, kept.
      const bool tmp = name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
      f.deletable = top && !tmp && keep_.count(name) == 0 && open_.count(path) == 0;
      out.push_back(std::move(f));
    }
    closedir(dp);
  };
  scan(dir_, true);
  scan(dir_ + "/tty", false);
  return out;
}

bool CaptureDisk::Enforce(uint64_t incoming, bool age_only) {
  const std::vector<CaptureFileInfo> files = Scan();
  const FsSpace fs = Space();
  RetentionPolicy p = policy_;
  if (age_only) p.max_total = 0, p.min_free = 0, p.min_free_pct = 0;
  bool fits = true;
  // Bytes reserved but not yet written are in neither the files nor the free
  // count: they are planned for as if they came with this request.
  const std::vector<PlannedDeletion> plan = PlanDeletions(files, p, WallNowNs(), fs, incoming + inflight_, &fits);
  uint64_t total = 0;
  for (const CaptureFileInfo& f : files) total += f.bytes;
  for (const PlannedDeletion& d : plan) {
    const CaptureFileInfo& f = files[d.index];
    if (unlink(f.path.c_str()) != 0) {
      fits = false;  // someone else's file, or gone: count it as still there
      continue;
    }
    total -= f.bytes;
    deleted_files_++;
    deleted_bytes_ += f.bytes;
    pending_.push_back({f.path, f.bytes, d.reason, WallNowNs()});
  }
  total_ = total + inflight_;
  return fits;
}

void CaptureDisk::Opened(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.insert(path);
}

void CaptureDisk::Closed(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(path);
}

bool CaptureDisk::Reserve(uint64_t n) {
  if (policy_.max_total == 0 && policy_.min_free == 0 && policy_.min_free_pct <= 0) return true;
  // Rounded up to whole pages: the count may only be too high, never too low.
  const uint64_t want = RoundUp(n);
  std::lock_guard<std::mutex> lock(mu_);
  bool fits = policy_.max_total == 0 || total_ + want <= policy_.max_total;
  if (fits && (policy_.min_free != 0 || policy_.min_free_pct > 0)) {
    const FsSpace fs = Space();
    const uint64_t floor = MinFreeBytes(policy_, fs.total);
    const uint64_t cost = inflight_ + FreeCost(n);
    fits = fs.avail >= cost && fs.avail - cost >= floor;
  }
  if (!fits) fits = Enforce(FreeCost(n), false);
  if (!fits) {
    refused_bytes_ += n;
    return false;
  }
  total_ += want;
  inflight_ += FreeCost(n);
  return true;
}

void CaptureDisk::Landed(uint64_t n) {
  if (policy_.max_total == 0 && policy_.min_free == 0 && policy_.min_free_pct <= 0) return;
  const uint64_t cost = FreeCost(n);
  std::lock_guard<std::mutex> lock(mu_);
  inflight_ -= std::min(inflight_, cost);
}

void CaptureDisk::Sweep() {
  std::lock_guard<std::mutex> lock(mu_);
  Enforce(0, policy_.max_total == 0 && policy_.min_free == 0 && policy_.min_free_pct <= 0);
}

std::vector<RetentionDeletion> CaptureDisk::TakeDeletions() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RetentionDeletion> out;
  out.swap(pending_);
  return out;
}

uint64_t CaptureDisk::deleted_files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deleted_files_;
}
uint64_t CaptureDisk::deleted_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deleted_bytes_;
}
uint64_t CaptureDisk::refused_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refused_bytes_;
}
uint64_t CaptureDisk::total_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace hn
