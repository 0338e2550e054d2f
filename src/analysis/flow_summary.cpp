// FlowSummarizer: see flow_summary.h.
#include "analysis/flow_summary.h"

#include <algorithm>
#include <cstring>

#include "common/clock.h"
#include "flow/community_id.h"

namespace hn {

namespace {

constexpr int kDltEthernet = 1;
constexpr int kDltNull = 0, kDltLoop = 108, kDltRaw = 101, kDltRaw12 = 12, kDltRaw14 = 14, kDltIpv4 = 228,
              kDltIpv6 = 229, kDltLinuxSll = 113, kDltLinuxSll2 = 276;
constexpr size_t kScratchBytes = 65536 + 14;  // a fake Ethernet header and up to 64 KiB of IP
constexpr uint32_t kNone = UINT32_MAX;
constexpr int64_t kFragWaitNs = 30 * kNsPerSec;  // a fragment waits this long for its flow
constexpr size_t kMaxFragEntries = 65536;         // fragment groups tracked at once
constexpr uint64_t kFragSweepEvery = 4096;        // frames between sweeps of the fragment table
constexpr size_t kInitialSlots = 1024;

// Bytes that terminal text is made of: printable ASCII, whitespace, backspace,
// bell, ESC (colour codes) and the NUL telnet sends after a CR.
bool IsTextByte(uint8_t b) {
  return (b >= 0x20 && b < 0x7f) || b == '\t' || b == '\r' || b == '\n' || b == 0x08 || b == 0x07 || b == 0x1b ||
         b == 0x00;
}

// The L4 payload the headers announce (not bounded by what was captured).
uint64_t AnnouncedPayload(const Packet& p) {
  const uint32_t hdrs = uint32_t(p.payload_off) - p.l3_off;
  return p.ip_total_len > hdrs ? p.ip_total_len - hdrs : 0;
}

// For a link type that carries IP without Ethernet: the ethertype of the
// frame and the length of its link header; false when it is not IP (or not a
// link type known here).
bool LinkToEthertype(int linktype, const uint8_t* d, uint32_t caplen, uint16_t* type, uint32_t* hdr) {
  auto by_version = [&](uint32_t off) {
    if (caplen <= off) return false;
    const int v = d[off] >> 4;
    *type = v == 4 ? kEthIpv4 : v == 6 ? kEthIpv6 : 0;
    *hdr = off;
    return *type != 0;
  };
  switch (linktype) {
    case kDltRaw:
    case kDltRaw12:
    case kDltRaw14:
    case kDltIpv4:
    case kDltIpv6: return by_version(0);
    case kDltNull:
    case kDltLoop: return by_version(4);  // the AF_ value's byte order varies: the IP version says it
    case kDltLinuxSll:
      if (caplen < 16) return false;
      *type = uint16_t(d[14] << 8 | d[15]);
      *hdr = 16;
      return *type == kEthIpv4 || *type == kEthIpv6;
    case kDltLinuxSll2:
      if (caplen < 20) return false;
      *type = uint16_t(d[0] << 8 | d[1]);
      *hdr = 20;
      return *type == kEthIpv4 || *type == kEthIpv6;
    default: return false;
  }
}

// Fragment groups: (src, dst, proto, IP id) of IPv4 fragments.
struct FragKey {
  std::array<uint8_t, 4> src{}, dst{};
  uint8_t proto = 0;
  uint16_t id = 0;
  bool operator==(const FragKey&) const = default;
};

struct FragKeyHash {
  size_t operator()(const FragKey& k) const {
    uint32_t s, d;
    std::memcpy(&s, k.src.data(), 4);
    std::memcpy(&d, k.dst.data(), 4);
    uint64_t h = (uint64_t(s) << 32 | d) * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t(k.proto) << 16 | k.id) * 0xc2b2ae3d27d4eb4fULL;
    return size_t(h ^ (h >> 29));
  }
};

struct FragEntry {
  uint32_t flow = kNone;  // pool index of the flow of the first fragment
  uint32_t gen = 0;       // its generation then (a reused slot is not the same flow)
  int64_t last_ns = 0;
  // Fragments seen before the first one: counted when it comes.
  uint64_t pending_pkts = 0, pending_bytes = 0, pending_payload = 0;
  int64_t pending_first_ns = 0, pending_last_ns = 0;
};

}  // namespace

