// Sniffer: see sniffer.h.
//
// One AF_PACKET socket per port with a TPACKET_V3 RX ring: the kernel fills
// 1 MiB blocks with variable-sized frames and hands a block over when it is
// full or 10 ms after its first frame (tp_retire_blk_tov). Each port has its
// own thread (the two ports' files are written in parallel: one thread for
// both kept up with ~1.2 Gbit/s less than tcpdump's process per port did),
// which waits in poll() on its socket plus an eventfd (Stop, Poke), walks
// every block that is ready, writes its frames and gives the block back.
#include "capture/sniffer.h"

#include "capture/retention.h"

#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/thread_name.h"

namespace hn {

namespace {

constexpr uint32_t kBlockSize = 1u << 20;  // 1 MiB
constexpr uint32_t kFrameSize = 2048;      // only used to size the ring (V3 packs frames)
constexpr uint32_t kRetireTovMs = 10;
constexpr int64_t kFlushEveryNs = 200LL * 1'000'000;
constexpr int64_t kStatsEveryNs = 1000LL * 1'000'000;  // idle wake-up to read kernel drops
constexpr int64_t kStopMinWaitNs = 3LL * kRetireTovMs * 1'000'000;  // let open blocks retire
constexpr int64_t kStopMaxWaitNs = 500LL * 1'000'000;  // bound on the final drain
constexpr size_t kScratchBytes = 64 * 1024;  // VLAN re-insertion copy

std::string Errno(const char* what) { return std::string(what) + ": " + strerror(errno); }

}  // namespace

struct Sniffer::PortState {
  SnifferPort port;
  int fd = -1;
  uint8_t* map = nullptr;
  size_t map_len = 0;
  uint32_t block_nr = 0;
  uint32_t cur = 0;  // next block to look at
  unsigned ifindex = 0;  // interface the socket is bound to (0: no socket)
  std::atomic<unsigned> bound{0};  // = ifindex, for CapturingIndex() from other threads
  std::unique_ptr<PcapWriter> writer;
  bool in_failure = false;        // writes failing (notice sent)
  uint64_t deleted_seen = 0;      // writer->files_deleted() at the last check
  uint64_t lost_seen = 0;         // writer->frames_lost() at the last check
  uint64_t lost_at_failure = 0;   // ... when the failure began
  uint64_t written_at_failure = 0;
  size_t files_seen = 0;  // writer files already copied to Sniffer::files_
  std::unique_ptr<uint8_t[]> scratch;
  int wake_fd = -1;       // eventfd: Stop() and Poke() end this port's poll()
  std::thread thread;
  // Published for stats() from other threads.
  std::atomic<uint64_t> frames{0}, bytes{0}, kdrops{0}, wdrops{0};

  ~PortState() {
    if (map != nullptr) munmap(map, map_len);
    if (fd >= 0) close(fd);
    if (wake_fd >= 0) close(wake_fd);
  }
};

// Opens the socket and ring for one port and binds it. Frames are captured
// from the bind on.
static Status OpenPortSocket(Sniffer::Options const& opt, const SnifferPort& port, int* fd_out, uint8_t** map_out,
                             size_t* len_out, uint32_t* blocks_out, unsigned* ifindex_out) {
  const std::string where = "capture on '" + port.ifname + "'";
  if (opt.ring_mb == 0) return Status::Error(where + ": capture.ring_mb must be at least 1");
  // Protocol 0: the socket receives nothing until bind() names the interface,
  // so no frame of another interface slips into the ring.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == EPERM || errno == EACCES)
      return Status::Error(where + ": opening an AF_PACKET socket needs root or CAP_NET_RAW (run as root)");
    return Status::Error(where + ": " + Errno("socket(AF_PACKET)"));
  }
  auto fail = [&](const std::string& msg) {
    close(fd);
    return Status::Error(where + ": " + msg);
  };
  const unsigned ifindex = if_nametoindex(port.ifname.c_str());
  if (ifindex == 0)
    return fail("no such interface (check the port's interface name; `ip link show " + port.ifname + "`)");
  int version = TPACKET_V3;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
    return fail(Errno("PACKET_VERSION TPACKET_V3"));
  tpacket_req3 req{};
  req.tp_block_size = kBlockSize;
  req.tp_block_nr = opt.ring_mb;
  req.tp_frame_size = kFrameSize;
  req.tp_frame_nr = opt.ring_mb * (kBlockSize / kFrameSize);
  req.tp_retire_blk_tov = kRetireTovMs;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
    return fail(Errno(("RX ring of " + std::to_string(opt.ring_mb) + " MiB").c_str()) +
                " (lower capture.ring_mb or raise the memory limit)");
  const size_t len = size_t(kBlockSize) * opt.ring_mb;
  void* map = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return fail(Errno("mmap of the capture ring"));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = int(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    munmap(map, len);
    return fail(Errno("bind"));
  }
  packet_mreq mr{};
  mr.mr_ifindex = int(ifindex);
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
    munmap(map, len);
    return fail(Errno("promiscuous mode (PACKET_MR_PROMISC)"));
  }
  *fd_out = fd;
  *map_out = static_cast<uint8_t*>(map);
  *len_out = len;
  *blocks_out = opt.ring_mb;
  *ifindex_out = ifindex;
  return Status::Ok();
}

