// Attacker bytes on the operator's terminal: what a honeypot's terminals
// showed, its console, its commands and log lines are hostile. A terminal
// obeys the control sequences in what it prints: an OSC sets the window title
// or the clipboard (OSC 52), a DCS/APC/PM/SOS string may reach terminal
// features the reader never asked for, and queries (device status, window
// reports) make the terminal type an answer into the reader's shell.
//
//   TermFilter      a streaming filter for output that is meant to be rendered
//                   (`tty play`, `honeynet console`): keeps text (UTF-8),
//                   colours (SGR) and cursor movement, and drops OSC, DCS, APC,
//                   PM, SOS (7-bit ESC forms, 8-bit C1 bytes and C1 code points
//                   in UTF-8), queries, reports and mode changes outside a small
//                   allow-list. A sequence split across Feed() calls is handled.
//   EscapeControls  for line-oriented output (tables, error messages quoting a
//                   log): control characters visible as \xNN, text as it is.
//   JsonC1Escape    JSON text with the C1 code points (and DEL) as \u00XX.
//
// Nothing the filters let through leaves the terminal inside an escape
// sequence: an introducer they drop is never written, and a sequence they keep
// is written whole (collected until its last byte).
//
// Who may call: anyone; a TermFilter is one stream's state (not thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hn {

class TermFilter {
 public:
  // Filters the next bytes of the stream, appending what is safe to *out.
  void Feed(std::string_view in, std::string* out);
  // The stream ended: a sequence cut short is dropped, a UTF-8 character cut
  // short becomes U+FFFD. The filter can be fed again after (a new stream).
  void Finish(std::string* out);
  // Escape sequences and strings dropped so far (not counted: lone C0
  // controls dropped, and modes dropped from CSI [?] ... h/l).
  uint64_t dropped() const { return dropped_; }

  // Longest CSI kept (longer ones are dropped whole); longest string (OSC,
  // DCS, ...) dropped before the filter gives up looking for its end and
  // shows what follows as text, so an unterminated string cannot hide the
  // rest of a session.
  static constexpr size_t kMaxCsi = 128;
  static constexpr size_t kMaxString = 1 << 20;

 private:
  enum class State : uint8_t { kGround, kUtf8, kEsc, kEscInter, kCsi, kString, kStringEsc, kStringC2 };
  void Byte(unsigned char c, std::string* out);
  void Ground(unsigned char c, std::string* out);
  void C1(unsigned char c);            // c: 0x80..0x9f, however it came (byte or UTF-8)
  void EndCsi(char final_byte, std::string* out);
  void StartString(bool osc);
  void Drop();                          // the sequence collected is dropped; back to ground

  State st_ = State::kGround;
  std::string seq_;        // the sequence (or UTF-8 character) being collected
  size_t need_ = 0;        // UTF-8: continuation bytes still expected
  unsigned char lo_ = 0x80, hi_ = 0xbf;  // UTF-8: the range of the next continuation byte
  uint32_t cp_ = 0;        // UTF-8: the code point so far
  bool osc_ = false;       // the string being dropped is an OSC (BEL ends it too)
  bool too_long_ = false;  // the CSI being collected is over kMaxCsi: dropped at its end
  size_t string_len_ = 0;  // bytes of the string dropped so far
  uint64_t dropped_ = 0;
};

// s for a line of text: printable ASCII and valid UTF-8 (U+00A0 and above) as
// they are; control characters (C0, DEL), C1 controls (the bytes 0x80..0x9f,
// and U+0080..U+009F in UTF-8) and bytes that are not UTF-8 as \xNN (a C1 code
// point as the \xNN of its two bytes). Tabs are kept when keep_tab.
std::string EscapeControls(std::string_view s, bool keep_tab = false);
void AppendEscapedControls(std::string_view s, std::string* out, bool keep_tab = false);

// JSON text (a dump with ensure_ascii off) with the C1 code points
// U+0080..U+009F and DEL written as \u0080..\u009f, \u007f; the same JSON
// value, and no byte 0x7f..0x9f outside a multi-byte character. Expects valid
// UTF-8 (nlohmann's dump with error_handler_t::replace gives that).
std::string JsonC1Escape(std::string json_text);

}  // namespace hn