const char* TcpFlowStateName(TcpFlowState s) {
  switch (s) {
    case TcpFlowState::kNone: return "";
    case TcpFlowState::kSynSent: return "SYN_SENT";
    case TcpFlowState::kSynRecv: return "SYN_RECV";
    case TcpFlowState::kEstablished: return "ESTABLISHED";
    case TcpFlowState::kFinWait: return "FIN_WAIT";
    case TcpFlowState::kClosed: return "CLOSED";
    case TcpFlowState::kReset: return "RESET";
  }
  return "";
}

int FlowRecord::client_dir() const { return midstream && key.sport < key.dport ? 1 : 0; }

bool FlowRecord::interactive_text() const {
  if (key.proto != kProtoTcp) return false;
  const int c = client_dir(), s = 1 - c;
  return small_segments[c] >= 4 && text_seen[s] >= 32 && uint64_t(text_bytes[s]) * 10 >= uint64_t(text_seen[s]) * 8;
}

struct FlowSummarizer::Impl {
  struct Live {
    FlowRecord rec;
    uint64_t hash = 0;
    uint32_t base_seq[2] = {0, 0};  // first sequence number seen from each side
    bool base_set[2] = {false, false};
    uint8_t fin_mask = 0;
    bool rst = false;
    bool used = false;
    uint32_t gen = 0;
    uint32_t prev = kNone, next = kNone;  // idle list: head is the longest idle
  };

  FlowSummaryOptions opts;
  Sink sink;
  FlowTotals totals;
  std::vector<Live> pool;
  std::vector<uint32_t> free_list;
  std::vector<uint32_t> slots;  // pool index + 1; 0 = empty (linear probing)
  size_t live = 0;
  uint32_t head = kNone, tail = kNone;
  uint64_t next_seq = 1;
  std::unordered_map<FragKey, FragEntry, FragKeyHash> frags;
  DecodeOptions decode_opts;
  std::vector<uint8_t> scratch;  // frames of other link types, behind a fake Ethernet header

  Impl(FlowSummaryOptions o, Sink s) : opts(o), sink(std::move(s)), slots(kInitialSlots, 0) {
    decode_opts.verify_ipv4_checksum = false;  // like tshark: a bad checksum is still a packet of the flow
    if (opts.max_flows == 0) opts.max_flows = 1;
  }

  // ---- idle list ----
  void Unlink(uint32_t i) {
    Live& f = pool[i];
    (f.prev == kNone ? head : pool[f.prev].next) = f.next;
    (f.next == kNone ? tail : pool[f.next].prev) = f.prev;
    f.prev = f.next = kNone;
  }
  void PushBack(uint32_t i) {
    Live& f = pool[i];
    f.prev = tail;
    f.next = kNone;
    (tail == kNone ? head : pool[tail].next) = i;
    tail = i;
  }
  void Touch(uint32_t i) {
    if (tail == i) return;
    Unlink(i);
    PushBack(i);
  }

  // ---- hash table ----
  size_t Mask() const { return slots.size() - 1; }

  // The pool index of the live flow with key in either direction; *reply set
  // when key runs responder -> initiator.
  uint32_t Find(const FlowKey& key, uint64_t hash, bool* reply) const {
    for (size_t s = hash & Mask();; s = (s + 1) & Mask()) {
      const uint32_t v = slots[s];
      if (v == 0) return kNone;
      const Live& f = pool[v - 1];
      if (f.hash != hash) continue;
      if (f.rec.key == key) {
        *reply = false;
        return v - 1;
      }
      if (f.rec.key == key.Reversed()) {
        *reply = true;
        return v - 1;
      }
    }
  }

