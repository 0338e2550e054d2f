// TcpReassembler: streams in a slot table with an LRU list, per direction a
// next-expected sequence number and the held (out-of-order) segments in
// arrival order with their bytes in one pool. The delivery rules mirror
// Wireshark's follow_tcp_tap_listener / check_follow_fragments (see the
// header for the policy).
#include "analysis/tcp_reassembly.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "flow/community_id.h"

namespace hn {

namespace {

// RFC 1982 comparisons of 32-bit sequence numbers.
inline bool SeqLt(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
inline bool SeqGt(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }
inline bool SeqLe(uint32_t a, uint32_t b) { return !SeqGt(a, b); }

constexpr uint32_t kNone = UINT32_MAX;
constexpr size_t kScratchBytes = 262144 + 64;
constexpr size_t kKeepPoolCapacity = 256 * 1024;  // a reused slot keeps at most this much pool memory

// The 5-tuple with its endpoints in a fixed order: both directions map to it.
struct CanonKey {
  FlowKey k;
  bool operator==(const CanonKey&) const = default;
};
struct CanonHash {
  size_t operator()(const CanonKey& c) const { return size_t(c.k.Hash()); }
};

CanonKey Canonical(const FlowKey& k) {
  const int c = std::memcmp(k.src.data(), k.dst.data(), 16);
  const bool fwd = c < 0 || (c == 0 && k.sport <= k.dport);
  return CanonKey{fwd ? k : k.Reversed()};
}

uint16_t Load16(const uint8_t* p) { return uint16_t(uint16_t(p[0]) << 8 | p[1]); }

}  // namespace

const char* TcpEndName(TcpEnd e) {
  switch (e) {
    case TcpEnd::kEndOfInput: return "end of input";
    case TcpEnd::kReused: return "5-tuple reused";
    case TcpEnd::kLinger: return "closed";
    case TcpEnd::kEvicted: return "evicted";
  }
  return "?";
}

struct TcpReassembler::Impl {
  struct Held {
    uint32_t seq;
    uint32_t len;   // captured bytes in the pool
    uint32_t wire;  // bytes on the wire (>= len; more when the frame was cut short)
    uint32_t off;   // in the pool
    int64_t ts;
  };
  struct Dir {
    bool started = false;
    uint32_t base = 0;  // ISN (SYN seen) or the first sequence number seen
    uint32_t next = 0;  // next expected sequence number
    std::vector<Held> held;  // arrival order
    std::vector<uint8_t> pool;
    uint32_t held_bytes = 0;
  };
  struct Stream {
    TcpStreamInfo info;
    Dir dir[kTcpSides];
    CanonKey canon;
    bool live = false;
    bool ignored = false;
    uint32_t prev = kNone, next = kNone;  // LRU: head = least recently active
  };

  TcpReassembler* self;
  TcpStreamSink* sink;
  TcpReassemblyLimits lim;
  std::vector<Stream> slots;
  std::vector<uint32_t> free_slots;
  std::unordered_map<CanonKey, uint32_t, CanonHash> table;
  uint32_t head = kNone, tail = kNone;
  size_t live = 0;
  uint64_t total_held = 0;
  uint64_t serial = 0;
  std::vector<uint8_t> scratch;

  TcpReassemblyStats& stats() { return self->stats_; }

  // ---- LRU -----------------------------------------------------------
  void Unlink(uint32_t i) {
    Stream& s = slots[i];
    if (s.prev != kNone) slots[s.prev].next = s.next; else head = s.next;
    if (s.next != kNone) slots[s.next].prev = s.prev; else tail = s.prev;
    s.prev = s.next = kNone;
  }
  void PushBack(uint32_t i) {
    Stream& s = slots[i];
    s.prev = tail;
    s.next = kNone;
    if (tail != kNone) slots[tail].next = i; else head = i;
    tail = i;
  }
  void Touch(uint32_t i) {
    if (tail == i) return;
    Unlink(i);
    PushBack(i);
  }

