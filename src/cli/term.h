// Terminal output for the analysis commands: colour only when the stream is a
// terminal (and NO_COLOR is unset), aligned text tables, and a progress bar on
// stderr for big inputs. Nothing here is on the packet path.
//
// Who may call: src/cli command files.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace hn {

// True when f is a terminal and the environment does not say NO_COLOR.
bool UseColour(FILE* f);

enum class Colour { kNone, kBold, kDim, kRed, kGreen, kYellow, kBlue, kMagenta, kCyan };
// text wrapped in the ANSI codes for c when on, else text as is.
std::string Paint(std::string_view text, Colour c, bool on);

// Display width of text on a terminal: UTF-8 code points, East Asian wide
// ones counting 2 and combining marks 0, ANSI escape sequences 0.
size_t DisplayWidth(std::string_view text);

// A byte count for people: "512 B", "1.5 KiB", "3.2 GiB".
std::string HumanBytes(uint64_t bytes);

// A table printed with columns padded to their widest cell (display width of
// UTF-8 text, ANSI codes not counted). Numbers are right-aligned when the
// column was declared numeric.
class TextTable {
 public:
  struct Column { std::string title; bool numeric = false; };
  explicit TextTable(std::vector<Column> columns);
  void Add(std::vector<std::string> cells);  // as many cells as columns
  // Writes header (bold when colour), a rule, and the rows, each line
  // indented by indent spaces.
  void Print(FILE* out, bool colour, size_t indent = 0) const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<Column> cols_;
  std::vector<std::vector<std::string>> rows_;
};

// A progress bar on stderr, drawn only when stderr is a terminal and the
// total is at least min_total bytes (default 256 MiB); redrawn at most 10
// times a second; Done() clears it.
class Progress {
 public:
  Progress(std::string label, uint64_t total, uint64_t min_total = 256ull << 20);
  ~Progress();
  void Update(uint64_t done);
  void Done();

 private:
  std::string label_;
  uint64_t total_ = 0;
  bool on_ = false;
  int64_t last_ns_ = 0;
};

}  // namespace hn
