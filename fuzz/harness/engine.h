// Fuzz harness: the whole per-frame engine (src/wall/engine.h) behind fake
// TX and event sinks, as tests/unit/engine_test.cpp drives it.
//
// Input: a config (bridge or nat; 1-3 honeypots, MACs pinned or learned; per
// honeypot limits 0..12 per class, sliding window or token bucket of 1..256 s;
// roach motel, DNS server, IPv6, flow table of 1..64; the TX slot size), then
// steps until the input ends. A step moves the clock (ms, s or minutes) and
// either runs OnTimer() or feeds one frame on the inside or the outside port:
// a frame built from a few bytes (TCP with any flags, UDP, ICMP echo, ICMP
// error quoting a TCP/UDP header, ARP, IPv6, first or later IPv4 fragment)
// with addresses, MACs and ports from pools that hit the config's honeypots,
// gateways, broadcast and multicast, or raw bytes. Stop() at the end.
// Invariants:
//  - Data Control: per honeypot and class, the outbound new connections let
//    through (counted kFlowNew events) are never more than the limit in any
//    window (sliding) / than limit + limit*T/period in any stretch T (bucket);
//    a counted event is outbound, from the inside, reason kOutbound, with
//    used <= limit; an outbound flow passes only counted or exempt (DNS,
//    broadcast, DHCP); a flow's verdict matches its reason; Budget::Used()
//    never passes the limit;
//  - every frame sent fits the TX slot it was given, and decodes without error;
//    while every frame fed had right checksums, every frame sent has them too
//    (TCP/UDP/ICMP of whole datagrams, the header an ICMP error quotes): the
//    NAT rewrite and the frames the wall makes keep them right; in a third of
//    the runs the ports carry virtio-net headers: a frame fed as partial (its
//    checksum field the pseudo-header sum, sometimes marked a GSO
//    super-segment) may leave partial, and the fake TX finishes it as the
//    receiver would before the check (the pseudo-header sum NAT adjusts);
//  - bridge: per received frame at most one frame goes out, on the other
//    port, byte for byte the one received (the bridge is transparent); an IP
//    frame that goes out belongs to a flow announced by kFlowNew and not yet
//    ended (nothing passes that Data Control did not allow);
//  - nat: every IPv4 frame sent outside has a honeypot's public address or
//    the wall's as source (private addresses never leak) and the wall's MAC;
//  - every flow announced (kFlowNew / kFlowDrop) ends exactly once (kFlowEnd),
//    at the latest at Stop().
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "../../tests/unit/frames.h"
#include "capture/event.h"
#include "config/config.h"
#include "decode/checksum.h"
#include "decode/packet.h"
#include "flow/flow_key.h"
#include "common.h"
#include "wall/engine.h"

namespace hn::fuzz {

namespace engine_detail {

constexpr int64_t kMsNs = 1'000'000;
constexpr int64_t kSecNs = 1'000'000'000;

// Reasons under which a flow passes (the rest drop).
inline bool PassReason(Reason r) {
  return r == Reason::kInbound || r == Reason::kOutbound || r == Reason::kReply || r == Reason::kExemptDns ||
         r == Reason::kExemptInternal || r == Reason::kExemptBroadcast || r == Reason::kExemptDhcp ||
         r == Reason::kReplyOverrun;
}

inline Mac MacN(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) { return Mac{{a, b, c, d, e, f}}; }

// The wall's own MACs in nat mode.
inline const Mac kWallIn = MacN(0x02, 0xaa, 0, 0, 0, 1);
inline const Mac kWallOut = MacN(0x02, 0xaa, 0, 0, 0, 2);

struct Sent {
  int port;
  std::vector<uint8_t> bytes;
};

// A TX ring whose slots are exact-size heap buffers (ASan sees any write past them).
class FakeTx : public TxSink {
 public:
  explicit FakeTx(uint32_t slot) : slot_(slot) {}
  uint8_t* Reserve(int port, uint32_t* max_len) override {
    HN_FUZZ_CHECK(port == kInside || port == kOutside);
    buf_.assign(slot_, 0);
    reserved_ = port;
    *max_len = slot_;
    return buf_.data();
  }
  void Commit(int port, uint32_t len) override {
    HN_FUZZ_CHECK(port == reserved_, "Commit on another port than Reserve");
    HN_FUZZ_CHECK(len <= slot_, "frame longer than its TX slot");
    sent.push_back({port, std::vector<uint8_t>(buf_.begin(), buf_.begin() + len)});
    reserved_ = -1;
  }
  // Ports with virtio-net headers: the frame leaves with its checksum to be
  // finished; do what the receiver does, so the checks below see the result.
  bool CanLeaveChecksum() const override { return leave; }
  void CommitOffload(int port, uint32_t len, const Offload& off) override {
    HN_FUZZ_CHECK(leave, "CommitOffload on ports that cannot carry it");
    HN_FUZZ_CHECK(off.gso_type == 0 || off.csum_start != 0, "a super-segment sent without its checksum offload");
    Commit(port, len);
    if (off.csum_start == 0) return;
    std::vector<uint8_t>& f = sent.back().bytes;
    HN_FUZZ_CHECK(size_t(off.csum_start) + off.csum_offset + 2 <= f.size(), "checksum offload past the frame");
    Store16(f.data() + off.csum_start + off.csum_offset,
            ChecksumFinish(ChecksumPartial(f.data() + off.csum_start, f.size() - off.csum_start)));
  }
  std::vector<Sent> sent;
  bool leave = false;