  // ---- delivery ------------------------------------------------------
  void Gap(Stream& s, int si, uint64_t n, int64_t ts) {
    if (n == 0) return;
    s.info.gap_bytes[si] += n;
    s.info.gaps[si]++;
    if (!s.ignored) sink->OnGap(s.info, TcpSide(si), ts, n);
  }

  // Bytes at dir.next: len captured, wire on the wire.
  void Deliver(Stream& s, int si, const uint8_t* data, uint32_t len, uint32_t wire, int64_t ts) {
    if (len > 0) {
      s.info.bytes[si] += len;
      sink->OnData(s.info, TcpSide(si), ts, data, len);
    }
    if (wire > len) Gap(s, si, wire - len, ts);
    s.dir[si].next += wire;
  }

  void DropHeld(Dir& d, size_t k) {
    d.held_bytes -= d.held[k].len;
    total_held -= d.held[k].len;
    d.held.erase(d.held.begin() + ptrdiff_t(k));
    if (d.held.empty()) d.pool.clear();
  }

  // One step of Wireshark's check_follow_fragments: the first held segment
  // (arrival order) that starts at or before next gives its new bytes; else,
  // when use_ack and the other side acknowledged past the lowest held
  // segment, the hole before it is a gap. true: something changed.
  bool CheckHeld(Stream& s, int si, uint32_t ack, bool use_ack, int64_t ts) {
    Dir& d = s.dir[si];
    if (d.held.empty()) return false;
    uint32_t lowest = d.held[0].seq;
    for (size_t k = 0; k < d.held.size(); k++) {
      const Held h = d.held[k];
      if (SeqGt(lowest, h.seq)) lowest = h.seq;
      if (SeqLt(h.seq, d.next)) {
        const uint32_t end = h.seq + h.wire;
        if (SeqGt(end, d.next)) {
          const uint32_t skip = d.next - h.seq;
          s.info.dup_bytes[si] += skip;
          const uint32_t len = h.len > skip ? h.len - skip : 0;
          Deliver(s, si, d.pool.data() + h.off + (h.len > skip ? skip : h.len), len, end - d.next, h.ts);
        } else {
          s.info.dup_bytes[si] += h.wire;
        }
        DropHeld(d, k);
        return true;
      }
      if (h.seq == d.next) {
        Deliver(s, si, d.pool.data() + h.off, h.len, h.wire, h.ts);
        DropHeld(d, k);
        return true;
      }
    }
    if (use_ack && SeqGt(ack, lowest)) {
      Gap(s, si, lowest - d.next, ts);
      d.next = lowest;
      return true;
    }
    return false;
  }

  // The hole before the lowest held segment becomes a gap and what then
  // fits is delivered. false: nothing was held.
  bool ForceGap(Stream& s, int si, int64_t ts) {
    Dir& d = s.dir[si];
    if (d.held.empty()) return false;
    uint32_t lowest = d.held[0].seq;
    for (const Held& h : d.held)
      if (SeqLt(h.seq, lowest)) lowest = h.seq;
    if (SeqGt(lowest, d.next)) {
      Gap(s, si, lowest - d.next, ts);
      d.next = lowest;
    }
    while (CheckHeld(s, si, 0, false, ts)) {
    }
    return true;
  }

  void CompactPool(Dir& d) {
    uint32_t w = 0;
    for (Held& h : d.held) {  // offsets grow in arrival order: moving down never overwrites a later one
      if (h.off != w) std::memmove(d.pool.data() + w, d.pool.data() + h.off, h.len);
      h.off = w;
      w += h.len;
    }
    d.pool.resize(w);
  }

