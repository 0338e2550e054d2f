// CaptureQuery: what `honeynet web` reads from the pcap files of a capture
// directory: one attacker's TCP sessions as text (reassembled, telnet
// negotiation removed), and the packets of one attacker or one flow as a pcap
// of their own, streamed.
//
// Only the inside port's series is read (inside-*.pcap: every frame the
// honeypots sent or got, once; in NAT mode with the honeypots' own
// addresses, as in events.json), and of it only the files whose time range
// meets the one asked for (a file covers from the time in its name to the
// next file's). Memory is bounded: a stream's text stops at max_text bytes
// per session, at most max_sessions sessions; the pcap is written in chunks.
//
// Who may call: src/web (request handlers; one object per request).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn::web {

// The inside series' files that may hold packets from from_ns to to_ns (0: open).
std::vector<std::string> InsideFiles(const std::string& capture_dir, int64_t from_ns, int64_t to_ns);

struct TranscriptChunk {
  int side = 0;        // 0: the client typed it, 1: the server sent it
  int64_t ts_ns = 0;   // of the first packet in the chunk
  std::string text;    // telnet commands removed; raw bytes otherwise
};

struct Transcript {
  std::string client, server;  // "ip:port"
  std::string community_id;
  int64_t first_ns = 0, last_ns = 0;
  uint64_t bytes[2] = {0, 0};
  bool telnet = false;
  bool truncated = false;      // max_text was reached
  uint64_t gap_bytes = 0;      // bytes the capture missed
  std::vector<TranscriptChunk> chunks;
};

struct TranscriptLimits {
  size_t max_sessions = 30;
  size_t max_text = 64 * 1024;   // per session, both sides
};

// The TCP sessions of ip (client or server) between from_ns and to_ns that
// carried data, oldest first.
Result<std::vector<Transcript>> AttackerTranscripts(const std::string& capture_dir, const std::string& ip,
                                                    int64_t from_ns, int64_t to_ns, TranscriptLimits limits = {});

// A pcap (nanosecond, the files' link type) of the inside series' packets
// that match a pcap-filter expression, between from_ns and to_ns, written in
// chunks through Next(). Open() fails when the expression does not compile
// or nothing can be read.
class PcapExtract {
 public:
  static Result<std::unique_ptr<PcapExtract>> Open(const std::string& capture_dir, const std::string& filter,
                                                   int64_t from_ns, int64_t to_ns);
  ~PcapExtract();
  // Appends the next part (the file header first) to *out, about max bytes;
  // false when everything was given.
  bool Next(std::string* out, size_t max = 256 * 1024);
  uint64_t packets() const { return packets_; }

 private:
  struct Impl;
  PcapExtract();
  std::unique_ptr<Impl> impl_;
  uint64_t packets_ = 0;
};

}  // namespace hn::web