 private:
  uint32_t slot_;
  std::vector<uint8_t> buf_;
  int reserved_ = -1;
};

class FakeEvents : public EventSink {
 public:
  void Post(const Event& e) override { events.push_back(e); }
  std::vector<Event> events;
};

// The checksums of a decoded IPv4 frame that can be checked: the TCP/UDP/ICMP
// checksum of a whole (unfragmented) datagram, and the header an ICMP error
// quotes. (The IPv4 header's own is checked by Decode.) True when not IPv4.
inline bool ChecksumsRight(const Packet& p) {
  if (!p.ok() || !p.is_ipv4() || !p.has_l4 || p.is_fragment) return true;
  const uint8_t* ip = p.data + p.l3_off;
  const uint8_t* l4 = p.data + p.l4_off;
  uint32_t len = p.l4_len;
  uint8_t pseudo[12] = {};
  std::memcpy(pseudo, ip + 12, 8);
  pseudo[9] = p.ip_proto;
  switch (p.ip_proto) {
    case kProtoUdp:
      if (Load16(l4 + 6) == 0) return true;  // no checksum
      len = Load16(l4 + 4);                   // <= l4_len in a frame that decodes
      [[fallthrough]];
    case kProtoTcp:
      Store16(pseudo + 10, uint16_t(len));
      return ChecksumFinish(ChecksumPartial(l4, len, ChecksumPartial(pseudo, 12))) == 0;
    case kProtoIcmp:
      if (ChecksumFinish(ChecksumPartial(l4, len)) != 0) return false;
      if (p.has_inner) {
        const uint8_t* inner = p.data + p.inner_ip_off;
        return ChecksumFinish(ChecksumPartial(inner, size_t(inner[0] & 0x0f) * 4)) == 0;
      }
      return true;
    default: return true;
  }
}

// The scenario: config, engine, and what the invariants need to remember.
class EngineScenario {
 public:
  EngineScenario(Config cfg, uint32_t slot) : cfg_(std::move(cfg)), tx_(slot) {
    std::vector<Budget> budgets;
    for (const HoneypotConfig& h : cfg_.honeypots) budgets.emplace_back(h.limits);
    engine_ = std::make_unique<Engine>(cfg_, budgets, &tx_, &ev_);
    engine_->SetPortMac(kInside, kWallIn);
    engine_->SetPortMac(kOutside, kWallOut);
    starts_.resize(cfg_.honeypots.size());
    Run([&] { engine_->Start(now_); }, -1, {}, false);
  }

  int64_t now() const { return now_; }
  void Advance(int64_t ns) { now_ += ns; }
  bool nat() const { return cfg_.mode == Mode::kNat; }