  // A segment that starts past dir.next: held, within the bounds.
  void Hold(Stream& s, int si, uint32_t seq, const uint8_t* data, uint32_t len, uint32_t wire, int64_t ts) {
    Dir& d = s.dir[si];
    for (;;) {
      const bool over = d.held.size() >= lim.max_held_segments || d.held_bytes + uint64_t(len) > lim.max_held_bytes ||
                        total_held + len > lim.max_total_held_bytes;
      if (!over) break;
      stats().forced_gaps++;
      if (!ForceGap(s, si, ts)) {  // nothing held here: this segment ends the hole itself
        Gap(s, si, seq - d.next, ts);
        d.next = seq;
        Deliver(s, si, data, len, wire, ts);
        return;
      }
      if (SeqLe(seq, d.next)) {  // the forced delivery reached this segment
        Segment(s, si, seq, data, len, wire, ts);
        return;
      }
    }
    if (d.pool.size() > 2 * size_t(d.held_bytes) + 65536) CompactPool(d);
    const uint32_t off = uint32_t(d.pool.size());
    d.pool.insert(d.pool.end(), data, data + len);
    d.held.push_back(Held{seq, len, wire, off, ts});
    d.held_bytes += len;
    total_held += len;
    stats().peak_held_bytes = std::max(stats().peak_held_bytes, total_held);
  }

  // The payload of one segment (seq already past a SYN).
  void Segment(Stream& s, int si, uint32_t seq, const uint8_t* data, uint32_t len, uint32_t wire, int64_t ts) {
    Dir& d = s.dir[si];
    if (SeqLt(seq, d.next)) {
      const uint32_t end = seq + wire;
      if (!SeqGt(end, d.next)) {  // all of it delivered already: a retransmission
        s.info.dup_bytes[si] += wire;
        return;
      }
      const uint32_t skip = d.next - seq;  // first copy wins: only the bytes past next are new
      s.info.dup_bytes[si] += skip;
      if (len <= skip) {
        data += len;
        len = 0;
      } else {
        data += skip;
        len -= skip;
      }
      wire -= skip;
      seq = d.next;
    }
    if (wire == 0) return;
    if (seq == d.next) {
      Deliver(s, si, data, len, wire, ts);
      while (CheckHeld(s, si, 0, false, ts)) {
      }
    } else {
      Hold(s, si, seq, data, len, wire, ts);
    }
  }

  // ---- streams -------------------------------------------------------
  void End(uint32_t i, TcpEnd why, int64_t ts) {
    Stream& s = slots[i];
    for (int si = 0; si < kTcpSides; si++) {
      while (ForceGap(s, si, ts)) {
      }
    }
    if (!s.ignored) sink->OnEnd(s.info, why);
    table.erase(s.canon);
    Unlink(i);
    for (Dir& d : s.dir) {
      d.started = false;
      d.held.clear();
      d.pool.clear();
      if (d.pool.capacity() > kKeepPoolCapacity) std::vector<uint8_t>().swap(d.pool);
      d.held_bytes = 0;
    }
    s.info = TcpStreamInfo{};
    s.live = false;
    free_slots.push_back(i);
    live--;
    if (why == TcpEnd::kEvicted) stats().evicted++;
  }

  uint32_t Start(const FlowKey& client_to_server, const CanonKey& canon, int64_t ts, bool syn) {
    while (live >= lim.max_streams && head != kNone) End(head, TcpEnd::kEvicted, ts);
    uint32_t i;
    if (!free_slots.empty()) {
      i = free_slots.back();
      free_slots.pop_back();
    } else {
      i = uint32_t(slots.size());
      slots.emplace_back();
    }
    Stream& s = slots[i];
    s.live = true;
    s.canon = canon;
    s.info.serial = ++serial;
    s.info.key = client_to_server;
    s.info.community_id = CommunityId(client_to_server);
    s.info.first_ns = s.info.last_ns = ts;
    s.info.saw_syn = syn;  // known before OnStart: the stream began with the client's SYN
    table.emplace(canon, i);
    PushBack(i);
    live++;
    stats().streams++;
    stats().peak_streams = std::max<uint64_t>(stats().peak_streams, live);
    s.ignored = !sink->OnStart(s.info);
    return i;
  }

