// Attacker bytes on the operator's terminal: see term_safe.h.
#include "common/term_safe.h"

#include <cstring>
#include <vector>

namespace hn {

namespace {

constexpr unsigned char kEsc = 0x1b;
constexpr unsigned char kCan = 0x18;
constexpr unsigned char kSub = 0x1a;
constexpr const char kReplacement[] = "\xef\xbf\xbd";  // U+FFFD

// C0 controls a replay keeps: BEL, BS, HT, LF, VT, FF, CR, SO, SI. The others
// (ENQ asks for the answerback string, NUL, DC1..DC4, ...) are dropped.
bool KeptC0(unsigned char c) { return (c >= 0x07 && c <= 0x0f); }

// Escape sequences without intermediates kept: save/restore cursor (7 8),
// keypad modes (= >), index, next line, tab set, reverse index (D E H M).
bool KeptEscFinal(unsigned char c) { return std::strchr("78=>DEHM", c) != nullptr && c != 0; }

// CSI finals kept without private marker or intermediates: cursor movement,
// erasing, inserting/deleting, scrolling, tab stops, scroll region, save and
// restore cursor, SGR. Not: n (device status: the terminal answers), c (device
// attributes: answers), t (window ops: reports, resizes, title stack), x, i
// (printing), q (LEDs), p, y, and everything else.
bool KeptCsiFinal(char c) { return c != 0 && std::strchr("@ABCDEFGHIJKLMPSTXZ`abdefghlmrsu", c) != nullptr; }

// DEC private modes (CSI ? Pm h / l) a replay keeps: cursor keys, reverse
// video, origin, autowrap, cursor blink and visibility, the alternate screen.
// Not: mouse and focus reporting (the reader's terminal would type reports
// into their shell), 132 columns (resizes the window), bracketed paste, and
// the rest.
bool KeptPrivateMode(long m) {
  switch (m) {
    case 1: case 5: case 6: case 7: case 12: case 25: case 47: case 1047: case 1048: case 1049: return true;
    default: return false;
  }
}

// ANSI modes (CSI Pm h / l): insert mode only.
bool KeptAnsiMode(long m) { return m == 4; }

void AppendHex(unsigned char c, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\x");
  out->push_back(kHex[c >> 4]);
  out->push_back(kHex[c & 15]);
}

// Length of the valid UTF-8 character at s[i] (2..4), or 0 when there is none.
size_t Utf8Len(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) n = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) n = 3, lo = b0 == 0xe0 ? 0xa0 : 0x80, hi = b0 == 0xed ? 0x9f : 0xbf;
  else if (b0 >= 0xf0 && b0 <= 0xf4) n = 4, lo = b0 == 0xf0 ? 0x90 : 0x80, hi = b0 == 0xf4 ? 0x8f : 0xbf;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; k++) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return 0;
  }
  return n;
}

}  // namespace

// ---- TermFilter --------------------------------------------------------------

void TermFilter::Feed(std::string_view in, std::string* out) {
  for (char ch : in) Byte(static_cast<unsigned char>(ch), out);
}

void TermFilter::Finish(std::string* out) {
  if (st_ == State::kUtf8) out->append(kReplacement);
  else if (st_ == State::kEsc || st_ == State::kEscInter || st_ == State::kCsi) Drop();  // strings were counted
  st_ = State::kGround;
  seq_.clear();
}

void TermFilter::Drop() {
  ++dropped_;
  seq_.clear();
  st_ = State::kGround;
}

void TermFilter::StartString(bool osc) {
  ++dropped_;
  seq_.clear();
  osc_ = osc;
  string_len_ = 0;
  st_ = State::kString;
}

void TermFilter::C1(unsigned char c) {
  seq_.clear();
  switch (c) {
    case 0x9b:  // CSI: collected as its 7-bit form, kept or dropped at its end
      seq_ = "\x1b[";
      too_long_ = false;
      st_ = State::kCsi;
      return;
    case 0x9d: StartString(true); return;   // OSC
    case 0x90:                              // DCS
    case 0x98:                              // SOS
    case 0x9e:                              // PM
    case 0x9f: StartString(false); return;  // APC
    default: Drop(); return;                // the rest (IND, NEL, SS2, ST, ...): dropped
  }
}

