// TelnetText: the text a person typed and saw in a telnet session, from the
// raw bytes of one direction of the TCP stream (RFC 854/855).
//
// Removed: option negotiation (IAC WILL/WONT/DO/DONT <option>), subnegotiation
// (IAC SB ... IAC SE, whatever it holds: terminal type, window size, ...) and
// the two-byte commands (IAC NOP, GA, DM, AYT, ...). IAC IAC is the data byte
// 0xFF. Line ends: CR LF and CR NUL become "\n"; a CR followed by anything
// else is kept as "\r" (a terminal's carriage return). Every state is carried
// from one Feed() to the next, so a command split across TCP segments is
// removed all the same.
//
// With commands=false only the line ends are turned into "\n": the same
// reading for streams that are not telnet (HTTP, SMTP, a shell over nc).
//
// Who may call: anyone; one object per direction of a stream. Feed appends
// to the caller's string (no allocation once it has room).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hn {

inline constexpr uint8_t kTelnetIac = 255;
inline constexpr uint16_t kTelnetPort = 23;

class TelnetText {
 public:
  explicit TelnetText(bool commands = true) : commands_(commands) {}

  // Appends the text of data[0, len) to *out.
  void Feed(const uint8_t* data, size_t len, std::string* out);
  // The stream ended: a CR still waiting for its partner is written as "\r".
  void Finish(std::string* out);

  // Telnet commands removed so far (negotiations, subnegotiations, others).
  uint64_t commands_removed() const { return removed_; }
  // Bytes of subnegotiation payload dropped so far.
  uint64_t subnegotiation_bytes() const { return sb_bytes_; }

 private:
  enum class State : uint8_t { kData, kIac, kOption, kSb, kSbIac };
  void Data(uint8_t c, std::string* out);
  bool commands_;
  State state_ = State::kData;
  bool cr_pending_ = false;  // a CR seen, its partner (LF/NUL/other) not yet
  uint64_t removed_ = 0;
  uint64_t sb_bytes_ = 0;
};

// True when a stream should be read as telnet: either end is port 23, or the
// first byte of either direction is IAC (a telnet server on another port).
bool IsTelnet(uint16_t client_port, uint16_t server_port, int first_client_byte, int first_server_byte);

}  // namespace hn