  // gso: with ports that leave checksums, mark a partial TCP/UDP frame as a
  // super-segment too.
  void Frame(int port, std::vector<uint8_t> frame, bool csum_not_ready, bool gso = false) {
    Offload off;
    if (csum_not_ready && tx_.leave) off = MakePartial(frame, gso);
    const std::vector<uint8_t> original = frame;
    if (!InputChecksumsRight(frame, csum_not_ready)) all_checksums_right_ = false;
    Run([&] { engine_->OnFrame(port, frame.data(), uint32_t(frame.size()), now_, csum_not_ready, off); }, port,
        original, csum_not_ready);
  }
  void LeaveChecksums(bool on) { tx_.leave = on; }
  void Timer() { Run([&] { engine_->OnTimer(now_); }, -1, {}, false); }

  void Finish() {
    Run([&] { engine_->Stop(now_); }, -1, {}, false);
    HN_FUZZ_CHECK(live_.empty(), std::to_string(live_.size()) + " flows never ended");
    HN_FUZZ_CHECK(engine_->flows().size() == 0);
    for (size_t h = 0; h < cfg_.honeypots.size(); h++)
      for (int c = 0; c < kProtoClasses; c++)
        HN_FUZZ_CHECK(engine_->budget(h).Used(ProtoClass(c), now_) <= engine_->budget(h).Limit(ProtoClass(c)));
  }

 private:
  // Runs one engine call and checks what came out of it.
  template <class F>
  void Run(F&& call, int in_port, const std::vector<uint8_t>& in_frame, bool csum_not_ready) {
    tx_.sent.clear();
    ev_.events.clear();
    call();
    for (const Event& e : ev_.events) OnEvent(e);
    for (const Sent& s : tx_.sent) CheckSent(s);
    if (!nat() && !tx_.sent.empty()) {
      HN_FUZZ_CHECK(in_port >= 0, "bridge sent a frame of its own");
      HN_FUZZ_CHECK(tx_.sent.size() == 1, "bridge sent " + std::to_string(tx_.sent.size()) + " frames for one");
      HN_FUZZ_CHECK(tx_.sent[0].port == (in_port ^ 1), "bridge sent a frame back where it came from");
      if (!csum_not_ready) HN_FUZZ_CHECK(tx_.sent[0].bytes == in_frame, "bridge changed the frame");
      CheckAllowedFlow(tx_.sent[0].bytes);
    }
  }

  void OnEvent(const Event& e) {
    switch (e.kind) {
      case EventKind::kFlowNew:
      case EventKind::kFlowDrop:
        if (live_.count(e.flow_id) != 0) {
          // Announced again only when an inbound flow's replies overran it
          // (control.h ReplyOverrun): now the honeypot's outbound flow.
          HN_FUZZ_CHECK(e.dir == FlowDir::kOutbound &&
                            (e.reason == Reason::kReplyOverrun || e.reason == Reason::kBudgetExhausted ||
                             e.reason == Reason::kRoachMotel || e.reason == Reason::kUnknownSource),
                        "flow id announced twice");
          live_[e.flow_id].allowed = e.kind == EventKind::kFlowNew;
        } else {
          live_[e.flow_id] = {e.key, e.kind == EventKind::kFlowNew};
        }
        // Counted: outbound starts, reply overruns, and real broadcasts (their own budget).
        HN_FUZZ_CHECK(e.counted == (e.kind == EventKind::kFlowNew &&
                                    (e.reason == Reason::kOutbound || e.reason == Reason::kReplyOverrun ||
                                     e.cls == ProtoClass::kBroadcast)),
                      ReasonName(e.reason));
        HN_FUZZ_CHECK(PassReason(e.reason) == (e.kind == EventKind::kFlowNew), ReasonName(e.reason));
        // An outbound flow passes counted, or under one of the exemptions; never for free.
        if (e.kind == EventKind::kFlowNew && e.dir == FlowDir::kOutbound)
          HN_FUZZ_CHECK(e.reason == Reason::kOutbound || e.reason == Reason::kExemptDns || e.reason == Reason::kReplyOverrun ||
                            e.reason == Reason::kExemptBroadcast || e.reason == Reason::kExemptDhcp,
                        std::string("outbound flow passed as ") + ReasonName(e.reason));
        if (e.counted) OnCounted(e);
        break;
      case EventKind::kFlowEnd: {
        auto it = live_.find(e.flow_id);
        HN_FUZZ_CHECK(it != live_.end(), "kFlowEnd for a flow not announced, or ended twice");
        HN_FUZZ_CHECK(it->second.key == e.key);
        HN_FUZZ_CHECK(e.pkts_toserver >= 1);
        live_.erase(it);
        break;
      }
      case EventKind::kFrameDrop: break;
      case EventKind::kSuppressed: HN_FUZZ_CHECK(e.suppressed > 0, "empty suppression summary"); break;
    }
  }