Result<std::unique_ptr<Sniffer>> Sniffer::Open(const Options& opt) {
  if (opt.ports.empty()) return Status::Error("capture: no ports to capture on");
  std::unique_ptr<Sniffer> s(new Sniffer());
  s->opt_ = opt;
  auto fail = [&s](Status st) {
    s->stopped_ = true;  // nothing to drain: the destructor just closes
    return st;
  };
  // Sockets first: an interface problem is reported before any file is made.
  for (const SnifferPort& port : opt.ports) {
    auto ps = std::make_unique<PortState>();
    ps->port = port;
    if (opt.inline_feed) {
      if (opt.ring_mb == 0) return fail(Status::Error("capture: capture.ring_mb must be at least 1"));
      s->rings_.push_back(std::make_unique<FrameRing>(size_t(opt.ring_mb) << 20));
    } else {
      Status st = OpenPortSocket(opt, port, &ps->fd, &ps->map, &ps->map_len, &ps->block_nr, &ps->ifindex);
      if (!st.ok()) return fail(st);
    }
    ps->bound.store(ps->ifindex, std::memory_order_relaxed);
    ps->scratch.reset(new uint8_t[kScratchBytes]);
    ps->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ps->wake_fd < 0) return fail(Status::Error("capture: " + Errno("eventfd")));
    s->ports_.push_back(std::move(ps));
  }
  if (opt.inline_feed) {
    s->space_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->space_fd_ < 0) return fail(Status::Error("capture: " + Errno("eventfd")));
    s->last_nudge_.assign(s->ports_.size(), 0);
  }
  for (auto& ps : s->ports_) {
    PcapWriter::Options wo;
    wo.dir = opt.dir;
    wo.prefix = ps->port.label;
    wo.rotate_bytes = opt.rotate_bytes;
    wo.rotate_ns = opt.rotate_ns;
    wo.disk = opt.disk;
    wo.direct_io = opt.direct_io;
    // Open files are never deleted: keep each small enough for the bounds.
    if (opt.disk != nullptr && opt.disk->rotate_cap() != 0 &&
        (wo.rotate_bytes == 0 || wo.rotate_bytes > opt.disk->rotate_cap()))
      wo.rotate_bytes = opt.disk->rotate_cap();
    auto w = PcapWriter::Open(wo);
    if (!w.ok()) return fail(Status::Error("capture on '" + ps->port.ifname + "': " + w.status().message()));
    ps->writer = std::move(w.value());
    if (!ps->writer->repaired().empty())
      s->Notify("capture_repaired", ps->port.ifname, "capture: " + ps->writer->repaired());
    for (const std::string& f : ps->writer->files()) s->files_.push_back(f);
    ps->files_seen = ps->writer->files().size();
  }
  return s;
}

Sniffer::~Sniffer() {
  Stop();
  if (space_fd_ >= 0) close(space_fd_);
}

void Sniffer::Start() {
  if (stopped_ || started_) return;
  started_ = true;
  for (size_t i = 0; i < ports_.size(); i++) {
    PortState* pp = ports_[i].get();
    if (opt_.inline_feed) {
      FrameRing* ring = rings_[i].get();
      pp->thread = std::thread([this, pp, ring] {
        NameThread("cap-" + pp->port.label);
        RunInline(*pp, *ring);
      });
    } else {
      pp->thread = std::thread([this, pp] {
        NameThread("cap-" + pp->port.label);
        Run(*pp);
      });
    }
  }
}

