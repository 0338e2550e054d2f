// FrameRef: one captured frame whose bytes live in someone else's memory,
// with its pcap record fields. The inline capture's ring hands them out
// (FrameRing::PeekMany) and the pcap writer writes them where they lie
// (PcapWriter::WriteFrames), so one type passes a batch from one to the other.
//
// Who may call: anyone; the bytes stay valid only as long as their owner says.
#pragma once

#include <cstdint>

namespace hn {

struct FrameRef {
  int64_t ts_ns;        // capture time, wall clock
  const uint8_t* data;  // caplen bytes
  uint32_t caplen;      // bytes present
  uint32_t wire_len;    // the frame's length on the wire (>= caplen)
};

}  // namespace hn
