// TTY capture of namespace honeypots with eBPF: loading the embedded program
// (bpf/tty_capture.bpf.c), polling its ring buffer, and turning its events into
// tty log records (docs/tty-log.md). See tty_bpf.h.
#include "capture/tty_bpf.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "analysis/ttylog.h"
#include "common/privilege.h"
#include "../../bpf/tty_capture.h"  // the event layout shared with the kernel half

namespace hn {

// The BPF object, embedded by cmake/bpf.cmake (generated .cpp in the build dir).
extern const unsigned char kTtyBpfObject[];
extern const size_t kTtyBpfObjectSize;

namespace {

constexpr const char* kBtfPath = "/sys/kernel/btf/vmlinux";

std::string Errno(int e) { return std::strerror(e); }

// ---- libbpf's messages: kept, so a load failure can show the verifier log ----

std::mutex g_log_mu;
std::string g_libbpf_log;  // warnings and errors of the current load
bool g_libbpf_debug = false;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG && !g_libbpf_debug) return 0;
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap2);  // the verifier log comes as one "%s"
  va_end(ap2);
  if (n <= 0) return 0;
  std::string msg(size_t(n) + 1, '\0');
  std::vsnprintf(msg.data(), msg.size(), fmt, ap);
  msg.resize(size_t(n));
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_libbpf_log += msg;
  constexpr size_t kKeep = 256 * 1024;
  if (g_libbpf_log.size() > kKeep) g_libbpf_log.erase(0, g_libbpf_log.size() - kKeep);
  if (g_libbpf_debug) std::fputs(msg.c_str(), stderr);
  return 0;
}

// The last lines of what libbpf said (the verifier log ends with the reason).
std::string LibbpfLogTail(size_t max_lines = 25) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  const std::string& s = g_libbpf_log;
  size_t pos = s.size();
  if (pos > 0 && s[pos - 1] == '\n') --pos;
  for (size_t lines = 0; pos > 0 && lines < max_lines; --pos)
    if (s[pos - 1] == '\n' && ++lines == max_lines) break;
  std::string tail = s.substr(pos);
  return tail.empty() ? "(libbpf said nothing; HONEYNET_BPF_DEBUG=1 shows its debug output)" : tail;
}

void ResetLibbpfLog() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_libbpf_log.clear();
  g_libbpf_debug = getenv("HONEYNET_BPF_DEBUG") != nullptr;
}

// ---- clocks ----

int64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// CLOCK_REALTIME - CLOCK_BOOTTIME: added to bpf_ktime_get_boot_ns() gives wall-clock time.
int64_t BootToWallNs() { return ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_BOOTTIME); }

int64_t NowUs() { return ClockNs(CLOCK_REALTIME) / 1000; }

// ---- privileges ----

// Effective capabilities of this process (bit n = capability n).
uint64_t EffectiveCaps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  return 0;
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error("writing the tty log " + path + ": " + Errno(errno) +
                           " (is the disk full?); the capture stops");
    }
    done += size_t(n);
  }
  return Status::Ok();
}

// The level of PID's pid namespace (0: the host's), from the NSpid line of
// /proc/PID/status (one pid per level); -1 when unknown.
int PidNamespaceLevel(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int n = 0;
    std::string f;
    while (fields >> f) ++n;
    return n > 0 ? n - 1 : -1;
  }
  return -1;
}

int PidfdOpen(int pid) { return int(syscall(SYS_pidfd_open, pid, 0)); }

