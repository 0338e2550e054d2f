// Sniffer: see sniffer.h.
//
// One AF_PACKET socket per port with a TPACKET_V3 RX ring: the kernel fills
// 1 MiB blocks with variable-sized frames and hands a block over when it is
// full or 10 ms after its first frame (tp_retire_blk_tov). The thread waits in
// poll() on all sockets plus an eventfd (Stop), walks every block that is
// ready, writes its frames and gives the block back.
#include "capture/sniffer.h"

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
  std::unique_ptr<PcapWriter> writer;
  size_t files_seen = 0;  // writer files already copied to Sniffer::files_
  std::unique_ptr<uint8_t[]> scratch;

  ~PortState() {
    if (map != nullptr) munmap(map, map_len);
    if (fd >= 0) close(fd);
  }
};

// Opens the socket and ring for one port and binds it. Frames are captured
// from the bind on.
static Status OpenPortSocket(Sniffer::Options const& opt, const SnifferPort& port, int* fd_out, uint8_t** map_out,
                             size_t* len_out, uint32_t* blocks_out) {
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
    Status st = OpenPortSocket(opt, port, &ps->fd, &ps->map, &ps->map_len, &ps->block_nr);
    if (!st.ok()) return fail(st);
    ps->scratch.reset(new uint8_t[kScratchBytes]);
    s->ports_.push_back(std::move(ps));
  }
  for (auto& ps : s->ports_) {
    PcapWriter::Options wo;
    wo.dir = opt.dir;
    wo.prefix = ps->port.label;
    wo.rotate_bytes = opt.rotate_bytes;
    wo.rotate_ns = opt.rotate_ns;
    auto w = PcapWriter::Open(wo);
    if (!w.ok()) return fail(Status::Error("capture on '" + ps->port.ifname + "': " + w.status().message()));
    ps->writer = std::move(w.value());
    for (const std::string& f : ps->writer->files()) s->files_.push_back(f);
    ps->files_seen = ps->writer->files().size();
  }
  s->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd_ < 0) return fail(Status::Error("capture: " + Errno("eventfd")));
  s->PublishCounters();
  return s;
}

Sniffer::~Sniffer() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Sniffer::Start() {
  if (stopped_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void Sniffer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    stop_.store(true, std::memory_order_release);
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof one);
    (void)n;  // the eventfd cannot be full; stop_ is read after poll() anyway
    thread_.join();
  } else {
    DrainAtStop();  // never started: still write what the rings hold
  }
  CloseAll();
}

SnifferStats Sniffer::stats() const {
  SnifferStats s;
  s.frames = frames_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.kernel_drops = kdrops_.load(std::memory_order_relaxed);
  s.write_drops = wdrops_.load(std::memory_order_relaxed);
  return s;
}

std::vector<std::string> Sniffer::files() const {
  std::lock_guard<std::mutex> lock(files_mu_);
  return files_;
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
  bytes_.fetch_add(wire, std::memory_order_relaxed);
}

// Walks the blocks the kernel has handed over, in ring order, and gives each
// back after writing its frames. At most one lap.
size_t Sniffer::DrainPort(PortState& p) {
  size_t released = 0;
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
  if (released > 0 && p.writer->files().size() != p.files_seen) {
    std::lock_guard<std::mutex> lock(files_mu_);
    const auto& wf = p.writer->files();
    for (size_t i = p.files_seen; i < wf.size(); i++) files_.push_back(wf[i]);
    p.files_seen = wf.size();
  }
  return released;
}

size_t Sniffer::DrainAll() {
  size_t n = 0;
  for (auto& p : ports_) n += DrainPort(*p);
  if (n > 0) PublishCounters();
  return n;
}

void Sniffer::FlushAll() {
  for (auto& p : ports_)
    if (p->writer) p->writer->Flush();
  PublishCounters();
}

// PACKET_STATISTICS returns the counts since the last call and resets them.
void Sniffer::ReadKernelStats() {
  for (auto& p : ports_) {
    if (p->fd < 0) continue;
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
      kdrops_.fetch_add(st.tp_drops, std::memory_order_relaxed);
  }
}

// Frames written and frames lost to write errors, summed over the writers.
void Sniffer::PublishCounters() {
  uint64_t frames = 0, lost = 0;
  for (auto& p : ports_) {
    if (!p->writer) continue;
    frames += p->writer->frames_written();
    lost += p->writer->frames_lost();
  }
  frames_.store(frames, std::memory_order_relaxed);
  wdrops_.store(lost, std::memory_order_relaxed);
}

void Sniffer::Run() {
  std::vector<pollfd> pfds(ports_.size() + 1);
  for (size_t i = 0; i < ports_.size(); i++) pfds[i] = {ports_[i]->fd, POLLIN, 0};
  pfds.back() = {wake_fd_, POLLIN, 0};
  int64_t flush_due = 0;  // 0: nothing unflushed
  int64_t stats_due = MonoNowNs() + kStatsEveryNs;
  while (!stop_.load(std::memory_order_acquire)) {
    int64_t now = MonoNowNs();
    int64_t wake = stats_due;
    if (flush_due != 0) wake = std::min(wake, flush_due);
    const int timeout_ms = int(std::max<int64_t>(0, (wake - now + 999'999) / 1'000'000));
    const int r = poll(pfds.data(), pfds.size(), timeout_ms);
    if (r < 0 && errno != EINTR) break;  // cannot happen with valid fds; leave to Stop()'s drain
    for (size_t i = 0; i + 1 < pfds.size(); i++) {
      if (pfds[i].revents & POLLERR) {  // e.g. ENETDOWN: reading SO_ERROR clears it
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(pfds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    if (pfds.back().revents & POLLIN) break;  // Stop()
    now = MonoNowNs();
    if (DrainAll() > 0 && flush_due == 0) flush_due = now + kFlushEveryNs;
    if (flush_due != 0 && now >= flush_due) {
      FlushAll();
      flush_due = 0;
    }
    ReadKernelStats();
    if (now >= stats_due) stats_due = now + kStatsEveryNs;
  }
  DrainAtStop();
}

// After Stop: writes every block that is ready, and waits a little (bounded)
// for blocks the kernel still holds half-filled to retire.
void Sniffer::DrainAtStop() {
  std::vector<pollfd> pfds;
  for (auto& p : ports_)
    if (p->fd >= 0) pfds.push_back({p->fd, POLLIN, 0});
  const int64_t t0 = MonoNowNs();
  for (;;) {
    const size_t n = DrainAll();
    const int64_t waited = MonoNowNs() - t0;
    if (waited >= kStopMaxWaitNs) break;
    if (n == 0) {
      if (waited >= kStopMinWaitNs) break;
      const int ms = int((kStopMinWaitNs - waited + 999'999) / 1'000'000);
      poll(pfds.data(), pfds.size(), ms);
    }
  }
  FlushAll();
  ReadKernelStats();
}

void Sniffer::CloseAll() {
  for (auto& p : ports_) {
    if (p->writer) p->writer->Flush();
  }
  PublishCounters();
  for (auto& p : ports_) {
    p->writer.reset();  // closes the file
    if (p->map != nullptr) munmap(p->map, p->map_len);
    p->map = nullptr;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
  }
}

}  // namespace hn