void TermFilter::Ground(unsigned char c, std::string* out) {
  if (c >= 0x20 && c < 0x7f) {
    out->push_back(char(c));
  } else if (c == kEsc) {
    seq_.assign(1, char(kEsc));
    st_ = State::kEsc;
  } else if (c < 0x20) {
    if (KeptC0(c)) out->push_back(char(c));  // the others are dropped (not counted)
  } else if (c == 0x7f) {
    // dropped (not counted)
  } else if (c < 0xa0) {
    C1(c);
  } else if (c >= 0xc2 && c <= 0xf4) {
    seq_.assign(1, char(c));
    if (c <= 0xdf) need_ = 1, cp_ = c & 0x1f;
    else if (c <= 0xef) need_ = 2, cp_ = c & 0x0f;
    else need_ = 3, cp_ = c & 0x07;
    lo_ = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    hi_ = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    st_ = State::kUtf8;
  } else {
    out->append(kReplacement);  // not UTF-8 (0xa0..0xc1 alone, 0xf5..0xff)
  }
}

void TermFilter::Byte(unsigned char c, std::string* out) {
  switch (st_) {
    case State::kGround:
      Ground(c, out);
      return;

    case State::kUtf8:
      if (c < lo_ || c > hi_) {  // cut short: the lead byte alone was not text
        out->append(kReplacement);
        seq_.clear();
        st_ = State::kGround;
        Ground(c, out);
        return;
      }
      seq_.push_back(char(c));
      cp_ = (cp_ << 6) | (c & 0x3f);
      lo_ = 0x80, hi_ = 0xbf;
      if (--need_ > 0) return;
      st_ = State::kGround;
      if (cp_ >= 0x80 && cp_ <= 0x9f) {
        C1(static_cast<unsigned char>(cp_));  // a C1 control written in UTF-8: a terminal obeys it too
      } else {
        out->append(seq_);
        seq_.clear();
      }
      return;

    case State::kEsc:
    case State::kEscInter:
      if (c == kEsc) {  // ESC ESC: the first is dropped, the second starts over
        ++dropped_;
        seq_.assign(1, char(kEsc));
        st_ = State::kEsc;
      } else if (c == kCan || c == kSub) {
        Drop();
      } else if (c < 0x20) {
        Ground(c, out);  // a terminal carries out a C0 control inside a sequence
      } else if (c == 0x7f) {
        // ignored, as a terminal does
      } else if (c >= 0x80) {
        Drop();
        Ground(c, out);
      } else if (c <= 0x2f) {  // intermediate
        if (seq_.size() < 4) seq_.push_back(char(c));  // longer ones are dropped at their end
        st_ = State::kEscInter;
      } else if (st_ == State::kEsc && c == '[') {
        seq_.push_back('[');
        too_long_ = false;
        st_ = State::kCsi;
      } else if (st_ == State::kEsc && (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_')) {
        StartString(c == ']');
      } else {  // final byte
        bool keep;
        if (st_ == State::kEsc) {
          keep = KeptEscFinal(c);
        } else {  // character set designation: ESC ( B, ESC ) 0, ...; not ESC % (UTF-8 mode), ESC # ...
          keep = seq_.size() == 2 && std::strchr("()*+-./", seq_[1]) != nullptr;
        }
        if (keep) {
          seq_.push_back(char(c));
          out->append(seq_);
          seq_.clear();
          st_ = State::kGround;
        } else {
          Drop();
        }
      }
      return;

    case State::kCsi:
      if (c >= 0x40 && c <= 0x7e) {
        EndCsi(char(c), out);
      } else if (c >= 0x20 && c <= 0x3f) {
        if (seq_.size() >= kMaxCsi) too_long_ = true;
        else seq_.push_back(char(c));
      } else if (c == kEsc) {
        ++dropped_;
        seq_.assign(1, char(kEsc));
        st_ = State::kEsc;
      } else if (c == kCan || c == kSub) {
        Drop();
      } else if (c < 0x20) {
        Ground(c, out);
      } else if (c == 0x7f) {
        // ignored
      } else {  // >= 0x80: not part of a CSI; the CSI is dropped
        Drop();
        Ground(c, out);
      }
      return;

    case State::kString:
      if ((c == 0x07 && osc_) || c == 0x9c || c == kCan || c == kSub) {
        st_ = State::kGround;
      } else if (c == kEsc) {
        st_ = State::kStringEsc;
      } else if (c == 0xc2) {
        st_ = State::kStringC2;  // maybe ST in UTF-8 (C2 9C)
      } else if (++string_len_ > kMaxString) {
        st_ = State::kGround;
      }
      return;

    case State::kStringEsc:
      if (c == '\\') {  // ST
        st_ = State::kGround;
        return;
      }
      // ESC and anything else: the string ends, and the ESC starts a sequence.
      seq_.assign(1, char(kEsc));
      st_ = State::kEsc;
      Byte(c, out);
      return;

    case State::kStringC2:
      st_ = State::kString;
      if (c == 0x9c) {
        st_ = State::kGround;
        return;
      }
      Byte(c, out);
      return;
  }
}

void TermFilter::EndCsi(char final_byte, std::string* out) {
  // seq_ = ESC [ [private marker] params [intermediates]
  std::string_view body(seq_);
  body.remove_prefix(2);
  char marker = 0;
  if (!body.empty() && std::strchr("<=>?", body[0]) != nullptr) {
    marker = body[0];
    body.remove_prefix(1);
  }
  size_t p = 0;
  while (p < body.size() && ((body[p] >= '0' && body[p] <= '9') || body[p] == ';' || body[p] == ':')) p++;
  const std::string_view params = body.substr(0, p);
  const std::string_view inter = body.substr(p);
  bool well_formed = !too_long_;
  for (char ch : inter) well_formed = well_formed && ch >= 0x20 && ch <= 0x2f;
  too_long_ = false;
  if (!well_formed) {
    Drop();
    return;
  }

  // SM/RM: only the allowed modes are kept (the others taken out of the list).
  if ((final_byte == 'h' || final_byte == 'l') && inter.empty() && (marker == 0 || marker == '?')) {
    std::string kept;
    size_t i = 0;
    while (i <= params.size()) {
      size_t j = params.find(';', i);
      if (j == std::string_view::npos) j = params.size();
      const std::string_view m = params.substr(i, j - i);
      long v = -1;
      if (!m.empty() && m.size() <= 5 && m.find(':') == std::string_view::npos) {
        v = 0;
        for (char d : m) v = v * 10 + (d - '0');
      }
      if (v >= 0 && (marker == '?' ? KeptPrivateMode(v) : KeptAnsiMode(v))) {
        if (!kept.empty()) kept += ';';
        kept += m;
      }  // other modes are taken out of the list (not counted: bash turns bracketed paste on at every prompt)
      i = j + 1;
    }
    seq_.clear();
    st_ = State::kGround;
    if (!kept.empty()) {
      out->append(marker == '?' ? "\x1b[?" : "\x1b[");
      out->append(kept);
      out->push_back(final_byte);
    }
    return;
  }

  bool keep = false;
  if (marker == 0 && inter.empty()) {
    keep = KeptCsiFinal(final_byte);
    // CSI Ps T scrolls down; with more parameters it starts mouse tracking.
    if (final_byte == 'T' && params.find(';') != std::string_view::npos) keep = false;
  } else if (marker == '?' && inter.empty()) {
    keep = final_byte == 'J' || final_byte == 'K';  // selective erase
  } else if (marker == 0 && inter == " " && final_byte == 'q') {
    keep = true;  // cursor style
  }
  if (!keep) {
    Drop();
    return;
  }
  seq_.push_back(final_byte);
  out->append(seq_);
  seq_.clear();
  st_ = State::kGround;
}

// ---- line-oriented -------------------------------------------------------------

void AppendEscapedControls(std::string_view s, std::string* out, bool keep_tab) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c >= 0x20 && c < 0x7f) || (c == '\t' && keep_tab)) {
      out->push_back(char(c));
      i++;
      continue;
    }
    const size_t n = c >= 0x80 ? Utf8Len(s, i) : 0;
    if (n == 0) {
      AppendHex(c, out);
      i++;
    } else if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {  // U+0080..U+009F
      AppendHex(c, out);
      AppendHex(static_cast<unsigned char>(s[i + 1]), out);
      i += 2;
    } else {
      out->append(s.substr(i, n));
      i += n;
    }
  }
}

std::string EscapeControls(std::string_view s, bool keep_tab) {
  std::string out;
  out.reserve(s.size());
  AppendEscapedControls(s, &out, keep_tab);
  return out;
}

std::string JsonC1Escape(std::string text) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  for (; i < text.size(); i++) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x7f || (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0)) break;
  }
  if (i == text.size()) return text;  // the usual case: nothing to do
  std::string out = text.substr(0, i);
  for (; i < text.size(); i++) {
    const auto c = static_cast<unsigned char>(text[i]);
    unsigned char cp;
    if (c == 0x7f) {
      cp = 0x7f;
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xa0 &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80) {
      cp = static_cast<unsigned char>(text[++i]);
    } else {
      out.push_back(char(c));
      continue;
    }
    out.append("\\u00");
    out.push_back(kHex[cp >> 4]);
    out.push_back(kHex[cp & 15]);
  }
  return out;
}

}  // namespace hn
