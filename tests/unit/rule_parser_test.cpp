// Rule parser: the Suricata subset, its errors (FILE:LINE), skips and variables.
#include "rules/rule_parser.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace hn {
namespace {

RuleLoad Parse(const std::string& text, RuleLoadOptions opt = {}, bool turn_around = false) {
  if (opt.home_net.empty()) opt.home_net = {"192.0.2.10", "10.0.0.5"};
  RuleLoad l;
  ParseRulesText(text, "t.rules", turn_around, opt, &l);
  return l;
}

std::string AllErrors(const RuleLoad& l) {
  std::string s;
  for (const auto& e : l.errors) s += e + "\n";
  return s;
}

bool Has(const AddrSet& s, const char* ip) {
  uint8_t a[16] = {};
  const bool v6 = std::string(ip).find(':') != std::string::npos;
  inet_pton(v6 ? AF_INET6 : AF_INET, ip, a);
  return s.Contains(a, v6);
}

TEST(RuleParser, HeaderAndBasicOptions) {
  auto l = Parse(R"(alert tcp $HOME_NET any -> $EXTERNAL_NET [80,8000:8080] (msg:"out \"web\"\; x"; content:"GET"; sid:7; rev:3; classtype:attempted-admin;))");
  ASSERT_TRUE(l.ok()) << AllErrors(l);
  ASSERT_EQ(l.rules.size(), 1u);
  const Rule& r = l.rules[0];
  EXPECT_EQ(r.action, RuleAction::kAlert);
  EXPECT_EQ(r.proto, RuleProto::kTcp);
  EXPECT_EQ(r.msg, "out \"web\"; x");
  EXPECT_EQ(r.sid, 7u);
  EXPECT_EQ(r.rev, 3u);
  EXPECT_EQ(r.priority, 1);
  EXPECT_EQ(r.category, "Attempted Administrator Privilege Gain");
  EXPECT_TRUE(Has(r.src, "192.0.2.10"));
  EXPECT_FALSE(Has(r.src, "198.51.100.1"));
  EXPECT_TRUE(Has(r.dst, "198.51.100.1"));
  EXPECT_FALSE(Has(r.dst, "10.0.0.5"));
  EXPECT_TRUE(r.dport.Contains(80));
  EXPECT_TRUE(r.dport.Contains(8050));
  EXPECT_FALSE(r.dport.Contains(81));
  EXPECT_EQ(r.line, 1);
}

TEST(RuleParser, ContentHexAndModifiers) {
  auto l = Parse(R"(drop tcp any any -> any any (content:"/bin|2F|sh"; nocase; offset:2; depth:20; content:"x|41 42|"; distance:0; within:10; sid:1;))");
  ASSERT_TRUE(l.ok()) << AllErrors(l);
  const auto& m = l.rules[0].matches;
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].content.bytes, "/bin/sh");
  EXPECT_TRUE(m[0].content.nocase);
  EXPECT_EQ(*m[0].content.offset, 2);
  EXPECT_EQ(*m[0].content.depth, 20);
  EXPECT_EQ(m[1].content.bytes, "xAB");
  EXPECT_EQ(*m[1].content.distance, 0);
  EXPECT_EQ(*m[1].content.within, 10);
}

TEST(RuleParser, ReplaceMustBeSameLength) {
  auto ok = Parse(R"(alert tcp any any -> any any (content:"/bin/sh"; replace:"/ben/sh"; sid:1;))");
  ASSERT_TRUE(ok.ok()) << AllErrors(ok);
  EXPECT_EQ(*ok.rules[0].matches[0].content.replace, "/ben/sh");
  EXPECT_TRUE(ok.rules[0].HasReplace());
  auto bad = Parse(R"(alert tcp any any -> any any (content:"/bin/sh"; replace:"/b"; sid:1;))");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].find("t.rules:1: replace"), std::string::npos) << bad.errors[0];
}

TEST(RuleParser, PcreFlagsAndErrors) {
  auto l = Parse(R"(alert tcp any any -> any any (content:"a"; pcre:"/b\d+c/Ri"; pcre:!"/z\;/"; sid:1;))");
  ASSERT_TRUE(l.ok()) << AllErrors(l);
  const auto& m = l.rules[0].matches;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].pcre.pattern, "b\\d+c");
  EXPECT_TRUE(m[1].pcre.relative);
  EXPECT_TRUE(m[2].pcre.negated);
  EXPECT_EQ(m[2].pcre.pattern, "z;");
  auto bad = Parse(R"(alert tcp any any -> any any (pcre:"/a(b/"; sid:1;))");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].find("does not compile"), std::string::npos);
  // An HTTP buffer flag: outside the subset, skipped.
  auto skip = Parse(R"(alert tcp any any -> any any (pcre:"/a/U"; sid:9;))");
  EXPECT_TRUE(skip.ok());
  EXPECT_EQ(skip.skipped, 1u);
  EXPECT_EQ(skip.skipped_by_keyword["pcre/U"], 1u);
}