  // A counted outbound start: the budget holds in the window it falls in.
  void OnCounted(const Event& e) {
    HN_FUZZ_CHECK(e.dir == FlowDir::kOutbound && e.in_port == kInside, "counted a start that is not outbound");
    HN_FUZZ_CHECK(e.honeypot < cfg_.honeypots.size());
    const Limits& lim = cfg_.honeypots[e.honeypot].limits;
    const uint32_t max = lim.max[size_t(e.cls)];
    HN_FUZZ_CHECK(e.budget_limit == max && e.budget_used <= max && e.budget_used >= 1);
    std::vector<int64_t>& ts = starts_[e.honeypot][size_t(e.cls)];
    ts.push_back(e.ts_ns);
    const size_t n = ts.size();
    if (lim.kind == WindowKind::kSliding) {
      size_t in_window = 0;
      for (int64_t t : ts) in_window += e.ts_ns - t < lim.window_ns;
      HN_FUZZ_CHECK(in_window <= max, "passed " + std::to_string(in_window) + " new outbound " +
                                          ProtoClassName(e.cls) + " connections in one window, limit " +
                                          std::to_string(max));
    } else {
      for (size_t j = 0; j < n; j++) {
        const __int128 count = __int128(n - j) * 1'000'000;
        const __int128 bound = __int128(max) * 1'000'000 + 1 +
                               (__int128(e.ts_ns) - ts[j]) * max * 1'000'000 / lim.window_ns;
        HN_FUZZ_CHECK(count <= bound, "token bucket let " + std::to_string(n - j) + " starts through");
      }
    }
  }

  void CheckSent(const Sent& s) {
    HN_FUZZ_CHECK(!s.bytes.empty());
    std::vector<uint8_t> copy = s.bytes;
    Packet p;
    const DecodeError err = Decode(copy.data(), uint32_t(copy.size()), &p);
    HN_FUZZ_CHECK(err == DecodeError::kOk, std::string("sent a frame that does not decode: ") + DecodeErrorName(err));
    if (all_checksums_right_) HN_FUZZ_CHECK(ChecksumsRight(p), "sent a frame with a wrong checksum (all frames in had right ones)");
    if (!nat() || s.port != kOutside) return;
    HN_FUZZ_CHECK(Mac::From(p.src_mac()) == kWallOut, "nat: a frame left outside without the wall's MAC");
    if (!p.is_ipv4()) return;
    const Ip4 src = Ip4::FromNet(p.data + p.ip_src_off);
    bool public_src = false;
    for (const HoneypotConfig& h : cfg_.honeypots) public_src |= h.public_ip && *h.public_ip == src;
    HN_FUZZ_CHECK(public_src, "nat: " + src.ToString() + " left outside as a source address");
  }

  // Bridge: a forwarded IP frame is part of a flow Data Control allowed.
  void CheckAllowedFlow(const std::vector<uint8_t>& bytes) {
    std::vector<uint8_t> copy = bytes;
    Packet p;
    if (Decode(copy.data(), uint32_t(copy.size()), &p) != DecodeError::kOk) return;
    if (!p.is_ipv4() && !p.is_ipv6()) return;
    if (p.is_fragment) return;  // fragments follow their first fragment's verdict
    if (p.ip_proto == kProtoIcmp && IcmpIsError(p.icmp_type)) return;  // follows the quoted flow
    if (p.ip_proto == kProtoIcmpv6 && p.icmp_type < 128) return;
    const FlowKey k = MakeFlowKey(p);
    const FlowKey rev = k.Reversed();
    for (const auto& [id, f] : live_)
      if (f.allowed && (f.key == k || f.key == rev)) return;
    HN_FUZZ_CHECK(false, "bridge forwarded an IP frame of no allowed flow: " + k.SrcString() + ":" +
                             std::to_string(k.sport) + " -> " + k.DstString() + ":" + std::to_string(k.dport) +
                             " proto " + std::to_string(k.proto));
  }

