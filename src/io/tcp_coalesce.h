// TcpCoalescer: GRO on transmit. Joins consecutive full-size segments of one
// TCP/IPv4 flow that the honeywall forwards in one batch into one
// super-segment with a segmentation instruction (virtio-net header), so the
// kernel hands the receiver one skb instead of dozens and its stack
// acknowledges once. Capture is not affected: it takes each segment as it
// was (PortSink), so the pcaps hold the frames of the wire.
//
// The rules are those of Linux's GRO (tcp_gro_receive), so the kernel's
// segmentation (tcp_gso_segment) gives back exactly the segments that went
// in, wherever a device on the way cannot take the super-segment whole:
//  - Ethernet II + IPv4 without options, not a fragment, TCP with a valid
//    checksum (a segment its receiver would drop is never joined: it goes on
//    alone, as before, and is dropped there);
//  - a payload, TCP flags ACK (ECE allowed if the first has it), PSH only
//    on the last;
//  - same MACs, addresses, ports, TOS, TTL, DF, ACK number, window and TCP
//    header with options as the first; IP ID one more than the last; sequence
//    number right after the last;
//  - every segment but the last carries the first's payload length
//    (gso_size); a shorter one or PSH ends the super-segment; the frame
//    65535 bytes at most (Ethernet header included: see the .cpp).
// Pure byte work, no syscalls, no allocation: unit-tested on its own.
// Who may call: AfPacketPort (its forwarding thread).
#pragma once

#include <cstdint>

namespace hn {

// What Parse() learns about a segment.
struct TcpSegInfo {
  uint32_t tcp_off = 0;   // offset of the TCP header in the frame
  uint32_t tcp_len = 0;   // TCP header length (with options)
  uint32_t payload = 0;   // payload bytes
  bool psh = false;
};

// The instruction for the virtio-net header of a finished super-segment.
struct GsoInstr {
  uint16_t hdr_len = 0;     // Ethernet + IPv4 + TCP headers
  uint16_t gso_size = 0;    // payload per segment
  uint16_t csum_start = 0;  // the TCP header
  uint16_t csum_offset = 16;
  uint16_t segments = 0;
};

class TcpCoalescer {
 public:
  // Whether frame[0,len) is a segment that may be joined (see above). Its
  // checksums are verified here, but for the TCP checksum of a frame whose
  // sender left it to offload (partial: the field holds the pseudo-header
  // sum; the kernel says so only for frames of this host's own stack).
  static bool Parse(const uint8_t* frame, uint32_t len, TcpSegInfo* s, bool partial = false);

  bool open() const { return open_; }
  uint32_t segments() const { return segs_; }
  // A shorter segment or PSH ended it: nothing more can join.
  bool ended() const { return ended_; }

  // Opens a super-segment in buf (room for cap bytes) with frame as its first
  // segment (copied). False, nothing opened, when s cannot start one (PSH,
  // too short to be worth it).
  bool Start(uint8_t* buf, uint32_t cap, const uint8_t* frame, uint32_t len, const TcpSegInfo& s);
  // Appends the segment's payload when it continues the open super-segment.
  bool Append(const uint8_t* frame, uint32_t len, const TcpSegInfo& s);
  // Closes it: IPv4 length and header checksum, TCP checksum field set to the
  // pseudo-header sum (the offload's starting value). Returns the frame's
  // length in buf. Only with segments() >= 2.
  uint32_t Finish(GsoInstr* g);
  // Closes it as it is (one segment: buf holds that frame unchanged); returns its length.
  uint32_t Abandon();

  // Segment i of a finished super-segment sup[0,len) (as Finish() left it,
  // with its g), written to out the way the kernel's segmentation makes it:
  // IP ID + i, sequence + i * gso_size, PSH and FIN on the last only, CWR on
  // the first only, both checksums
  // filled in. For a link that cannot take the super-segment whole (TSO
  // turned off after it was joined). out needs room for g.hdr_len +
  // g.gso_size bytes. Returns the segment's length; 0 when i is past the last.
  static uint32_t CutSegment(const uint8_t* sup, uint32_t len, const GsoInstr& g, uint32_t i, uint8_t* out);

  // The smallest payload that starts a super-segment: below it (interactive
  // traffic, pure ACKs) frames go on as they are.
  static constexpr uint32_t kMinPayload = 256;

 private:
  uint8_t* buf_ = nullptr;
  uint32_t cap_ = 0;
  uint32_t len_ = 0;        // bytes in buf_
  uint32_t segs_ = 0;
  uint32_t gso_size_ = 0;
  uint32_t tcp_off_ = 0;
  uint32_t tcp_len_ = 0;
  uint32_t next_seq_ = 0;
  uint16_t next_id_ = 0;
  bool psh_ = false;
  bool open_ = false;
  bool ended_ = false;
};

}  // namespace hn
