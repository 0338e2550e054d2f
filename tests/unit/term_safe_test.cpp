// TermFilter, EscapeControls, JsonC1Escape (src/common/term_safe.*): attacker
// bytes that reach the operator's terminal keep text, colours and cursor
// movement, never an OSC/DCS/APC/PM/SOS, a query or a risky mode change.
#include "common/term_safe.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hn {
namespace {

std::string Filter(std::string_view in) {
  TermFilter f;
  std::string out;
  f.Feed(in, &out);
  f.Finish(&out);
  return out;
}

// in fed one byte at a time (every possible split of every sequence).
std::string FilterBytewise(std::string_view in) {
  TermFilter f;
  std::string out;
  for (char c : in) f.Feed(std::string_view(&c, 1), &out);
  f.Finish(&out);
  return out;
}

// No introducer of a string or of an 8-bit sequence left in s.
void ExpectNoDangerousIntroducer(const std::string& s) {
  for (size_t i = 0; i < s.size(); i++) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b && i + 1 < s.size()) {
      const char n = s[i + 1];
      EXPECT_TRUE(n != ']' && n != 'P' && n != '_' && n != '^' && n != 'X') << "ESC " << n << " at " << i;
    }
    EXPECT_FALSE(c >= 0x80 && c <= 0x9f && (i == 0 || static_cast<unsigned char>(s[i - 1]) < 0xc0))
        << "C1 byte at " << i;
    if (c == 0xc2 && i + 1 < s.size()) {
      EXPECT_GE(static_cast<unsigned char>(s[i + 1]), 0xa0) << "UTF-8 C1 at " << i;
    }
  }
}

TEST(TermFilterTest, KeepsTextColoursAndCursorMovement) {
  const std::string in =
      "plain text\r\n\x1b[1;31mred\x1b[0m \x1b[38;5;196mx\x1b[38:2:1:2:3my\x1b[m\t\b"
      "\x1b[H\x1b[2J\x1b[10;20H\x1b[3A\x1b[2B\x1b[5C\x1b[D\x1b[K\x1b[1P\x1b[2@\x1b[3L\x1b[M\x1b[2;24r"
      "\x1b" "7\x1b" "8\x1bM\x1b[s\x1b[u\x1b(0qqq\x1b(B\x1b[?25l\x1b[?25h\x1b[?1049h\x1b[?1049l\x1b[4 q";
  EXPECT_EQ(Filter(in), in);
  EXPECT_EQ(FilterBytewise(in), in);
}

TEST(TermFilterTest, KeepsUtf8) {
  const std::string in = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87 \xc2\xa0 \xd5\x9d\n";
  EXPECT_EQ(Filter(in), in);
  EXPECT_EQ(FilterBytewise(in), in);
}

TEST(TermFilterTest, DropsOscEndedByBelAndBySt) {
  EXPECT_EQ(Filter("a\x1b]0;pwned\x07" "b"), "ab");
  EXPECT_EQ(Filter("a\x1b]2;title\x1b\\b"), "ab");
  EXPECT_EQ(Filter("a\x1b]52;c;Y3VybCBldmlsLnNofHNo\x07" "b"), "ab");
  EXPECT_EQ(Filter("a\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\b"), "alinkb");
  TermFilter f;
  std::string out;
  f.Feed("x\x1b]0;t\x07y", &out);
  EXPECT_EQ(f.dropped(), 1u);
}

TEST(TermFilterTest, DropsDcsApcPmSos) {
  EXPECT_EQ(Filter("a\x1bP$q\"p\x1b\\b"), "ab");        // DECRQSS
  EXPECT_EQ(Filter("a\x1bP1;2|17/ab\x1b\\b"), "ab");    // DECUDK
  EXPECT_EQ(Filter("a\x1b_Gf=100;AAAA\x1b\\b"), "ab");  // APC (kitty graphics)
  EXPECT_EQ(Filter("a\x1b^private\x1b\\b"), "ab");      // PM
  EXPECT_EQ(Filter("a\x1bXsos\x1b\\b"), "ab");          // SOS
  // A BEL does not end a DCS: what follows up to the ST is still the string.
  EXPECT_EQ(Filter("a\x1bPq\x07still\x1b\\b"), "ab");
}