static void Wake(int fd) {
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof one);
  (void)n;  // the eventfd cannot be full
}

void Sniffer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_.store(true, std::memory_order_release);
  for (size_t i = 0; i < ports_.size(); i++) {
    PortState* p = ports_[i].get();
    if (p->thread.joinable()) {
      Wake(p->wake_fd);
      p->thread.join();
    } else if (opt_.inline_feed) {
      DrainRing(*p, *rings_[i]);  // never started: still write what the ring holds
      FlushPort(*p);
    } else {
      DrainAtStop(*p);
    }
  }
  CloseAll();
}

SnifferStats Sniffer::stats() const {
  SnifferStats s;
  for (const auto& p : ports_) {
    s.frames += p->frames.load(std::memory_order_relaxed);
    s.bytes += p->bytes.load(std::memory_order_relaxed);
    s.kernel_drops += p->kdrops.load(std::memory_order_relaxed);
    s.write_drops += p->wdrops.load(std::memory_order_relaxed);
  }
  return s;
}

std::vector<std::string> Sniffer::files() const {
  std::lock_guard<std::mutex> lock(files_mu_);
  return files_;
}

unsigned Sniffer::CapturingIndex(const std::string& ifname) const {
  for (const auto& p : ports_) {
    if (p->port.ifname != ifname) continue;
    // Inline: the capture sees what the forwarder's port sees, whatever its index.
    if (opt_.inline_feed) return if_nametoindex(ifname.c_str());
    return p->bound.load(std::memory_order_acquire);
  }
  return 0;
}

void Sniffer::Poke() {
  for (auto& p : ports_) Wake(p->wake_fd);
}