// True when some process in /proc is in the pid namespace with this inode.
bool NamespaceHasProcess(uint64_t inode) {
  DIR* d = opendir("/proc");
  if (!d) return true;  // cannot tell: keep going
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    struct stat st{};
    std::string p = std::string("/proc/") + e->d_name + "/ns/pid";
    if (stat(p.c_str(), &st) == 0 && uint64_t(st.st_ino) == inode) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace

// ---- the userspace half -----------------------------------------------------

bool DecodeTtyBpfEvent(const void* sample, size_t size, TtyBpfEvent* ev) {
  if (size < TTY_EV_HEADER_BYTES) return false;
  tty_event h;
  std::memcpy(&h, sample, TTY_EV_HEADER_BYTES);
  if (h.len > TTY_EV_MAX_DATA || size < TTY_EV_HEADER_BYTES + size_t(h.len)) return false;
  ev->kind = h.kind;
  ev->target = h.target;
  ev->dev = h.dev;
  ev->ctty = h.ctty;
  ev->pctty = h.pctty;
  ev->pid = h.pid;
  ev->time_ns = h.time_ns;
  ev->data = std::string_view(static_cast<const char*>(sample) + TTY_EV_HEADER_BYTES, h.len);
  return true;
}

std::string TtyDeviceName(uint32_t dev) {
  const uint32_t major = TTY_DEV_MAJOR(dev), minor = TTY_DEV_MINOR(dev);
  char buf[40];
  if (major >= 136 && major <= 143)
    std::snprintf(buf, sizeof buf, "pts/%" PRIu32, ((major - 136) << 20) | minor);
  else if (major == 4 && minor < 64)
    std::snprintf(buf, sizeof buf, "tty%" PRIu32, minor);
  else if (major == 4)
    std::snprintf(buf, sizeof buf, "ttyS%" PRIu32, minor - 64);
  else
    std::snprintf(buf, sizeof buf, "tty%" PRIu32 ":%" PRIu32, major, minor);
  return buf;
}

uint64_t FirstTtyId(int64_t start_sec, const std::string& path) {
  uint64_t first = start_sec > 0 ? uint64_t(start_sec) << 16 : 1;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return first;
  uint64_t off = 0;
  unsigned char h[kTtyHeaderBytes];
  while (pread(fd, h, sizeof h, off_t(off)) == ssize_t(sizeof h)) {
    uint64_t what, tty, len;
    std::memcpy(&what, h, 8);
    std::memcpy(&tty, h + 8, 8);
    std::memcpy(&len, h + 16, 8);
    if (what < kTtyOpen || what > kTtyExec || len > kTtyMaxData) break;  // corrupt: stop there
    if (tty != UINT64_MAX && tty + 1 > first) first = tty + 1;
    off += kTtyHeaderBytes + len;
  }
  close(fd);
  return first;
}

void TtyBpfLog::Emit(uint64_t what, uint64_t tty, uint64_t direction, int64_t time_us, std::string_view data,
                     std::string* out) {
  out->append(EncodeTtyRecord(what, tty, direction, time_us, data));
  ++records_;
  if (what == kTtyWrite) bytes_ += data.size();
}

void TtyBpfLog::EmitPending(std::string* out) {
  if (!has_pending_) return;
  Emit(kTtyWrite, pending_.tty, pending_.direction, pending_.time_us, pending_.data, out);
  has_pending_ = false;
  pending_.data.clear();
}

// The id of the tty dev; an OPEN first when it has none. Its parent: the
// controlling tty of the process, else that of its parent process, when that
// is another tty of this log.
uint64_t TtyBpfLog::Id(uint32_t dev, const TtyBpfEvent& ev, int64_t time_us, std::string* out) {
  auto it = open_.find(dev);
  if (it != open_.end()) return it->second;
  uint64_t parent = 0;
  for (uint32_t p : {ev.ctty, ev.pctty}) {
    if (p == 0 || p == dev) continue;
    auto pit = open_.find(p);
    if (pit != open_.end()) {
      parent = pit->second;
      break;
    }
  }
  const uint64_t id = next_id_++;
  open_[dev] = id;
  EmitPending(out);  // records stay in time order
  Emit(kTtyOpen, id, parent, time_us, TtyDeviceName(dev), out);
  return id;
}

void TtyBpfLog::Feed(const TtyBpfEvent& ev, int64_t time_us, std::string* out) {
  switch (ev.kind) {
    case TtyBpfEvent::kRead:
    case TtyBpfEvent::kWrite: {
      if (ev.data.empty()) return;
      const uint64_t tty = Id(ev.dev, ev, time_us, out);
      const uint64_t dir = ev.kind == TtyBpfEvent::kRead ? kTtyDirRead : kTtyDirWrite;
      if (has_pending_ && pending_.tty == tty && pending_.direction == dir &&
          time_us - pending_.time_us < kGatherUs && pending_.data.size() + ev.data.size() <= kGatherBytes) {
        pending_.data.append(ev.data);
        return;
      }
      EmitPending(out);
      if (ev.data.size() >= kGatherBytes) {
        Emit(kTtyWrite, tty, dir, time_us, ev.data, out);
        return;
      }
      pending_.tty = tty;
      pending_.direction = dir;
      pending_.time_us = time_us;
      pending_.data.assign(ev.data);
      has_pending_ = true;
      return;
    }
    case TtyBpfEvent::kExec: {
      if (ev.dev == 0) return;
      const uint64_t tty = Id(ev.dev, ev, time_us, out);
      EmitPending(out);
      Emit(kTtyExec, tty, 0, time_us, ev.data, out);
      return;
    }
    case TtyBpfEvent::kExit: {
      auto it = open_.find(ev.dev);
      if (it == open_.end()) return;  // nothing was ever recorded on it
      EmitPending(out);
      Emit(kTtyClose, it->second, 0, time_us, {}, out);
      open_.erase(it);
      return;
    }
    default:
      return;
  }
}

void TtyBpfLog::Flush(int64_t now_us, std::string* out) {
  if (has_pending_ && (now_us < 0 || now_us - pending_.time_us >= kGatherUs)) EmitPending(out);
}

// ---- support and namespaces -------------------------------------------------

Status TtyBpfSupported() {
#if !defined(__x86_64__)
  return Status::Error("the eBPF tty capture reads x86_64 system calls only; this is not an x86_64 build");
#else
  const uint64_t caps = EffectiveCaps();
  constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
  const bool admin = caps & (1ull << kCapSysAdmin);
  const bool bpf = (caps & (1ull << kCapBpf)) && (caps & (1ull << kCapPerfmon));
  if (!admin && !bpf)
    return Status::Error("the eBPF tty capture needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN): "
                         "run honeynet as root");
  if (access(kBtfPath, R_OK) != 0)
    return Status::Error(std::string("the kernel has no BTF (") + kBtfPath + ": " + Errno(errno) +
                         "): the eBPF tty capture needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
  if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, nullptr) != 1)
    return Status::Error("the kernel cannot run raw tracepoint BPF programs (BPF_PROG_TYPE_RAW_TRACEPOINT): "
                         "the eBPF tty capture needs Linux >= 4.17 with CONFIG_BPF_SYSCALL and CONFIG_BPF_EVENTS");
  if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) != 1)
    return Status::Error("the kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux >= 5.8): "
                         "the eBPF tty capture cannot run here");
  return Status::Ok();
