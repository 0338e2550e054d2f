// TcpReassembler: TCP byte streams rebuilt from captured packets, fed in
// capture order, for `honeynet sessions` / `honeynet session`.
//
// A stream is one TCP connection: its 5-tuple from the first packet to the
// last, or until a new SYN (without ACK) on the same 5-tuple carries another
// sequence number than the one the direction started with (a reused port:
// a new stream, as Wireshark's tcp.stream counts them). Its client is the
// sender of the SYN, or of the first packet seen when the capture began
// mid-connection (the receiver when that packet is a SYN+ACK).
//
// Per direction the bytes come out in sequence order, exactly once:
//   - SYN: data starts at ISN+1 (data on a SYN, TCP Fast Open, is kept).
//     Without a SYN, at the first segment seen in that direction.
//   - Sequence numbers are compared modulo 2^32 (RFC 1982 serial
//     arithmetic), so a stream that wraps past 0xFFFFFFFF reads straight on.
//   - A segment that starts after the next expected byte is held (copied)
//     until the bytes before it arrive.
//   - Retransmitted bytes (before the next expected byte) are dropped.
//   - Overlap policy, "first copy wins" (what Wireshark's Follow TCP Stream
//     does, so `tshark -z follow,tcp,raw` agrees byte for byte): a byte once
//     delivered is never replaced; a segment that overlaps delivered bytes
//     contributes only its bytes past them. Held segments are tried in the
//     order they arrived: the first one that starts at or before the next
//     expected byte is taken (its new bytes), so of two held copies of the
//     same bytes the earlier-captured one wins.
//     Where an OS differs: Linux also keeps what it has (in-order data
//     is never replaced) but in its out-of-order queue a later segment
//     that covers a held one entirely replaces it ("last copy wins" for
//     that case), and Windows/BSD stacks differ again (Novak's target-based
//     reassembly). A reader of this transcript sees what Wireshark shows;
//     an attacker who sends conflicting overlaps may have made the honeypot
//     see something else. Data on a RST is delivered like any other data
//     (Wireshark does; Linux ignores it).
//   - Missing bytes are never joined silently: OnGap() reports their count
//     where they belong. A gap is declared when the receiver acknowledged
//     past the hole (the bytes reached it but not the capture), when the
//     held data outgrows its bounds, when the stream ends with data still
//     held, and for frames cut short by the capture's snap length (the
//     bytes on the wire that are not in the file).
//   - TCP inside IP fragments is not reassembled (stats().fragments counts
//     the fragments skipped; their bytes show up as a gap).
//
// Memory bound: at most limits.max_streams streams (least recently active
// evicted first, i.e. ended with its held data flushed); per direction at
// most max_held_bytes bytes in max_held_segments held segments (past that,
// the hole before the lowest held segment becomes a gap); at most
// max_total_held_bytes held over all streams (the direction that goes over
// is flushed). Per stream without held data: about 300 bytes. Per packet:
// no allocation except when a stream is created or a held segment does not
// fit the memory its direction already has.
//
// Who may call: the analysis commands; one object per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "decode/packet.h"
#include "flow/flow_key.h"

namespace hn {

enum class TcpSide : uint8_t { kClient = 0, kServer = 1 };
inline constexpr int kTcpSides = 2;
inline int SideIndex(TcpSide s) { return s == TcpSide::kClient ? 0 : 1; }

// Why a stream ended.
enum class TcpEnd : uint8_t {
  kEndOfInput,  // Finish(): the capture ended
  kReused,      // a new SYN on the same 5-tuple began another stream
  kLinger,      // closed (FIN both ways or RST) and quiet for limits.closed_linger_ns
  kEvicted,     // the stream table was full: the least recently active stream made room
};
const char* TcpEndName(TcpEnd e);

struct TcpStreamInfo {
  uint64_t serial = 0;        // 1, 2, ... in the order of their first packet
  FlowKey key;                // client -> server
  std::string community_id;   // Community ID v1 (seed 0) of the 5-tuple
  int64_t first_ns = 0, last_ns = 0;
  bool saw_syn = false;       // the client's SYN was captured
  bool saw_synack = false;
  bool fin[kTcpSides] = {false, false};
  bool rst = false;
  uint64_t packets[kTcpSides] = {0, 0};
  uint64_t bytes[kTcpSides] = {0, 0};      // delivered stream bytes
  uint64_t gap_bytes[kTcpSides] = {0, 0};  // bytes known to be missing
  uint64_t gaps[kTcpSides] = {0, 0};
  uint64_t dup_bytes[kTcpSides] = {0, 0};  // retransmitted/overlapping bytes dropped
  bool closed() const { return rst || (fin[0] && fin[1]); }
};

// What the reassembler reports. OnData's bytes are valid during the call.
class TcpStreamSink {
 public:
  virtual ~TcpStreamSink() = default;
  // A new stream. false: ignore it (no OnData/OnGap/OnEnd; it is still
  // tracked so the decision is made once per stream).
  virtual bool OnStart(const TcpStreamInfo&) { return true; }
  // The next bytes of one direction; ts_ns is the time of the packet that carried them.
  virtual void OnData(const TcpStreamInfo& s, TcpSide side, int64_t ts_ns, const uint8_t* data, size_t len) = 0;
  // len bytes of one direction are missing from the capture here.
  virtual void OnGap(const TcpStreamInfo&, TcpSide, int64_t /*ts_ns*/, uint64_t /*len*/) {}
  virtual void OnEnd(const TcpStreamInfo&, TcpEnd) {}
};

struct TcpReassemblyLimits {
  size_t max_streams = 200000;                     // concurrent streams
  uint32_t max_held_bytes = 1u << 20;              // held out-of-order bytes per direction
  uint32_t max_held_segments = 2048;               // held segments per direction
  uint64_t max_total_held_bytes = 256ull << 20;    // over all streams
  int64_t closed_linger_ns = 120'000'000'000;      // a closed stream waits this long for stragglers
};

struct TcpReassemblyStats {
  uint64_t frames = 0;         // Feed calls
  uint64_t tcp_packets = 0;    // TCP segments read
  uint64_t not_decoded = 0;    // frames that were not IP we could read (or other link types)
  uint64_t fragments = 0;      // IP fragments carrying TCP: not reassembled
  uint64_t streams = 0;        // streams started
  uint64_t evicted = 0;        // streams ended to make room
  uint64_t forced_gaps = 0;    // gaps declared because held data outgrew its bounds
  uint64_t peak_streams = 0;
  uint64_t peak_held_bytes = 0;
};

class TcpReassembler {
 public:
  explicit TcpReassembler(TcpStreamSink* sink, TcpReassemblyLimits limits = {});
  ~TcpReassembler();
  TcpReassembler(const TcpReassembler&) = delete;
  TcpReassembler& operator=(const TcpReassembler&) = delete;

  // One captured frame of link type linktype (DLT_EN10MB 1; also raw IP 12,
  // 14, 101, Linux cooked 113/276, BSD loopback 0/108). Frames that are not
  // TCP are counted and skipped.
  void FeedFrame(int linktype, const uint8_t* data, uint32_t caplen, int64_t ts_ns);
  // A frame decoded already (Decode with verify_ipv4_checksum off reads what
  // tshark reads).
  void FeedPacket(const Packet& p, int64_t ts_ns);
  // The input ended: every stream is ended (held data delivered after gaps).
  void Finish();

  const TcpReassemblyStats& stats() const { return stats_; }
  size_t live_streams() const;
  uint64_t held_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  TcpReassemblyStats stats_;
};

}  // namespace hn
