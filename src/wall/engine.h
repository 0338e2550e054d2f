// Engine: the honeywall's per-frame logic, free of sockets and files.
//
// For each frame it runs decode -> identify the honeypot -> flow -> control ->
// forward (bridge: as it is; nat: translated) and reports what happened as
// Events. Frames go out through a TxSink and events through an EventSink, so
// unit tests drive the engine with byte arrays and inspect what comes out.
//
// Per-frame work allocates nothing; the frame buffer is rewritten in place (NAT)
// and copied once, into the TX slot of the outgoing port.
//
// Who may call: the forwarding thread (Honeywall) and tests. Not thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "capture/event.h"
#include "common/addr.h"
#include "config/config.h"
#include "control/budget.h"
#include "control/control.h"
#include "control/frame_checks.h"
#include "decode/packet.h"
#include "flow/flow_table.h"
#include "actions/shaper.h"
#include "rules/detect.h"

namespace hn {

inline constexpr int kInside = 0;
inline constexpr int kOutside = 1;

// What the sender of a frame left to offload (its virtio-net header): the L4
// checksum (csum_start != 0: sum from csum_start to the end, stored at
// csum_start + csum_offset; the field holds the pseudo-header sum), and
// segmentation (gso_type != 0: one TCP/UDP super-segment, cut into gso_size
// payload pieces on the way; VIRTIO_NET_HDR_GSO_* values).
struct Offload {
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  uint8_t gso_type = 0;
  uint16_t gso_size = 0;
  uint16_t hdr_len = 0;
};

// Where the engine puts frames. Reserve() returns a buffer of at least
// *max_len bytes in the port's TX ring (nullptr when full); Commit() queues it.
// A sink whose ports can pass on an Offload (virtio-net headers) says so with
// CanLeaveChecksum(); the engine then forwards such frames with
// CommitOffload() instead of summing them (never called otherwise).
class TxSink {
 public:
  virtual ~TxSink() = default;
  virtual uint8_t* Reserve(int port, uint32_t* max_len) = 0;
  virtual void Commit(int port, uint32_t len) = 0;
  virtual bool CanLeaveChecksum() const { return false; }
  virtual void CommitOffload(int port, uint32_t len, const Offload& /*off*/) { Commit(port, len); }
  // Takes a whole frame for transmit without a slot of its own (the port
  // joins it to a TCP super-segment: AfPacketPort::Coalesce); false: use
  // Reserve/Commit as usual. partial: its TCP checksum is left to offload
  // (the Offload the engine would pass says csum_start = the TCP header).
  virtual bool Coalesce(int /*port*/, const uint8_t* /*data*/, uint32_t /*len*/, bool /*partial*/) { return false; }
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Post(const Event& e) = 0;
};

// Counters the engine keeps. Single writer (the engine); read by other
// threads for stats, hence relaxed atomics.
struct EngineCounters {
  std::array<std::atomic<uint64_t>, 2> rx_frames{}, rx_bytes{}, tx_frames{}, tx_bytes{};
  std::array<std::atomic<uint64_t>, size_t(Reason::kCount)> drops{};  // frames dropped, by reason
  std::atomic<uint64_t> tx_full{0};        // frames lost because a TX ring was full
  std::atomic<uint64_t> not_for_us{0};     // nat: frames on a data port not addressed to the honeywall
  std::atomic<uint64_t> arp_replies{0}, arp_requests{0}, icmp_sent{0};
  std::atomic<uint64_t> flows_new{0}, flows_ended{0};
  std::atomic<uint64_t> flows_evicted{0};     // removed to make room in a full table (never a counted outbound flow)
  std::atomic<uint64_t> flows_window_full{0}; // new flows whose probe window was full (table not full)
  std::atomic<uint64_t> events_suppressed{0}; // drop events over the rate limit (summarised once a second)
  std::atomic<uint64_t> events_suppressed_allowed{0};  // allowed-flow events over the per-source rate (summarised)
  std::atomic<uint64_t> reply_overruns{0};    // inbound flows turned outbound by ReplyOverrun()
  std::atomic<uint64_t> checksums_finished{0};  // frames whose partial checksum we completed
  // Fragment table (Engine::kFragSlots entries, one per datagram whose first
  // fragment was seen, kept Engine::kFragTimeoutNs): datagrams recorded,
  // and live entries overwritten by another datagram (whose later fragments
  // are then dropped as fragment_no_head: fail closed).
  std::atomic<uint64_t> frag_heads{0}, frag_evicted{0};
  // Inline rules: packets inspected, alerts raised (one per rule and flow),
  // packets dropped by a rule (also counted in drops[rule_drop]), packets
  // whose bytes a replace rule rewrote, flows a pass rule exempted.
  std::atomic<uint64_t> rule_packets{0}, rule_alerts{0}, rule_drops{0}, rule_replaced{0}, rule_passes{0};
  std::array<std::atomic<uint64_t>, 16> decode_errors{};  // by DecodeError
};

class Engine {
 public:
  // Fragment table: fixed size, allocated once; an entry lives this long.
  static constexpr size_t kFragSlots = 1024;
  static constexpr int64_t kFragTimeoutNs = 30'000'000'000;