#endif
}

Result<uint64_t> PidNamespaceInode(int pid) {
  if (pid <= 0) return Status::Error("no pid namespace for pid " + std::to_string(pid) + ": pids start at 1");
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/pid";
  struct stat st{};
  if (stat(path.c_str(), &st) != 0)
    return Status::Error("cannot read the pid namespace of pid " + std::to_string(pid) + " (" + path + ": " +
                         Errno(errno) + ")" + (errno == ENOENT ? ": no such process" : ""));
  return uint64_t(st.st_ino);
}

// ---- the capture --------------------------------------------------------------

struct TtyBpfCapture::Impl {
  struct Target {
    TtyBpfTarget spec;
    int log_fd = -1;
    int pidfd = -1;
    bool gone = false;
    std::unique_ptr<TtyBpfLog> log;
    std::string out;  // encoded records not yet written
  };

  std::vector<Target> targets;
  bpf_object* obj = nullptr;
  std::vector<bpf_link*> links;
  ring_buffer* rb = nullptr;
  int stats_fd = -1;
  int64_t boot_to_wall_ns = 0;
  std::atomic<uint64_t> records{0}, bytes{0};
  std::atomic<uint64_t> kstats[TTY_STAT_COUNT] = {};
  Status write_error;

  ~Impl() {
    if (rb) ring_buffer__free(rb);
    for (bpf_link* l : links) bpf_link__destroy(l);
    if (obj) bpf_object__close(obj);
    for (Target& t : targets) {
      if (t.log_fd >= 0) close(t.log_fd);
      if (t.pidfd >= 0) close(t.pidfd);
    }
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    static_cast<Impl*>(ctx)->Handle(data, size);
    return 0;
  }

