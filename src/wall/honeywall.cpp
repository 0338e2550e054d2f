#include "wall/honeywall.h"

#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <vector>

#include "capture/event_writer.h"
#include "capture/sniffer.h"
#include "common/clock.h"
#include "io/af_packet.h"
#include "io/port_check.h"
#include "wall/engine.h"

namespace hn {
namespace {

constexpr int64_t kTimerNs = 10'000'000;          // engine timers every 10 ms
constexpr int64_t kReadyWaitNs = 3'000'000'000;   // nat: wait this long for the gateway's ARP reply
constexpr int kBatch = 256;                       // frames per port per loop turn

class PortSink : public TxSink {
 public:
  explicit PortSink(AfPacketPort* const* ports) : ports_(ports) {}
  uint8_t* Reserve(int port, uint32_t* max_len) override { return ports_[port]->Reserve(max_len); }
  void Commit(int port, uint32_t len) override { ports_[port]->Commit(len); }

 private:
  AfPacketPort* const* ports_;
};

class WriterSink : public EventSink {
 public:
  explicit WriterSink(EventWriter* w) : w_(w) {}
  void Post(const Event& e) override { w_->Post(e); }

 private:
  EventWriter* w_;
};

}  // namespace

struct Honeywall::Impl {
  Config cfg;
  std::unique_ptr<AfPacketPort> port_owner[2];
  AfPacketPort* ports[2] = {nullptr, nullptr};
  std::unique_ptr<EventWriter> writer;
  std::unique_ptr<Sniffer> sniffer;
  std::unique_ptr<PortSink> tx;
  std::unique_ptr<WriterSink> ev;
  std::unique_ptr<Engine> engine;
  Say say;

