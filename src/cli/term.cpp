// Terminal output helpers: see term.h.
#include "cli/term.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "common/clock.h"

namespace hn {

namespace {

constexpr int64_t kRedrawNs = kNsPerSec / 10;  // progress redraws at most 10 times a second
constexpr int kBarWidth = 30;

const char* Code(Colour c) {
  switch (c) {
    case Colour::kNone: return "";
    case Colour::kBold: return "\033[1m";
    case Colour::kDim: return "\033[2m";
    case Colour::kRed: return "\033[31m";
    case Colour::kGreen: return "\033[32m";
    case Colour::kYellow: return "\033[33m";
    case Colour::kBlue: return "\033[34m";
    case Colour::kMagenta: return "\033[35m";
    case Colour::kCyan: return "\033[36m";
  }
  return "";
}

// Columns a code point takes: 0 for combining marks, 2 for East Asian wide and
// emoji ranges, 1 otherwise (a small table, not all of Unicode's).
int CodePointWidth(uint32_t cp) {
  if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) || (cp >= 0x1f900 && cp <= 0x1f9ff) ||
      (cp >= 0x20000 && cp <= 0x3fffd))
    return 2;
  return 1;
}

// The code point at s[*i] (advancing *i); a broken sequence counts as one
// replacement character per byte.
uint32_t NextCodePoint(std::string_view s, size_t* i) {
  const auto b0 = static_cast<unsigned char>(s[*i]);
  int extra;
  uint32_t cp;
  if (b0 < 0x80) {
    extra = 0, cp = b0;
  } else if ((b0 & 0xe0) == 0xc0) {
    extra = 1, cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    extra = 2, cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    extra = 3, cp = b0 & 0x07;
  } else {
    ++*i;
    return 0xfffd;
  }
  if (*i + size_t(extra) >= s.size()) {  // cut short at the end
    ++*i;
    return 0xfffd;
  }
  for (int k = 1; k <= extra; k++) {
    const auto b = static_cast<unsigned char>(s[*i + size_t(k)]);
    if ((b & 0xc0) != 0x80) {
      ++*i;
      return 0xfffd;
    }
    cp = (cp << 6) | (b & 0x3f);
  }
  *i += size_t(extra) + 1;
  return cp;
}

// Skips an ANSI escape sequence at s[*i] (ESC [ params final, or ESC + one byte).
void SkipEscape(std::string_view s, size_t* i) {
  ++*i;  // ESC
  if (*i < s.size() && s[*i] == '[') {
    ++*i;
    while (*i < s.size() && !(s[*i] >= 0x40 && s[*i] <= 0x7e)) ++*i;
    if (*i < s.size()) ++*i;
  } else if (*i < s.size()) {
    ++*i;
  }
}

}  // namespace

bool UseColour(FILE* f) {
  const char* no = getenv("NO_COLOR");
  if (no != nullptr && no[0] != '\0') return false;
  const char* term = getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return f != nullptr && isatty(fileno(f)) == 1;
}

std::string Paint(std::string_view text, Colour c, bool on) {
  if (!on || c == Colour::kNone) return std::string(text);
  std::string s = Code(c);
  s += text;
  s += "\033[0m";
  return s;
}

size_t DisplayWidth(std::string_view s) {
  size_t w = 0, i = 0;
  while (i < s.size()) {
    if (s[i] == '\033') {
      SkipEscape(s, &i);
      continue;
    }
    w += size_t(CodePointWidth(NextCodePoint(s, &i)));
  }
  return w;
}

std::string HumanBytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = double(n);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    u++;
  }
  char buf[32];
  snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, kUnits[u]);
  return buf;
}

TextTable::TextTable(std::vector<Column> columns) : cols_(std::move(columns)) {}

void TextTable::Add(std::vector<std::string> cells) {
  cells.resize(cols_.size());
  rows_.push_back(std::move(cells));
}

void TextTable::Print(FILE* out, bool colour, size_t indent) const {
  const size_t n = cols_.size();
  std::vector<size_t> width(n, 0);
  for (size_t c = 0; c < n; c++) width[c] = DisplayWidth(cols_[c].title);
  for (const auto& row : rows_)
    for (size_t c = 0; c < n; c++) width[c] = std::max(width[c], DisplayWidth(row[c]));

  // One line: cells padded to their column, two spaces between, no trailing blanks.
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string s;
    for (size_t c = 0; c < n; c++) {
      const size_t pad = width[c] - DisplayWidth(cells[c]);
      const bool last = c + 1 == n;
      if (c > 0) s += "  ";
      if (cols_[c].numeric) {
        s.append(pad, ' ');
        s += cells[c];
      } else {
        s += cells[c];
        if (!last) s.append(pad, ' ');
      }
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    if (header) s = Paint(s, Colour::kBold, colour);
    s.insert(0, indent, ' ');
    s += '\n';
    fwrite(s.data(), 1, s.size(), out);
  };

  std::vector<std::string> titles;
  titles.reserve(n);
  for (const auto& c : cols_) titles.push_back(c.title);
  line(titles, true);
  std::string rule;
  for (size_t c = 0; c < n; c++) {
    if (c > 0) rule += "  ";
    rule.append(width[c], '-');
  }
  rule = std::string(indent, ' ') + Paint(rule, Colour::kDim, colour) + "\n";
  fwrite(rule.data(), 1, rule.size(), out);
  for (const auto& row : rows_) line(row, false);
}

Progress::Progress(std::string label, uint64_t total, uint64_t min_total)
    : label_(std::move(label)), total_(total) {
  on_ = total_ > 0 && total_ >= min_total && isatty(STDERR_FILENO) == 1;
}

Progress::~Progress() { Done(); }

void Progress::Update(uint64_t done) {
  if (!on_) return;
  const int64_t now = MonoNowNs();
  if (last_ns_ != 0 && now - last_ns_ < kRedrawNs) return;
  last_ns_ = now;
  done = std::min(done, total_);
  const double frac = double(done) / double(total_);
  const int fill = int(frac * kBarWidth);
  std::string bar(size_t(fill), '#');
  bar.append(size_t(kBarWidth - fill), ' ');
  fprintf(stderr, "\r%s [%s] %3d%% %s / %s\033[K", label_.c_str(), bar.c_str(), int(frac * 100),
          HumanBytes(done).c_str(), HumanBytes(total_).c_str());
  fflush(stderr);
}

void Progress::Done() {
  if (!on_) return;
  on_ = false;
  fputs("\r\033[K", stderr);
  fflush(stderr);
}

}  // namespace hn