TEST(RuleParser, UnsupportedKeywordIsSkippedWithWarning) {
  auto l = Parse("alert tcp any any -> any any (content:\"a\"; sid:1;)\n"
                 "alert http any any -> any any (http.uri; content:\"x\"; sid:2;)\n"
                 "alert tcp any any -> any any (content:\"a\"; byte_test:1,>,2,0; sid:3;)\n");
  ASSERT_TRUE(l.ok()) << AllErrors(l);
  EXPECT_EQ(l.rules.size(), 1u);
  EXPECT_EQ(l.skipped, 2u);
  ASSERT_EQ(l.warnings.size(), 2u);
  EXPECT_EQ(l.warnings[0], "t.rules:2: sid 2: keyword 'protocol http' is not supported: rule skipped");
  EXPECT_EQ(l.warnings[1], "t.rules:3: sid 3: keyword 'byte_test' is not supported: rule skipped");
  EXPECT_NE(l.Coverage().find("1 loaded, 2 skipped"), std::string::npos) << l.Coverage();
  RuleLoadOptions strict;
  strict.strict = true;
  auto s = Parse("alert tcp any any -> any any (content:\"a\"; byte_test:1,>,2,0; sid:3;)\n", strict);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].find("t.rules:1:"), std::string::npos);
}

TEST(RuleParser, EveryErrorWithItsLine) {
  auto l = Parse("alert tcp any any -> any any (content:\"a\"; sid:1;)\n"
                 "alert tcp any any -> any (content:\"a\"; sid:2;)\n"
                 "\n"
                 "# a comment\n"
                 "alert tcp any any -> any any (content:\"a\"; depth:abc; sid:3;)\n"
                 "alert tcp any any -> any any (content:\"a\"; sid:1;)\n"
                 "alert tcp any any -> any any (nocase; sid:5;)\n"
                 "alert tcp any any -> any any (content:\"a\";)\n"
                 "alert tcp 300.1.1.1 any -> any any (sid:7;)\n"
                 "alert tcp any any -> any 70000 (sid:8;)\n"
                 "alert tcp any any -> any any (content:\"a|4\"; sid:9;)\n"
                 "alert tcp any any -> any any (flow:sideways; sid:10;)\n"
                 "alert tcp $NOPE any -> any any (sid:11;)\n"
                 "alert tcp any any -> any any (content:\"abc\"; depth:2; sid:12;)\n"
                 "alert tcp any any -> any any (classtype:nonsense; sid:13;)\n");
  std::vector<int> lines;
  for (const auto& e : l.errors) lines.push_back(std::stoi(e.substr(e.find(':') + 1)));
  EXPECT_EQ(lines, (std::vector<int>{2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})) << AllErrors(l);
  EXPECT_EQ(l.rules.size(), 1u);
}

TEST(RuleParser, MultiLineRule) {
  auto l = Parse("alert tcp any any -> any any (msg:\"m\"; \\\n  content:\"a\"; \\\n  sid:4;)\n"
                 "alert tcp any any -> any any (sid:x;)\n");
  ASSERT_EQ(l.rules.size(), 1u);
  EXPECT_EQ(l.rules[0].line, 1);
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_EQ(l.errors[0].rfind("t.rules:4:", 0), 0u) << l.errors[0];
}