  void Handle(const void* data, size_t size) {
    TtyBpfEvent ev;
    if (!DecodeTtyBpfEvent(data, size, &ev) || ev.target >= targets.size()) return;
    Target& t = targets[ev.target];
    const int64_t time_us = (int64_t(ev.time_ns) + boot_to_wall_ns) / 1000;
    t.log->Feed(ev, time_us, &t.out);
    if (t.out.size() >= (256u << 10)) WriteOut(t);
  }

  // Writes what target t has encoded; the first error is kept.
  void WriteOut(Target& t) {
    if (t.out.empty()) return;
    if (write_error.ok()) write_error = WriteAll(t.log_fd, t.out, t.spec.log_path);
    t.out.clear();
    UpdateCounts();
  }

  void FlushAll(int64_t now_us) {
    for (Target& t : targets) {
      t.log->Flush(now_us, &t.out);
      WriteOut(t);
    }
  }

  void UpdateCounts() {
    uint64_t r = 0, b = 0;
    for (const Target& t : targets) {
      r += t.log->records();
      b += t.log->bytes();
    }
    records = r;
    bytes = b;
  }

  // Sums the per-CPU counters of the kernel program.
  void ReadKernelStats() {
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0 || stats_fd < 0) return;
    std::vector<uint64_t> vals(static_cast<size_t>(ncpu));
    for (uint32_t slot = 0; slot < TTY_STAT_COUNT; ++slot) {
      if (bpf_map_lookup_elem(stats_fd, &slot, vals.data()) != 0) continue;
      uint64_t sum = 0;
      for (uint64_t v : vals) sum += v;
      kstats[slot] = sum;
    }
  }

  // Marks targets whose namespace has ended; true when all have.
  bool AllGone() {
    bool all = true;
    for (Target& t : targets) {
      if (!t.gone) {
        if (t.pidfd >= 0) {
          pollfd p{t.pidfd, POLLIN, 0};
          t.gone = poll(&p, 1, 0) > 0;
        } else {
          t.gone = !NamespaceHasProcess(t.spec.pidns_inode);
        }
      }
      all = all && t.gone;
    }
    return all;
  }
};

TtyBpfCapture::TtyBpfCapture() : impl_(std::make_unique<Impl>()) {}
TtyBpfCapture::~TtyBpfCapture() = default;

