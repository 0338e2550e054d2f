#include "wall/honeywall.h"

#include <linux/capability.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <vector>

#include "capture/event_writer.h"
#include "capture/retention.h"
#include "capture/sniffer.h"
#include "common/clock.h"
#include "io/af_packet.h"
#include "io/ingress_shield.h"
#include "io/port_check.h"
#include "wall/engine.h"

namespace hn {
namespace {

constexpr int64_t kTimerNs = 10'000'000;          // engine timers every 10 ms
constexpr int64_t kReadyWaitNs = 3'000'000'000;   // nat: wait this long for the gateway's ARP reply
constexpr int kBatch = 256;                       // frames per port per loop turn
constexpr int64_t kLinkCheckNs = 250'000'000;     // look at the data ports' links this often
// Slots in each data port ring (RX and TX): 4096 x 2 KiB = 8 MiB per ring at MTU 1500, so
// an RX ring rides out ~80 ms without the forwarder at 50 k frames/s (1024 slots overflowed
// under a loaded 2-CPU machine at that rate).
constexpr uint32_t kPortRingFrames = 4096;
// gso = true: 68 KiB slots (a whole super-segment each), so fewer of them:
// 259 per ring, 18.5 MiB per ring, 74 MiB for the four rings.
constexpr uint32_t kPortRingFramesGso = 256;

// What the forwarder knows about a data port's link.
enum class Link : uint8_t {
  kUp,       // forwarding
  kDown,     // administratively down (ip link set X down): same interface, socket kept
  kBlocked,  // up again, but CheckDataPort() refuses it (an address, IPv6, ...): not forwarding
  kGone,     // the interface was deleted: socket closed, reopened when the name is back
  kStarting, // reopened on a re-created interface; waits for the capture to be bound to it
};

const char* LinkName(Link l) {
  switch (l) {
    case Link::kUp: return "up";
    case Link::kDown: return "down";
    case Link::kBlocked: return "blocked";
    case Link::kGone: return "gone";
    case Link::kStarting: return "starting";
  }
  return "?";
}

struct PortHealth {
  Link state = Link::kUp;
  bool carrier = true;
  bool carrier_known = false;
  uint64_t downs = 0;       // times the link went down or away
  uint64_t reopens = 0;     // times the port was opened again on a re-created interface
  uint64_t tx_refused = 0;  // frames the engine had for this port while it was not up
  uint64_t rx_ignored = 0;  // frames received while not up (blocked): not forwarded
  std::string problem;      // why it is blocked / cannot be reopened (logged when it changes)
  int segmentation = -1;    // ports that send super-segments: TSO on (1) or off (0) at the last check; -1 not known
};

// Hands the engine a port's TX ring, or nothing while the port is not up (the
// engine counts those frames in tx_full; the port's tx_refused says why).
// The engine's way out: a port's TX ring. With inline capture, every frame
// queued is also handed to the capture (the copy in the TX slot is the frame
// as it leaves), stamped with now_ns, the time of the frame or timer that
// caused it.
class PortSink : public TxSink {
 public:
  PortSink(AfPacketPort* const* ports, PortHealth* health, Sniffer* capture)
      : ports_(ports), health_(health), capture_(capture) {}
  uint8_t* Reserve(int port, uint32_t* max_len) override {
    if (ports_[port] == nullptr || health_[port].state != Link::kUp) {
      health_[port].tx_refused++;
      return nullptr;
    }
    // Capture-first: nothing leaves unless its copy has a place in the
    // capture ring. The forwarder checks this before it takes a frame in, so
    // only frames the engine makes on its own (timers, replies) can meet it.
    if (capture_first && !capture_->HasRoom(size_t(port), ports_[port]->max_tx_len())) {
      capture_refused++;
      return nullptr;
    }
    slot_[port] = ports_[port]->Reserve(max_len);
    return slot_[port];
  }
  bool CanLeaveChecksum() const override {
    return ports_[0] != nullptr && ports_[1] != nullptr && ports_[0]->has_vnet_hdr() && ports_[1]->has_vnet_hdr();
  }
  void CommitOffload(int port, uint32_t len, const Offload& o) override {
    if (ports_[port] != nullptr)
      ports_[port]->SetTxOffload(o.csum_start, o.csum_offset, o.gso_type, o.gso_size, o.hdr_len);
    Commit(port, len);
  }
  bool Coalesce(int port, const uint8_t* data, uint32_t len, bool partial) override {
    AfPacketPort* p = ports_[port];
    if (p == nullptr || !p->coalescing() || health_[port].state != Link::kUp) return false;
    if (capture_first && !capture_->HasRoom(size_t(port), len)) return false;  // Reserve() says why
    if (!p->Coalesce(data, len, partial)) return false;
    if (capture_ != nullptr) capture_->Offer(size_t(port), now_ns, data, len, len);
    return true;
  }
  void Commit(int port, uint32_t len) override {
    if (ports_[port] == nullptr) return;
    if (ports_[port]->Commit(len) && capture_ != nullptr && slot_[port] != nullptr)
      capture_->Offer(size_t(port), now_ns, slot_[port], len, len);
    slot_[port] = nullptr;
  }
  int64_t now_ns = 0;
  bool capture_first = false;    // capture.policy = "capture-first" with inline capture
  uint64_t capture_refused = 0;  // frames the engine made that were not sent: no capture room

