// FlowSummarizer: bidirectional flows from a stream of captured frames, for
// `honeynet flows` and `honeynet report` (the analysis side; the honeywall's
// own table is src/flow/flow_table.h).
//
// A flow is named by its 5-tuple in either direction (MakeFlowKey: ICMP
// echo/query by identifier, other ICMP by type/code; protocols without ports
// by addresses and protocol). The initiator is the sender of the flow's first
// packet, except that a SYN+ACK seen first makes its receiver the initiator.
// A TCP flow ends, and a new one with the same 5-tuple starts, on a pure SYN
// whose sequence number differs from the first one seen from that side, or
// on a pure SYN after a FIN or RST (what Wireshark calls a new tcp.stream).
//
// Counting follows tshark's conversation tables: every frame counts once, in
// its direction, with its length on the wire (the pcap record's orig_len,
// Ethernet header and any VLAN tags included). Retransmissions, duplicates,
// out-of-order and overlapping segments are frames like any other.
//
// IPv4 fragments: the first fragment (offset 0) carries the ports and names
// the flow; later fragments (same src, dst, protocol and IP id) are counted
// to that flow, also when they arrive before the first one (they wait, for
// up to kFragWaitNs of capture time, in a bounded table). Fragments whose
// first fragment never shows up, and IPv6 non-first fragments (the packet
// view carries no IPv6 fragment id), are not flows: they are counted in
// FlowTotals::orphan_fragments. tshark's conv,udp/conv,tcp differ here: with
// reassembly on they count a fragmented datagram once, at its last fragment
// (conv,ip counts every fragment, like we do).
//
// Link types: Ethernet (the honeywall's), and IP under raw IP (DLT_RAW,
// IPV4, IPV6), BSD loopback (NULL, LOOP) and Linux cooked (SLL, SLL2)
// headers. Frames that are not IP (ARP, LLDP, other ethertypes, other link
// types) and IP frames whose L4 header is cut short are not flows:
// FlowTotals counts them.
//
// Memory: a live flow costs about kLiveFlowBytes (the FlowRecord plus table
// slots); at most max_flows are live at once. A flow idle for idle_timeout_ns
// of capture time is finished (handed to the sink); when the table is full the
// longest idle flow is finished early (FlowTotals::evicted counts them, and a
// later packet of it starts a new flow). Finished flows go to the sink at once,
// so what the caller keeps is its own choice (`flows` keeps every record,
// ~400 bytes each with its strings; `report` keeps only counters and the busiest few).
//
// Who may call: the analysis commands; one summarizer per thread. Add()
// allocates only when a new flow makes the table grow (amortised).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "analysis/event_index.h"
#include "decode/packet.h"
#include "flow/flow_key.h"

namespace hn {

// TCP state at a flow's end, as an observer on the wire saw it.
enum class TcpFlowState : uint8_t {
  kNone,         // not TCP
  kSynSent,      // SYN seen, no SYN+ACK
  kSynRecv,      // SYN+ACK seen, the handshake's last ACK not yet
  kEstablished,  // handshake done, or data both ways, or picked up mid-stream
  kFinWait,      // FIN from one side only
  kClosed,       // FIN from both sides
  kReset,        // RST seen (last word)
};
const char* TcpFlowStateName(TcpFlowState s);  // "SYN_SENT", "ESTABLISHED", "CLOSED", "RESET", ... ("" for kNone)

// One finished flow. Direction 0 is initiator -> responder ("to server").
struct FlowRecord {
  FlowKey key;                   // initiator view: key.src is the initiator
  int64_t first_ns = 0, last_ns = 0;
  uint64_t pkts[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};    // frame lengths on the wire
  uint64_t payload[2] = {0, 0};  // TCP/UDP payload bytes (from the headers, also when not captured)
  uint8_t icmp_type = 0, icmp_code = 0;  // of the first packet
  uint16_t vlan_id = 0;          // outer VLAN tag of the first packet (0: none)
  TcpFlowState tcp = TcpFlowState::kNone;
  bool midstream = false;        // TCP picked up without its SYN
  bool evicted = false;          // finished early: the table was full
  // Interactive-text heuristic (TCP), per direction: segments with
  // 1..kSmallSegment payload bytes, and of the first kPrintableWindow
  // captured payload bytes how many were seen and how many were text.
  uint32_t small_segments[2] = {0, 0};
  uint32_t text_seen[2] = {0, 0}, text_bytes[2] = {0, 0};
  uint64_t seq_no = 0;           // order of creation (1-based): ties in sorting
  std::string community_id;      // Community ID v1, seed 0
  // Joined from events.json when an index was given and knows the flow.
  bool has_verdict = false;
  uint64_t flow_id = 0;          // the honeywall's flow_id (0: unknown)
  std::string honeypot, action, direction, reason;
  // Inline-rule alerts on the flow (events.json "alert"): "sid 1000001 shell path out (blocked)".
  std::vector<std::string> alerts;