TEST(TermFilterTest, DropsEightBitC1Forms) {
  EXPECT_EQ(Filter("a\x9d" "0;pwned\x9c" "b"), "ab");       // OSC ... ST
  EXPECT_EQ(Filter("a\x9d" "0;pwned\x07" "b"), "ab");       // OSC ... BEL
  EXPECT_EQ(Filter("a\x90q#0;2;0;0;0\x9c" "b"), "ab");      // DCS (sixel)
  EXPECT_EQ(Filter("a\x9f" "apc\x9c" "b\x9e" "pm\x9c" "c\x98" "sos\x9c" "d"), "abcd");
  EXPECT_EQ(Filter("a\x9b" "31mred"), "a\x1b[31mred");      // CSI: kept in its 7-bit form
  EXPECT_EQ(Filter("a\x9b" "6nb"), "ab");                   // CSI query: dropped
  EXPECT_EQ(Filter("a\x85\x84\x8d" "b"), "ab");             // other C1: dropped
  // The same as UTF-8 code points (U+009D, U+0090, U+009C).
  EXPECT_EQ(Filter("a\xc2\x9d" "0;pwned\xc2\x9c" "b"), "ab");
  EXPECT_EQ(Filter("a\xc2\x90q\xc2\x9c" "b"), "ab");
  EXPECT_EQ(Filter("a\xc2\x9b" "1mb"), "a\x1b[1mb");
}

TEST(TermFilterTest, SequencesSplitAcrossFeeds) {
  const std::string in =
      "one\x1b]0;pwned\x07two\x1b[1;32mgreen\x1b[0m\x1bP$q m\x1b\\three\x9d" "52;c;eA==\x9c"
      "caf\xc3\xa9\xc2\x9d" "0;x\xc2\x9c" "four\x1b[6nfive\x1b_apc\x1b\\six";
  const std::string want = "onetwo\x1b[1;32mgreen\x1b[0mthreecaf\xc3\xa9" "fourfivesix";
  EXPECT_EQ(Filter(in), want);
  EXPECT_EQ(FilterBytewise(in), want);
  for (size_t cut = 0; cut <= in.size(); cut++) {  // every split in two
    TermFilter f;
    std::string out;
    f.Feed(std::string_view(in).substr(0, cut), &out);
    ExpectNoDangerousIntroducer(out);
    f.Feed(std::string_view(in).substr(cut), &out);
    f.Finish(&out);
    EXPECT_EQ(out, want) << "cut at " << cut;
  }
}

TEST(TermFilterTest, KeptSequenceIsWrittenWhole) {
  TermFilter f;
  std::string out;
  f.Feed("a\x1b[1;3", &out);
  EXPECT_EQ(out, "a");  // nothing of the sequence yet: the terminal stays in its ground state
  f.Feed("1m", &out);
  EXPECT_EQ(out, "a\x1b[1;31m");
}

TEST(TermFilterTest, DropsQueriesReportsAndRiskyModes) {
  EXPECT_EQ(Filter("a\x1b[6n\x1b[5n\x1b[c\x1b[>c\x1b[=c\x1b[?6nb"), "ab");  // status, attributes
  EXPECT_EQ(Filter("a\x1b[21t\x1b[14t\x1b[8;100;100t\x1b[22;0t\x1b[2tb"), "ab");  // window ops, title stack
  EXPECT_EQ(Filter("a\x1b[?1000h\x1b[?1006h\x1b[?1004h\x1b[?2004h\x1b[?3hb"), "ab");  // mouse, focus, paste, 132 col
  EXPECT_EQ(Filter("a\x1b[?1;1000;25hb"), "a\x1b[?1;25hb");  // the allowed modes of a list stay
  EXPECT_EQ(Filter("a\x1b[20h\x1b[4hb"), "a\x1b[4hb");
  EXPECT_EQ(Filter("a\x1b[?1$p\x1b[$p\x1b[5i\x1b[!p\x1b[>4;2mb"), "ab");  // DECRQM, printing, soft reset, modifyKeys
  EXPECT_EQ(Filter("a\x1bZ\x1b" "c\x1b%@\x1b#8b"), "ab");  // DECID, RIS, leave UTF-8, DECALN
  EXPECT_EQ(Filter("a\x05\x01\x7f" "b"), "ab");            // ENQ (answerback), other C0, DEL
  EXPECT_EQ(Filter("a\x1b[1;2;3;4;5Tb"), "ab");            // mouse highlight tracking
  EXPECT_EQ(Filter("a\x1b[2Tb"), "a\x1b[2Tb");             // scroll down
}