 private:
  AfPacketPort* const* ports_;
  PortHealth* health_;
  Sniffer* capture_;  // inline capture, or nullptr
  uint8_t* slot_[2] = {nullptr, nullptr};
};

// A data port's socket as the honeywall runs it, at start and when a deleted
// interface comes back: transmit thread, virtio-net headers (checksum offload
// passed on), gso's big slots when asked, qdisc bypass with inline capture.
// Whether the ports join TCP segments on transmit (coalesce): only with inline
// capture, which records each segment as it was before it is joined (a
// capture beside the port would see the super-segments), and not with gso,
// whose ports carry super-segments of their own.
bool Coalescing(const Config& cfg, bool inline_cap) { return cfg.coalesce && inline_cap && !cfg.gso; }

// The offloads the honeywall sets on a data port: at start, on reopen, and
// again at each link check (KeepOffloads). Returns one line per change.
Result<std::vector<std::string>> SetPortOffloads(const std::string& name, const Config& cfg, bool inline_cap) {
  return DisableOffloads(name, cfg.gso, cfg.gro, Coalescing(cfg, inline_cap));
}

Result<std::unique_ptr<AfPacketPort>> OpenDataPort(const std::string& name, const Config& cfg, bool inline_cap) {
  return AfPacketPort::Open(name, cfg.gso ? kPortRingFramesGso : kPortRingFrames, inline_cap, /*tx_thread=*/true,
                            /*vnet_hdr=*/true, cfg.gso, Coalescing(cfg, inline_cap));
}

void AddStats(PortStats* to, const PortStats& s) {
  to->rx_frames += s.rx_frames;
  to->tx_frames += s.tx_frames;
  to->tx_ring_full += s.tx_ring_full;
  to->rx_truncated += s.rx_truncated;
  to->kernel_drops += s.kernel_drops;
  to->tx_errors += s.tx_errors;
  to->tx_discarded += s.tx_discarded;
  to->tx_cut += s.tx_cut;
}

class WriterSink : public EventSink {
 public:
  explicit WriterSink(EventWriter* w) : w_(w) {}
  void Post(const Event& e) override { w_->Post(e); }

 private:
  EventWriter* w_;
};

}  // namespace

struct Honeywall::Impl {
  std::unique_ptr<Detector> detector;  // destroyed after the engine that uses it (declared first)
  Config cfg;
  BudgetClock budget_clock;  // what budgets are charged in (common/clock.h)
  std::unique_ptr<AfPacketPort> port_owner[2];
  std::unique_ptr<IngressShield> shield;  // the host's stack sees none of the ports' frames (or nullptr)
  AfPacketPort* ports[2] = {nullptr, nullptr};
  std::unique_ptr<CaptureDisk> disk;  // retention (before writer and sniffer: they use it)
  std::unique_ptr<EventWriter> writer;
  std::unique_ptr<Sniffer> sniffer;
  std::unique_ptr<PortSink> tx;
  std::unique_ptr<WriterSink> ev;
  std::unique_ptr<Engine> engine;
  Say say;
  PortHealth health[2];
  PortStats retired[2];  // counters of port sockets closed since start (interface deleted)
  Sniffer* inline_capture = nullptr;  // = sniffer.get() when it takes frames from us
  bool capture_first = false;         // inline capture and capture.policy = "capture-first"
  uint64_t capture_waits = 0;         // times the forwarder held a port's frames for the capture
  int64_t capture_wait_ns = 0;        // time spent holding

