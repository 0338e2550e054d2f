// PcapInput: a streaming reader of one capture file, pcap or pcapng (libpcap
// reads both; pcap_open_offline / pcap_fopen_offline), for `honeynet read`
// and the other analysis commands.
//
// Next() yields one packet at a time: its timestamp (wall-clock ns, whatever
// precision the file has), the bytes captured, the length on the wire, and a
// pointer to the bytes (valid until the next call). Nothing is held in memory
// beyond the packet at hand, so a file of any size reads in constant space.
//
// A malformed or truncated file is not a crash and not a silent stop: every
// packet before the damage is yielded, then Next() returns false and status()
// names the file, the byte offset of the record that could not be read and
// what libpcap said about it, e.g.
//   "in.pcap: byte 4120 (after 37 packets): truncated dump file; tried to read
//    98 captured bytes, only got 51 (the file ends inside a packet: it was
//    probably still being written or was cut short)".
// A file that is not a capture at all (empty, garbage) fails in Open() with
// byte 0. A file with a header and no packets is fine: no packets, status ok.
//
// Who may call: anyone; one reader per thread (not thread-safe). Per packet
// it allocates nothing.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "common/status.h"

namespace hn {

// One packet from a capture file.
struct PcapRecord {
  int64_t ts_ns = 0;              // wall clock, nanoseconds since the epoch (saturated to int64)
  uint32_t caplen = 0;            // bytes present at data
  uint32_t len = 0;               // length on the wire (>= caplen in any sane file; not enforced)
  const uint8_t* data = nullptr;  // caplen bytes; valid until the next Next() or the reader's end
  uint64_t offset = 0;            // byte offset of the packet's record in the file
};

class PcapInput {
 public:
  // Opens a capture file by path.
  static Result<std::unique_ptr<PcapInput>> Open(const std::string& path);
  // Reads an already open stream (e.g. fmemopen, a pipe). Takes ownership of
  // f: it is closed with the reader, or at once when this fails. name is what
  // messages call it.
  static Result<std::unique_ptr<PcapInput>> OpenStream(FILE* f, const std::string& name);
  ~PcapInput();
  PcapInput(const PcapInput&) = delete;
  PcapInput& operator=(const PcapInput&) = delete;

  // The next packet into *rec: true. false when there are no more: at the
  // clean end of the file status() is ok, otherwise it says what was wrong
  // and where. Once false, it stays false.
  bool Next(PcapRecord* rec);
  const Status& status() const { return status_; }

  // DLT_* link type of the file (1 = Ethernet, the honeywall's).
  int linktype() const { return linktype_; }
  // Snapshot length from the file header.
  uint32_t snaplen() const { return snaplen_; }
  // Packets yielded so far.
  uint64_t packets() const { return packets_; }
  const std::string& name() const { return name_; }

 private:
  PcapInput() = default;
  static Result<std::unique_ptr<PcapInput>> FromStream(FILE* f, const std::string& name);

  void* pcap_ = nullptr;  // pcap_t*
  FILE* file_ = nullptr;  // owned by pcap_ once it is open (pcap_close closes it)
  std::string name_;
  int linktype_ = 0;
  uint32_t snaplen_ = 0;
  uint64_t packets_ = 0;
  bool done_ = false;
  Status status_;
};

}  // namespace hn