TEST(RuleParser, FlowDsizeFlowbits) {
  auto l = Parse(
      "alert tcp any any -> any any (flow:established,to_client; dsize:>10; flowbits:set,seen; flowbits:noalert; sid:1;)\n"
      "alert tcp any any -> any any (flow:from_client; dsize:5<>9; flowbits:isset,seen|other; sid:2;)\n");
  ASSERT_TRUE(l.ok()) << AllErrors(l);
  const Rule& a = l.rules[0];
  EXPECT_TRUE(a.flow.established);
  EXPECT_EQ(a.flow.to_server, 0);
  EXPECT_TRUE(a.dsize.Match(11));
  EXPECT_FALSE(a.dsize.Match(10));
  EXPECT_TRUE(a.noalert);
  ASSERT_EQ(a.flowbits.size(), 1u);
  EXPECT_EQ(a.flowbits[0].cmd, FlowbitOp::kSet);
  const Rule& b = l.rules[1];
  EXPECT_EQ(b.flow.to_server, 1);
  EXPECT_FALSE(b.dsize.Match(5));
  EXPECT_TRUE(b.dsize.Match(6));
  EXPECT_FALSE(b.dsize.Match(9));
  ASSERT_EQ(b.flowbits[0].bits.size(), 2u);
  EXPECT_TRUE(b.flowbits[0].any);
  EXPECT_EQ(b.flowbits[0].bits[0], a.flowbits[0].bits[0]);
}

TEST(RuleParser, VariablesListsAndNegation) {
  RuleLoadOptions o;
  o.home_net = {"192.0.2.10"};
  o.vars = {{"HOME_NET", "[10.0.0.0/8,!10.9.0.0/16]"}, {"WEB", "[80,443]"}};
  auto l = Parse("alert tcp $HOME_NET any -> ![1.2.3.4, 5.6.7.0/24] $WEB (sid:1;)\n"
                 "alert tcp $EXTERNAL_NET !$HTTP_PORTS -> $HOME_NET :1023 (sid:2;)\n",
                 o);
  ASSERT_TRUE(l.ok()) << AllErrors(l);
  const Rule& a = l.rules[0];
  EXPECT_TRUE(Has(a.src, "10.1.2.3"));
  EXPECT_FALSE(Has(a.src, "10.9.2.3"));
  EXPECT_FALSE(Has(a.src, "192.0.2.10"));
  EXPECT_FALSE(Has(a.dst, "1.2.3.4"));
  EXPECT_FALSE(Has(a.dst, "5.6.7.99"));
  EXPECT_TRUE(Has(a.dst, "5.6.8.1"));
  EXPECT_TRUE(a.dport.Contains(443));
  EXPECT_FALSE(a.dport.Contains(8080));
  const Rule& b = l.rules[1];
  EXPECT_FALSE(b.sport.Contains(80));
  EXPECT_TRUE(b.sport.Contains(81));
  EXPECT_TRUE(b.dport.Contains(0));
  EXPECT_FALSE(b.dport.Contains(1024));
}

TEST(RuleParser, TurnAroundSwapsNetsAndAlertBecomesDrop) {
  auto l = Parse("alert tcp $EXTERNAL_NET any -> $HOME_NET 23 (content:\"x\"; sid:1;)\n"
                 "pass tcp $EXTERNAL_NET any -> $HOME_NET 22 (sid:2;)\n",
                 {}, true);
  ASSERT_TRUE(l.ok()) << AllErrors(l);
  const Rule& r = l.rules[0];
  EXPECT_EQ(r.action, RuleAction::kDrop);
  EXPECT_TRUE(Has(r.src, "192.0.2.10"));
  EXPECT_FALSE(Has(r.src, "198.51.100.1"));
  EXPECT_TRUE(Has(r.dst, "198.51.100.1"));
  EXPECT_TRUE(r.dport.Contains(23));
  EXPECT_EQ(l.rules[1].action, RuleAction::kPass);
}

TEST(RuleParser, MixingAbsoluteAndRelativeIsAnError) {
  auto l = Parse(R"(alert tcp any any -> any any (content:"a"; offset:1; distance:2; sid:1;))");
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_NE(l.errors[0].find("cannot be mixed"), std::string::npos);
}

TEST(RuleParser, LoadRulesReadsConfigFilesAndNamesMissingOnes) {
  const std::string dir = ::testing::TempDir();
  const std::string f = dir + "/ok.rules";
  std::ofstream(f) << "alert udp any any -> any 53 (content:\"x\"; sid:1;)\n";
  Config cfg;
  cfg.source = dir + "/wall.toml";
  cfg.rules.files = {{f, false, 3}, {dir + "/missing.rules", false, 4}};
  RuleLoad l = LoadRules(cfg);
  EXPECT_EQ(l.rules.size(), 1u);
  ASSERT_EQ(l.errors.size(), 1u);
  EXPECT_NE(l.errors[0].find("wall.toml:4: rules.files: cannot read"), std::string::npos) << l.errors[0];
  std::remove(f.c_str());
}

}  // namespace
}  // namespace hn