  // budgets: one per cfg.honeypots entry, as loaded from disk.
  Engine(const Config& cfg, std::vector<Budget> budgets, TxSink* tx, EventSink* events);

  // nat: the honeywall's MAC on a port (config's inside.mac/outside.mac, else
  // the interface's). Call before Start().
  void SetPortMac(int port, const Mac& mac) { port_mac_[port] = mac; }
  // Budgets are charged at now_ns + skew: the budget clock's time (common/clock.h,
  // BudgetClock::SkewFromWall), so that a step of the wall clock refills nothing.
  void SetBudgetSkew(int64_t skew_ns) { budget_skew_ns_ = skew_ns; }
  // Inline rules (src/rules/): every packet of an allowed flow is inspected
  // after the Data Control verdict and before forwarding. nullptr: none.
  // Call before frames; the detector outlives the engine.
  void SetDetector(Detector* d) {
    detector_ = d;
    if (d != nullptr) flows_.EnableRuleState();
  }
  // nat: asks for the upstream gateway's MAC. Call once before frames.
  void Start(int64_t now_ns);
  // One received frame on port (kInside/kOutside). data is writable and may be
  // rewritten. csum_not_ready: the kernel left the L4 checksum partial; off
  // (from a virtio-net header) says where, and whether the frame is a GSO
  // super-segment. A partial TCP/UDP checksum is passed on as partial when the
  // sink can (NAT adjusts the pseudo-header sum in it), else completed here; a
  // super-segment is passed on with its segmentation, or dropped (malformed)
  // when it cannot be.
  void OnFrame(int port, uint8_t* data, uint32_t len, int64_t now_ns, bool csum_not_ready = false,
               const Offload& off = {});
  // Periodic work: flow expiry, ARP refresh, pending frames. Call every few ms.
  void OnTimer(int64_t now_ns);
  // Ends every flow (flow events with reason shutdown).
  void Stop(int64_t now_ns);
  // Outbound bandwidth (limits.bandwidth): sends the queued frames whose time
  // has come. Call often (every turn of the forwarding loop; OnTimer does too).
  void ReleaseShaped(int64_t now_ns);
  // The honeypot's shaper, nullptr when its bandwidth is not limited.
  const Shaper* shaper(size_t honeypot) const { return shapers_[honeypot].get(); }

  // nat: true once the upstream gateway's MAC is known. Bridge: always true.
  bool ready() const;
  const EngineCounters& counters() const { return c_; }
  const FlowTable& flows() const { return flows_; }
  const Budget& budget(size_t honeypot) const { return hp_[honeypot].budget; }
  // The MAC a honeypot was identified by (learned or configured), zero if not yet.
  Mac honeypot_mac(size_t honeypot) const { return hp_[honeypot].mac; }
  // Flows the honeypot took part in, and when the last began (clock of the frames; 0: none yet).
  uint64_t honeypot_flows(size_t honeypot) const { return activity_[honeypot].flows.load(std::memory_order_relaxed); }
  int64_t honeypot_last_flow_ns(size_t honeypot) const {
    return activity_[honeypot].last_flow_ns.load(std::memory_order_relaxed);
  }

 private:
  int64_t budget_skew_ns_ = 0;
  // Rate limit of drop events, one per (honeypot, reason) for flow drops and
  // per reason for frame drops: kDropEventsPerSecond a second are written one
  // by one, the rest counted and summarised in one kSuppressed event.
  struct DropLog {
    int64_t sec = 0;
    uint32_t count = 0;
    uint64_t suppressed = 0;
  };
  using DropLogs = std::array<DropLog, size_t(Reason::kCount)>;

  struct Honeypot {
    const HoneypotConfig* cfg;
    Budget budget;
    Mac mac;                // identity on the inside port (configured or learned)
    bool mac_known = false;
    // nat: one frame waiting for this honeypot's MAC (inbound before ARP resolved).
    std::array<uint8_t, 2048> pending{};
    uint32_t pending_len = 0;
    int64_t pending_ns = 0;   // when the pending frame arrived
    int64_t arp_sent_ns = 0;  // last ARP request for this honeypot
    DropLogs flow_drops{};    // rate limit of its flow-drop events
    // ARP and neighbour discovery it sends out (bridge): a token bucket kept as
    // time credit (kNeighborCostNs a frame, at most kNeighborBurst frames' worth).
    int64_t nd_credit_ns = 0;
    int64_t nd_last_ns = 0;
  };

  // Allowed-flow events per source address and second (kAllowedEventsPerSource):
  // a fixed table indexed by a keyed hash of the address; a slot taken by
  // another address starts over (bounded, and the key hides which collide).
  struct SourceRate {
    std::array<uint8_t, 16> src{};
    int64_t sec = -1;
    uint32_t count = 0;
  };

  struct FragEntry {
    std::array<uint8_t, 16> src{}, dst{};
    uint32_t id = 0;
    uint8_t proto = 0;
    bool used = false;
    bool allowed = false;
    int64_t ts_ns = 0;
  };