TEST(TermFilterTest, BrokenAndOverlongInput) {
  EXPECT_EQ(Filter("a\xff\xc3(b"), "a\xef\xbf\xbd\xef\xbf\xbd(b");   // not UTF-8: U+FFFD
  EXPECT_EQ(Filter("a\xe2\x82"), "a\xef\xbf\xbd");                   // cut short at the end
  EXPECT_EQ(Filter("a\x1b[1\x1b]0;t\x07" "b"), "ab");                // an ESC ends a CSI
  EXPECT_EQ(Filter("a\x1b[1\x18" "b"), "ab");                        // CAN cancels
  EXPECT_EQ(Filter("a\x1b[1\nA"), "a\n\x1b[1A");                      // C0 inside a CSI is carried out
  EXPECT_EQ(Filter("a\x1b\x1b]0;t\x07" "b"), "ab");
  EXPECT_EQ(Filter("a\x1b]0;t\x1b[31mb"), "a\x1b[31mb");             // an ESC ends the string
  EXPECT_EQ(Filter("a\x1b[" + std::string(500, '1') + "mb"), "ab");  // over kMaxCsi
  // An unterminated string is given up after kMaxString bytes.
  std::string big = "a\x1b]0;" + std::string(TermFilter::kMaxString + 10, 'x');
  std::string out = Filter(big);
  EXPECT_EQ(out.substr(0, 1), "a");
  EXPECT_LT(out.size(), 20u);
  ExpectNoDangerousIntroducer(Filter("\x1b\x9d\x1b[\x9d\xc2\x1b]\xc2\x9b\x1b\xc2\x90"));
}

TEST(TermFilterTest, RandomBytesNeverLeaveAnIntroducer) {
  uint32_t x = 12345;
  const std::string alphabet = std::string("\x1b\x07\x9c\x9d\x90\x9b\xc2[]P_^X\\;0m?h") + "aA\n";
  for (int round = 0; round < 300; round++) {
    std::string in;
    for (int i = 0; i < 200; i++) {
      x = x * 1103515245 + 12345;
      in.push_back(alphabet[(x >> 16) % alphabet.size()]);
    }
    ExpectNoDangerousIntroducer(Filter(in));
    ExpectNoDangerousIntroducer(FilterBytewise(in));
  }
}

TEST(EscapeControlsTest, ControlsVisibleTextKept) {
  EXPECT_EQ(EscapeControls("ls -la"), "ls -la");
  EXPECT_EQ(EscapeControls("a\x1b]0;x\x07" "b"), "a\\x1b]0;x\\x07b");
  EXPECT_EQ(EscapeControls("a\x9d" "b\x9b" "c\x90"), "a\\x9db\\x9bc\\x90");
  EXPECT_EQ(EscapeControls("a\xc2\x9d" "b"), "a\\xc2\\x9db");  // C1 as UTF-8
  EXPECT_EQ(EscapeControls("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(EscapeControls("a\r\nb\x7f\xff"), "a\\x0d\\x0ab\\x7f\\xff");
  EXPECT_EQ(EscapeControls("a\tb"), "a\\x09b");
  EXPECT_EQ(EscapeControls("a\tb", /*keep_tab=*/true), "a\tb");
  EXPECT_EQ(EscapeControls("\xe2\x82"), "\\xe2\\x82");  // cut short
}

TEST(JsonC1EscapeTest, C1AndDelAsUnicodeEscapes) {
  EXPECT_EQ(JsonC1Escape("{\"a\":\"x\"}"), "{\"a\":\"x\"}");
  EXPECT_EQ(JsonC1Escape("{\"a\":\"x\xc2\x9d" "0;t\xc2\x9c\x7f\"}"), "{\"a\":\"x\\u009d0;t\\u009c\\u007f\"}");
  EXPECT_EQ(JsonC1Escape("\"caf\xc3\xa9 \xc2\xa0\""), "\"caf\xc3\xa9 \xc2\xa0\"");
}

}  // namespace
}  // namespace hn