bool Sniffer::WaitForRoom(size_t port, uint32_t caplen) {
  FrameRing& ring = *rings_[port];
  ring.producer_waiting.store(true, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with DrainRing's fence
  if (ring.HasRoom(caplen)) {
    ring.producer_waiting.store(false, std::memory_order_relaxed);
    return true;
  }
  if (ring.consumer_sleeping.load(std::memory_order_relaxed)) Wake(ports_[port]->wake_fd);
  return false;
}

void Sniffer::ClearSpace() {
  uint64_t v;
  ssize_t rd = read(space_fd_, &v, sizeof v);
  (void)rd;
}

void Sniffer::Nudge(int64_t mono_ns) {
  constexpr int64_t kNudgeEveryNs = 10'000'000;
  for (size_t i = 0; i < rings_.size(); i++) {
    FrameRing& ring = *rings_[i];
    if (!ring.consumer_sleeping.load(std::memory_order_relaxed)) continue;
    const size_t used = ring.Used();
    if (used == 0) continue;
    if (used >= ring.capacity() / 8 || mono_ns - last_nudge_[i] >= kNudgeEveryNs) {
      last_nudge_[i] = mono_ns;
      Wake(ports_[i]->wake_fd);
    }
  }
}

std::vector<SnifferNotice> Sniffer::TakeNotices() {
  if (!have_notices_.load(std::memory_order_acquire)) return {};
  std::lock_guard<std::mutex> lock(notices_mu_);
  have_notices_.store(false, std::memory_order_relaxed);
  return std::move(notices_);
}

void Sniffer::Notify(const std::string& what, const std::string& iface, const std::string& message) {
  std::lock_guard<std::mutex> lock(notices_mu_);
  notices_.push_back({what, iface, message});
  have_notices_.store(true, std::memory_order_release);
}

// A failure begins when the writer loses frames; it ends when frames reach a
// file again. One notice each way, so a full disk is one line, not one per frame.
void Sniffer::CheckWriter(PortState& p) {
  if (!p.writer) return;
  const uint64_t lost = p.writer->frames_lost();
  const uint64_t written = p.writer->frames_written();
  if (p.writer->files_deleted() != p.deleted_seen) {
    p.deleted_seen = p.writer->files_deleted();
    Notify("capture_file_deleted", p.port.ifname,
           "capture on " + p.port.ifname + ": " + p.writer->last_error() + "; the next frame starts a new file");
  }
  if (!p.in_failure && lost > p.lost_seen) {
    p.in_failure = true;
    p.lost_at_failure = p.lost_seen;
    p.written_at_failure = written;
    Notify("capture_write_failed", p.port.ifname,
           "capture on " + p.port.ifname + ": " + p.writer->last_error() +
               "; frames are counted as lost (write_drops) until they can be written again");
  } else if (p.in_failure && !p.writer->failing() && written > p.written_at_failure) {
    p.in_failure = false;
    const auto& files = p.writer->files();
    Notify("capture_write_resumed", p.port.ifname,
           "capture on " + p.port.ifname + ": writing again, to " + (files.empty() ? "?" : files.back()) + "; " +
               std::to_string(lost - p.lost_at_failure) + " frames were lost");
  }
  p.lost_seen = lost;
}

void Sniffer::ClosePortSocket(PortState& p) {
  if (p.map != nullptr) munmap(p.map, p.map_len);
  p.map = nullptr;
  if (p.fd >= 0) close(p.fd);
  p.fd = -1;
  p.ifindex = 0;
  p.bound.store(0, std::memory_order_release);
  p.cur = 0;
}

// A deleted interface leaves the socket bound to an index that no longer
// exists (it never receives again); a new interface of the same name has a new
// index. Writes what the old ring holds, then opens a socket on the new one.
bool Sniffer::CheckInterface(PortState& p) {
  const unsigned now_index = if_nametoindex(p.port.ifname.c_str());
  if (now_index == p.ifindex) return false;
  bool changed = false;
  if (p.fd >= 0) {
    DrainPort(p);
    ReadKernelStats(p);
    ClosePortSocket(p);
    changed = true;
    Notify("capture_port_gone", p.port.ifname,
           "capture on " + p.port.ifname + ": the interface is gone; capturing again when it is back");
  }
  if (now_index == 0) return changed;
  Status st = OpenPortSocket(opt_, p.port, &p.fd, &p.map, &p.map_len, &p.block_nr, &p.ifindex);
  if (st.ok()) {
    changed = true;
    Notify("capture_port_reopened", p.port.ifname,
           "capture on " + p.port.ifname + ": the interface is back (index " + std::to_string(p.ifindex) +
               "): capturing again");
    p.bound.store(p.ifindex, std::memory_order_release);  // after the notice: the honeywall logs it first
  }
  return changed;
}

// Writes one frame of a block, putting back a VLAN tag the kernel stripped.
void Sniffer::WriteFrame(PortState& p, const void* hdr_ptr) {
  const auto* h = static_cast<const tpacket3_hdr*>(hdr_ptr);
  const uint8_t* data = reinterpret_cast<const uint8_t*>(h) + h->tp_mac;
  uint32_t caplen = h->tp_snaplen;
  uint32_t wire = h->tp_len;
  const int64_t ts = int64_t(h->tp_sec) * kNsPerSec + int64_t(h->tp_nsec);
  if ((h->tp_status & TP_STATUS_VLAN_VALID) && caplen >= 12) {
    const uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) && h->hv1.tp_vlan_tpid != 0
                              ? uint16_t(h->hv1.tp_vlan_tpid)
                              : uint16_t(ETH_P_8021Q);
    const uint16_t tci = uint16_t(h->hv1.tp_vlan_tci);
    uint8_t* out = p.scratch.get();
    const uint32_t rest = std::min<uint32_t>(caplen - 12, uint32_t(kScratchBytes) - 16);
    std::memcpy(out, data, 12);  // destination and source MAC
    out[12] = uint8_t(tpid >> 8);
    out[13] = uint8_t(tpid);
    out[14] = uint8_t(tci >> 8);
    out[15] = uint8_t(tci);
    std::memcpy(out + 16, data + 12, rest);
    data = out;
    caplen = 16 + rest;
    wire += 4;
  }
  p.writer->Write(ts, data, caplen, wire);
  p.bytes.fetch_add(wire, std::memory_order_relaxed);
}

// Walks the blocks the kernel has handed over, in ring order, and gives each
// back after writing its frames. At most one lap.
size_t Sniffer::DrainPort(PortState& p) {
  size_t released = 0;
  if (p.map == nullptr) return 0;
  for (uint32_t n = 0; n < p.block_nr; n++) {
    auto* bd = reinterpret_cast<tpacket_block_desc*>(p.map + size_t(p.cur) * kBlockSize);
    const uint32_t status = __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) break;
    const uint32_t num = bd->hdr.bh1.num_pkts;
    uint32_t off = bd->hdr.bh1.offset_to_first_pkt;
    for (uint32_t i = 0; i < num; i++) {
      // The kernel wrote these offsets; check them anyway before reading.
      if (off < sizeof(tpacket_block_desc) || size_t(off) + sizeof(tpacket3_hdr) > kBlockSize) break;
      const auto* h = reinterpret_cast<const tpacket3_hdr*>(reinterpret_cast<const uint8_t*>(bd) + off);
      if (size_t(off) + h->tp_mac + h->tp_snaplen > kBlockSize) break;
      WriteFrame(p, h);
      if (h->tp_next_offset == 0) break;
      off += h->tp_next_offset;
    }
    __atomic_store_n(&bd->hdr.bh1.block_status, uint32_t(TP_STATUS_KERNEL), __ATOMIC_RELEASE);
    p.cur = (p.cur + 1) % p.block_nr;
    released++;
  }
  if (released > 0) CopyNewFiles(p);
  return released;
}

