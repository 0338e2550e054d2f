// Fuzz harness: the capture-file reader of `honeynet read`
// (src/analysis/pcap_input.h) and the decoder behind it.
//
// Input: the bytes of a capture file (pcap or pcapng), read through fmemopen
// -> PcapInput -> Decode() of every packet.
// Invariants:
//  - a file that does not open gives an error naming the file and byte 0;
//  - every packet yielded has caplen readable bytes (ASan checks the copy),
//    record offsets rise and lie inside the file, packets() counts them;
//  - a read error names the file, the byte and the packets read before it;
//    after the end (clean or not) Next() stays false;
//  - Decode() of each packet keeps its view inside the packet.
#pragma once

#include <cstdint>
#include <cstdio>
#include <vector>

#include "analysis/pcap_input.h"
#include "decode/packet.h"
#include "common.h"

namespace hn::fuzz {

inline int FuzzPcap(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 20)) return 0;
  // "r": fmemopen reads the fuzzer's buffer in place and never writes to it.
  FILE* f = fmemopen(const_cast<uint8_t*>(data), size, "r");
  if (f == nullptr) return 0;
  const std::string name = "fuzz.pcap";
  Result<std::unique_ptr<PcapInput>> opened = PcapInput::OpenStream(f, name);
  if (!opened.ok()) {
    const std::string& msg = opened.status().message();
    HN_FUZZ_CHECK(msg.rfind(name + ": byte 0", 0) == 0, msg);
    return 0;
  }
  PcapInput& in = **opened;
  PcapRecord rec;
  uint64_t n = 0, last_offset = 0;
  while (in.Next(&rec)) {
    n++;
    HN_FUZZ_CHECK(in.packets() == n);
    HN_FUZZ_CHECK(rec.offset < size && (n == 1 || rec.offset > last_offset),
                  "offset " + std::to_string(rec.offset) + " after " + std::to_string(last_offset));
    last_offset = rec.offset;
    HN_FUZZ_CHECK(rec.data != nullptr || rec.caplen == 0);
    std::vector<uint8_t> frame(rec.data, rec.data + rec.caplen);  // exact size: ASan sees reads past it
    Packet p;
    Decode(frame.data(), uint32_t(frame.size()), &p);
    if (p.has_l4) HN_FUZZ_CHECK(uint32_t(p.payload_off) + p.payload_len <= frame.size());
  }
  if (!in.status().ok()) {
    const std::string& msg = in.status().message();
    HN_FUZZ_CHECK(msg.rfind(name + ": byte ", 0) == 0, msg);
    HN_FUZZ_CHECK(msg.find("after " + std::to_string(n) + " packets") != std::string::npos, msg);
  }
  HN_FUZZ_CHECK(!in.Next(&rec), "Next() yielded a packet after the end");
  return 0;
}

}  // namespace hn::fuzz