  void HandleArp(int port, Packet& p, int64_t now);
  void HandleIp(int port, Packet& p, int64_t now, bool csum_not_ready);
  void ForwardIp(int port, Packet& p, Flow* f, int hp_dst, int64_t now);
  // A frame a honeypot sends out: through its shaper when it has one.
  void SendOut(int hp, int in_port, int out_port, const Packet& p, int64_t now);
  void DropFrame(int port, const Packet& p, Reason r, int64_t now, int hp = -1);
  void EmitFlow(EventKind kind, const Flow& f, const Packet& p, const Decision* d, int64_t now);
  void EmitFlowEnd(const Flow& f, uint8_t why, int64_t now);
  void UpdateTcp(Flow* f, const Packet& p, bool reply);
  // Inline rules on a packet of allowed flow f; false when it is dropped.
  bool InspectRules(int port, Packet& p, Flow* f, FlowRuleState* rs, bool reply, int64_t now);
  void EmitAlert(EventKind kind, const Flow& f, const Packet& p, bool reply, uint32_t rule, bool blocked,
                 bool replaced, int64_t now);
  bool SendCopy(int port, const uint8_t* data, uint32_t len);
  // The frame in hand may keep its partial checksum (see OnFrame).
  bool LeaveChecksum(const Packet& p) const;
  // Updates an L4 checksum field for an address change: a final checksum
  // (RFC 1624), or a partial one (the pseudo-header sum, not inverted).
  void UpdateL4Checksum(uint8_t* field, uint32_t old_a, uint32_t new_a) const;
  void SendArp(int port, uint16_t op, const Mac& sha, Ip4 spa, const Mac& tha, Ip4 tpa, const Mac& eth_dst);
  void SendIcmpError(int port, const Packet& p, uint8_t type, uint8_t code, Ip4 from, int64_t now);
  void SendEchoReply(int port, const Packet& p);
  void NatRewrite(Packet& p, int port, const Honeypot& h);
  bool RelatedIcmpError(const Packet& p, int port, int hp, bool* reply_dir);
  FragEntry* FragFind(const Packet& p, bool create, int64_t now);
  int FindHoneypotByIp(Ip4 ip) const;
  int FindHoneypotByPublic(Ip4 ip) const;
  int FindHoneypotByMac(const uint8_t* mac) const;
  bool AnyHoneypotUnlearned() const;  // some honeypot's MAC is neither configured nor learned yet
  bool LogAllowed(DropLog& l, Reason r, int hp, bool frame, int64_t now);
  void FlushSuppressed(DropLog& l, Reason r, int hp, bool frame, int64_t now, bool allowed = false);
  bool AllowedEventOk(const FlowKey& k, Reason r, int64_t now);
  bool NeighborAllowed(Honeypot& h, int64_t now);
  static V6Identity V6Id(const Honeypot& h) { return {h.mac_known ? &h.mac : nullptr, &h.cfg->ip6}; }
  void ConvertReply(Flow* f, const Packet& p, int64_t now);
  static int EvictionRank(const Flow& f);
  bool MakeRoom(const FlowKey& key, int64_t now);

  const Config& cfg_;
  bool nat_;
  Detector* detector_ = nullptr;
  // Outbound bandwidth per honeypot (null: unlimited) and the ceiling over all.
  std::unique_ptr<TokenBucket> aggregate_;
  std::vector<std::unique_ptr<Shaper>> shapers_;
  bool any_shaper_ = false;
  DetectResult detect_;  // reused per packet (sized by the detector at its first use)
  // The frame being handled by OnFrame: its bytes, and where its L4 checksum
  // is left partial when partial_ (forwarded with CommitPartial).
  const uint8_t* cur_data_ = nullptr;
  Offload cur_off_;
  bool partial_ = false;
  TxSink* tx_;
  EventSink* ev_;
  std::vector<Honeypot> hp_;
  FlowTable flows_;
  ControlPolicy policy_;
  std::vector<FragEntry> frags_;
  std::array<Mac, 2> port_mac_{};  // nat: the honeywall's MAC on each port
  Mac gw_mac_;
  bool gw_known_ = false;
  int64_t gw_arp_sent_ns_ = 0;
  int64_t gw_learned_ns_ = 0;
  int64_t last_timer_ns_ = 0;
  DropLogs frame_drops_{};      // frame-drop events, per reason
  DropLogs flow_drops_none_{};  // flow-drop events of flows that belong to no honeypot
  DropLogs allowed_held_{};     // allowed-flow events held back by AllowedEventOk, per reason
  std::vector<SourceRate> src_rate_;
  // Per honeypot: flows it took part in (any direction, passed or not) and
  // when the last one began (the lab's idle reset). Relaxed atomics: the
  // stats thread reads them. Sized once, never moved.
  struct Activity {
    std::atomic<uint64_t> flows{0};
    std::atomic<int64_t> last_flow_ns{0};
  };
  std::vector<Activity> activity_;
  SipKey hash_key_;  // secret per run (getrandom): source-rate and fragment slots
  int64_t summarised_sec_ = -1; // second of the last OnTimer look at the DropLogs
  EngineCounters c_;
};

}  // namespace hn