Result<std::unique_ptr<TtyBpfCapture>> TtyBpfCapture::Start(const std::vector<TtyBpfTarget>& targets) {
  if (targets.empty()) return Status::Error("tty capture: no honeypot to watch");
  if (targets.size() > TTY_MAX_TARGETS)
    return Status::Error("tty capture: " + std::to_string(targets.size()) + " honeypots, at most " +
                         std::to_string(TTY_MAX_TARGETS) + " per capture process");
  {
    std::set<uint64_t> inodes;
    std::set<std::string> paths;
    for (const TtyBpfTarget& t : targets) {
      if (t.pidns_inode == 0 || t.pidns_inode > UINT32_MAX)
        return Status::Error("tty capture of " + t.name + ": " + std::to_string(t.pidns_inode) +
                             " is not a pid namespace inode");
      if (!inodes.insert(t.pidns_inode).second)
        return Status::Error("tty capture: pid namespace " + std::to_string(t.pidns_inode) + " named twice");
      if (t.log_path.empty() || !paths.insert(t.log_path).second)
        return Status::Error("tty capture of " + t.name + ": log file '" + t.log_path +
                             "' is empty or used by another honeypot");
    }
  }
  if (auto own = PidNamespaceInode(getpid()); own.ok())
    for (const TtyBpfTarget& t : targets)
      if (t.pidns_inode == *own)
        return Status::Error("tty capture of " + t.name + ": pid namespace " + std::to_string(*own) +
                             " is the capture's own (the host's?): that would record every terminal of this "
                             "machine. Give the host pid of the honeypot's init, which has a pid namespace of "
                             "its own");
  Status sup = TtyBpfSupported();
  if (!sup.ok()) return sup;

  std::unique_ptr<TtyBpfCapture> cap(new TtyBpfCapture());
  Impl& im = *cap->impl_;
  const int64_t start_sec = ClockNs(CLOCK_REALTIME) / 1'000'000'000;
  int min_level = -1;  // of the watched namespaces (-1: none known yet)
  bool level_unknown = false;
  for (const TtyBpfTarget& spec : targets) {
    Impl::Target t;
    t.spec = spec;
    if (spec.init_pid > 0) {
      // The pidfd pins the process: checking its namespace after opening it
      // cannot be fooled by a reused pid.
      t.pidfd = PidfdOpen(spec.init_pid);
      if (t.pidfd < 0)
        return Status::Error("tty capture of " + spec.name + ": pid " + std::to_string(spec.init_pid) + ": " +
                             Errno(errno) + (errno == ESRCH ? " (it has exited)" : ""));
      im.targets.push_back(std::move(t));  // closed by ~Impl from here on
      auto ino = PidNamespaceInode(spec.init_pid);
      if (!ino.ok()) return Status::Error("tty capture of " + spec.name + ": " + ino.status().message());
      if (*ino != spec.pidns_inode)
        return Status::Error("tty capture of " + spec.name + ": pid " + std::to_string(spec.init_pid) +
                             " is in pid namespace " + std::to_string(*ino) + ", not " +
                             std::to_string(spec.pidns_inode));
      const int level = PidNamespaceLevel(spec.init_pid);
      if (level < 0) level_unknown = true;
      else if (min_level < 0 || level < min_level) min_level = level;
    } else {
      im.targets.push_back(std::move(t));
      level_unknown = true;
    }
    Impl::Target& tt = im.targets.back();
    tt.log_fd = open(spec.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (tt.log_fd < 0)
      return Status::Error("tty capture of " + spec.name + ": cannot open the log " + spec.log_path + ": " +
                           Errno(errno));
    tt.log = std::make_unique<TtyBpfLog>(FirstTtyId(start_sec, spec.log_path));
  }

  ResetLibbpfLog();
  libbpf_set_print(LibbpfPrint);
  bpf_object_open_opts opts{};
  opts.sz = sizeof opts;
  opts.object_name = "hn_tty_capture";
  im.obj = bpf_object__open_mem(kTtyBpfObject, kTtyBpfObjectSize, &opts);
  if (!im.obj)
    return Status::Error("tty capture: the embedded BPF object does not open (" + Errno(errno) + "):\n" +
                         LibbpfLogTail());
  // Processes above the watched namespaces are ruled out at once (see min_level in the program).
  if (bpf_map* rodata = bpf_object__find_map_by_name(im.obj, ".rodata"); rodata && !level_unknown && min_level > 0) {
    size_t size = 0;
    const uint32_t level = uint32_t(min_level);
    // min_level is the only read-only variable of the program: .rodata is just it.
    if (bpf_map__initial_value(rodata, &size) && size == sizeof level)
      bpf_map__set_initial_value(rodata, &level, sizeof level);
  }
  if (int err = bpf_object__load(im.obj); err != 0)
    return Status::Error("tty capture: the kernel refused the BPF program (" + Errno(-err) +
                         "); the end of the verifier/libbpf log:\n" + LibbpfLogTail());

  bpf_map* watched = bpf_object__find_map_by_name(im.obj, "watched");
  bpf_map* stats = bpf_object__find_map_by_name(im.obj, "stats");
  bpf_map* events = bpf_object__find_map_by_name(im.obj, "events");
  if (!watched || !stats || !events) return Status::Error("tty capture: the embedded BPF object lacks its maps");
  im.stats_fd = bpf_map__fd(stats);
  for (uint32_t i = 0; i < im.targets.size(); ++i) {
    const uint32_t key = uint32_t(im.targets[i].spec.pidns_inode);
    if (bpf_map__update_elem(watched, &key, sizeof key, &i, sizeof i, BPF_ANY) != 0)
      return Status::Error("tty capture: cannot fill the watched-namespace map: " + Errno(errno));
  }
  im.boot_to_wall_ns = BootToWallNs();
  im.rb = ring_buffer__new(bpf_map__fd(events), &Impl::OnSample, &im, nullptr);
  if (!im.rb) return Status::Error("tty capture: cannot map the BPF ring buffer: " + Errno(errno));

  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, im.obj) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link)
      return Status::Error(std::string("tty capture: cannot attach ") + bpf_program__section_name(prog) + ": " +
                           Errno(errno) + "\n" + LibbpfLogTail(5));
    im.links.push_back(link);
  }
  return cap;
}

