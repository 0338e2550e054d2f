// Terminal helpers: colour rules, table alignment, display width.
//
// src/cli/ is compiled into the honeynet binary only, not into honeynet_core
// that the unit tests link, so the one source file under test is compiled
// into this test directly.
#include "../../src/cli/term.cpp"  // NOLINT(bugprone-suspicious-include)

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <string>

namespace hn {
namespace {

// What TextTable::Print writes, as a string.
std::string Printed(const TextTable& t, bool colour, size_t indent = 0) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  t.Print(f, colour, indent);
  fclose(f);
  std::string s(buf, len);
  free(buf);
  return s;
}

TEST(TermTest, ColourOnlyOnATerminalAndWithoutNoColor) {
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(UseColour(f));  // a file is never a terminal
  fclose(f);
  EXPECT_FALSE(UseColour(nullptr));
  EXPECT_EQ(Paint("x", Colour::kRed, false), "x");
  EXPECT_EQ(Paint("x", Colour::kRed, true), "\033[31mx\033[0m");
  EXPECT_EQ(Paint("x", Colour::kNone, true), "x");
}

TEST(TermTest, NoColorWinsEvenOnATerminal) {
  // A pty would be a terminal; NO_COLOR must switch colour off whatever the stream.
  setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(UseColour(stdout));
  unsetenv("NO_COLOR");
}

TEST(TermTest, DisplayWidthSkipsEscapesAndCountsCodePoints) {
  EXPECT_EQ(DisplayWidth(""), 0u);
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("\033[1mabc\033[0m"), 3u);
  EXPECT_EQ(DisplayWidth("h\xc3\xa9llo"), 5u);       // é: two bytes, one column
  EXPECT_EQ(DisplayWidth("\xe2\x86\x92"), 1u);       // →
  EXPECT_EQ(DisplayWidth("\xe6\x97\xa5"), 2u);       // 日: wide
  EXPECT_EQ(DisplayWidth("e\xcc\x81"), 1u);          // e + combining acute
  EXPECT_EQ(DisplayWidth("\xff\xfe"), 2u);           // broken UTF-8: a column per byte
  EXPECT_EQ(DisplayWidth("ab\xe2\x86"), 4u);         // cut short at the end
}

TEST(TermTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(300ull << 20), "300 MiB");
  EXPECT_EQ(HumanBytes(5ull << 30), "5.0 GiB");
}

TEST(TermTest, TableAlignsColumnsAndRightAlignsNumbers) {
  TextTable t({{"NAME", false}, {"PKTS", true}, {"NOTE", false}});
  t.Add({"a", "1", "x"});
  t.Add({"longer\xe2\x86\x92", "12345", ""});
  t.Add({"b"});  // short row: missing cells are empty
  EXPECT_EQ(t.rows(), 3u);
  const std::string out = Printed(t, false);
  EXPECT_EQ(out,
            "NAME      PKTS  NOTE\n"
            "-------  -----  ----\n"
            "a            1  x\n"
            "longer\xe2\x86\x92  12345\n"
            "b\n");
}

TEST(TermTest, TableIndent) {
  TextTable t({{"A", false}, {"B", true}});
  t.Add({"x", "10"});
  EXPECT_EQ(Printed(t, false, 2), "  A   B\n  -  --\n  x  10\n");
}

TEST(TermTest, TableWithColourPaintsOnlyTheHeaderAndRuleAndKeepsAlignment) {
  TextTable t({{"A", false}, {"B", true}});
  t.Add({Paint("red", Colour::kRed, true), "7"});
  const std::string out = Printed(t, true);
  EXPECT_NE(out.find("\033[1mA"), std::string::npos);
  // "red" is 3 columns wide although its bytes are more: B's column starts after 2 spaces.
  EXPECT_NE(out.find("\033[31mred\033[0m  7\n"), std::string::npos) << out;
}

TEST(TermTest, ProgressIsSilentWhenStderrIsNotATerminalOrInputIsSmall) {
  // In the test run stderr is usually a pipe or file; either way a small total draws nothing.
  Progress small("reading", 10);
  small.Update(5);
  small.Done();
  small.Done();  // twice is fine
  Progress zero("reading", 0, 0);
  zero.Update(0);
}

}  // namespace
}  // namespace hn