  void InsertSlot(uint32_t idx) {
    size_t s = pool[idx].hash & Mask();
    while (slots[s] != 0) s = (s + 1) & Mask();
    slots[s] = idx + 1;
  }

  void Grow() {
    std::vector<uint32_t> old;
    old.swap(slots);
    slots.assign(old.size() * 2, 0);
    for (uint32_t v : old)
      if (v != 0) InsertSlot(v - 1);
  }

  // Removes pool index idx from the table (backward-shift deletion).
  void EraseSlot(uint32_t idx) {
    size_t s = pool[idx].hash & Mask();
    while (slots[s] != idx + 1) s = (s + 1) & Mask();
    size_t hole = s;
    for (size_t j = (hole + 1) & Mask(); slots[j] != 0; j = (j + 1) & Mask()) {
      const size_t home = pool[slots[j] - 1].hash & Mask();
      // Move j into the hole when its home is not cyclically in (hole, j].
      const bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!stays) {
        slots[hole] = slots[j];
        hole = j;
      }
    }
    slots[hole] = 0;
  }

  // ---- flows ----
  uint32_t Create(const FlowKey& key, uint64_t hash, int64_t ts) {
    if (live >= opts.max_flows && head != kNone) {
      pool[head].rec.evicted = true;
      totals.evicted++;
      End(head);
    }
    uint32_t idx;
    if (!free_list.empty()) {
      idx = free_list.back();
      free_list.pop_back();
    } else {
      idx = uint32_t(pool.size());
      pool.emplace_back();
    }
    Live& f = pool[idx];
    const uint32_t gen = f.gen + 1;
    f = Live{};
    f.gen = gen;
    f.used = true;
    f.hash = hash;
    f.rec.key = key;
    f.rec.first_ns = f.rec.last_ns = ts;
    f.rec.seq_no = next_seq++;
    if ((live + 1) * 2 > slots.size()) Grow();
    InsertSlot(idx);
    PushBack(idx);
    live++;
    totals.peak_live = std::max<uint64_t>(totals.peak_live, live);
    return idx;
  }

  // Finishes flow idx: Community ID, verdict, to the sink; frees its slot.
  void End(uint32_t idx) {
    Live& f = pool[idx];
    EraseSlot(idx);
    Unlink(idx);
    f.used = false;
    live--;
    FlowRecord rec = std::move(f.rec);
    f.rec = FlowRecord{};
    rec.community_id = CommunityId(rec.key, 0, rec.icmp_type, rec.icmp_code);
    if (opts.events != nullptr) {
      if (const FlowVerdict* v = opts.events->Find(rec.community_id, rec.first_ns)) {
        rec.has_verdict = true;
        rec.flow_id = v->flow_id;
        rec.honeypot = v->honeypot;
        rec.action = v->action;
        rec.direction = v->direction;
        rec.reason = v->reason;
        for (const AlertRecord* a : opts.events->AlertsOf(v->flow_id)) {
          rec.alerts.push_back("sid " + std::to_string(a->sid) + " " + a->signature +
                               (a->action == "blocked" ? " (blocked)" : a->replaced ? " (replaced)" : ""));
        }
      }
    }
    totals.flows++;
    free_list.push_back(idx);
    sink(std::move(rec));
  }

  void ExpireIdle(int64_t ts) {
    while (head != kNone && ts - pool[head].rec.last_ns > opts.idle_timeout_ns) End(head);
  }

  // Counts one frame into flow idx in direction dir.
  void Count(uint32_t idx, int dir, int64_t ts, uint32_t wire_len, uint64_t payload) {
    FlowRecord& r = pool[idx].rec;
    r.pkts[dir]++;
    r.bytes[dir] += wire_len;
    r.payload[dir] += payload;
    r.first_ns = std::min(r.first_ns, ts);
    r.last_ns = std::max(r.last_ns, ts);
    Touch(idx);
  }

  // The observer's TCP state machine for one segment from side dir.
  static void UpdateTcp(Live& f, int dir, const Packet& p) {
    const uint8_t fl = p.tcp_flags;
    if (!f.base_set[dir]) {
      f.base_set[dir] = true;
      f.base_seq[dir] = p.tcp_seq;
    }
    TcpFlowState& s = f.rec.tcp;
    if (fl & kRst) {
      f.rst = true;
      s = TcpFlowState::kReset;
      return;
    }
    if (s == TcpFlowState::kReset) return;  // a RST was the last word; later segments do not reopen it
    const bool syn = fl & kSyn, ack = fl & kAck;
    if (syn && !ack && dir == 0 && s == TcpFlowState::kNone) s = TcpFlowState::kSynSent;
    if (syn && ack && dir == 1 && (s == TcpFlowState::kSynSent || s == TcpFlowState::kNone)) s = TcpFlowState::kSynRecv;
    if (!syn && s == TcpFlowState::kSynRecv && (dir == 0 || p.payload_len > 0)) s = TcpFlowState::kEstablished;
    if (!syn && s == TcpFlowState::kSynSent && p.payload_len > 0 && f.rec.pkts[1] > 0) s = TcpFlowState::kEstablished;
    if (fl & kFin) {
      f.fin_mask |= uint8_t(1u << dir);
      s = f.fin_mask == 3 ? TcpFlowState::kClosed : TcpFlowState::kFinWait;
    }
  }

  // True when a pure SYN from side dir starts a new connection on the same
  // 5-tuple (Wireshark's rule for a new tcp.stream).
  static bool SynStartsNew(const Live& f, int dir, const Packet& p) {
    if ((p.tcp_flags & (kSyn | kAck)) != kSyn) return false;
    if (!f.base_set[dir]) return false;
    return p.tcp_seq != f.base_seq[dir] || f.fin_mask != 0 || f.rst;
  }

  // Per-flow heuristics that look at the payload (both directions: which
  // side is the client is decided at the end).
  static void Inspect(Live& f, int dir, const Packet& p) {
    FlowRecord& r = f.rec;
    if (p.ip_proto != kProtoTcp || p.payload_len == 0) return;
    if (p.payload_len <= kSmallSegment) r.small_segments[dir]++;
    if (r.text_seen[dir] >= kPrintableWindow) return;
    const uint32_t n = std::min<uint32_t>(p.payload_len, kPrintableWindow - r.text_seen[dir]);
    const uint8_t* d = p.data + p.payload_off;
    uint32_t text = 0;
    for (uint32_t i = 0; i < n; i++) text += IsTextByte(d[i]) ? 1 : 0;
    r.text_seen[dir] += n;
    r.text_bytes[dir] += text;
  }

  // ---- fragments ----
  static FragKey FragKeyOf(const Packet& p) {
    FragKey k;
    std::memcpy(k.src.data(), p.data + p.ip_src_off, 4);
    std::memcpy(k.dst.data(), p.data + p.ip_dst_off, 4);
    k.proto = p.ip_proto;
    k.id = p.ip_id;
    return k;
  }

  // A flow is still the one a fragment entry named.
  bool Alive(const FragEntry& e) const { return e.flow != kNone && pool[e.flow].used && pool[e.flow].gen == e.gen; }

  void DropFragEntry(const FragEntry& e) {
    if (!Alive(e)) totals.orphan_fragments += e.pending_pkts;
  }

  void SweepFrags(int64_t ts) {
    for (auto it = frags.begin(); it != frags.end();) {
      if (ts - it->second.last_ns > kFragWaitNs) {
        DropFragEntry(it->second);
        it = frags.erase(it);
      } else {
        ++it;
      }
    }
  }

  // A non-first IPv4 fragment: to its flow, or waiting for the first fragment.
  void AddLaterFragment(const Packet& p, int64_t ts, uint32_t wire_len) {
    const FragKey k = FragKeyOf(p);
    const uint64_t payload = p.ip_total_len > p.ip_hdr_len ? p.ip_total_len - p.ip_hdr_len : 0;
    auto it = frags.find(k);
    if (it != frags.end() && Alive(it->second)) {
      const Live& f = pool[it->second.flow];
      const int dir = std::memcmp(f.rec.key.src.data(), k.src.data(), 4) == 0 ? 0 : 1;
      Count(it->second.flow, dir, ts, wire_len, payload);
      it->second.last_ns = ts;
      return;
    }
    if (it == frags.end()) {
      if (frags.size() >= kMaxFragEntries) {
        totals.orphan_fragments++;
        return;
      }
      it = frags.emplace(k, FragEntry{}).first;
    }
    FragEntry& e = it->second;
    if (e.flow != kNone) {  // its flow is gone: this one has nowhere to go
      totals.orphan_fragments++;
      e.last_ns = ts;
      return;
    }
    if (e.pending_pkts == 0) e.pending_first_ns = ts;
    e.pending_pkts++;
    e.pending_bytes += wire_len;
    e.pending_payload += payload;
    e.pending_last_ns = std::max(e.pending_last_ns, ts);
    e.last_ns = ts;
  }

  // The first fragment of a datagram reached flow idx (direction dir).
  void FirstFragment(const Packet& p, uint32_t idx, int dir, int64_t ts) {
    const FragKey k = FragKeyOf(p);
    auto it = frags.find(k);
    if (it == frags.end()) {
      if (frags.size() >= kMaxFragEntries) return;  // its later fragments will be orphans
      it = frags.emplace(k, FragEntry{}).first;
    }
    FragEntry& e = it->second;
    if (e.pending_pkts > 0 && e.flow == kNone) {
      FlowRecord& r = pool[idx].rec;
      r.pkts[dir] += e.pending_pkts;
      r.bytes[dir] += e.pending_bytes;
      r.payload[dir] += e.pending_payload;
      r.first_ns = std::min(r.first_ns, e.pending_first_ns);
      r.last_ns = std::max(r.last_ns, e.pending_last_ns);
    }
    e = FragEntry{};
    e.flow = idx;
    e.gen = pool[idx].gen;
    e.last_ns = ts;
  }

  // ---- the frame ----
  void Add(int64_t ts, int linktype, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
    totals.frames++;
    totals.bytes += wire_len;
    ExpireIdle(ts);
    if (totals.frames % kFragSweepEvery == 0 && !frags.empty()) SweepFrags(ts);
    uint8_t* frame = const_cast<uint8_t*>(data);  // Decode() writes only for NAT rewriting: not asked for here
    if (linktype != kDltEthernet) {
      // IP under another link header: behind a zeroed Ethernet header in the scratch buffer.
      uint16_t type = 0;
      uint32_t hdr = 0;
      if (!LinkToEthertype(linktype, data, caplen, &type, &hdr)) {
        totals.non_ip++;
        return;
      }
      const uint32_t n = std::min<uint32_t>(caplen - hdr, uint32_t(kScratchBytes - 14));
      if (scratch.empty()) scratch.resize(kScratchBytes);
      std::memset(scratch.data(), 0, 12);
      scratch[12] = uint8_t(type >> 8);
      scratch[13] = uint8_t(type);
      std::memcpy(scratch.data() + 14, data + hdr, n);
      frame = scratch.data();
      caplen = n + 14;
    }
    Packet p;
    Decode(frame, caplen, &p, decode_opts);
    if (p.l3 == L3::kNone) {  // not even an Ethernet header
      totals.undecodable++;
      return;
    }
    if (!p.is_ipv4() && !p.is_ipv6()) {
      totals.non_ip++;
      return;
    }
    if (p.ip_src_off == 0) {
      totals.undecodable++;
      return;
    }
    if (p.is_fragment && p.frag_offset > 0) {
      if (p.is_ipv4()) {
        AddLaterFragment(p, ts, wire_len);
      } else {
        totals.orphan_fragments++;  // no IPv6 fragment id in the packet view
      }
      return;
    }
    if (!p.has_l4) {
      totals.undecodable++;
      return;
    }
    FlowKey key = MakeFlowKey(p);
    const uint64_t hash = key.Hash();
    bool reply = false;
    uint32_t idx = Find(key, hash, &reply);
    if (idx != kNone && p.ip_proto == kProtoTcp && SynStartsNew(pool[idx], reply ? 1 : 0, p)) {
      End(idx);
      idx = kNone;
    }
    if (idx == kNone) {
      // A SYN+ACK seen first: its receiver started the connection.
      reply = p.ip_proto == kProtoTcp && (p.tcp_flags & (kSyn | kAck)) == (kSyn | kAck);
      idx = Create(reply ? key.Reversed() : key, hash, ts);
      FlowRecord& r = pool[idx].rec;
      r.icmp_type = p.icmp_type;
      r.icmp_code = p.icmp_code;
      r.vlan_id = p.vlan_count > 0 ? p.vlan_id : 0;
      if (p.ip_proto == kProtoTcp) {
        r.midstream = (p.tcp_flags & kSyn) == 0;
        if (r.midstream) r.tcp = TcpFlowState::kEstablished;
      }
    }
    const int dir = reply ? 1 : 0;
    Count(idx, dir, ts, wire_len, AnnouncedPayload(p));
    Live& f = pool[idx];
    if (p.ip_proto == kProtoTcp) UpdateTcp(f, dir, p);
    Inspect(f, dir, p);
    if (p.is_ipv4() && p.more_fragments) FirstFragment(p, idx, dir, ts);
  }

  void Finish() {
    // Fragments that waited in vain.
    for (auto& [k, e] : frags) DropFragEntry(e);
    frags.clear();
    // Live flows in order of their first packet.
    std::vector<uint32_t> order;
    order.reserve(live);
    for (uint32_t i = 0; i < pool.size(); i++)
      if (pool[i].used) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      const FlowRecord &x = pool[a].rec, &y = pool[b].rec;
      return x.first_ns != y.first_ns ? x.first_ns < y.first_ns : x.seq_no < y.seq_no;
    });
    for (uint32_t i : order) End(i);
  }
};