Status TtyBpfCapture::LockDown(std::string* summary) {
  Impl& im = *impl_;
  auto mode = SeccompModeFromEnv();
  if (!mode.ok()) return mode.status();
  bool need_ptrace = false;
  for (const Impl::Target& t : im.targets) {
    if (t.pidfd < 0) need_ptrace = true;
    // CAPTURE/tty/NAME.ttylog: the log and tty/ get CAPTURE's owner (best effort: a
    // root-owned log is still written, only a non-root honeywall could not read it).
    const std::string& log = t.spec.log_path;
    const size_t slash = log.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : log.substr(0, slash));
    struct stat above{}, here{};
    if (stat((dir + "/..").c_str(), &above) == 0 && stat(dir.c_str(), &here) == 0 &&
        (here.st_uid != above.st_uid || here.st_gid != above.st_gid) && above.st_uid != 0) {
      if (chown(dir.c_str(), above.st_uid, above.st_gid) == 0) chmod(dir.c_str(), 0750);
    }
    if (t.log_fd >= 0 && stat((dir + "/..").c_str(), &above) == 0 && above.st_uid != 0) {
      if (fchown(t.log_fd, above.st_uid, above.st_gid) == 0) fchmod(t.log_fd, 0640);
    }
  }
  std::vector<int> keep;
  if (need_ptrace) keep.push_back(CAP_SYS_PTRACE);
  if (Status s = DropPrivileges(keep, nullptr); !s.ok()) return Status::Error("tty capture: " + s.message());
  SyscallAllowList l = SyscallAllowList::Base();
  l.AllowIf("bpf", 0, {BPF_MAP_LOOKUP_ELEM});
  if (Status s = InstallSeccomp(l, mode.value()); !s.ok()) return Status::Error("tty capture: " + s.message());
  *summary = "privileges: capabilities kept " + CapabilityNames(need_ptrace ? uint64_t(1) << CAP_SYS_PTRACE : 0) +
             "; no_new_privs on; seccomp " + SeccompModeName(mode.value());
  return Status::Ok();
}

Status TtyBpfCapture::Run(const std::atomic<bool>& stop) {
  Impl& im = *impl_;
  int64_t last_check_us = 0;
  bool ended = false;
  while (!stop.load() && !ended && im.write_error.ok()) {
    int n = ring_buffer__poll(im.rb, 100);
    if (n < 0 && n != -EINTR) {
      im.write_error = Status::Error("tty capture: polling the BPF ring buffer: " + Errno(-n));
      break;
    }
    const int64_t now = NowUs();
    im.FlushAll(now);
    if (now - last_check_us >= 250'000) {
      last_check_us = now;
      im.boot_to_wall_ns = BootToWallNs();  // follows clock steps
      im.ReadKernelStats();
      // The namespace's last process has passed sched_process_exit when its
      // init is reaped: everything it did is in the ring buffer already.
      ended = im.AllGone();
    }
  }
  ring_buffer__consume(im.rb);
  im.FlushAll(-1);
  im.ReadKernelStats();
  for (Impl::Target& t : im.targets) {
    if (t.log_fd >= 0) close(t.log_fd);
    t.log_fd = -1;
  }
  return im.write_error;
}

TtyBpfStats TtyBpfCapture::stats() const {
  TtyBpfStats s;
  s.records = impl_->records.load();
  s.bytes = impl_->bytes.load();
  s.lost = impl_->kstats[TTY_STAT_LOST_EVENTS].load();
  s.lost_bytes = impl_->kstats[TTY_STAT_LOST_BYTES].load();
  s.cut_bytes = impl_->kstats[TTY_STAT_CUT_BYTES].load();
  s.faults = impl_->kstats[TTY_STAT_FAULTS].load();
  return s;
}

}  // namespace hn