  // A whole IPv4 TCP/UDP datagram as a sender with checksum offload hands it
  // over: the field holds the pseudo-header sum; the Offload says where.
  static Offload MakePartial(std::vector<uint8_t>& frame, bool gso) {
    Packet p;
    if (Decode(frame.data(), uint32_t(frame.size()), &p) != DecodeError::kOk || !p.is_ipv4() || !p.has_l4 ||
        p.is_fragment)
      return {};
    uint16_t field = 0;
    if (p.ip_proto == kProtoTcp && p.l4_len >= 20) field = 16;
    if (p.ip_proto == kProtoUdp && p.l4_len >= 8) field = 6;
    if (field == 0) return {};
    uint8_t pseudo[12] = {};
    std::memcpy(pseudo, p.data + p.ip_src_off, 4);
    std::memcpy(pseudo + 4, p.data + p.ip_dst_off, 4);
    pseudo[9] = p.ip_proto;
    Store16(pseudo + 10, p.l4_len);
    Store16(frame.data() + p.l4_off + field, uint16_t(~ChecksumFinish(ChecksumPartial(pseudo, 12))));
    Offload off{uint16_t(p.l4_off), field};
    if (gso) off = Offload{uint16_t(p.l4_off), field, 1, 1448, uint16_t(p.l4_off + 20)};
    return off;
  }

  // The input's checksums, as the engine will see them (it completes partial
  // checksums of IPv4 and IPv6 frames marked csum_not_ready, or leaves them to
  // the receiver, which the fake TX plays).
  static bool InputChecksumsRight(std::vector<uint8_t> frame, bool csum_not_ready) {
    Packet p;
    Decode(frame.data(), uint32_t(frame.size()), &p);
    if (csum_not_ready && (p.is_ipv4() || p.is_ipv6())) {
      RecomputeChecksums(&p);
      Decode(frame.data(), uint32_t(frame.size()), &p);
    }
    return ChecksumsRight(p);
  }

  struct LiveFlow {
    FlowKey key;
    bool allowed;
  };

