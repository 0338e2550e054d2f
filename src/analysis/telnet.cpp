// TelnetText: a small state machine over the bytes of one direction.
#include "analysis/telnet.h"

namespace hn {

namespace {
constexpr uint8_t kSe = 240;    // end of subnegotiation
constexpr uint8_t kSb = 250;    // start of subnegotiation
constexpr uint8_t kWill = 251;  // WILL, WONT, DO, DONT: 251..254, each followed by an option byte
constexpr uint8_t kDont = 254;
constexpr uint8_t kCr = '\r';
}  // namespace

// One data byte, with CR LF / CR NUL turned into "\n".
// A CR waits for the next data byte (telnet commands may come between them).
void TelnetText::Data(uint8_t c, std::string* out) {
  if (cr_pending_) {
    cr_pending_ = false;
    if (c == '\n' || c == 0) {
      out->push_back('\n');
      return;
    }
    out->push_back('\r');  // a bare CR: kept, then c as any byte
  }
  if (c == kCr) {
    cr_pending_ = true;
    return;
  }
  out->push_back(char(c));
}

void TelnetText::Feed(const uint8_t* data, size_t len, std::string* out) {
  for (size_t i = 0; i < len; i++) {
    const uint8_t c = data[i];
    switch (state_) {
      case State::kData:
        if (commands_ && c == kTelnetIac) {
          state_ = State::kIac;
        } else {
          Data(c, out);
        }
        break;
      case State::kIac:
        if (c == kTelnetIac) {  // IAC IAC: the data byte 0xFF
          state_ = State::kData;
          Data(0xFF, out);
        } else if (c == kSb) {
          removed_++;
          state_ = State::kSb;
        } else if (c >= kWill && c <= kDont) {
          removed_++;
          state_ = State::kOption;
        } else {  // NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, a stray SE: two bytes
          removed_++;
          state_ = State::kData;
        }
        break;
      case State::kOption:  // the option byte of WILL/WONT/DO/DONT
        state_ = State::kData;
        break;
      case State::kSb:
        if (c == kTelnetIac) {
          state_ = State::kSbIac;
        } else {
          sb_bytes_++;
        }
        break;
      case State::kSbIac:
        if (c == kSe) {
          state_ = State::kData;
        } else if (c == kTelnetIac) {  // an escaped 0xFF inside the subnegotiation
          sb_bytes_++;
          state_ = State::kSb;
        } else if (c == kSb) {  // malformed: a new SB without SE; the old one ends here
          removed_++;
          state_ = State::kSb;
        } else if (c >= kWill && c <= kDont) {  // malformed: a negotiation without SE first
          removed_++;
          state_ = State::kOption;
        } else {  // malformed: another command ends the subnegotiation
          removed_++;
          state_ = State::kData;
        }
        break;
    }
  }
}

void TelnetText::Finish(std::string* out) {
  if (cr_pending_) out->push_back('\r');
  cr_pending_ = false;
  state_ = State::kData;
}

bool IsTelnet(uint16_t client_port, uint16_t server_port, int first_client_byte, int first_server_byte) {
  return server_port == kTelnetPort || client_port == kTelnetPort || first_client_byte == kTelnetIac ||
         first_server_byte == kTelnetIac;
}

}  // namespace hn