// Files the port's writer started since the last call, into files_.
void Sniffer::CopyNewFiles(PortState& p) {
  if (p.writer->files().size() == p.files_seen) return;
  std::lock_guard<std::mutex> lock(files_mu_);
  const auto& wf = p.writer->files();
  for (size_t i = p.files_seen; i < wf.size(); i++) files_.push_back(wf[i]);
  p.files_seen = wf.size();
}

void Sniffer::FlushPort(PortState& p) {
  if (p.writer) p.writer->Flush();
  PublishCounters(p);
}

// PACKET_STATISTICS returns the counts since the last call and resets them.
void Sniffer::ReadKernelStats(PortState& p) {
  if (p.fd < 0) return;
  tpacket_stats_v3 st{};
  socklen_t len = sizeof st;
  if (getsockopt(p.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
    p.kdrops.fetch_add(st.tp_drops, std::memory_order_relaxed);
}

// Frames written and frames lost to write errors, from the port's writer.
void Sniffer::PublishCounters(PortState& p) {
  if (!p.writer) return;
  p.frames.store(p.writer->frames_written(), std::memory_order_relaxed);
  p.wdrops.store(p.writer->frames_lost(), std::memory_order_relaxed);
}

void Sniffer::Run(PortState& p) {
  pollfd pfds[2] = {{p.fd, POLLIN, 0}, {p.wake_fd, POLLIN, 0}};  // fd -1: skipped by poll()
  int64_t flush_due = 0;  // 0: nothing unflushed
  int64_t stats_due = MonoNowNs() + kStatsEveryNs;
  while (!stop_.load(std::memory_order_acquire)) {
    int64_t now = MonoNowNs();
    int64_t wake = stats_due;
    if (flush_due != 0) wake = std::min(wake, flush_due);
    const int timeout_ms = int(std::max<int64_t>(0, (wake - now + 999'999) / 1'000'000));
    const int r = poll(pfds, 2, timeout_ms);
    if (r < 0 && errno != EINTR) break;  // cannot happen with valid fds; leave to the drain at stop
    if (pfds[0].fd >= 0 && (pfds[0].revents & POLLERR)) {  // e.g. ENETDOWN: reading SO_ERROR clears it
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(pfds[0].fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (pfds[1].revents & POLLIN) {
      if (stop_.load(std::memory_order_acquire)) break;  // Stop()
      uint64_t v;
      ssize_t rd = read(p.wake_fd, &v, sizeof v);  // Poke(): look at the interface now
      (void)rd;
      if (CheckInterface(p)) pfds[0].fd = p.fd;
    }
    now = MonoNowNs();
    if (DrainPort(p) > 0) {
      PublishCounters(p);
      if (flush_due == 0) flush_due = now + kFlushEveryNs;
    }
    if (flush_due != 0 && now >= flush_due) {
      FlushPort(p);
      flush_due = 0;
    }
    ReadKernelStats(p);
    if (now >= stats_due) {
      stats_due = now + kStatsEveryNs;
      if (CheckInterface(p)) pfds[0].fd = p.fd;
    }
    CheckWriter(p);
  }
  DrainAtStop(p);
}

// After Stop: writes every block that is ready, and waits a little (bounded)
// for blocks the kernel still holds half-filled to retire.
void Sniffer::DrainAtStop(PortState& p) {
  const int64_t t0 = MonoNowNs();
  for (;;) {
    const size_t n = DrainPort(p);
    const int64_t waited = MonoNowNs() - t0;
    if (waited >= kStopMaxWaitNs || p.fd < 0) break;
    if (n == 0) {
      if (waited >= kStopMinWaitNs) break;
      const int ms = int((kStopMinWaitNs - waited + 999'999) / 1'000'000);
      pollfd pfd{p.fd, POLLIN, 0};
      poll(&pfd, 1, ms);
    }
  }
  FlushPort(p);
  ReadKernelStats(p);
  CheckWriter(p);
}

// Inline mode: writes what the forwarder put into the ring. Returns frames
// written. A forwarder waiting for room (capture-first) is told once the ring
// is down to half, not per frame, so it takes a batch when it resumes.
size_t Sniffer::DrainRing(PortState& p, FrameRing& ring) {
  size_t n = 0;
  auto tell_waiting = [&](bool empty) {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with WaitForRoom's fence
    if (ring.producer_waiting.load(std::memory_order_relaxed) && (empty || ring.Used() <= ring.capacity() / 2)) {
      ring.producer_waiting.store(false, std::memory_order_relaxed);
      if (space_fd_ >= 0) Wake(space_fd_);
    }
  };
  // Batches straight from the ring to the file (PcapWriter::WriteFrames: no
  // copy into the writer's buffer on the way); the ring's room comes back
  // once each batch is written, so a batch is also held to 1 MiB, as the
  // writer's buffer was: 256 of gso's 64 KiB super-segments would keep 16 MiB
  // of the ring from the forwarder for a whole write. (One full bench run
  // with unbounded batches saw hn-bridge-gso wait 2.2 s per run; repeated
  // A/B runs did not reproduce it, so this is a precaution. It changes
  // nothing for MTU-sized frames: 256 of them are under 1 MiB.)
  constexpr size_t kBatch = 256;
  constexpr size_t kBatchBytes = 1 << 20;
  FrameRef f[kBatch];
  for (;;) {
    const size_t k = ring.PeekMany(f, kBatch, kBatchBytes);
    if (k == 0) break;
    uint64_t bytes = 0;
    for (size_t i = 0; i < k; i++) bytes += f[i].wire_len;
    p.writer->WriteFrames(f, k);
    p.bytes.fetch_add(bytes, std::memory_order_relaxed);
    ring.PopPeeked();
    n += k;
    tell_waiting(false);
  }
  tell_waiting(true);
  p.kdrops.store(ring.drops(), std::memory_order_relaxed);
  if (n > 0) CopyNewFiles(p);
  return n;
}

// Inline mode's thread. It drains the ring while there is anything in it, and
// sleeps when it is empty: the forwarder wakes it (Nudge) when the ring is an
// eighth full or, with a few frames in it, within 10 ms; with no traffic it
// wakes once a second (kIdleWakeNs) to retry a failed disk and flush. Before
// this it looked every millisecond: 1000 wakeups a second per port with
// nothing to do.
void Sniffer::RunInline(PortState& p, FrameRing& ring) {
  constexpr int64_t kIdleWakeNs = 1'000'000'000;
  pollfd pfd{p.wake_fd, POLLIN, 0};
  int64_t flush_due = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    int64_t now = MonoNowNs();
    const bool worked = DrainRing(p, ring) > 0;
    if (worked) {
      PublishCounters(p);
      if (flush_due == 0) flush_due = now + kFlushEveryNs;
    }
    if (flush_due != 0 && now >= flush_due) {
      FlushPort(p);
      flush_due = 0;
    }
    CheckWriter(p);
    if (worked) continue;
    const int64_t until = flush_due != 0 ? flush_due : now + kIdleWakeNs;
    ring.consumer_sleeping.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ring.Empty() && !stop_.load(std::memory_order_acquire)) {
      const int ms = int(std::max<int64_t>(1, (until - now + 999'999) / 1'000'000));
      if (poll(&pfd, 1, ms) > 0 && (pfd.revents & POLLIN)) {
        uint64_t v;
        ssize_t rd = read(p.wake_fd, &v, sizeof v);
        (void)rd;
      }
    }
    ring.consumer_sleeping.store(false, std::memory_order_relaxed);
  }
  // Stop: the forwarder has stopped offering (the honeywall stops the engine
  // first); write the rest.
  DrainRing(p, ring);
  FlushPort(p);
  CheckWriter(p);
}

void Sniffer::CloseAll() {
  for (auto& p : ports_) {
    if (p->writer) p->writer->Flush();
    PublishCounters(*p);
    p->writer.reset();  // closes the file
    ClosePortSocket(*p);
  }
}

}  // namespace hn