  Config cfg_;
  FakeTx tx_;
  FakeEvents ev_;
  std::unique_ptr<Engine> engine_;
  int64_t now_ = 1'800'000'000LL * kSecNs;
  std::map<uint64_t, LiveFlow> live_;
  bool all_checksums_right_ = true;  // every frame fed so far had right checksums
  std::vector<std::array<std::vector<int64_t>, kProtoClasses>> starts_;  // counted starts per honeypot, class
};

// ---- the config --------------------------------------------------------------

inline Config MakeConfig(ByteReader& in) {
  Config c;
  const uint8_t head = in.U8();
  c.mode = head & 1 ? Mode::kNat : Mode::kBridge;
  c.roach_motel = (head & 0x0e) == 0x0e;
  c.allow_ipv6 = head & 0x10;
  if (head & 0x20) c.dns_servers.push_back(Ip4{0xc0000235});  // 192.0.2.53
  c.max_flows = 1 + in.U8() % 64;
  c.tcp_established_timeout_ns = int64_t(1 + in.U8()) * kSecNs;
  c.udp_timeout_ns = int64_t(1 + in.U8()) * kSecNs;
  if (c.mode == Mode::kNat) {
    c.inside_gateway_ip = Ip4Prefix{Ip4{0x0a000001}, 24};  // 10.0.0.1/24
    c.outside_gateway = Ip4{0xc0000201};                    // 192.0.2.1
  }
  const int n = 1 + in.U8() % 3;
  for (int i = 0; i < n; i++) {
    HoneypotConfig h;
    h.name = "hp" + std::to_string(i + 1);
    const uint8_t b = in.U8();
    if (c.mode == Mode::kNat) {
      h.ip = Ip4{0x0a000002u + uint32_t(i)};       // 10.0.0.2..
      h.public_ip = Ip4{0xc000020au + uint32_t(i)};  // 192.0.2.10..
    } else {
      h.ip = Ip4{0xc000020au + uint32_t(i)};  // 192.0.2.10..
    }
    if (b & 1) h.mac = MacN(0x52, 0x54, 0, 0, 0, uint8_t(2 + i));
    h.limits.kind = b & 2 ? WindowKind::kTokenBucket : WindowKind::kSliding;
    for (auto& m : h.limits.max) m = in.U8() % 13;
    h.limits.window_ns = int64_t(1 + in.U8()) * kSecNs;
    c.honeypots.push_back(h);
  }
  return c;
}

// ---- frames from a few bytes ------------------------------------------------------

// Addresses that matter to the engine: its honeypots (both modes' numbering),
// gateways, broadcast, multicast, DNS, outside hosts.
inline Ip4 PoolIp(uint8_t v) {
  static constexpr uint32_t kIps[] = {
      0xc000020a, 0xc000020b, 0xc000020c,  // 192.0.2.10-12: bridge honeypots / nat public
      0x0a000002, 0x0a000003, 0x0a000004,  // 10.0.0.2-4: nat honeypots
      0x0a000001, 0xc0000201,              // gateways
      0xffffffff, 0xe0000001, 0x0a0000ff,  // broadcast, multicast, subnet broadcast
      0xc0000235, 0x00000000,              // DNS server, 0.0.0.0
      0xc6336407, 0xc6336408, 0xcb007109,  // outside hosts
  };
  return Ip4{kIps[v % 16]};
}

inline Mac PoolMac(uint8_t v) {
  switch (v % 12) {
    case 0: return MacN(0x52, 0x54, 0, 0, 0, 2);
    case 1: return MacN(0x52, 0x54, 0, 0, 0, 3);
    case 2: return MacN(0x52, 0x54, 0, 0, 0, 4);
    case 3: return MacN(0x02, 0, 0, 0, 0, 0x99);  // an outside host
    case 4: return MacN(0x02, 0, 0, 0, 0, 0x01);  // nat: upstream gateway
    case 5: return kWallIn;
    case 6: return kWallOut;
    case 7: return MacN(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    case 8: return MacN(0x01, 0x00, 0x5e, 0, 0, 1);
    case 9: return MacN(0x01, 0x80, 0xc2, 0, 0, 0);
    case 10: return Mac{};
    default: return MacN(0x02, 0, 0, 0, 0, uint8_t(v));
  }
}

inline uint16_t PoolPort(uint8_t v) {
  static constexpr uint16_t kPorts[] = {80, 23, 53, 67, 68, 443, 40000, 40001};
  return kPorts[v % 8];
}

// IPv6 frame: hand-built, addresses 2001:db8::<a>, payload L4 with a zero checksum.
inline std::vector<uint8_t> Ipv6Frame(Mac dst, Mac src, uint8_t a, uint8_t b, uint8_t nh, std::vector<uint8_t> l4) {
  auto f = test::Eth(dst, src, kEthIpv6);
  uint8_t ip[40] = {0x60};
  Store16(ip + 4, uint16_t(l4.size()));
  ip[6] = nh;
  ip[7] = 64;
  const uint8_t prefix[4] = {0x20, 0x01, 0x0d, 0xb8};
  std::memcpy(ip + 8, prefix, 4);
  std::memcpy(ip + 24, prefix, 4);
  ip[23] = a;
  ip[39] = b;
  f.insert(f.end(), ip, ip + 40);
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

// One frame from the input: a template filled from a few bytes, or raw bytes.
inline std::vector<uint8_t> MakeFrame(ByteReader& in) {
  using namespace test;
  const uint8_t kind = in.U8();
  const Mac dmac = PoolMac(in.U8()), smac = PoolMac(in.U8());
  const uint8_t ab = in.U8();
  Ip4Spec s{PoolIp(ab & 0x0f), PoolIp(ab >> 4)};
  const uint8_t pp = in.U8();
  const uint16_t sport = PoolPort(pp & 7), dport = PoolPort(pp >> 3);
  const uint8_t x = in.U8();
  s.ttl = x & 0x80 ? 1 : 64;
  switch (kind % 10) {
    case 0:
    case 1: {  // TCP, any flags
      s.proto = kProtoTcp;
      return Ipv4Frame(dmac, smac, s, TcpSeg(s.src, s.dst, sport, dport, uint8_t((x & 0x3f) | (kind & 0x80)), kind & 0x40 ? "GET /" : ""));
    }
    case 2:
      s.proto = kProtoUdp;
      return Ipv4Frame(dmac, smac, s, UdpDgram(s.src, s.dst, sport, dport, "q", x & 1));
    case 3:
      s.proto = kProtoIcmp;
      return Ipv4Frame(dmac, smac, s, IcmpMsg(x & 1 ? 0 : 8, 0, uint16_t(pp), 1, {1, 2, 3, 4}));
    case 4: {  // ICMP error quoting a TCP/UDP packet between pool addresses
      Ip4Spec q{s.dst, PoolIp(x & 0x0f)};
      q.proto = x & 0x10 ? kProtoUdp : kProtoTcp;
      auto inner = Ipv4Frame(dmac, smac, q,
                             q.proto == kProtoUdp ? UdpDgram(q.src, q.dst, dport, sport, "")
                                                  : TcpSeg(q.src, q.dst, dport, sport, kSyn));
      std::vector<uint8_t> quote(inner.begin() + 14, inner.begin() + 14 + 28);
      s.proto = kProtoIcmp;
      return Ipv4Frame(dmac, smac, s, IcmpMsg(x & 0x20 ? 11 : 3, 3, 0, 0, quote));
    }
    case 5:
      return Arp(dmac, smac, x & 1 ? 2 : 1, s.src, x & 2 ? Mac{} : PoolMac(x >> 2), s.dst);
    case 6: {  // IPv6 TCP or UDP
      std::vector<uint8_t> l4(x & 1 ? 8 : 20, 0);
      Store16(l4.data(), sport);
      Store16(l4.data() + 2, dport);
      if (x & 1) {
        Store16(l4.data() + 4, 8);
      } else {
        l4[12] = 5 << 4;
        l4[13] = uint8_t(kind & 0x80 ? kSyn | kAck : kSyn);
      }
      return Ipv6Frame(dmac, smac, ab & 0x0f, ab >> 4, x & 1 ? kProtoUdp : kProtoTcp, l4);
    }
    case 7: {  // IPv4 fragment: first (MF) or a later one
      s.proto = x & 1 ? kProtoUdp : kProtoTcp;
      s.id = uint16_t(0x100 + (pp & 3));
      if (x & 2) {
        s.mf = true;
        return Ipv4Frame(dmac, smac, s,
                         s.proto == kProtoUdp ? UdpDgram(s.src, s.dst, sport, dport, std::string(16, 'u'))
                                              : TcpSeg(s.src, s.dst, sport, dport, kSyn, std::string(12, 't')));
      }
      s.frag_off_bytes = 32;
      return Ipv4Frame(dmac, smac, s, std::vector<uint8_t>(16, 0xab));
    }
    default: {  // raw bytes after the two MACs
      auto f = Eth(dmac, smac, uint16_t(in.U16()));
      const uint8_t* bytes = nullptr;
      const size_t n = in.Take(in.U8(), &bytes);
      f.insert(f.end(), bytes, bytes + n);
      return f;
    }
  }
}

}  // namespace engine_detail

inline int FuzzEngine(const uint8_t* data, size_t size) {
  using namespace engine_detail;
  ByteReader in(data, size);
  Config cfg = MakeConfig(in);
  const uint8_t slot = in.U8();
  const uint32_t slot_len = slot < 200 ? 2048 : 60 + slot;  // sometimes a TX slot shorter than frames
  EngineScenario s(std::move(cfg), slot_len);
  s.LeaveChecksums(slot % 3 == 0);  // ports with virtio-net headers in a third of the runs
  for (int steps = 0; !in.empty() && steps < 400; steps++) {
    const uint8_t op = in.U8();
    const uint8_t dt = in.U8();
    switch ((op >> 5) & 3) {
      case 0: s.Advance(int64_t(dt) * kMsNs); break;
      case 1: s.Advance(int64_t(dt) * 10 * kMsNs); break;
      case 2: s.Advance(int64_t(dt) * kSecNs); break;
      case 3: s.Advance(int64_t(dt) * 60 * kSecNs); break;
    }
    if ((op & 0x1f) == 0x1f) {
      s.Timer();
      continue;
    }
    s.Frame(op & 1 ? kOutside : kInside, MakeFrame(in), (op & 0x9e) == 0x9e, (dt & 0x40) != 0);
  }
  s.Finish();
  return 0;
}

}  // namespace hn::fuzz