FlowSummarizer::FlowSummarizer(FlowSummaryOptions opts, Sink sink)
    : impl_(std::make_unique<Impl>(opts, std::move(sink))) {}

FlowSummarizer::~FlowSummarizer() = default;

void FlowSummarizer::Add(int64_t ts_ns, int linktype, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
  impl_->Add(ts_ns, linktype, data, caplen, wire_len);
}

void FlowSummarizer::Finish() { impl_->Finish(); }

const FlowTotals& FlowSummarizer::totals() const { return impl_->totals; }

size_t FlowSummarizer::live() const { return impl_->live; }

std::vector<FlowRecord> SummarizeFrames(const std::vector<FrameIn>& frames, FlowSummaryOptions opts,
                                        FlowTotals* totals) {
  std::vector<FlowRecord> out;
  FlowSummarizer s(opts, [&](FlowRecord&& r) { out.push_back(std::move(r)); });
  for (const FrameIn& f : frames)
    s.Add(f.ts_ns, kDltEthernet, f.bytes.data(), uint32_t(f.bytes.size()),
          f.wire_len != 0 ? f.wire_len : uint32_t(f.bytes.size()));
  s.Finish();
  if (totals != nullptr) *totals = s.totals();
  std::stable_sort(out.begin(), out.end(), [](const FlowRecord& a, const FlowRecord& b) {
    return a.first_ns != b.first_ns ? a.first_ns < b.first_ns : a.seq_no < b.seq_no;
  });
  return out;
}

}  // namespace hn