  uint64_t total_pkts() const { return pkts[0] + pkts[1]; }
  uint64_t total_bytes() const { return bytes[0] + bytes[1]; }
  int64_t duration_ns() const { return last_ns - first_ns; }
  // The side that typed: 0 (the initiator), except for a flow picked up
  // mid-stream whose initiator has the lower port (probably the server).
  int client_dir() const;
  // Someone typing and a server answering in text: the client sent at least
  // 4 short segments, the server at least 32 bytes, 80 % of them text bytes.
  bool interactive_text() const;
};

// Counts of what did not become a flow, and of the run.
struct FlowTotals {
  uint64_t frames = 0, bytes = 0;        // everything given to Add()
  uint64_t non_ip = 0;                   // ARP, LLDP, other ethertypes, not Ethernet at all
  uint64_t undecodable = 0;              // IP frames without a usable L4 header (cut, bad lengths)
  uint64_t orphan_fragments = 0;         // non-first fragments never matched to a flow
  uint64_t flows = 0;                    // flows finished (handed to the sink)
  uint64_t evicted = 0;                  // of those, finished early because the table was full
  uint64_t peak_live = 0;                // most flows live at once
};

struct FlowSummaryOptions {
  size_t max_flows = 1'000'000;                      // live flows at most
  int64_t idle_timeout_ns = 3600LL * 1'000'000'000;  // capture time without a packet: finished
  const EventIndex* events = nullptr;                // joins verdicts when set (not owned)
};

inline constexpr uint32_t kSmallSegment = 32;       // "a keystroke or a short line"
inline constexpr uint32_t kPrintableWindow = 65536;  // responder bytes looked at per flow
inline constexpr size_t kLiveFlowBytes = 384;        // approximate cost of a live flow (record, table slots)

class FlowSummarizer {
 public:
  using Sink = std::function<void(FlowRecord&&)>;
  FlowSummarizer(FlowSummaryOptions opts, Sink sink);
  ~FlowSummarizer();
  FlowSummarizer(const FlowSummarizer&) = delete;
  FlowSummarizer& operator=(const FlowSummarizer&) = delete;

  // One captured frame: linktype is the file's DLT (see above), data holds
  // caplen bytes, wire_len the length on the wire.
  void Add(int64_t ts_ns, int linktype, const uint8_t* data, uint32_t caplen, uint32_t wire_len);
  // Finishes every live flow (in order of their first packet) and the
  // fragments that are still waiting. Add() must not be called after.
  void Finish();
  const FlowTotals& totals() const;
  size_t live() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience for tests and small inputs: every flow of the frames, in order
// of their first packet.
struct FrameIn {
  int64_t ts_ns;
  std::vector<uint8_t> bytes;
  uint32_t wire_len = 0;  // 0: bytes.size()
};
std::vector<FlowRecord> SummarizeFrames(const std::vector<FrameIn>& frames, FlowSummaryOptions opts = {},
                                        FlowTotals* totals = nullptr);

}  // namespace hn