  // Closed streams quiet for the linger time end (oldest activity first).
  void Sweep(int64_t now) {
    while (head != kNone) {
      const Stream& h = slots[head];
      if (!(h.info.closed() && now - h.info.last_ns > lim.closed_linger_ns)) break;
      End(head, TcpEnd::kLinger, now);
    }
  }

  void Packet(const hn::Packet& p, int64_t ts) {
    const uint8_t* tcp = p.data + p.l4_off;
    const uint32_t doff = uint32_t(tcp[12] >> 4) * 4;
    if (doff < 20 || uint32_t(p.l4_off) + doff > p.len) {
      stats().not_decoded++;
      return;
    }
    const uint32_t hdr_end = uint32_t(p.l4_off) + doff;  // the payload starts here
    const uint32_t ip_end = uint32_t(p.l4_off) + p.l4_len;  // bounded by the capture
    const uint32_t len = ip_end > hdr_end ? ip_end - hdr_end : 0;
    const uint32_t l3_hdrs = hdr_end - p.l3_off;
    uint32_t wire = p.ip_total_len > l3_hdrs ? p.ip_total_len - l3_hdrs : 0;
    if (wire < len) wire = len;
    const uint8_t* data = p.data + hdr_end;
    const uint8_t flags = p.tcp_flags;
    stats().tcp_packets++;

    const FlowKey k = MakeFlowKey(p);
    const CanonKey canon = Canonical(k);
    auto it = table.find(canon);
    uint32_t i;
    const bool pure_syn = (flags & (kSyn | kAck)) == kSyn;
    if (it != table.end()) {
      i = it->second;
      Stream& s = slots[i];
      const int si = (s.info.key.src == k.src && s.info.key.sport == k.sport) ? 0 : 1;
      if (pure_syn && s.dir[si].started && p.tcp_seq != s.dir[si].base) {
        End(i, TcpEnd::kReused, ts);  // a new connection on the same 5-tuple
        i = Start(k, canon, ts, true);
      }
    } else {
      // The client: the SYN's sender, or the first packet's (the receiver of a SYN+ACK).
      const bool synack = (flags & (kSyn | kAck)) == (kSyn | kAck);
      i = Start(synack ? k.Reversed() : k, canon, ts, pure_syn);
    }
    Touch(i);
    Stream& s = slots[i];
    const int si = (s.info.key.src == k.src && s.info.key.sport == k.sport) ? 0 : 1;
    s.info.packets[si]++;
    s.info.last_ns = std::max(s.info.last_ns, ts);
    if (flags & kFin) s.info.fin[si] = true;
    if (flags & kRst) s.info.rst = true;
    Dir& d = s.dir[si];
    uint32_t seq = p.tcp_seq;
    if (flags & kSyn) {
      if (si == 0 && !(flags & kAck)) s.info.saw_syn = true;
      if (si == 1 && (flags & kAck)) s.info.saw_synack = true;
      if (!d.started) {
        d.started = true;
        d.base = seq;
        d.next = seq + 1;
      }
      seq += 1;  // the SYN takes one sequence number; data on it starts after
    }
    if (!d.started) {
      d.started = true;
      d.base = seq;
      d.next = seq;
    }
    if (s.ignored) return;
    Dir& o = s.dir[1 - si];
    if (!o.held.empty() && (flags & kAck)) {
      while (CheckHeld(s, 1 - si, p.tcp_ack, true, ts)) {
      }
    }
    if (wire > 0) Segment(s, si, seq, data, len, wire, ts);
  }
};

TcpReassembler::TcpReassembler(TcpStreamSink* sink, TcpReassemblyLimits limits) : impl_(new Impl) {
  impl_->self = this;
  impl_->sink = sink;
  impl_->lim = limits;
  if (impl_->lim.max_streams == 0) impl_->lim.max_streams = 1;
  impl_->scratch.resize(kScratchBytes);
  impl_->table.reserve(std::min<size_t>(impl_->lim.max_streams, 4096));
}

TcpReassembler::~TcpReassembler() = default;

size_t TcpReassembler::live_streams() const { return impl_->live; }
uint64_t TcpReassembler::held_bytes() const { return impl_->total_held; }

void TcpReassembler::FeedPacket(const Packet& p, int64_t ts_ns) {
  stats_.frames++;
  const bool readable = p.error == DecodeError::kOk || p.error == DecodeError::kBadIpv4TotalLength ||
                        p.error == DecodeError::kBadIpv4Checksum;
  if (!(p.is_ipv4() || p.is_ipv6()) || p.ip_proto != kProtoTcp) {
    stats_.not_decoded += (p.is_ipv4() || p.is_ipv6()) ? 0 : 1;
    return;
  }
  if (p.is_fragment && (p.frag_offset > 0 || p.more_fragments)) {
    stats_.fragments++;
    return;
  }
  if (!readable || !p.has_l4 || p.l4_len < 20) {
    stats_.not_decoded++;
    return;
  }
  impl_->Packet(p, ts_ns);
  impl_->Sweep(ts_ns);
}

void TcpReassembler::FeedFrame(int linktype, const uint8_t* data, uint32_t caplen, int64_t ts_ns) {
  uint8_t* frame = nullptr;
  uint32_t len = 0;
  std::vector<uint8_t>& scratch = impl_->scratch;
  // Anything that is not Ethernet gets a made-up Ethernet header in the scratch buffer.
  auto wrap = [&](uint16_t ethertype, uint32_t skip) {
    if (caplen < skip) return;
    const uint32_t n = std::min<uint32_t>(caplen - skip, uint32_t(scratch.size() - 14));
    std::memset(scratch.data(), 0, 12);
    scratch[12] = uint8_t(ethertype >> 8);
    scratch[13] = uint8_t(ethertype);
    std::memcpy(scratch.data() + 14, data + skip, n);
    frame = scratch.data();
    len = n + 14;
  };
  auto by_version = [&](uint32_t skip) {
    if (caplen <= skip) return;
    const int v = data[skip] >> 4;
    if (v == 4) wrap(kEthIpv4, skip);
    else if (v == 6) wrap(kEthIpv6, skip);
  };
  switch (linktype) {
    case 1:  // Ethernet: decoded in place (Decode writes nothing)
      frame = const_cast<uint8_t*>(data);
      len = caplen;
      break;
    case 12: case 14: case 101:  // raw IP
      by_version(0);
      break;
    case 228: wrap(kEthIpv4, 0); break;
    case 229: wrap(kEthIpv6, 0); break;
    case 113:  // Linux cooked v1: 16-byte header, protocol in its last 2 bytes
      if (caplen >= 16) wrap(Load16(data + 14), 16);
      break;
    case 276:  // Linux cooked v2: 20-byte header, protocol first
      if (caplen >= 20) wrap(Load16(data), 20);
      break;
    case 0: case 108:  // BSD loopback: 4-byte address family
      by_version(4);
      break;
    default:
      break;
  }
  if (frame == nullptr) {
    stats_.frames++;
    stats_.not_decoded++;
    return;
  }
  Packet p;
  DecodeOptions opt;
  opt.verify_ipv4_checksum = false;  // tshark does not check it either
  Decode(frame, len, &p, opt);
  FeedPacket(p, ts_ns);
}

void TcpReassembler::Finish() {
  int64_t now = 0;
  while (impl_->head != kNone) {
    now = impl_->slots[impl_->head].info.last_ns;
    impl_->End(impl_->head, TcpEnd::kEndOfInput, now);
  }
}

}  // namespace hn