  std::string StatsJson() const;
  SnifferStats CaptureStats() const;
  const std::string& Name(int i) const { return i == 0 ? cfg.inside.interface : cfg.outside.interface; }
  const char* Side(int i) const { return i == 0 ? "inside" : "outside"; }
  PortStats Stats(int i) const;
  void Notice(const std::string& what, int port, const std::string& message);
  void OnPortError(int i);
  void CheckPort(int i);
  void CheckSegmentation(int i);
  void KeepOffloads(int i);
  void ClosePort(int i);
  bool ReopenPort(int i);
  void StartIfCaptured(int i);
  bool Shield(int i);
  void PostSnifferNotices();
  bool CaptureRoomFor(int port, uint32_t len);
};

// Capture-first: may a len-byte frame received on port be taken in? It needs
// room in port's capture ring for itself and in the other port's for the
// largest frame the engine may send on. False: hold it (the capture writer
// has been asked to signal space_fd once it has made room).
bool Honeywall::Impl::CaptureRoomFor(int port, uint32_t len) {
  const AfPacketPort* other = ports[1 - port];
  for (;;) {
    size_t ring;
    uint32_t need;
    if (!inline_capture->HasRoom(size_t(port), len)) {
      ring = size_t(port);
      need = len;
    } else if (other != nullptr && !inline_capture->HasRoom(size_t(1 - port), other->max_tx_len())) {
      ring = size_t(1 - port);
      need = other->max_tx_len();
    } else {
      return true;
    }
    if (!inline_capture->WaitForRoom(ring, need)) return false;
  }
}

// The capture's counters: frames written, and frames that crossed the wall
// (received by the forwarder, or sent) but are not in the files: kernel_drops
// (the capture ring had no room: forward-first only) and write_drops. A frame
// the data port's RX ring had no room for never reached the honeywall, was
// neither forwarded nor captured, and counts in that port's kernel_drops
// ("rx ring overflow" in the stop line), like a frame a switch's full queue
// dropped. So: frames = port rx_frames + tx_frames - kernel_drops - write_drops.
SnifferStats Honeywall::Impl::CaptureStats() const { return sniffer->stats(); }

PortStats Honeywall::Impl::Stats(int i) const {
  PortStats s = retired[i];
  if (ports[i] != nullptr) AddStats(&s, ports[i]->stats());
  return s;
}

// Tells the user (stdout) and the logs (events.json "notice", honeywall.log "NOTICE").
void Honeywall::Impl::Notice(const std::string& what, int port, const std::string& message) {
  say(message);
  writer->PostNotice(what, port >= 0 ? Name(port) : std::string(), message);
}

void Honeywall::Impl::PostSnifferNotices() {
  if (!sniffer) return;
  for (const SnifferNotice& n : sniffer->TakeNotices()) {
    say(n.message);
    writer->PostNotice(n.what, n.iface, n.message);
  }
}

// poll() said POLLERR: read the socket's error (which clears it: poll() would
// report it again and again otherwise) and look at the link now.
void Honeywall::Impl::OnPortError(int i) {
  if (ports[i] == nullptr) return;
  const int err = ports[i]->TakeError();
  if (err != 0 && err != ENETDOWN && err != ENXIO && err != ENODEV)
    say(fmt::format("{} port {}: socket error: {}", Side(i), Name(i), std::strerror(err)));
  CheckPort(i);
}

void Honeywall::Impl::ClosePort(int i) {
  if (ports[i] == nullptr) return;
  AddStats(&retired[i], ports[i]->stats());
  port_owner[i].reset();
  ports[i] = nullptr;
}

// The interface is back under the same name: the same checks as at start, then a new socket.
bool Honeywall::Impl::ReopenPort(int i) {
  PortHealth& h = health[i];
  auto blocked = [&](const std::string& why) {
    if (why != h.problem)
      Notice("port_blocked", i, fmt::format("{} port {}: the interface is back but cannot be used: {}; "
                                            "not forwarding on it until that is fixed", Side(i), Name(i), why));
    h.problem = why;
    return false;
  };
  if (Status st = CheckDataPort(Name(i)); !st.ok()) return blocked(st.message());
  auto changes = SetPortOffloads(Name(i), cfg, inline_capture != nullptr);
  if (!changes.ok()) return blocked(changes.status().message());
  for (const std::string& line : changes.value()) say(line);
  auto port = OpenDataPort(Name(i), cfg, inline_capture != nullptr);
  if (!port.ok()) return blocked(port.status().message());
  port_owner[i] = std::move(port.value());
  ports[i] = port_owner[i].get();
  Shield(i);  // the chain made for the old interface went with it
  h.reopens++;
  h.problem.clear();
  h.carrier_known = false;
  h.state = Link::kStarting;
  if (sniffer) sniffer->Poke();
  StartIfCaptured(i);
  return true;
}

// Keeps the host's stack off port i's frames (a chain for the interface now
// under that name). A failure is told and forwarding goes on without it.
bool Honeywall::Impl::Shield(int i) {
  if (!shield) return false;
  Status st = shield->Cover(Name(i));
  if (!st.ok())
    say(fmt::format("note: {} port {}: not shielded from the host's own network stack: {}", Side(i), Name(i),
                    st.message()));
  return st.ok();
}

// A reopened port forwards only once the capture records it too: every frame
// forwarded is in the pcap files (or counted as a capture drop).
void Honeywall::Impl::StartIfCaptured(int i) {
  if (sniffer && sniffer->CapturingIndex(Name(i)) != unsigned(ports[i]->ifindex())) return;
  health[i].state = Link::kUp;
  PostSnifferNotices();  // "capturing again" first: it is true before forwarding starts
  Notice("port_reopened", i, fmt::format("{} port {}: the interface is back (index {}): forwarding again",
                                         Side(i), Name(i), ports[i]->ifindex()));
}

// Follows the port's link: down -> nothing is forwarded to or from it; up ->
// checked again like at start, then forwarding; deleted -> socket closed and
// reopened once an interface of that name exists again and passes the checks.
void Honeywall::Impl::CheckPort(int i) {
  PortHealth& h = health[i];
  const LinkState ls = ReadLinkState(Name(i));
  if (h.state == Link::kGone) {
    if (ls.exists && ls.up) ReopenPort(i);  // a new interface is set up before it is up: wait for that
    return;
  }
  if (!ls.exists || ls.ifindex != ports[i]->ifindex()) {
    ClosePort(i);
    if (h.state == Link::kUp) h.downs++;
    h.state = Link::kGone;
    h.problem.clear();
    Notice("port_gone", i, fmt::format("{} port {}: the interface is gone; nothing is forwarded to or from it "
                                       "until an interface of that name is back", Side(i), Name(i)));
    if (ls.exists && ls.up) ReopenPort(i);  // already re-created
    return;
  }
  if (h.state == Link::kStarting) {
    StartIfCaptured(i);
    return;
  }
  if (!ls.up) {
    if (h.state != Link::kDown) {
      if (h.state == Link::kUp) h.downs++;
      h.state = Link::kDown;
      const size_t dropped = ports[i]->DiscardQueuedTx();
      Notice("link_down", i, fmt::format("{} port {}: link down; nothing is forwarded to or from it until it is "
                                         "up again{}", Side(i), Name(i),
                                         dropped ? fmt::format(" ({} queued frames dropped)", dropped) : ""));
    }
    return;
  }
  if (h.state != Link::kUp) {
    if (Status st = CheckDataPort(Name(i)); !st.ok()) {
      if (h.state != Link::kBlocked || h.problem != st.message())
        Notice("port_blocked", i, fmt::format("{} port {}: up again but {}; not forwarding on it until that is "
                                              "fixed", Side(i), Name(i), st.message()));
      h.state = Link::kBlocked;
      h.problem = st.message();
      return;
    }
    ports[i]->DiscardQueuedTx();  // nothing left over from before
    h.state = Link::kUp;
    h.problem.clear();
    Notice("link_up", i, fmt::format("{} port {}: link up again: forwarding", Side(i), Name(i)));
  }
  if (!h.carrier_known || ls.running != h.carrier) {
    if (h.carrier_known)
      Notice(ls.running ? "carrier_back" : "carrier_lost", i,
             fmt::format("{} port {}: {}", Side(i), Name(i),
                         ls.running ? "carrier back" : "no carrier (the other end is down)"));
    h.carrier = ls.running;
    h.carrier_known = true;
  }
  KeepOffloads(i);
  CheckSegmentation(i);
}

// A data port's offloads are the honeywall's: what it set at start
// (SetPortOffloads), changed under the running wall (ethtool), is set again
// at the next link check and said (notice offload_reverted). GRO or LRO on
// without gso hands it frames bigger than its ring slots (each dropped as
// oversized: a TCP stream stalls); TSO off on a port that joins segments
// makes it join nothing (CheckSegmentation). With gso, TSO and GSO are left
// as they are found.
void Honeywall::Impl::KeepOffloads(int i) {
  auto changes = SetPortOffloads(Name(i), cfg, inline_capture != nullptr);
  if (!changes.ok()) return;  // gone meanwhile: the next link check sees it
  for (const std::string& line : changes.value())
    Notice("offload_reverted", i,
           fmt::format("{} again (the {} port's offloads are set by the honeywall, as at start: docs/config.md)",
                       line, Side(i)));
}

// A port that sends TCP super-segments (coalesce, gso) sends them whole only
// while its device has TSO on (AfPacketPort::CheckSegmentation): ethtool may
// turn it off, and on, at any time. Said when it changes, and at start when
// it is off.
void Honeywall::Impl::CheckSegmentation(int i) {
  if (!ports[i]->sends_supers()) return;
  const int now = ports[i]->CheckSegmentation() ? 1 : 0;
  PortHealth& h = health[i];
  if (now == h.segmentation) return;
  const char* what = ports[i]->coalescing()
                         ? "TCP segments go on one by one instead of being joined on transmit (coalesce)"
                         : "the honeywall cuts the TCP/IPv4 super-segments it sends there (gso; others are "
                           "dropped, counted in tx_errors)";
  if (now == 0)
    Notice("segmentation_off", i,
           fmt::format("{} port {}: no TSO on it (ethtool -k {}), so {}", Side(i), Name(i), Name(i), what));
  else if (h.segmentation == 0)
    Notice("segmentation_on", i,
           fmt::format("{} port {}: TSO is on again: super-segments leave whole", Side(i), Name(i)));
  h.segmentation = now;
}

Result<std::unique_ptr<Honeywall>> Honeywall::Open(const Config& cfg, Say say, std::unique_ptr<Detector> detector) {
  std::unique_ptr<Honeywall> w(new Honeywall());
  w->impl_ = std::make_unique<Impl>();
  Impl& m = *w->impl_;
  m.detector = std::move(detector);
  m.cfg = cfg;
  m.say = say;

  std::error_code ec;
  std::filesystem::create_directories(cfg.capture.dir, ec);
  if (ec) return Status::Error(fmt::format("capture.dir: cannot create {}: {}", cfg.capture.dir, ec.message()));
  ::chmod(cfg.capture.dir.c_str(), 0750);

  const std::string* names[2] = {&cfg.inside.interface, &cfg.outside.interface};
  for (const std::string* n : names) {
    Status s = CheckDataPort(*n);
    if (!s.ok()) return s;
  }
  // Inline capture records every frame the forwarder sends, so its sends may
  // skip the qdisc layer and the kernel's copies to other packet sockets.
  const bool inline_cap = cfg.capture.pcap && cfg.capture.inline_capture;
  for (const std::string* n : names) {
    auto changes = SetPortOffloads(*n, cfg, inline_cap);
    if (!changes.ok()) return changes.status();
    for (const std::string& line : changes.value()) say(line);
  }
  for (int i = 0; i < 2; i++) {
    auto port = OpenDataPort(*names[i], cfg, inline_cap);
    if (!port.ok()) return port.status();
    m.port_owner[i] = std::move(port.value());
    m.ports[i] = m.port_owner[i].get();
  }
  // The host's own stack is kept off the ports' frames (io/ingress_shield.h).
  // Optional: without it the wall is as safe (port_check), only slower.
  if (auto shield = IngressShield::Open(fmt::format("honeynet_wall_{}", ::getpid())); shield.ok()) {
    m.shield = std::move(shield.value());
    const bool inside = m.Shield(0);
    if (m.Shield(1) && inside)
      say(fmt::format("data ports: the host's own network stack sees none of their frames (nftables table netdev {}, "
                      "removed when the wall exits)", m.shield->table()));
  } else {
    say("note: data ports not shielded from the host's own network stack (it parses and drops their frames; "
        "slower, not less safe): " + shield.status().message());
  }

  std::vector<Budget> budgets;
  for (const HoneypotConfig& h : m.cfg.honeypots) budgets.emplace_back(h.limits);
  Status s = EventWriter::LoadBudgets(m.cfg, &budgets, m.budget_clock.Now());
  if (!s.ok()) return s;
  auto writer = EventWriter::Open(m.cfg, budgets);
  if (!writer.ok()) return writer.status();
  m.writer = std::move(writer.value());
  const CaptureConfig& cc = m.cfg.capture;
  RetentionPolicy rp;
  rp.max_total = cc.max_total;
  rp.max_age_ns = cc.max_age_ns;
  rp.min_free = cc.min_free;
  rp.min_free_pct = cc.min_free_pct;
  if (rp.any()) {
    // Never deleted: the budgets, the state files and the current logs.
    m.disk = std::make_unique<CaptureDisk>(
        cc.dir, rp, std::vector<std::string>{"budgets.json", "stats.json", "tty-offsets.json", "events.json", "honeywall.log"});
    m.writer->AttachDisk(m.disk.get());
    std::string bounds;
    if (rp.max_total) bounds += "max_total " + std::to_string(rp.max_total >> 20) + " MiB ";
    if (rp.max_age_ns) bounds += "max_age " + std::to_string(rp.max_age_ns / 1'000'000'000) + " s ";
    if (rp.min_free) bounds += "min_free " + std::to_string(rp.min_free >> 20) + " MiB ";
    if (rp.min_free_pct > 0) bounds += "min_free " + std::to_string(rp.min_free_pct) + " % ";
    say("capture retention: " + bounds + "(files rotate at " + std::to_string(m.disk->rotate_cap() >> 10) +
        " KiB at most; oldest closed files go first)");
  }

  if (m.cfg.capture.pcap) {
    Sniffer::Options so;
    so.ports = {{m.cfg.inside.interface, "inside"}, {m.cfg.outside.interface, "outside"}};
    so.dir = m.cfg.capture.dir;
    so.rotate_bytes = m.cfg.capture.rotate_bytes;
    so.rotate_ns = m.cfg.capture.rotate_ns;
    so.ring_mb = m.cfg.capture.ring_mb;
    so.direct_io = m.cfg.capture.direct_io;
    so.inline_feed = inline_cap;
    so.disk = m.disk.get();
    auto sn = Sniffer::Open(so);
    if (!sn.ok()) return sn.status();
    m.sniffer = std::move(sn.value());
    if (inline_cap) m.inline_capture = m.sniffer.get();
  } else {
    say("capture.pcap = false: frames are not written to pcap files");
  }

  m.capture_first = m.inline_capture != nullptr && m.cfg.capture.capture_first;
  if (m.cfg.capture.pcap)
    say(m.capture_first ? "capture.policy = \"capture-first\": a frame is forwarded only once the capture has it"
                        : "capture.policy = \"forward-first\": forwarding never waits for the capture; "
                          "what it cannot keep is counted as capture drops");
  m.tx = std::make_unique<PortSink>(m.ports, m.health, m.inline_capture);
  m.tx->capture_first = m.capture_first;
  m.ev = std::make_unique<WriterSink>(m.writer.get());
  m.engine = std::make_unique<Engine>(m.cfg, std::move(budgets), m.tx.get(), m.ev.get());
  m.engine->SetPortMac(kInside, m.cfg.inside.mac.value_or(m.ports[0]->mac()));
  m.engine->SetPortMac(kOutside, m.cfg.outside.mac.value_or(m.ports[1]->mac()));
  if (m.detector) {
    m.engine->SetDetector(m.detector.get());
    m.writer->SetRules(&m.detector->rules());
  }
  return w;
}

Honeywall::~Honeywall() = default;

void Honeywall::RequestReopen() {
  if (impl_ && impl_->writer) impl_->writer->RequestReopen();
}

std::vector<int> WallCapabilities() { return {CAP_NET_RAW, CAP_NET_ADMIN}; }

SyscallAllowList WallSyscalls() {
  SyscallAllowList l = SyscallAllowList::Base();
  // Data ports and capture sockets (AF_PACKET), interface ioctls (AF_INET
  // datagram socket), link state (rtnetlink), syslog and if_nametoindex (AF_UNIX).
  l.AllowIf("socket", 0, {AF_PACKET, AF_INET, AF_NETLINK, AF_UNIX});
  l.AllowIf("ioctl", 1, {SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFHWADDR, SIOCETHTOOL,
                         TCGETS, FIONREAD});
  return l;
}

Status Honeywall::Run(const std::atomic<bool>& stop, const std::function<void()>& on_ready) {
  Impl& m = *impl_;
  m.writer->Start();
  if (m.sniffer) m.sniffer->Start();

  const int64_t t0 = MonoNowNs();
  m.tx->now_ns = WallNowNs();
  m.engine->Start(m.tx->now_ns);
  bool ready = false;
  int64_t last_timer = MonoNowNs();
  int64_t last_stats = last_timer;

  int64_t next_link_check = last_timer;
  int64_t last_frame = 0;  // monotonic time of the last loop turn that had frames
  // Adaptive polling: after a turn with frames the forwarder looks again
  // without sleeping for kSpinNs (a reply to what it just forwarded comes back
  // within tens of microseconds on a veth or tap), then sleeps in poll(). On
  // a 2-CPU machine a thread woken from poll() costs tens of microseconds per
  // wakeup; spinning for a lone frame's reply removes one of the two wakeups
  // of a round trip without taking a core while idle. busy_poll (opt-in)
  // spins longer. Measured in docs/performance.md.
  constexpr int64_t kSpinNs = 50'000;
  const int64_t spin_ns = std::max<int64_t>(kSpinNs, m.cfg.busy_poll_ns);
  bool held[2] = {false, false};     // capture-first: the port's next frame waits for capture room
  int64_t held_since = 0;
  pollfd pfd[3];
  // Budgets are charged on the budget clock: its skew from the frames' wall
  // clock changes only when the wall clock is set or slewed, so it is taken
  // again with the engine's timers, not per frame.
  m.engine->SetBudgetSkew(m.budget_clock.SkewFromWall());
  while (!stop.load(std::memory_order_relaxed)) {
    const bool any_held = held[0] || held[1];
    // A held port's ring has frames in it: poll() would return at once, so
    // the forwarder waits on the capture's space_fd for it instead.
    for (int port = 0; port < 2; port++)
      pfd[port] = {m.ports[port] && !held[port] ? m.ports[port]->fd() : -1, POLLIN, 0};
    pfd[2] = {any_held ? m.inline_capture->space_fd() : -1, POLLIN, 0};
    const bool spin = !any_held && MonoNowNs() - last_frame < spin_ns;
    // A frame the kernel said "try again" for is sent again at the next turn:
    // not after a whole sleep (5 ms of latency for a lone frame).
    const bool stalled = (m.ports[0] && m.ports[0]->tx_stalled()) || (m.ports[1] && m.ports[1]->tx_stalled());
    int n = ::poll(pfd, 3, spin ? 0 : stalled ? 1 : 5);
    if (n < 0 && errno != EINTR) return Status::Error(fmt::format("poll: {}", std::strerror(errno)));
    for (int port = 0; port < 2; port++) {
      if (n > 0 && (pfd[port].revents & (POLLERR | POLLHUP | POLLNVAL))) m.OnPortError(port);
    }
    if (n > 0 && (pfd[2].revents & POLLIN)) m.inline_capture->ClearSpace();
    if (any_held) {
      m.capture_wait_ns += MonoNowNs() - held_since;
      held[0] = held[1] = false;  // look again: the rings may have room now
    }
    bool got_frames = false;
    for (int port = 0; port < 2; port++) {
      AfPacketPort* p = m.ports[port];
      if (p == nullptr) continue;
      const bool up = m.health[port].state == Link::kUp;
      RxFrame f;
      for (int i = 0; i < kBatch && p->Next(&f); i++) {
        // Capture-first: take the frame in only when the capture has room for
        // it and for what the engine will send on; otherwise leave it in the
        // RX ring (backpressure: the ring fills, the sender slows down).
        if (m.capture_first && !m.CaptureRoomFor(port, f.len)) {
          held[port] = true;
          m.capture_waits++;
          held_since = MonoNowNs();
          break;
        }
        const int64_t ts = f.ts_ns ? f.ts_ns : WallNowNs();
        // Inline capture: the frame as it came in, before the engine looks at
        // (or NAT rewrites) it; also the ones it will not forward.
        if (m.inline_capture != nullptr) m.inline_capture->Offer(size_t(port), ts, f.data, f.len, f.wire_len);
        if (!up) {
          m.health[port].rx_ignored++;  // fail closed: a port that failed its checks forwards nothing
        } else if (f.wire_len <= f.len) {
          m.tx->now_ns = ts;
          m.engine->OnFrame(port, f.data, f.len, ts, f.csum_not_ready,
                            Offload{f.csum_start, f.csum_offset, f.gso_type, f.gso_size, f.hdr_len});
        }
        p->Release();
        got_frames = true;
      }
    }
    // Outbound bandwidth: queued frames whose time has come (the loop turns at least every 5 ms).
    m.tx->now_ns = WallNowNs();
    m.engine->ReleaseShaped(m.tx->now_ns);
    for (AfPacketPort* p : m.ports)
      if (p != nullptr) p->Flush();

    const int64_t mono = MonoNowNs();
    if (got_frames) last_frame = mono;
    if (m.inline_capture != nullptr) m.inline_capture->Nudge(mono);
    if (mono - last_timer >= kTimerNs) {
      last_timer = mono;
      m.engine->SetBudgetSkew(m.budget_clock.SkewFromWall());
      m.tx->now_ns = WallNowNs();
      m.engine->OnTimer(m.tx->now_ns);
      for (AfPacketPort* p : m.ports)
        if (p != nullptr) p->Flush();
    }
    if (mono >= next_link_check) {
      const bool starting = m.health[0].state == Link::kStarting || m.health[1].state == Link::kStarting;
      next_link_check = mono + (starting ? kTimerNs : kLinkCheckNs);
      m.CheckPort(0);
      m.CheckPort(1);
      m.PostSnifferNotices();
    }
    if (!ready && (m.engine->ready() || mono - t0 > kReadyWaitNs)) {
      ready = true;
      if (!m.engine->ready())
        m.say(fmt::format("warning: the upstream gateway {} does not answer ARP on {} yet; outbound frames wait for it",
                          m.cfg.outside_gateway ? m.cfg.outside_gateway->ToString() : "?", m.cfg.outside.interface));
      on_ready();
    }
    if (mono - last_stats >= m.cfg.capture.stats_interval_ns) {
      last_stats = mono;
      m.writer->PostStats(m.StatsJson());
    }
  }

  // Stop: end flows (their events), then stop capture and events so files are complete.
  m.engine->Stop(WallNowNs());
  if (m.sniffer) m.sniffer->Stop();
  m.PostSnifferNotices();
  m.writer->PostStats(m.StatsJson());
  m.writer->Stop();
  return Status::Ok();
}

std::string Honeywall::Impl::StatsJson() const {
  using nlohmann::json;
  const EngineCounters& c = engine->counters();
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  json j;
  const char* names[2] = {"inside", "outside"};
  for (int i = 0; i < 2; i++) {
    const PortStats ps = Stats(i);
    const PortHealth& h = health[i];
    j[names[i]] = {{"interface", Name(i)},
                   {"rx_frames", ld(c.rx_frames[i])}, {"rx_bytes", ld(c.rx_bytes[i])},
                   {"tx_frames", ld(c.tx_frames[i])}, {"tx_bytes", ld(c.tx_bytes[i])},
                   {"kernel_drops", ps.kernel_drops}, {"truncated", ps.rx_truncated},
                   {"link", LinkName(h.state)}, {"link_downs", h.downs}, {"reopens", h.reopens},
                   {"tx_refused", h.tx_refused}, {"tx_discarded", ps.tx_discarded},
                   {"tx_errors", ps.tx_errors}, {"rx_ignored", h.rx_ignored}, {"tx_cut", ps.tx_cut}};
  }
  json drops = json::object();
  uint64_t total = 0;
  for (size_t r = 0; r < size_t(Reason::kCount); r++) {
    uint64_t v = ld(c.drops[r]);
    if (v) drops[ReasonName(Reason(r))] = v;
    total += v;
  }
  j["drops"] = drops;
  j["drops_total"] = total;
  j["tx_full"] = ld(c.tx_full);
  j["not_for_us"] = ld(c.not_for_us);
  j["flows"] = {{"active", engine->flows().size()}, {"new", ld(c.flows_new)}, {"ended", ld(c.flows_ended)}, {"evicted", ld(c.flows_evicted)}, {"window_full", ld(c.flows_window_full)}};
  if (sniffer) {
    SnifferStats ss = CaptureStats();
    j["capture"] = {{"frames", ss.frames}, {"bytes", ss.bytes}, {"kernel_drops", ss.kernel_drops},
                    {"write_drops", ss.write_drops},
                    {"policy", capture_first ? "capture-first" : "forward-first"},
                    {"waits", capture_waits}, {"wait_ms", capture_wait_ns / 1'000'000},
                    {"tx_refused", tx->capture_refused}};
  }
  j["events"] = {{"written", writer->written()}, {"dropped", writer->dropped()}, {"shed", writer->shed()},
                 {"suppressed", ld(engine->counters().events_suppressed)},
                 {"suppressed_allowed", ld(engine->counters().events_suppressed_allowed)}};
  j["reply_overruns"] = ld(c.reply_overruns);
  if (disk)
    j["retention"] = {{"bytes", disk->total_bytes()}, {"deleted_files", disk->deleted_files()},
                      {"deleted_bytes", disk->deleted_bytes()}, {"refused_bytes", disk->refused_bytes()}};
  json hps = json::object();
  const int64_t now = budget_clock.Now();
  for (size_t i = 0; i < cfg.honeypots.size(); i++) {
    const Budget& b = engine->budget(i);
    json bj;
    for (int k = 0; k < kProtoClasses; k++) {
      ProtoClass pc = ProtoClass(k);
      bj[ProtoClassName(pc)] = {{"used", b.Used(pc, now)}, {"left", b.Left(pc, now)}, {"limit", b.Limit(pc)}};
    }
    const int64_t last = engine->honeypot_last_flow_ns(i);
    hps[cfg.honeypots[i].name] = {{"budget", bj},
                                  {"mac", engine->honeypot_mac(i).ToString()},
                                  {"flows", engine->honeypot_flows(i)},
                                  {"last_flow_unix", last > 0 ? json(double(last) / 1e9) : json(nullptr)}};
    if (const Shaper* s = engine->shaper(i)) {
      const ShaperStats st = s->Stats();
      hps[cfg.honeypots[i].name]["bandwidth"] = {
          {"rate_bps", s->rate()}, {"burst_bytes", s->burst()},
          {"sent_bytes", st.sent_now_bytes + st.released_bytes},
          {"sent_frames", st.sent_now_frames + st.released_frames},
          {"queued_frames", st.queued_frames}, {"dropped_frames", st.dropped_frames},
          {"dropped_bytes", st.dropped_bytes}, {"queue_frames", st.queue_frames}, {"queue_bytes", st.queue_bytes},
          {"max_queue_delay_ms", double(st.max_queue_delay_ns) / 1e6}};
    }
  }
  j["honeypots"] = hps;
  return j.dump();
}

std::string Honeywall::Summary() const {
  const Impl& m = *impl_;
  const EngineCounters& c = m.engine->counters();
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  std::string drops;
  uint64_t total = 0;
  for (size_t r = 0; r < size_t(Reason::kCount); r++) {
    uint64_t v = ld(c.drops[r]);
    if (!v) continue;
    total += v;
    drops += fmt::format("{}{} {}", drops.empty() ? "" : ", ", ReasonName(Reason(r)), v);
  }
  std::string s = fmt::format(
      "honeywall stopped: inside rx {} tx {} frames, outside rx {} tx {} frames; dropped {}{}{}{}",
      ld(c.rx_frames[0]), ld(c.tx_frames[0]), ld(c.rx_frames[1]), ld(c.tx_frames[1]), total,
      drops.empty() ? "" : " (", drops, drops.empty() ? "" : ")");
  if (ld(c.tx_full)) s += fmt::format("; tx ring full {}", ld(c.tx_full));
  // Frames lost before the engine saw them: RX ring overflow, frames bigger than a slot
  // (a neighbour sending GSO super-frames: turn TSO/GSO off on it).
  uint64_t overflow = 0, truncated = 0, discarded = 0;
  for (int i = 0; i < 2; i++) {
    const PortStats ps = m.Stats(i);
    overflow += ps.kernel_drops;
    truncated += ps.rx_truncated;
    discarded += ps.tx_discarded;
  }
  if (overflow) s += fmt::format("; rx ring overflow {}", overflow);
  if (truncated) s += fmt::format("; oversized frames {} (turn TSO/GSO off on the neighbours)", truncated);
  for (int i = 0; i < 2; i++) {
    const PortHealth& h = m.health[i];
    if (h.downs || h.reopens || h.tx_refused || h.rx_ignored || h.state != Link::kUp)
      s += fmt::format("; {} link {} (down {} times, reopened {}, {} frames not sent to it, {} not taken from it)",
                       m.Name(i), LinkName(h.state), h.downs, h.reopens, h.tx_refused, h.rx_ignored);
  }
  if (discarded) s += fmt::format("; {} queued frames dropped at link down", discarded);
  if (m.sniffer) {
    SnifferStats ss = m.CaptureStats();
    s += fmt::format("; capture {} frames, {} dropped", ss.frames, ss.kernel_drops + ss.write_drops);
    if (m.capture_waits)
      s += fmt::format(" (capture-first: forwarding waited for it {} times, {} ms in all)", m.capture_waits,
                       m.capture_wait_ns / 1'000'000);
  }
  s += fmt::format("; events {} written, {} dropped", m.writer->written(), m.writer->dropped());
  return s;
}

}  // namespace hn
