// TelnetText: option negotiation out, line ends in, state across segments.
#include "analysis/telnet.h"

#include <gtest/gtest.h>

#include <string>

namespace hn {
namespace {

std::string Text(const std::string& in, bool commands = true) {
  TelnetText t(commands);
  std::string out;
  t.Feed(reinterpret_cast<const uint8_t*>(in.data()), in.size(), &out);
  t.Finish(&out);
  return out;
}

// The same input fed one byte at a time (every possible segment boundary).
std::string TextBytewise(const std::string& in, bool commands = true) {
  TelnetText t(commands);
  std::string out;
  for (char c : in) t.Feed(reinterpret_cast<const uint8_t*>(&c), 1, &out);
  t.Finish(&out);
  return out;
}

const std::string kLogin =
    "\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27"       // DO TTYPE, TSPEED, XDISPLOC, NEW-ENVIRON
    "\xff\xfa\x18\x01\xff\xf0"                                // SB TTYPE SEND SE
    "\xff\xfb\x03\xff\xfb\x01"                                // WILL SGA, WILL ECHO
    "\r\nhn-honeypot login: ";

TEST(Telnet, NegotiationAndSubnegotiationRemoved) {
  EXPECT_EQ(Text(kLogin), "\nhn-honeypot login: ");
  TelnetText t;
  std::string out;
  t.Feed(reinterpret_cast<const uint8_t*>(kLogin.data()), kLogin.size(), &out);
  EXPECT_EQ(t.commands_removed(), 7u);
  EXPECT_EQ(t.subnegotiation_bytes(), 2u);
}

TEST(Telnet, ClientSubnegotiationWithPayload) {
  // IAC SB TTYPE IS "xterm-256color" IAC SE, IAC SB NAWS 0 80 0 24 IAC SE, then the typed user name.
  const std::string in = std::string("\xff\xfa\x18\x00xterm-256color\xff\xf0", 20) +
                         std::string("\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0", 9) + "root\r\0";
  EXPECT_EQ(Text(in + std::string(1, '\0')), "root\n");
}

TEST(Telnet, EscapedIacIsDataByte) {
  EXPECT_EQ(Text("a\xff\xff" "b"), "a\xff" "b");
  // inside a subnegotiation an escaped 0xFF is payload, not its end
  EXPECT_EQ(Text(std::string("\xff\xfa\x18\xff\xff\x01\xff\xf0ok", 10)), "ok");
}

TEST(Telnet, TwoByteCommandsRemoved) {
  EXPECT_EQ(Text("ls\xff\xf1 -l\xff\xf9\r\n"), "ls -l\n");  // NOP, GA
}

TEST(Telnet, LineEnds) {
  EXPECT_EQ(Text(std::string("a\r\nb\r\0c\rd", 9)), "a\nb\nc\rd");
  EXPECT_EQ(Text("end\r"), "end\r");  // a CR at the end of the stream is kept
  // CR, a command, then LF: still one newline
  EXPECT_EQ(Text("x\r\xff\xf1\ny"), "x\ny");
}

TEST(Telnet, SplitAtEveryByteGivesTheSameText) {
  const std::string in = kLogin + "root\r\n" + std::string("\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0", 9) +
                         std::string("pass\xff\xff\r\0", 8) + "\xff\xfe\x01" + "uname -a\r\n";
  EXPECT_EQ(TextBytewise(in), Text(in));
  EXPECT_EQ(Text(in), "\nhn-honeypot login: root\npass\xff\nuname -a\n");
}

TEST(Telnet, WithoutCommandsOnlyLineEnds) {
  EXPECT_EQ(Text("GET / HTTP/1.0\r\nHost: x\r\n\r\n", false), "GET / HTTP/1.0\nHost: x\n\n");
  EXPECT_EQ(Text("\xff\xfd\x18z", false), "\xff\xfd\x18z");
}

TEST(Telnet, MalformedSubnegotiationEndsAtNextCommand) {
  // SB without SE, then WILL ECHO: the negotiation is still removed and text follows
  EXPECT_EQ(Text("\xff\xfa\x18\x01\xff\xfb\x01hello"), "hello");
}

TEST(Telnet, IsTelnet) {
  EXPECT_TRUE(IsTelnet(40000, 23, -1, -1));
  EXPECT_TRUE(IsTelnet(23, 40000, -1, -1));
  EXPECT_TRUE(IsTelnet(40000, 2323, -1, 0xFF));
  EXPECT_TRUE(IsTelnet(40000, 2323, 0xFF, 'a'));
  EXPECT_FALSE(IsTelnet(40000, 80, 'G', 'H'));
  EXPECT_FALSE(IsTelnet(40000, 80, -1, -1));
}

}  // namespace
}  // namespace hn