  std::string StatsJson() const;
};

Result<std::unique_ptr<Honeywall>> Honeywall::Open(const Config& cfg, Say say) {
  std::unique_ptr<Honeywall> w(new Honeywall());
  w->impl_ = std::make_unique<Impl>();
  Impl& m = *w->impl_;
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
  for (const std::string* n : names) {
    auto changes = DisableOffloads(*n);
    if (!changes.ok()) return changes.status();
    for (const std::string& line : changes.value()) say(line);
  }
  for (int i = 0; i < 2; i++) {
    auto port = AfPacketPort::Open(*names[i]);
    if (!port.ok()) return port.status();
    m.port_owner[i] = std::move(port.value());
    m.ports[i] = m.port_owner[i].get();
  }

  std::vector<Budget> budgets;
  for (const HoneypotConfig& h : m.cfg.honeypots) budgets.emplace_back(h.limits);
  Status s = EventWriter::LoadBudgets(m.cfg, &budgets, WallNowNs());
  if (!s.ok()) return s;
  auto writer = EventWriter::Open(m.cfg, budgets);
  if (!writer.ok()) return writer.status();
  m.writer = std::move(writer.value());

  if (m.cfg.capture.pcap) {
    Sniffer::Options so;
    so.ports = {{m.cfg.inside.interface, "inside"}, {m.cfg.outside.interface, "outside"}};
    so.dir = m.cfg.capture.dir;
    so.rotate_bytes = m.cfg.capture.rotate_bytes;
    so.rotate_ns = m.cfg.capture.rotate_ns;
    so.ring_mb = m.cfg.capture.ring_mb;
    auto sn = Sniffer::Open(so);
    if (!sn.ok()) return sn.status();
    m.sniffer = std::move(sn.value());
  } else {
    say("capture.pcap = false: frames are not written to pcap files");
  }

  m.tx = std::make_unique<PortSink>(m.ports);
  m.ev = std::make_unique<WriterSink>(m.writer.get());
  m.engine = std::make_unique<Engine>(m.cfg, std::move(budgets), m.tx.get(), m.ev.get());
  m.engine->SetPortMac(kInside, m.cfg.inside.mac.value_or(m.ports[0]->mac()));
  m.engine->SetPortMac(kOutside, m.cfg.outside.mac.value_or(m.ports[1]->mac()));
  return w;
}

Honeywall::~Honeywall() = default;

Status Honeywall::Run(const std::atomic<bool>& stop, const std::function<void()>& on_ready) {
  Impl& m = *impl_;
  m.writer->Start();
  if (m.sniffer) m.sniffer->Start();

  const int64_t t0 = MonoNowNs();
  m.engine->Start(WallNowNs());
  bool ready = false;
  int64_t last_timer = MonoNowNs();
  int64_t last_stats = last_timer;

  pollfd pfd[2] = {{m.ports[0]->fd(), POLLIN, 0}, {m.ports[1]->fd(), POLLIN, 0}};
  while (!stop.load(std::memory_order_relaxed)) {
    int n = ::poll(pfd, 2, 5);
    if (n < 0 && errno != EINTR) return Status::Error(fmt::format("poll: {}", std::strerror(errno)));
    for (int port = 0; port < 2; port++) {
      RxFrame f;
      for (int i = 0; i < kBatch && m.ports[port]->Next(&f); i++) {
        if (f.wire_len <= f.len) {
          m.engine->OnFrame(port, f.data, f.len, f.ts_ns ? f.ts_ns : WallNowNs(), f.csum_not_ready);
        }
        m.ports[port]->Release();
      }
    }
    m.ports[0]->Flush();
    m.ports[1]->Flush();

    const int64_t mono = MonoNowNs();
    if (mono - last_timer >= kTimerNs) {
      last_timer = mono;
      m.engine->OnTimer(WallNowNs());
      m.ports[0]->Flush();
      m.ports[1]->Flush();
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
    const PortStats& ps = ports[i]->stats();
    j[names[i]] = {{"interface", i == 0 ? cfg.inside.interface : cfg.outside.interface},
                   {"rx_frames", ld(c.rx_frames[i])}, {"rx_bytes", ld(c.rx_bytes[i])},
                   {"tx_frames", ld(c.tx_frames[i])}, {"tx_bytes", ld(c.tx_bytes[i])},
                   {"kernel_drops", ps.kernel_drops}, {"truncated", ps.rx_truncated}};
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
  j["flows"] = {{"active", engine->flows().size()}, {"new", ld(c.flows_new)}, {"ended", ld(c.flows_ended)}};
  if (sniffer) {
    SnifferStats ss = sniffer->stats();
    j["capture"] = {{"frames", ss.frames}, {"bytes", ss.bytes}, {"kernel_drops", ss.kernel_drops},
                    {"write_drops", ss.write_drops}};
  }
  j["events"] = {{"written", writer->written()}, {"dropped", writer->dropped()}};
  json hps = json::object();
  const int64_t now = WallNowNs();
  for (size_t i = 0; i < cfg.honeypots.size(); i++) {
    const Budget& b = engine->budget(i);
    json bj;
    for (int k = 0; k < kProtoClasses; k++) {
      ProtoClass pc = ProtoClass(k);
      bj[ProtoClassName(pc)] = {{"used", b.Used(pc, now)}, {"left", b.Left(pc, now)}, {"limit", b.Limit(pc)}};
    }
    hps[cfg.honeypots[i].name] = {{"budget", bj}, {"mac", engine->honeypot_mac(i).ToString()}};
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
  uint64_t overflow = 0, truncated = 0;
  for (AfPacketPort* port : m.ports) {
    const PortStats& ps = port->stats();
    overflow += ps.kernel_drops;
    truncated += ps.rx_truncated;
  }
  if (overflow) s += fmt::format("; rx ring overflow {}", overflow);
  if (truncated) s += fmt::format("; oversized frames {} (turn TSO/GSO off on the neighbours)", truncated);
  if (m.sniffer) {
    SnifferStats ss = m.sniffer->stats();
    s += fmt::format("; capture {} frames, {} dropped", ss.frames, ss.kernel_drops + ss.write_drops);
  }
  s += fmt::format("; events {} written, {} dropped", m.writer->written(), m.writer->dropped());
  return s;
}

}  // namespace hn
