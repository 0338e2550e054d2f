#include "wall/engine.h"

#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "control/frame_checks.h"
#include "decode/checksum.h"

namespace hn {
namespace {

// Single-writer counter bump (relaxed: readers only want a recent value).
inline void Inc(std::atomic<uint64_t>& a, uint64_t n = 1) {
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// 01:80:c2:00:00:0X: STP, LACP, LLDP, pause... IEEE 802.1D says a bridge never forwards them.
bool IsLinkLocalControl(const uint8_t* dst) {
  return dst[0] == 0x01 && dst[1] == 0x80 && dst[2] == 0xc2 && dst[3] == 0 && dst[4] == 0 && (dst[5] & 0xf0) == 0;
}

constexpr int64_t kSec = 1'000'000'000;
// Drop events written one by one per second, per reason (and honeypot for
// flow drops); the rest are counted in stats and summarised once a second.
constexpr uint32_t kFrameEventsPerSecond = 20;
constexpr uint32_t kFlowDropEventsPerSecond = 100;
// A full flow table makes room by evicting one flow among this many slots
// from the new flow's home slot (see EvictionRank); cost is bounded per frame.
constexpr size_t kEvictProbeSlots = 256;
constexpr size_t kExpireSlotsWhenFull = 64;
// A flow's probe window (FlowTable::kMaxProbe slots) that is full gives up at
// most this many flows in it to take a new one; then the frame is refused.
constexpr int kWindowEvictions = 4;
constexpr size_t kExpireSlotsPerTimer = 512;

const Mac kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
constexpr uint16_t kTcpMinHeader = 20;

// Allowed-flow events written one by one per source address and second; the
// rest are counted and summarised (docs/data-control.md, "Events").
constexpr uint32_t kAllowedEventsPerSource = 20;
constexpr size_t kSourceRateSlots = 4096;  // power of two
// ARP / neighbour discovery out of a honeypot (bridge): 20 a second, bursts of 100.
constexpr int64_t kNeighborCostNs = kSec / 20;
constexpr int64_t kNeighborBurst = 100;

// A DHCP client's first message: UDP 68 -> 67, to 255.255.255.255.
bool IsDhcpClientBroadcast(const Packet& p, Ip4 dst) {
  return p.is_ipv4() && p.has_l4 && p.ip_proto == kProtoUdp && p.sport == 68 && p.dport == 67 &&
         dst.v == 0xffffffffu;
}

// A bare SYN (SYN without ACK) on a known TCP flow is a new connection once
// the old one is set up or over: from the initiator after the handshake
// (established, closing, closed), from the responder once it has answered
// (its own SYN before that is a simultaneous open of the same connection).
// Otherwise a honeypot could reuse an allowed 5-tuple, once the server has
// forgotten the connection, for as many new connections as it likes. A SYN
// repeated before any answer, or the initiator's after the SYN-ACK (lost on
// its way), is a retransmission of the same attempt.
bool StartsNewConnection(const Flow& f, const Packet& p, bool reply) {
  if (!p.has_l4 || p.ip_proto != kProtoTcp || (p.tcp_flags & (kSyn | kAck)) != kSyn) return false;
  switch (f.tcp) {
    case TcpState::kEstablished:
    case TcpState::kClosing:
    case TcpState::kClosed:
      return true;
    case TcpState::kSynAckSeen:
      return reply;
    default:
      return false;
  }
}

}  // namespace

Engine::Engine(const Config& cfg, std::vector<Budget> budgets, TxSink* tx, EventSink* events)
    : cfg_(cfg),
      nat_(cfg.mode == Mode::kNat),
      tx_(tx),
      ev_(events),
      flows_(cfg.max_flows, [&] {
        FlowTimeouts t;
        t.tcp_established_ns = cfg.tcp_established_timeout_ns;
        t.udp_ns = cfg.udp_timeout_ns;
        return t;
      }()),
      frags_(kFragSlots),
      src_rate_(kSourceRateSlots),
      activity_(cfg.honeypots.size()) {
  if (::getrandom(&hash_key_, sizeof hash_key_, 0) != sizeof hash_key_)
    hash_key_ = {uint64_t(reinterpret_cast<uintptr_t>(this)) * 0x9e3779b97f4a7c15ULL,
                     uint64_t(reinterpret_cast<uintptr_t>(src_rate_.data()))};
  hp_.reserve(cfg.honeypots.size());
  for (size_t i = 0; i < cfg.honeypots.size(); i++) {
    Honeypot h{&cfg.honeypots[i], i < budgets.size() ? budgets[i] : Budget(cfg.honeypots[i].limits)};
    if (cfg.honeypots[i].mac) {
      h.mac = *cfg.honeypots[i].mac;
      h.mac_known = true;
    }
    hp_.push_back(std::move(h));
  }
  // Outbound bandwidth (actions/shaper.h): a shaper per limited honeypot;
  // with a ceiling over all, every honeypot gets one (its own rate at most the ceiling).
  if (cfg.bandwidth_total_bps) aggregate_ = std::make_unique<TokenBucket>(cfg.bandwidth_total_bps, DefaultBurstBytes(cfg.bandwidth_total_bps));
  shapers_.resize(cfg.honeypots.size());
  for (size_t i = 0; i < cfg.honeypots.size(); i++) {
    const Limits& l = cfg.honeypots[i].limits;
    uint64_t rate = l.bandwidth_bps;
    if (rate == 0 && aggregate_) rate = cfg.bandwidth_total_bps;
    if (rate == 0) continue;
    shapers_[i] = std::make_unique<Shaper>(rate, l.bandwidth_burst, kShaperDefaultMaxDelayNs, aggregate_.get());
    any_shaper_ = true;
  }
  policy_.roach_motel = cfg.roach_motel;
  policy_.dns_servers = cfg.dns_servers;
  policy_.dhcp_servers = cfg.dhcp_servers;
  for (Honeypot& h : hp_) h.nd_credit_ns = kNeighborBurst * kNeighborCostNs;
}

bool Engine::NeighborAllowed(Honeypot& h, int64_t now) {
  const int64_t cap = kNeighborBurst * kNeighborCostNs;
  if (now > h.nd_last_ns) h.nd_credit_ns = std::min(cap, h.nd_credit_ns + (now - h.nd_last_ns));
  h.nd_last_ns = now;
  if (h.nd_credit_ns < kNeighborCostNs) return false;
  h.nd_credit_ns -= kNeighborCostNs;
  return true;
}

bool Engine::AllowedEventOk(const FlowKey& k, Reason r, int64_t now) {
  // Keyed like the flow table: sources cannot be picked to share a slot.
  const uint64_t h = SipHash13(k.src.data(), k.v6 ? 16 : 4, hash_key_);
  SourceRate& s = src_rate_[h & (kSourceRateSlots - 1)];
  const int64_t sec = now / kSec;
  if (s.sec != sec || s.src != k.src) {
    s.src = k.src;
    s.sec = sec;
    s.count = 0;
  }
  if (s.count < kAllowedEventsPerSource) {
    s.count++;
    return true;
  }
  DropLog& l = allowed_held_[size_t(r)];
  if (l.sec != sec) {
    FlushSuppressed(l, r, -1, false, now, true);
    l.sec = sec;
  }
  l.suppressed++;
  Inc(c_.events_suppressed_allowed);
  return false;
}

bool Engine::ready() const { return !nat_ || gw_known_; }

bool Engine::AnyHoneypotUnlearned() const {
  for (const Honeypot& h : hp_)
    if (!h.mac_known) return true;
  return false;
}

int Engine::FindHoneypotByIp(Ip4 ip) const {
  for (size_t i = 0; i < hp_.size(); i++)
    if (hp_[i].cfg->ip == ip) return int(i);
  return -1;
}

int Engine::FindHoneypotByPublic(Ip4 ip) const {
  for (size_t i = 0; i < hp_.size(); i++)
    if (hp_[i].cfg->public_ip && *hp_[i].cfg->public_ip == ip) return int(i);
  return -1;
}

int Engine::FindHoneypotByMac(const uint8_t* mac) const {
  for (size_t i = 0; i < hp_.size(); i++)
    if (hp_[i].mac_known && std::memcmp(hp_[i].mac.b.data(), mac, 6) == 0) return int(i);
  return -1;
}

bool Engine::SendCopy(int port, const uint8_t* data, uint32_t len) {
  if (tx_->Coalesce(port, data, len, partial_ && data == cur_data_)) {
    Inc(c_.tx_frames[port]);
    Inc(c_.tx_bytes[port], len);
    return true;
  }
  uint32_t max = len;
  uint8_t* slot = tx_->Reserve(port, &max);
  if (slot == nullptr || max < len) {
    Inc(c_.tx_full);
    return false;
  }
  std::memcpy(slot, data, len);
  if (partial_ && data == cur_data_)
    tx_->CommitOffload(port, len, cur_off_);
  else
    tx_->Commit(port, len);
  Inc(c_.tx_frames[port]);
  Inc(c_.tx_bytes[port], len);
  return true;
}

bool Engine::LogAllowed(DropLog& l, Reason r, int hp, bool frame, int64_t now) {
  const int64_t sec = now / kSec;
  if (l.sec != sec) {
    FlushSuppressed(l, r, hp, frame, now);
    l.sec = sec;
    l.count = 0;
  }
  if (l.count < (frame ? kFrameEventsPerSecond : kFlowDropEventsPerSecond)) {
    l.count++;
    return true;
  }
  l.suppressed++;
  Inc(c_.events_suppressed);
  return false;
}

// One event for the drop events a DropLog held back in its last second.
void Engine::FlushSuppressed(DropLog& l, Reason r, int hp, bool frame, int64_t now, bool allowed) {
  if (l.suppressed == 0) return;
  Event e;
  e.kind = EventKind::kSuppressed;
  e.allowed = allowed;
  e.ts_ns = now;
  e.reason = r;
  e.honeypot = hp >= 0 ? uint16_t(hp) : kNoHoneypot;
  e.suppressed = l.suppressed;
  e.frame_drop = frame;
  ev_->Post(e);
  l.suppressed = 0;
}

// Which flow a full table gives up first: refused flows (their verdict is
// taken again if they come back: still refused, logged again), then flows that
// never got a reply or are closed, then the rest; never an outbound flow that
// took a budget start, so a flood cannot free a honeypot's accounting.
int Engine::EvictionRank(const Flow& f) {
  if (!f.allowed) return 0;
  if (f.dir == FlowDir::kOutbound && (Reason(f.reason) == Reason::kOutbound || Reason(f.reason) == Reason::kReplyOverrun))
    return -1;
  if (f.pkts_toclient == 0 || f.tcp == TcpState::kClosed) return 1;
  return 2;
}

// Frees room for a new flow with this key; false when there is none to be
// had (every flow near it is protected by EvictionRank). Bounded work: a few
// hundred slot looks at most. Two cases: the table is full (at most half its
// slots are used, so the key's window almost surely has a free slot once any
// flow goes), or the key's window of kMaxProbe slots is full (only by chance:
// the hash key is secret), where only a flow in the window will do.
bool Engine::MakeRoom(const FlowKey& key, int64_t now) {
  auto evicted = [&](Flow& old) {
    Inc(c_.flows_evicted);
    EmitFlowEnd(old, 3, now);
  };
  if (flows_.size() >= flows_.capacity()) {
    flows_.ExpireSome(now, kExpireSlotsWhenFull, [&](Flow& old) { EmitFlowEnd(old, old.tcp == TcpState::kClosed, now); });
    if (flows_.size() >= flows_.capacity()) flows_.EvictOne(key, kEvictProbeSlots, EvictionRank, evicted);
  }
  if (flows_.size() < flows_.capacity() && !flows_.HasRoom(key)) {
    Inc(c_.flows_window_full);
    // Backward-shift deletion may move the free slot past the window: try again.
    for (int i = 0; i < kWindowEvictions && !flows_.HasRoom(key); i++)
      if (!flows_.EvictOne(key, FlowTable::kMaxProbe, EvictionRank, evicted)) break;
  }
  return flows_.HasRoom(key);
}

void Engine::Start(int64_t now_ns) {
  last_timer_ns_ = now_ns;
  OnTimer(now_ns);
}

// ---------------------------------------------------------------- frames

void Engine::OnFrame(int port, uint8_t* data, uint32_t len, int64_t now, bool csum_not_ready, const Offload& off) {
  cur_data_ = data;
  cur_off_ = off;
  partial_ = false;
  Inc(c_.rx_frames[port]);
  Inc(c_.rx_bytes[port], len);

  Packet p;
  Decode(data, len, &p);
  if (!p.ok()) {
    Inc(c_.decode_errors[std::min<size_t>(size_t(p.error), c_.decode_errors.size() - 1)]);
    DropFrame(port, p, Reason::kMalformed, now);
    return;
  }
  if (IsLinkLocalControl(data)) {
    DropFrame(port, p, Reason::kLinkLocalControl, now);
    return;
  }
  if (p.vlan_count > 0) {
    DropFrame(port, p, Reason::kVlanTagged, now);
    return;
  }
  switch (p.l3) {
    case L3::kArp:
      HandleArp(port, p, now);
      return;
    case L3::kIpv4:
      HandleIp(port, p, now, csum_not_ready);
      return;
    case L3::kIpv6:
      if (!cfg_.allow_ipv6 || nat_) {
        DropFrame(port, p, Reason::kIpv6Disabled, now);
        return;
      }
      HandleIp(port, p, now, csum_not_ready);
      return;
    default:
      // Bridge: what comes from outside is always let in. Nothing else crosses.
      if (!nat_ && port == kOutside) {
        SendCopy(kInside, data, len);
        return;
      }
      DropFrame(port, p, Reason::kNonIp, now);
      return;
  }
}

void Engine::HandleArp(int port, Packet& p, int64_t now) {
  const Ip4 spa = Ip4::FromNet(p.data + p.arp_spa_off);
  const Ip4 tpa = Ip4::FromNet(p.data + p.arp_tpa_off);
  const uint8_t* sha = p.data + p.arp_sha_off;
  const Mac src_mac = Mac::From(p.src_mac());

  if (port == kInside) {
    // Identity: the sender must be the honeypot its MAC belongs to, and say so.
    if (std::memcmp(sha, p.src_mac(), 6) != 0) {
      DropFrame(port, p, Reason::kSpoofedSource, now, FindHoneypotByMac(p.src_mac()));
      return;
    }
    int hp = FindHoneypotByMac(p.src_mac());
    if (spa.v != 0) {
      int by_ip = FindHoneypotByIp(spa);
      if (hp >= 0 && hp_[hp].cfg->ip != spa) {
        DropFrame(port, p, Reason::kSpoofedSource, now, hp);
        return;
      }
      if (hp < 0) {
        if (by_ip >= 0 && !hp_[by_ip].mac_known) {
          hp_[by_ip].mac = src_mac;
          hp_[by_ip].mac_known = true;
          hp = by_ip;
        } else {
          DropFrame(port, p, by_ip >= 0 ? Reason::kSpoofedSource : Reason::kUnknownSource, now, by_ip);
          return;
        }
      }
    } else if (hp < 0) {
      DropFrame(port, p, Reason::kUnknownSource, now);  // address probe from a MAC no honeypot owns
      return;
    }
    if (!nat_) {
      if (!NeighborAllowed(hp_[hp], now)) {
        DropFrame(port, p, Reason::kNeighborRate, now, hp);
        return;
      }
      SendCopy(kOutside, p.data, p.len);
      return;
    }
    // nat: we are the gateway; answer for it, and deliver what waited for this honeypot.
    Honeypot& h = hp_[hp];
    if (h.pending_len > 0) {
      h.mac.CopyTo(h.pending.data());
      SendCopy(kInside, h.pending.data(), h.pending_len);
      h.pending_len = 0;
    }
    if (p.arp_op == 1 && cfg_.inside_gateway_ip && tpa == cfg_.inside_gateway_ip->addr) {
      SendArp(kInside, 2, port_mac_[kInside], tpa, src_mac, spa, src_mac);
      Inc(c_.arp_replies);
    }
    return;
  }

  // Outside.
  if (!nat_) {
    // A frame from outside claiming a honeypot's address poisons the honeypot's neighbours.
    if (FindHoneypotByIp(spa) >= 0 && FindHoneypotByMac(sha) < 0) {
      DropFrame(port, p, Reason::kSpoofedSource, now, FindHoneypotByIp(spa));
      return;
    }
    SendCopy(kInside, p.data, p.len);
    return;
  }
  if (cfg_.outside_gateway && spa == *cfg_.outside_gateway) {
    gw_mac_ = Mac::From(sha);
    gw_known_ = true;
    gw_learned_ns_ = now;
  }
  if (p.arp_op == 1) {
    if (FindHoneypotByPublic(tpa) >= 0) {
      SendArp(kOutside, 2, port_mac_[kOutside], tpa, Mac::From(sha), spa, src_mac);
      Inc(c_.arp_replies);
    } else {
      Inc(c_.not_for_us);
    }
  }
}

bool Engine::LeaveChecksum(const Packet& p) const {
  if (cur_off_.csum_start == 0 || !tx_->CanLeaveChecksum() || !p.has_l4 || p.is_fragment) return false;
  if (cur_off_.csum_start != p.l4_off) return false;
  if (p.ip_proto == kProtoTcp) return cur_off_.csum_offset == 16 && p.l4_len >= 20;
  if (p.ip_proto == kProtoUdp) return cur_off_.csum_offset == 6 && p.l4_len >= 8;
  return false;
}

void Engine::UpdateL4Checksum(uint8_t* field, uint32_t old_a, uint32_t new_a) const {
  if (!partial_) {
    ChecksumUpdate32(field, old_a, new_a);
    return;
  }
  // Partial: the field is F = sum(pseudo-header), and F' = F - old + new;
  // ChecksumUpdate32 computes ~(~HC - old + new), so run it on ~F.
  Store16(field, uint16_t(~Load16(field)));
  ChecksumUpdate32(field, old_a, new_a);
  Store16(field, uint16_t(~Load16(field)));
}

void Engine::HandleIp(int port, Packet& p, int64_t now, bool csum_not_ready) {
  // IPv6 too (bridge with ipv6 = true): a partial checksum there was sent on
  // unfinished before (found while adding this).
  const bool ip_partial = csum_not_ready && (p.is_ipv4() || p.is_ipv6());
  if (cur_off_.gso_type != 0 && !(ip_partial && GsoFits(cur_off_.gso_type, p) && LeaveChecksum(p))) {
    // A super-segment we could not pass on as one (not IPv4 TCP/UDP with its
    // checksum left partial where expected): nothing here cuts it up.
    DropFrame(port, p, Reason::kMalformed, now);
    return;
  }
  if (ip_partial) {
    if (LeaveChecksum(p)) {
      partial_ = true;  // forwarded as it came: the receiver (or its NIC) finishes it
    } else {
      RecomputeChecksums(&p);
      Inc(c_.checksums_finished);
    }
  }
  const bool v6 = p.is_ipv6();
  const Ip4 src = v6 ? Ip4{} : Ip4::FromNet(p.data + p.ip_src_off);
  const Ip4 dst = v6 ? Ip4{} : Ip4::FromNet(p.data + p.ip_dst_off);
  const bool l2_multi = p.data[0] & 1;
  int hp_src = -1, hp_dst = -1;

  if (port == kInside) {
    // Who sent it: the honeypot owning the source MAC; its IP must be its own.
    int by_mac = FindHoneypotByMac(p.src_mac());
    if (by_mac >= 0) {
      if (v6 ? !V6SourceOk(V6Id(hp_[by_mac]), p) : (src != hp_[by_mac].cfg->ip && src.v != 0)) {
        DropFrame(port, p, Reason::kSpoofedSource, now, by_mac);
        return;
      }
      hp_src = by_mac;
    } else {
      int by_ip = v6 ? -1 : FindHoneypotByIp(src);
      if (by_ip >= 0 && !hp_[by_ip].mac_known) {
        Honeypot& h = hp_[by_ip];
        h.mac = Mac::From(p.src_mac());
        h.mac_known = true;
        hp_src = by_ip;
        if (h.pending_len > 0) {
          h.mac.CopyTo(h.pending.data());
          SendCopy(kInside, h.pending.data(), h.pending_len);
          h.pending_len = 0;
        }
      } else if (by_ip >= 0) {
        DropFrame(port, p, Reason::kSpoofedSource, now, by_ip);  // a honeypot's IP from a MAC not its own
        return;
      } else if (v6 || src.v != 0 || !l2_multi || !IsDhcpClientBroadcast(p, dst) || !AnyHoneypotUnlearned()) {
        // From a MAC no honeypot owns, only a DHCP discover (0.0.0.0:68 to
        // 255.255.255.255:67) may pass, and only while some honeypot's MAC is
        // not known yet (it may be that honeypot asking for its address).
        // Anything else is no honeypot's: a flood of random MACs must not get
        // out as "DHCP" (nor starve the outside's DHCP server).
        DropFrame(port, p, Reason::kUnknownSource, now);
        return;
      }
    }
    // A source route would carry the packet on from the hop Data Control
    // checked to wherever the honeypot likes.
    if ((!v6 && p.has_ip_options && HasSourceRoute(p)) || (v6 && p.ipv6_routing)) {
      DropFrame(port, p, Reason::kSourceRoute, now, hp_src);
      return;
    }
    // DHCP servers and IPv6 routers stay off the outside network, whatever flow.
    if (p.has_l4) {
      if (Reason r = ForbiddenFromInside(v6, p.ip_proto, p.sport, p.icmp_type); r != Reason::kCount) {
        DropFrame(port, p, r, now, hp_src);
        return;
      }
    }
    // Neighbour discovery is IPv6's ARP: checked like ARP and passed without
    // a flow or a budget, at the neighbour rate (hp_src is known: IPv6 from a
    // MAC no honeypot owns was dropped above).
    if (v6 && p.has_l4 && p.ip_proto == kProtoIcmpv6 && IsNdp(p.icmp_type) && !p.is_fragment) {
      Reason r = CheckNdp(V6Id(hp_[hp_src]), p);
      if (r == Reason::kCount && !NeighborAllowed(hp_[hp_src], now)) r = Reason::kNeighborRate;
      if (r != Reason::kCount) {
        DropFrame(port, p, r, now, hp_src);
        return;
      }
      SendCopy(kOutside, p.data, p.len);  // bridge only: nat drops IPv6 before here
      return;
    }
    if (nat_) {
      if (l2_multi || Mac::From(p.dst_mac()) != port_mac_[kInside]) {
        Inc(c_.not_for_us);  // broadcasts and frames between honeypots are not routed
        return;
      }
      if (cfg_.inside_gateway_ip && dst == cfg_.inside_gateway_ip->addr) {
        if (p.has_l4 && p.ip_proto == kProtoIcmp && p.icmp_type == 8) SendEchoReply(kInside, p);
        else Inc(c_.not_for_us);
        return;
      }
      // A router does not forward broadcasts or multicast (RFC 1812): sent to the
      // gateway's MAC they would reach the upstream router, uncounted.
      if (!v6 && (dst.v == 0xffffffffu || (dst.v >> 28) == 0xe)) {
        DropFrame(port, p, Reason::kNoRoute, now, hp_src);
        return;
      }
      hp_dst = FindHoneypotByIp(dst);
      if (p.ttl <= 1) {
        SendIcmpError(kInside, p, 11, 0, cfg_.inside_gateway_ip->addr, now);
        DropFrame(port, p, Reason::kTtlExceeded, now, hp_src);
        return;
      }
    } else {
      // Bridge: honeypots share the inside segment, so a frame to another
      // honeypot's MAC is delivered there and never goes out of the outside
      // port. One whose IP destination is a honeypot but whose MAC is another
      // host's (the router's) goes out: an outbound flow like any other.
      const int by_dst = v6 ? FindHoneypotByMac(p.dst_mac()) : FindHoneypotByIp(dst);
      if (by_dst >= 0 && hp_[by_dst].mac_known && std::memcmp(p.dst_mac(), hp_[by_dst].mac.b.data(), 6) == 0) {
        Inc(c_.not_for_us);
        return;
      }
    }
  } else {
    if (nat_) {
      if (l2_multi || Mac::From(p.dst_mac()) != port_mac_[kOutside]) {
        Inc(c_.not_for_us);
        return;
      }
      hp_dst = FindHoneypotByPublic(dst);
      if (hp_dst < 0) {
        Inc(c_.not_for_us);
        return;
      }
      if (p.ttl <= 1) {
        SendIcmpError(kOutside, p, 11, 0, dst, now);
        DropFrame(port, p, Reason::kTtlExceeded, now, hp_dst);
        return;
      }
    } else {
      if (!v6 && FindHoneypotByIp(src) >= 0) {  // a honeypot's address coming from outside
        DropFrame(port, p, Reason::kSpoofedSource, now, FindHoneypotByIp(src));
        return;
      }
      if (v6) {
        for (size_t i = 0; i < hp_.size(); i++) {
          if (V6Id(hp_[i]).Owns(p.data + p.ip_src_off)) {
            DropFrame(port, p, Reason::kSpoofedSource, now, int(i));
            return;
          }
        }
      }
      hp_dst = v6 ? FindHoneypotByMac(p.dst_mac()) : FindHoneypotByIp(dst);
    }
  }

  // Non-first fragments carry no ports: they follow their first fragment's verdict.
  if (p.is_fragment && p.frag_offset > 0) {
    // A TCP fragment starting inside the TCP header overwrites its flags at the
    // receiver (RFC 1858): Data Control would judge other flags than it gets.
    if (port == kInside && p.ip_proto == kProtoTcp && p.frag_offset < kTcpMinHeader) {
      DropFrame(port, p, Reason::kFragmentOverlap, now, hp_src);
      return;
    }
    FragEntry* fe = FragFind(p, false, now);
    if (fe == nullptr ? port == kOutside : fe->allowed) {
      ForwardIp(port, p, nullptr, port == kInside ? hp_src : hp_dst, now);
    } else {
      DropFrame(port, p, Reason::kFragmentNoHead, now, port == kInside ? hp_src : hp_dst);
    }
    return;
  }

  FlowKey key = MakeFlowKey(p);
  if (nat_ && port == kOutside) hp_[hp_dst].cfg->ip.ToNet(key.dst.data());  // inside view

  bool reply = false;
  Flow* f = flows_.Find(key, &reply);
  if (f != nullptr && StartsNewConnection(*f, p, reply)) {
    EmitFlowEnd(*f, 1, now);
    flows_.Remove(f);
    f = nullptr;
    reply = false;  // the new flow runs the way this SYN does
  }
  if (f == nullptr) {
    bool related_reply = false;
    if (p.has_inner && RelatedIcmpError(p, port, port == kInside ? hp_src : hp_dst, &related_reply)) {
      ForwardIp(port, p, nullptr, port == kInside ? hp_src : hp_dst, now);
      return;
    }
    if (!flows_.HasRoom(key) && !MakeRoom(key, now)) {
      DropFrame(port, p, Reason::kFlowTableFull, now, port == kInside ? hp_src : hp_dst);
      return;
    }
    FlowStart fs;
    fs.from_inside = port == kInside;
    fs.src_honeypot = hp_src >= 0 ? uint16_t(hp_src) : kNoHoneypot;
    fs.dst_honeypot = hp_dst >= 0 ? uint16_t(hp_dst) : kNoHoneypot;
    fs.ip_proto = p.ip_proto;
    fs.sport = p.sport;
    fs.dport = p.dport;
    fs.dst_ip = dst;
    // Broadcast only when the frame and the IP destination both say so: a
    // unicast address in a broadcast frame is delivered to that host (Linux
    // takes it for UDP and ICMP), and an IP broadcast in a frame to one MAC
    // reaches only that host: flows like any other.
    fs.dst_broadcast = IsRealBroadcast(p);
    fs.tcp_syn_only = p.ip_proto != kProtoTcp || (p.tcp_flags & (kSyn | kAck)) == kSyn;
    fs.tcp_syn_ack = p.ip_proto == kProtoTcp && (p.tcp_flags & (kSyn | kAck)) == (kSyn | kAck);
    if (p.ip_proto == kProtoTcp && !p.has_l4) fs.tcp_syn_only = false;
    Decision d = Decide(policy_, fs, hp_src >= 0 ? &hp_[hp_src].budget : nullptr, now + budget_skew_ns_);
    // A TCP packet that cannot start a connection is dropped without making a flow:
    // otherwise ACK probes would fill the table.
    if (d.verdict == Verdict::kDrop && d.reason == Reason::kNotFlowStart) {
      DropFrame(port, p, d.reason, now, hp_src);
      return;
    }
    f = flows_.Insert(key, now);
    if (f == nullptr) {  // cannot happen after the check above; stay closed if it does
      DropFrame(port, p, Reason::kFlowTableFull, now, hp_src);
      return;
    }
    f->honeypot = uint16_t(hp_src >= 0 ? hp_src : (hp_dst >= 0 ? hp_dst : kNoHoneypot));
    f->dir = port == kInside ? (hp_dst >= 0 ? FlowDir::kInternal : (hp_src >= 0 ? FlowDir::kOutbound : FlowDir::kOther))
                             : (hp_dst >= 0 ? FlowDir::kInbound : FlowDir::kOther);
    f->allowed = d.verdict == Verdict::kPass;
    f->reason = uint8_t(d.reason);
    f->in_port = uint8_t(port);
    f->icmp_type = p.icmp_type;
    f->icmp_code = p.icmp_code;
    if (p.ip_proto == kProtoTcp)
      f->tcp = (p.tcp_flags & kSyn) ? TcpState::kSynSent : TcpState::kEstablished;
    Inc(c_.flows_new);
    if (f->honeypot != kNoHoneypot) {
      Activity& a = activity_[f->honeypot];
      a.flows.store(a.flows.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      a.last_flow_ns.store(now, std::memory_order_relaxed);
    }
    if (f->allowed) {
      // Counted starts are always written; the rest at most
      // kAllowedEventsPerSource a second per source (a flood of inbound
      // connections must not bury the verdicts).
      f->logged = d.counted || AllowedEventOk(key, d.reason, now);
      if (f->logged) EmitFlow(EventKind::kFlowNew, *f, p, &d, now);
    } else {
      DropLogs& logs = f->honeypot != kNoHoneypot ? hp_[f->honeypot].flow_drops : flow_drops_none_;
      f->logged = LogAllowed(logs[size_t(d.reason)], d.reason, f->honeypot == kNoHoneypot ? -1 : f->honeypot, false, now);
      if (f->logged) EmitFlow(EventKind::kFlowDrop, *f, p, &d, now);
    }
  }

  if (reply) {
    f->pkts_toclient++;
    f->bytes_toclient += p.len;
  } else {
    f->pkts_toserver++;
    f->bytes_toserver += p.len;
  }
  f->last_ns = now;
  if (p.is_fragment) {  // first fragment: later ones follow this verdict
    if (FragEntry* fe = FragFind(p, true, now)) fe->allowed = f->allowed;
  }
  if (!f->allowed) {
    Inc(c_.drops[f->reason]);
    return;
  }
  if (reply && port == kInside && f->dir == FlowDir::kInbound &&
      ReplyOverrun(f->key.proto, f->pkts_toclient, f->bytes_toclient, f->pkts_toserver, f->bytes_toserver)) {
    ConvertReply(f, p, now);
    if (!f->allowed) {
      Inc(c_.drops[f->reason]);
      return;
    }
  }
  if (p.ip_proto == kProtoTcp && p.has_l4) UpdateTcp(f, p, reply);
  if (detector_ != nullptr) {
    FlowRuleState* rs = flows_.RuleState(f);
    if (rs->drop) {  // a drop rule matched this flow before: both ways, to its end
      Inc(c_.drops[size_t(Reason::kRuleDrop)]);
      return;
    }
    if (!rs->pass && !InspectRules(port, p, f, rs, reply, now)) return;
  }
  ForwardIp(port, p, f, port == kInside ? hp_src : hp_dst, now);
}

// Inline rules (src/rules/, docs/rules.md): after Data Control allowed the
// flow, before the frame is forwarded (and translated: rules see the
// addresses the packet came with). Per packet payload; each rule alerts once
// per flow; a drop rule drops this packet and the flow from then on; replace
// rewrites bytes in place (same length) and the L4 checksum is fixed.
bool Engine::InspectRules(int port, Packet& p, Flow* f, FlowRuleState* rs, bool reply, int64_t now) {
  (void)port;
  DetectPacket d;
  switch (p.ip_proto) {
    case kProtoTcp: d.proto = RuleProto::kTcp; break;
    case kProtoUdp: d.proto = RuleProto::kUdp; break;
    case kProtoIcmp: case kProtoIcmpv6: d.proto = RuleProto::kIcmp; break;
    default: d.proto = RuleProto::kIp; break;
  }
  d.v6 = p.is_ipv6();
  d.src = p.data + p.ip_src_off;
  d.dst = p.data + p.ip_dst_off;
  if (p.has_l4 && (p.ip_proto == kProtoTcp || p.ip_proto == kProtoUdp)) {
    d.sport = p.sport;
    d.dport = p.dport;
  }
  if (p.has_l4) {
    d.payload = p.data + p.payload_off;
    d.payload_len = p.payload_len;
  }
  d.to_server = !reply;
  d.established = p.ip_proto == kProtoTcp ? (f->tcp == TcpState::kEstablished || f->tcp == TcpState::kClosing)
                                          : (f->pkts_toserver > 0 && f->pkts_toclient > 0);
  Inc(c_.rule_packets);
  detector_->Inspect(d, &rs->flowbits, &detect_);
  if (detect_.matched.empty()) return true;
  if (detect_.pass) {
    rs->pass = true;  // Suricata: a pass rule passes the rest of the flow
    Inc(c_.rule_passes);
    return true;
  }
  const std::vector<Rule>& rules = detector_->rules();
  // Bytes a replace rule rewrites (not when the packet is dropped anyway).
  bool will_replace = false;
  if (!detect_.drop) {
    for (const Replacement& r : detect_.replacements)
      if (r.offset + r.len <= d.payload_len) will_replace = true;
  }
  // Alerts first: their payload is what the packet brought, before any rewrite.
  for (uint32_t idx : detect_.matched) {
    const Rule& r = rules[idx];
    if (r.noalert || r.action == RuleAction::kPass) continue;
    bool seen = false;
    for (uint32_t& a : rs->alerted) {
      if (a == idx + 1) {
        seen = true;
        break;
      }
      if (a == 0) {
        a = idx + 1;
        break;
      }
    }
    // More different rules on one flow than slots: those alert per packet.
    if (seen) continue;
    const bool blocked = detect_.drop && (r.action == RuleAction::kDrop || r.action == RuleAction::kReject);
    Inc(c_.rule_alerts);
    EmitAlert(EventKind::kAlert, *f, p, reply, idx, blocked, will_replace && r.HasReplace(), now);
  }
  if (will_replace) {
    for (const Replacement& r : detect_.replacements) {
      if (r.offset + r.len > d.payload_len) continue;
      std::memcpy(p.data + p.payload_off + r.offset, r.bytes, r.len);
    }
    // The L4 checksum covers the payload. A partial one (offload) is
    // finished by the receiver over the new bytes; a full one is summed again.
    if (!partial_) RecomputeChecksums(&p);
    Inc(c_.rule_replaced);
  }
  if (detect_.drop) {
    rs->drop = true;
    Inc(c_.rule_drops);
    Inc(c_.drops[size_t(Reason::kRuleDrop)]);
    uint32_t first = detect_.matched.front();
    for (uint32_t idx : detect_.matched) {
      if (rules[idx].action == RuleAction::kDrop || rules[idx].action == RuleAction::kReject) {
        first = idx;
        break;
      }
    }
    EmitAlert(EventKind::kRuleDrop, *f, p, reply, first, true, false, now);
    if (detect_.reject && p.is_ipv4() && !p.is_fragment) {
      // reject: the sender learns at once (ICMP port unreachable, as Suricata's rejectsrc for non-TCP; TCP too here).
      const Ip4 from = Ip4::FromNet(p.data + p.ip_dst_off);
      SendIcmpError(port, p, 3, p.ip_proto == kProtoUdp ? 3 : 13, from, now);
    }
    return false;
  }
  return true;
}

void Engine::EmitAlert(EventKind kind, const Flow& f, const Packet& p, bool reply, uint32_t rule, bool blocked,
                       bool replaced, int64_t now) {
  Event e;
  e.kind = kind;
  e.ts_ns = now;
  e.flow_id = f.id;
  e.key = reply ? f.key.Reversed() : f.key;
  e.icmp_type = f.icmp_type;
  e.icmp_code = f.icmp_code;
  e.honeypot = f.honeypot;
  e.in_port = uint8_t(reply ? (f.in_port ^ 1) : f.in_port);
  e.dir = f.dir;
  e.reason = Reason::kRuleDrop;
  e.ip_len = p.ip_total_len;
  e.ttl = p.ttl;
  e.tcp_flags = p.tcp_flags;
  e.rule = rule;
  e.blocked = blocked;
  e.replaced = replaced;
  e.to_server = !reply;
  if (p.has_l4) {
    e.payload_len = uint16_t(std::min<size_t>(p.payload_len, kEventPayload));
    std::memcpy(e.payload, p.data + p.payload_off, e.payload_len);
  }
  ev_->Post(e);
}

// An inbound flow whose honeypot side sent more than replies (ReplyOverrun):
// from here on it is the honeypot's outbound flow, counted in its budget or
// dropped both ways. Its event names the honeypot as the source.
void Engine::ConvertReply(Flow* f, const Packet& p, int64_t now) {
  Inc(c_.reply_overruns);
  Budget* b = f->honeypot != kNoHoneypot ? &hp_[f->honeypot].budget : nullptr;
  Decision d = DecideOverrun(policy_, f->key.proto, b, now + budget_skew_ns_);
  f->dir = FlowDir::kOutbound;
  f->allowed = d.verdict == Verdict::kPass;
  f->reason = uint8_t(d.reason);
  f->logged = true;
  Flow shown = *f;
  shown.key = f->key.Reversed();
  shown.in_port = uint8_t(kInside);
  if (f->allowed) {
    EmitFlow(EventKind::kFlowNew, shown, p, &d, now);
  } else {
    DropLogs& logs = f->honeypot != kNoHoneypot ? hp_[f->honeypot].flow_drops : flow_drops_none_;
    if (LogAllowed(logs[size_t(d.reason)], d.reason, f->honeypot == kNoHoneypot ? -1 : f->honeypot, false, now))
      EmitFlow(EventKind::kFlowDrop, shown, p, &d, now);
  }
}

bool Engine::RelatedIcmpError(const Packet& p, int port, int hp, bool* reply_dir) {
  if (!p.is_ipv4() || p.ip_proto != kProtoIcmp || !IcmpIsError(p.icmp_type)) return false;
  const uint8_t* inner = p.data + p.inner_ip_off;
  // An error goes back to the sender of the datagram it quotes; a honeypot (an
  // end host, no router) only reports on datagrams addressed to it. Otherwise
  // a honeypot could quote any allowed flow in "errors" to any host it likes.
  if (std::memcmp(inner + 12, p.data + p.ip_dst_off, 4) != 0) return false;
  if (port == kInside && std::memcmp(inner + 16, p.data + p.ip_src_off, 4) != 0) return false;
  FlowKey k;
  std::memcpy(k.src.data(), inner + 12, 4);
  std::memcpy(k.dst.data(), inner + 16, 4);
  k.proto = p.inner_proto;
  k.sport = p.inner_sport;
  k.dport = p.inner_dport;
  // nat: an error from outside quotes our translated packet: its source is the public address.
  if (nat_ && port == kOutside && hp >= 0) hp_[hp].cfg->ip.ToNet(k.src.data());
  Flow* f = flows_.Find(k, reply_dir);
  if (f == nullptr || !f->allowed) return false;
  return true;
}

void Engine::UpdateTcp(Flow* f, const Packet& p, bool reply) {
  const uint8_t fl = p.tcp_flags;
  if (fl & kRst) {
    f->tcp = TcpState::kClosed;
    return;
  }
  if (fl & kFin) f->fin_mask |= reply ? 2 : 1;
  switch (f->tcp) {
    case TcpState::kNone:
    case TcpState::kSynSent:
      if (reply && (fl & kSyn) && (fl & kAck)) f->tcp = TcpState::kSynAckSeen;
      break;
    case TcpState::kSynAckSeen:
      if (!reply && (fl & kAck) && !(fl & kSyn)) f->tcp = TcpState::kEstablished;
      break;
    default:
      break;
  }
  if (f->fin_mask == 3) f->tcp = TcpState::kClosed;
  else if (f->fin_mask != 0 && f->tcp == TcpState::kEstablished) f->tcp = TcpState::kClosing;
}

// ---------------------------------------------------------------- forwarding

void Engine::ForwardIp(int port, Packet& p, Flow* /*f*/, int hp, int64_t now) {
  if (!nat_) {
    if (port == kInside && hp >= 0) SendOut(hp, port, kOutside, p, now);
    else SendCopy(port ^ 1, p.data, p.len);
    return;
  }
  if (port == kInside) {
    int hp_dst = p.is_ipv4() ? FindHoneypotByIp(Ip4::FromNet(p.data + p.ip_dst_off)) : -1;
    if (hp_dst >= 0) {  // honeypot to honeypot through the gateway: route back inside
      Honeypot& d = hp_[hp_dst];
      uint8_t* ip = p.data + p.l3_off;
      uint16_t old_w = Load16(ip + 8);
      ip[8]--;
      ChecksumUpdate16(ip + 10, old_w, Load16(ip + 8));
      if (!d.mac_known) {
        Inc(c_.drops[size_t(Reason::kNoRoute)]);
        SendArp(kInside, 1, port_mac_[kInside], cfg_.inside_gateway_ip->addr, Mac{}, d.cfg->ip, kBroadcastMac);
        return;
      }
      d.mac.CopyTo(p.data);
      port_mac_[kInside].CopyTo(p.data + 6);
      SendCopy(kInside, p.data, p.len);
      return;
    }
    if (!gw_known_) {
      Inc(c_.drops[size_t(Reason::kNoRoute)]);
      if (now - gw_arp_sent_ns_ > kSec / 4) {
        gw_arp_sent_ns_ = now;
        Ip4 from = hp >= 0 && hp_[hp].cfg->public_ip ? *hp_[hp].cfg->public_ip : Ip4{};
        SendArp(kOutside, 1, port_mac_[kOutside], from, Mac{}, *cfg_.outside_gateway, kBroadcastMac);
      }
      return;
    }
    NatRewrite(p, kInside, hp_[hp]);
    gw_mac_.CopyTo(p.data);
    port_mac_[kOutside].CopyTo(p.data + 6);
    SendOut(hp, kInside, kOutside, p, now);
    return;
  }
  Honeypot& h = hp_[hp];
  NatRewrite(p, kOutside, h);
  port_mac_[kInside].CopyTo(p.data + 6);
  if (!h.mac_known) {
    // Hold one frame (the newest) until the honeypot answers ARP. It leaves
    // later as a frame of our own: finish a partial checksum first.
    if (p.len <= h.pending.size() && cur_off_.gso_type == 0) {
      if (partial_) {
        RecomputeChecksums(&p);
        Inc(c_.checksums_finished);
        partial_ = false;
      }
      std::memcpy(h.pending.data(), p.data, p.len);
      h.pending_len = p.len;
      h.pending_ns = now;
    }
    if (now - h.arp_sent_ns > kSec / 4) {
      h.arp_sent_ns = now;
      SendArp(kInside, 1, port_mac_[kInside], cfg_.inside_gateway_ip->addr, Mac{}, h.cfg->ip, kBroadcastMac);
    }
    return;
  }
  h.mac.CopyTo(p.data);
  SendCopy(kInside, p.data, p.len);
}

void Engine::SendOut(int hp, int in_port, int out_port, const Packet& p, int64_t now) {
  Shaper* s = hp >= 0 ? shapers_[size_t(hp)].get() : nullptr;
  if (s == nullptr) {
    SendCopy(out_port, p.data, p.len);
    return;
  }
  ShapedMeta m;
  m.port = uint8_t(out_port);
  m.partial_csum = partial_ && p.data == cur_data_;
  if (m.partial_csum) {
    m.csum_start = cur_off_.csum_start;
    m.csum_offset = cur_off_.csum_offset;
    m.gso_type = cur_off_.gso_type;
    m.gso_size = cur_off_.gso_size;
    m.hdr_len = cur_off_.hdr_len;
  }
  // As tc-tbf: the IP total length (a GSO super-segment's whole length).
  m.cost = p.ip_total_len ? p.ip_total_len : p.len;
  switch (s->Offer(p.data, p.len, m, now)) {
    case ShapeVerdict::kSendNow:
      SendCopy(out_port, p.data, p.len);
      break;
    case ShapeVerdict::kQueued:
      break;
    case ShapeVerdict::kDropped:
      DropFrame(in_port, p, Reason::kBandwidth, now, hp);
      break;
  }
}

void Engine::ReleaseShaped(int64_t now) {
  if (!any_shaper_) return;
  for (size_t i = 0; i < shapers_.size(); i++) {
    Shaper* s = shapers_[i].get();
    if (s == nullptr || s->queue_empty()) continue;
    s->Release(now, [&](const uint8_t* data, uint32_t len, const ShapedMeta& m) {
      uint32_t max = len;
      uint8_t* slot = tx_->Reserve(m.port, &max);
      if (slot == nullptr || max < len) return false;  // the TX ring is full: later
      std::memcpy(slot, data, len);
      if (m.partial_csum)
        tx_->CommitOffload(m.port, len, Offload{m.csum_start, m.csum_offset, m.gso_type, m.gso_size, m.hdr_len});
      else
        tx_->Commit(m.port, len);
      Inc(c_.tx_frames[m.port]);
      Inc(c_.tx_bytes[m.port], len);
      return true;
    });
  }
}

void Engine::NatRewrite(Packet& p, int from_port, const Honeypot& h) {
  uint8_t* ip = p.data + p.l3_off;
  // TTL: this is a routing hop.
  uint16_t old_w = Load16(ip + 8);
  ip[8]--;
  ChecksumUpdate16(ip + 10, old_w, Load16(ip + 8));

  const uint32_t priv = h.cfg->ip.v;
  const uint32_t pub = h.cfg->public_ip ? h.cfg->public_ip->v : priv;
  const bool out = from_port == kInside;
  uint8_t* addr = ip + (out ? 12 : 16);
  const uint32_t old_a = Load32(addr);
  const uint32_t new_a = out ? pub : priv;
  if (old_a == new_a) return;
  Store32(addr, new_a);
  ChecksumUpdate32(ip + 10, old_a, new_a);
  if (!p.has_l4) return;

  uint8_t* l4 = p.data + p.l4_off;
  if (p.ip_proto == kProtoTcp && p.l4_len >= 18) {
    UpdateL4Checksum(l4 + 16, old_a, new_a);
  } else if (p.ip_proto == kProtoUdp && p.l4_len >= 8 && partial_) {
    UpdateL4Checksum(l4 + 6, old_a, new_a);
  } else if (p.ip_proto == kProtoUdp && p.l4_len >= 8 && Load16(l4 + 6) != 0) {
    ChecksumUpdate32(l4 + 6, old_a, new_a);
    if (Load16(l4 + 6) == 0) Store16(l4 + 6, 0xffff);
  } else if (p.ip_proto == kProtoIcmp && p.has_inner) {
    // The quoted datagram names the address the other side knows: translate it too.
    uint8_t* inner = p.data + p.inner_ip_off;
    uint8_t* iaddr = inner + (out ? 16 : 12);
    const uint32_t iold = Load32(iaddr);
    const uint32_t inew = out ? pub : priv;
    if (iold == (out ? priv : pub)) {
      Store32(iaddr, inew);
      ChecksumUpdate32(inner + 10, iold, inew);
      const size_t ihl = size_t(inner[0] & 0x0f) * 4;
      uint8_t* il4 = inner + ihl;
      if (p.inner_proto == kProtoUdp && il4 + 8 <= p.data + p.l4_off + p.l4_len && Load16(il4 + 6) != 0) {
        ChecksumUpdate32(il4 + 6, iold, inew);
        if (Load16(il4 + 6) == 0) Store16(il4 + 6, 0xffff);
      }
      Store16(l4 + 2, 0);
      Store16(l4 + 2, ChecksumFinish(ChecksumPartial(l4, p.l4_len)));
    }
  }
}

// ---------------------------------------------------------------- frames of our own (nat only)

void Engine::SendArp(int port, uint16_t op, const Mac& sha, Ip4 spa, const Mac& tha, Ip4 tpa, const Mac& eth_dst) {
  uint32_t max = 60;
  uint8_t* f = tx_->Reserve(port, &max);
  if (f == nullptr || max < 60) {
    Inc(c_.tx_full);
    return;
  }
  std::memset(f, 0, 60);
  eth_dst.CopyTo(f);
  sha.CopyTo(f + 6);
  Store16(f + 12, kEthArp);
  uint8_t* a = f + 14;
  Store16(a, 1);
  Store16(a + 2, kEthIpv4);
  a[4] = 6;
  a[5] = 4;
  Store16(a + 6, op);
  sha.CopyTo(a + 8);
  spa.ToNet(a + 14);
  tha.CopyTo(a + 18);
  tpa.ToNet(a + 24);
  tx_->Commit(port, 60);
  Inc(c_.tx_frames[port]);
  Inc(c_.tx_bytes[port], 60);
  if (op == 1) Inc(c_.arp_requests);
}

void Engine::SendIcmpError(int port, const Packet& p, uint8_t type, uint8_t code, Ip4 from, int64_t /*now*/) {
  // Never answer an error with an error, nor a non-first fragment (RFC 1812 4.3.2.7).
  if (!p.is_ipv4() || (p.is_fragment && p.frag_offset > 0)) return;
  if (p.ip_proto == kProtoIcmp && (!p.has_l4 || IcmpIsError(p.icmp_type))) return;
  const uint32_t quote = std::min<uint32_t>(p.ip_hdr_len + 8u, p.ip_total_len);
  const uint32_t len = 14 + 20 + 8 + quote;
  uint32_t max = len < 60 ? 60 : len;
  uint8_t* f = tx_->Reserve(port, &max);
  if (f == nullptr || max < len) {
    Inc(c_.tx_full);
    return;
  }
  const uint32_t flen = len < 60 ? 60 : len;
  std::memset(f, 0, flen);
  std::memcpy(f, p.src_mac(), 6);
  port_mac_[port].CopyTo(f + 6);
  Store16(f + 12, kEthIpv4);
  uint8_t* ip = f + 14;
  ip[0] = 0x45;
  Store16(ip + 2, uint16_t(20 + 8 + quote));
  ip[8] = 64;
  ip[9] = kProtoIcmp;
  from.ToNet(ip + 12);
  std::memcpy(ip + 16, p.data + p.ip_src_off, 4);
  Store16(ip + 10, Ipv4HeaderChecksum(ip, 20));
  uint8_t* icmp = ip + 20;
  icmp[0] = type;
  icmp[1] = code;
  std::memcpy(icmp + 8, p.data + p.l3_off, quote);
  Store16(icmp + 2, ChecksumFinish(ChecksumPartial(icmp, 8 + quote)));
  tx_->Commit(port, flen);
  Inc(c_.tx_frames[port]);
  Inc(c_.tx_bytes[port], flen);
  Inc(c_.icmp_sent);
}

void Engine::SendEchoReply(int port, const Packet& p) {
  uint32_t max = p.len;
  uint8_t* f = tx_->Reserve(port, &max);
  if (f == nullptr || max < p.len) {
    Inc(c_.tx_full);
    return;
  }
  std::memcpy(f, p.data, p.len);
  std::memcpy(f, p.src_mac(), 6);
  port_mac_[port].CopyTo(f + 6);
  uint8_t* ip = f + p.l3_off;
  std::memcpy(ip + 12, p.data + p.ip_dst_off, 4);
  std::memcpy(ip + 16, p.data + p.ip_src_off, 4);
  ip[8] = 64;
  Store16(ip + 10, 0);
  Store16(ip + 10, Ipv4HeaderChecksum(ip, p.ip_hdr_len));
  uint8_t* icmp = f + p.l4_off;
  icmp[0] = 0;
  Store16(icmp + 2, 0);
  Store16(icmp + 2, ChecksumFinish(ChecksumPartial(icmp, p.l4_len)));
  tx_->Commit(port, p.len);
  Inc(c_.tx_frames[port]);
  Inc(c_.tx_bytes[port], p.len);
  Inc(c_.icmp_sent);
}

// ---------------------------------------------------------------- fragments

Engine::FragEntry* Engine::FragFind(const Packet& p, bool create, int64_t now) {
  const size_t alen = p.is_ipv6() ? 16 : 4;
  // Keyed, so nobody can send heads that land on another datagram's entry.
  uint8_t buf[4 + 1 + 32];
  std::memcpy(buf, &p.frag_id, 4);
  buf[4] = p.ip_proto;
  std::memcpy(buf + 5, p.data + p.ip_src_off, alen);
  std::memcpy(buf + 5 + alen, p.data + p.ip_dst_off, alen);
  const uint64_t h = SipHash13(buf, 5 + 2 * alen, hash_key_);
  FragEntry& e = frags_[h % frags_.size()];
  const bool match = e.used && now - e.ts_ns < kFragTimeoutNs && e.id == p.frag_id && e.proto == p.ip_proto &&
                     std::memcmp(e.src.data(), p.data + p.ip_src_off, alen) == 0 &&
                     std::memcmp(e.dst.data(), p.data + p.ip_dst_off, alen) == 0;
  if (match) return &e;
  if (!create) return nullptr;
  Inc(c_.frag_heads);
  if (e.used && now - e.ts_ns < kFragTimeoutNs) Inc(c_.frag_evicted);
  e = FragEntry{};
  std::memcpy(e.src.data(), p.data + p.ip_src_off, alen);
  std::memcpy(e.dst.data(), p.data + p.ip_dst_off, alen);
  e.id = p.frag_id;
  e.proto = p.ip_proto;
  e.used = true;
  e.ts_ns = now;
  return &e;
}

// ---------------------------------------------------------------- events

void Engine::DropFrame(int port, const Packet& p, Reason r, int64_t now, int hp) {
  Inc(c_.drops[size_t(r)]);
  if (!LogAllowed(frame_drops_[size_t(r)], r, -1, true, now)) return;
  Event e;
  e.kind = EventKind::kFrameDrop;
  e.ts_ns = now;
  if ((p.is_ipv4() || p.is_ipv6()) && p.ip_src_off != 0) {
    e.key = MakeFlowKey(p);
    e.icmp_type = p.icmp_type;
    e.icmp_code = p.icmp_code;
    e.ip_len = p.ip_total_len;
    e.ttl = p.ttl;
    e.tcp_flags = p.tcp_flags;
  } else if (p.l3 == L3::kArp && p.arp_spa_off != 0) {
    std::memcpy(e.key.src.data(), p.data + p.arp_spa_off, 4);
    std::memcpy(e.key.dst.data(), p.data + p.arp_tpa_off, 4);
  }
  e.honeypot = hp >= 0 ? uint16_t(hp) : kNoHoneypot;
  e.in_port = uint8_t(port);
  e.dir = port == kInside ? FlowDir::kOutbound : FlowDir::kInbound;
  e.reason = r;
  e.ethertype = p.ethertype;
  if (p.len >= 12) {
    std::memcpy(e.dst_mac, p.data, 6);
    std::memcpy(e.src_mac, p.data + 6, 6);
  }
  ev_->Post(e);
}

namespace {
// The fields every flow event shares.
Event FlowEvent(EventKind kind, const Flow& f, int64_t now) {
  Event e;
  e.kind = kind;
  e.ts_ns = now;
  e.flow_id = f.id;
  e.key = f.key;
  e.icmp_type = f.icmp_type;
  e.icmp_code = f.icmp_code;
  e.honeypot = f.honeypot;
  e.in_port = f.in_port;
  e.dir = f.dir;
  e.reason = Reason(f.reason);
  e.allowed = f.allowed;
  return e;
}
}  // namespace

void Engine::EmitFlow(EventKind kind, const Flow& f, const Packet& p, const Decision* d, int64_t now) {
  Event e = FlowEvent(kind, f, now);
  if (d != nullptr) {
    e.reason = d->reason;
    e.counted = d->counted;
    e.cls = d->cls;
    e.budget_used = d->used;
    e.budget_left = d->left;
    e.budget_limit = d->limit;
    e.budget_ns = now + budget_skew_ns_;
  }
  e.ip_len = p.ip_total_len;
  e.ttl = p.ttl;
  e.tcp_flags = p.tcp_flags;
  e.ethertype = p.ethertype;
  std::memcpy(e.dst_mac, p.data, 6);
  std::memcpy(e.src_mac, p.data + 6, 6);
  ev_->Post(e);
}

void Engine::EmitFlowEnd(const Flow& f, uint8_t why, int64_t now) {
  Inc(c_.flows_ended);
  if (!f.logged) return;  // its drop event was rate-limited: so is its end
  Event e = FlowEvent(EventKind::kFlowEnd, f, std::max(now, f.last_ns));
  e.start_ns = f.start_ns;
  e.pkts_toserver = f.pkts_toserver;
  e.pkts_toclient = f.pkts_toclient;
  e.bytes_toserver = f.bytes_toserver;
  e.bytes_toclient = f.bytes_toclient;
  e.end_reason = why;
  e.tcp_state = uint8_t(f.tcp);
  ev_->Post(e);
}

// ---------------------------------------------------------------- timers

void Engine::OnTimer(int64_t now) {
  last_timer_ns_ = now;
  ReleaseShaped(now);
  // Summaries of drop events held back in a second that has ended: looked
  // at once per second, not on every timer tick.
  const int64_t sec = now / kSec;
  for (size_t r = 0; sec != summarised_sec_ && r < size_t(Reason::kCount); r++) {
    if (frame_drops_[r].sec != sec) FlushSuppressed(frame_drops_[r], Reason(r), -1, true, now);
    if (flow_drops_none_[r].sec != sec) FlushSuppressed(flow_drops_none_[r], Reason(r), -1, false, now);
    if (allowed_held_[r].sec != sec) FlushSuppressed(allowed_held_[r], Reason(r), -1, false, now, true);
    for (size_t h = 0; h < hp_.size(); h++)
      if (hp_[h].flow_drops[r].sec != sec) FlushSuppressed(hp_[h].flow_drops[r], Reason(r), int(h), false, now);
  }
  summarised_sec_ = sec;
  flows_.ExpireSome(now, kExpireSlotsPerTimer, [&](Flow& f) { EmitFlowEnd(f, f.tcp == TcpState::kClosed ? 1 : 0, now); });
  if (!nat_) return;

  // Upstream gateway: ask every 250 ms while unknown, refresh every 60 s.
  const int64_t every = gw_known_ ? 60 * kSec : kSec / 4;
  if (cfg_.outside_gateway && now - gw_arp_sent_ns_ >= every) {
    gw_arp_sent_ns_ = now;
    Ip4 from = !hp_.empty() && hp_[0].cfg->public_ip ? *hp_[0].cfg->public_ip : Ip4{};
    SendArp(kOutside, 1, port_mac_[kOutside], from, Mac{}, *cfg_.outside_gateway, kBroadcastMac);
  }
  // Frames waiting for a honeypot's MAC: ask again, give up after 3 s.
  for (Honeypot& h : hp_) {
    if (h.pending_len == 0) continue;
    if (now - h.pending_ns > 3 * kSec) {
      h.pending_len = 0;
      Inc(c_.drops[size_t(Reason::kNoRoute)]);
    } else if (now - h.arp_sent_ns > kSec) {
      h.arp_sent_ns = now;
      SendArp(kInside, 1, port_mac_[kInside], cfg_.inside_gateway_ip->addr, Mac{}, h.cfg->ip, kBroadcastMac);
    }
  }
}

void Engine::Stop(int64_t now) {
  flows_.Drain([&](Flow& f) { EmitFlowEnd(f, 2, now); });
}

}  // namespace hn
