// Tests for Detector: rules built by hand (no parser), one packet at a time.
// Content position modifiers and their window edges, Suricata's backtracking
// for relative contents, negation, pcre (i, R, !), dsize, flow, header sets,
// <>, flowbits across rules and packets, pass over drop, replace offsets,
// fast-pattern choice, a large rule set, and Build errors.
#include <gtest/gtest.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rules/detect.h"

namespace hn {
namespace {

// ---- rule builders --------------------------------------------------------

using ContentMod = std::function<void(ContentMatch&)>;

PayloadMatch Content(std::string bytes, const ContentMod& mod = {}) {
  PayloadMatch m;
  m.kind = PayloadMatch::kContent;
  m.content.bytes = std::move(bytes);
  if (mod) mod(m.content);
  return m;
}

PayloadMatch NotContent(std::string bytes, const ContentMod& mod = {}) {
  PayloadMatch m = Content(std::move(bytes), mod);
  m.content.negated = true;
  return m;
}

// flags as written after the slash: i s m x and R.
PayloadMatch Pcre(std::string pattern, const std::string& flags = "", bool negated = false) {
  PayloadMatch m;
  m.kind = PayloadMatch::kPcre;
  m.pcre.pattern = std::move(pattern);
  m.pcre.flags = flags;
  m.pcre.negated = negated;
  for (char f : flags) {
    if (f == 'i') m.pcre.options |= PCRE2_CASELESS;
    if (f == 's') m.pcre.options |= PCRE2_DOTALL;
    if (f == 'm') m.pcre.options |= PCRE2_MULTILINE;
    if (f == 'x') m.pcre.options |= PCRE2_EXTENDED;
    if (f == 'R') m.pcre.relative = true;
  }
  return m;
}

Rule MakeRule(std::vector<PayloadMatch> matches, RuleAction action = RuleAction::kAlert, uint32_t sid = 1) {
  Rule r;
  r.action = action;
  r.matches = std::move(matches);
  r.sid = sid;
  r.file = "test.rules";
  r.line = int(sid);
  return r;
}

FlowbitOp Bits(FlowbitOp::Cmd cmd, std::vector<uint8_t> bits, bool any = false) {
  FlowbitOp op;
  op.cmd = cmd;
  op.bits = std::move(bits);
  op.any = any;
  return op;
}

AddrRange V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t bits = 32) {
  AddrRange r;
  r.addr = {a, b, c, d};
  r.bits = bits;
  return r;
}

// ---- packets ----------------------------------------------------------------

constexpr uint8_t kClient[4] = {10, 0, 0, 2};
constexpr uint8_t kServer[4] = {192, 0, 2, 1};

// An established TCP packet 10.0.0.2:40000 -> 192.0.2.1:80 carrying payload
// (which must outlive the packet).
DetectPacket Tcp(const std::string& payload) {
  DetectPacket p;
  p.proto = RuleProto::kTcp;
  p.src = kClient;
  p.dst = kServer;
  p.sport = 40000;
  p.dport = 80;
  p.payload = reinterpret_cast<const uint8_t*>(payload.data());
  p.payload_len = uint32_t(payload.size());
  p.to_server = true;
  p.established = true;
  return p;
}

std::unique_ptr<Detector> MustBuild(std::vector<Rule> rules) {
  auto d = Detector::Build(std::move(rules));
  if (!d.ok()) {
    ADD_FAILURE() << d.status().message();
    return nullptr;
  }
  return std::move(d.value());
}

// Indices of the rules matching p; res (optional) gets the full result.
std::vector<uint32_t> DetectAll(std::vector<Rule> rules, const DetectPacket& p, uint64_t* bits = nullptr,
                          DetectResult* res = nullptr) {
  auto d = MustBuild(std::move(rules));
  if (!d) return {};
  DetectResult local;
  DetectResult* out = res ? res : &local;
  d->Inspect(p, bits, out);
  return out->matched;
}

bool Hits(const Rule& rule, const std::string& payload) { return DetectAll({rule}, Tcp(payload)).size() == 1; }
bool Hits(const Rule& rule, const DetectPacket& p) { return DetectAll({rule}, p).size() == 1; }

// ---- content ----------------------------------------------------------------

TEST(DetectContent, FoundAndNotFound) {
  const Rule r = MakeRule({Content("admin")});
  EXPECT_TRUE(Hits(r, "GET /admin HTTP/1.0"));
  EXPECT_TRUE(Hits(r, "admin"));
  EXPECT_FALSE(Hits(r, "GET /Admin HTTP/1.0"));
  EXPECT_FALSE(Hits(r, "admi"));
  // Bytes with NUL and high bits (|00 ff| in the rule language).
  const Rule bin = MakeRule({Content(std::string("\x00\xff", 2))});
  EXPECT_TRUE(Hits(bin, std::string("ab\x00\xff", 4)));
  EXPECT_FALSE(Hits(bin, std::string("ab\xff\x00", 4)));
}

TEST(DetectContent, Nocase) {
  const Rule r = MakeRule({Content("admin", [](ContentMatch& c) { c.nocase = true; })});
  EXPECT_TRUE(Hits(r, "GET /ADMIN"));
  EXPECT_TRUE(Hits(r, "GET /aDmIn"));
  EXPECT_FALSE(Hits(r, "GET /adm1n"));
  // The same bytes as a case-sensitive fast pattern of another rule: both
  // patterns exist in the database, each rule keeps its own case rule.
  DetectResult res;
  DetectAll({MakeRule({Content("admin")}, RuleAction::kAlert, 1), r}, Tcp("ADMIN"), nullptr, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{1}));
}

TEST(DetectContent, Offset) {
  const Rule r = MakeRule({Content("abc", [](ContentMatch& c) { c.offset = 2; })});
  EXPECT_TRUE(Hits(r, "xxabc"));
  EXPECT_TRUE(Hits(r, "xxxxabc"));
  EXPECT_FALSE(Hits(r, "xabcx"));
  EXPECT_FALSE(Hits(r, "abcxx"));
}

TEST(DetectContent, Depth) {
  const Rule r = MakeRule({Content("abc", [](ContentMatch& c) { c.depth = 4; })});
  EXPECT_TRUE(Hits(r, "abcxx"));
  EXPECT_TRUE(Hits(r, "xabcx"));   // ends at 4 = depth
  EXPECT_FALSE(Hits(r, "xxabc"));  // ends at 5
}

TEST(DetectContent, OffsetDepthWindowEdge) {
  // Window [2, 2+3): the match must lie entirely inside it.
  const Rule r = MakeRule({Content("abc", [](ContentMatch& c) {
    c.offset = 2;
    c.depth = 3;
  })});
  EXPECT_TRUE(Hits(r, "xxabc"));     // ends exactly at the limit
  EXPECT_TRUE(Hits(r, "xxabcyyy"));
  EXPECT_FALSE(Hits(r, "xxxabc"));   // one byte past the limit
  EXPECT_FALSE(Hits(r, "xabcabc"));  // at 1 (before offset) and at 4 (past the limit)
}

TEST(DetectContent, Distance) {
  const Rule r = MakeRule({Content("a"), Content("b", [](ContentMatch& c) { c.distance = 2; })});
  EXPECT_TRUE(Hits(r, "axxb"));
  EXPECT_TRUE(Hits(r, "axxxxxb"));
  EXPECT_FALSE(Hits(r, "axb"));
  EXPECT_FALSE(Hits(r, "ab"));
  EXPECT_FALSE(Hits(r, "bxxa"));
}

TEST(DetectContent, NegativeDistance) {
  // "ab" may start up to 4 bytes before the end of "cd", within 2 bytes.
  const Rule r = MakeRule({Content("cd"), Content("ab", [](ContentMatch& c) {
    c.distance = -4;
    c.within = 2;
  })});
  EXPECT_TRUE(Hits(r, "abcd"));
  EXPECT_FALSE(Hits(r, "abxcd"));  // "ab" would have to start at 1
  // Negative distance without within: anywhere from prev_end-3 on.
  const Rule back = MakeRule({Content("cd"), Content("bc", [](ContentMatch& c) { c.distance = -3; })});
  EXPECT_TRUE(Hits(back, "abcd"));   // "bc" at 1 = 4 - 3
  EXPECT_FALSE(Hits(back, "bcxcd"));  // "bc" at 0 < 5 - 3
  // Clamped at the payload start.
  const Rule far = MakeRule({Content("b"), Content("a", [](ContentMatch& c) { c.distance = -100; })});
  EXPECT_TRUE(Hits(far, "ab"));
}

TEST(DetectContent, Within) {
  const Rule r = MakeRule({Content("a"), Content("b", [](ContentMatch& c) { c.within = 2; })});
  EXPECT_TRUE(Hits(r, "ab"));
  EXPECT_TRUE(Hits(r, "axb"));    // "b" ends at 3 = 1 + 2
  EXPECT_FALSE(Hits(r, "axxb"));  // ends at 4
  EXPECT_FALSE(Hits(r, "ba"));
}

TEST(DetectContent, DistanceWithinPinsPosition) {
  // distance:2; within:1 -> "b" exactly 2 bytes after "a" ended.
  const Rule r = MakeRule({Content("a"), Content("b", [](ContentMatch& c) {
    c.distance = 2;
    c.within = 1;
  })});
  EXPECT_TRUE(Hits(r, "axxb"));
  EXPECT_FALSE(Hits(r, "axb"));
  EXPECT_FALSE(Hits(r, "axxxb"));
}

TEST(DetectContent, BacktracksRelativeChain) {
  const Rule r = MakeRule({Content("a"), Content("b", [](ContentMatch& c) {
    c.distance = 0;
    c.within = 1;
  })});
  EXPECT_TRUE(Hits(r, "a x ab"));  // the first "a" fails, the second one fits
  EXPECT_FALSE(Hits(r, "a x a b"));
  // Three levels: "a" then "b" right after then "c" right after.
  const Rule three = MakeRule({Content("a"), Content("b", [](ContentMatch& c) { c.within = 1; }),
                               Content("c", [](ContentMatch& c) { c.within = 1; })});
  EXPECT_TRUE(Hits(three, "ab ab abc"));
  EXPECT_FALSE(Hits(three, "ab ab ab c"));
}

TEST(DetectContent, StartsWithEndsWith) {
  const Rule start = MakeRule({Content("GET", [](ContentMatch& c) { c.startswith = true; })});
  EXPECT_TRUE(Hits(start, "GET / HTTP/1.0"));
  EXPECT_FALSE(Hits(start, " GET /"));
  EXPECT_FALSE(Hits(start, "xGET"));

  const Rule end = MakeRule({Content("ab", [](ContentMatch& c) { c.endswith = true; })});
  EXPECT_TRUE(Hits(end, "ab ab"));  // an earlier occurrence does not matter
  EXPECT_TRUE(Hits(end, "ab"));
  EXPECT_FALSE(Hits(end, "abab "));
  EXPECT_FALSE(Hits(end, "b"));

  // endswith relative: "x", then "yz" at the end and at least 1 byte after "x".
  const Rule rel = MakeRule({Content("x"), Content("yz", [](ContentMatch& c) {
    c.distance = 1;
    c.endswith = true;
  })});
  EXPECT_TRUE(Hits(rel, "x-yz"));
  EXPECT_FALSE(Hits(rel, "xyz"));
}

TEST(DetectContent, NegatedAbsolute) {
  const Rule r = MakeRule({Content("GET"), NotContent("admin")});
  EXPECT_TRUE(Hits(r, "GET /index"));
  EXPECT_FALSE(Hits(r, "GET /admin"));
  // Negated with a window: "admin" only counts in the first 5 bytes.
  const Rule win = MakeRule({Content("GET"), NotContent("admin", [](ContentMatch& c) { c.depth = 5; })});
  EXPECT_TRUE(Hits(win, "GET /admin"));
  EXPECT_FALSE(Hits(win, "adminGET"));
}

TEST(DetectContent, NegatedRelative) {
  // No "x" in the two bytes after "GET".
  const Rule r = MakeRule({Content("GET"), NotContent("x", [](ContentMatch& c) {
    c.distance = 0;
    c.within = 2;
  })});
  EXPECT_TRUE(Hits(r, "GETab"));
  EXPECT_TRUE(Hits(r, "GETabx"));
  EXPECT_FALSE(Hits(r, "GETxa"));
  EXPECT_FALSE(Hits(r, "GETax"));
  // The negated content does not move prev_end: "c" is relative to "GET".
  const Rule chain = MakeRule({Content("GET"), NotContent("zz", [](ContentMatch& c) { c.distance = 0; }),
                               Content("c", [](ContentMatch& c) { c.within = 1; })});
  EXPECT_TRUE(Hits(chain, "GETc"));
  EXPECT_FALSE(Hits(chain, "GETzzc"));
  EXPECT_FALSE(Hits(chain, "GETxc"));
  // Backtracking runs through a negated content: the first "GET" is
  // followed by "zz", the second one is clean.
  EXPECT_TRUE(Hits(chain, "GETzz GETc"));
}

TEST(DetectContent, ShortFastPatternWithLongerNegated) {
  Rule r = MakeRule({Content("ab"), NotContent("abcdefgh")});
  auto d = MustBuild({r});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->always_checked(), 0u);  // "ab" is the fast pattern
  DetectResult res;
  const std::string yes = "xxab--", no = "xxabcdefgh";
  d->Inspect(Tcp(yes), nullptr, &res);
  EXPECT_EQ(res.matched.size(), 1u);
  d->Inspect(Tcp(no), nullptr, &res);
  EXPECT_TRUE(res.matched.empty());
}

TEST(DetectContent, FastPatternChoiceAndAlwaysChecked) {
  // fast_pattern picks a short content over a longer one: still a correct match.
  Rule marked = MakeRule({Content("a", [](ContentMatch& c) { c.fast_pattern = true; }), Content("longer")});
  Rule only_negated = MakeRule({NotContent("evil")}, RuleAction::kAlert, 2);
  Rule only_pcre = MakeRule({Pcre("e.il")}, RuleAction::kAlert, 3);
  auto d = MustBuild({marked, only_negated, only_pcre});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->always_checked(), 2u);
  DetectResult res;
  const std::string p1 = "a longer one", p2 = "evil";
  d->Inspect(Tcp(p1), nullptr, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{0, 1}));
  d->Inspect(Tcp(p2), nullptr, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{2}));
}

// ---- pcre ---------------------------------------------------------------------

TEST(DetectPcre, CaselessFlag) {
  EXPECT_TRUE(Hits(MakeRule({Pcre("hello\\s+world", "i")}), "HELLO   World"));
  EXPECT_FALSE(Hits(MakeRule({Pcre("hello\\s+world")}), "HELLO   World"));
  EXPECT_TRUE(Hits(MakeRule({Pcre("hello\\s+world")}), "say hello  world"));
}

TEST(DetectPcre, Relative) {
  // R: the subject starts where "user" ended, so ^ anchors there.
  const Rule rel = MakeRule({Content("user"), Pcre("^admin", "R")});
  EXPECT_TRUE(Hits(rel, "useradmin"));
  EXPECT_FALSE(Hits(rel, "user admin"));
  EXPECT_FALSE(Hits(rel, "adminuser"));  // before "user": not searched
  // Without R, ^ is the payload start.
  EXPECT_FALSE(Hits(MakeRule({Content("user"), Pcre("^admin")}), "useradmin"));
  EXPECT_TRUE(Hits(MakeRule({Content("user"), Pcre("^admin")}), "adminuser"));
  // A pcre match moves prev_end to its end.
  const Rule after = MakeRule({Pcre("a+"), Content("b", [](ContentMatch& c) { c.within = 1; })});
  EXPECT_TRUE(Hits(after, "xaaab"));
  EXPECT_FALSE(Hits(after, "xaaacb"));
}

TEST(DetectPcre, Negated) {
  const Rule r = MakeRule({Content("GET"), Pcre("admin", "", /*negated=*/true)});
  EXPECT_TRUE(Hits(r, "GET /index"));
  EXPECT_FALSE(Hits(r, "GET /admin"));
  // Negated relative: no digit right after "id=".
  const Rule rel = MakeRule({Content("id="), Pcre("^[0-9]", "R", true)});
  EXPECT_TRUE(Hits(rel, "id=x"));
  EXPECT_FALSE(Hits(rel, "id=7"));
}

TEST(DetectPcre, CompileErrorNamesRule) {
  Rule bad = MakeRule({Content("x"), Pcre("a(b")}, RuleAction::kAlert, 42);
  bad.file = "rules/local.rules";
  bad.line = 12;
  auto d = Detector::Build({MakeRule({Content("ok")}), bad});
  ASSERT_FALSE(d.ok());
  const std::string& msg = d.status().message();
  EXPECT_NE(msg.find("rules/local.rules:12"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sid 42"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a(b"), std::string::npos) << msg;
}

// ---- non-payload keywords -------------------------------------------------------

TEST(DetectDsize, Operators) {
  auto with = [](Dsize::Op op, uint32_t lo, uint32_t hi = 0) {
    Rule r = MakeRule({});
    r.dsize.op = op;
    r.dsize.lo = lo;
    r.dsize.hi = hi;
    return r;
  };
  EXPECT_TRUE(Hits(with(Dsize::kEq, 3), "abc"));
  EXPECT_FALSE(Hits(with(Dsize::kEq, 3), "abcd"));
  EXPECT_TRUE(Hits(with(Dsize::kNe, 3), "abcd"));
  EXPECT_FALSE(Hits(with(Dsize::kNe, 3), "abc"));
  EXPECT_TRUE(Hits(with(Dsize::kLt, 3), "ab"));
  EXPECT_FALSE(Hits(with(Dsize::kLt, 3), "abc"));
  EXPECT_TRUE(Hits(with(Dsize::kGt, 3), "abcd"));
  EXPECT_FALSE(Hits(with(Dsize::kGt, 3), "abc"));
  EXPECT_TRUE(Hits(with(Dsize::kLe, 3), "abc"));
  EXPECT_FALSE(Hits(with(Dsize::kLe, 3), "abcd"));
  EXPECT_TRUE(Hits(with(Dsize::kGe, 3), "abc"));
  EXPECT_FALSE(Hits(with(Dsize::kGe, 3), "ab"));
  // 2<>5: exclusive at both ends.
  EXPECT_FALSE(Hits(with(Dsize::kRange, 2, 5), "ab"));
  EXPECT_TRUE(Hits(with(Dsize::kRange, 2, 5), "abc"));
  EXPECT_TRUE(Hits(with(Dsize::kRange, 2, 5), "abcd"));
  EXPECT_FALSE(Hits(with(Dsize::kRange, 2, 5), "abcde"));
  // With a content as well: both must hold.
  Rule both = with(Dsize::kGt, 10);
  both.matches = {Content("abc")};
  EXPECT_FALSE(Hits(both, "abc"));
  EXPECT_TRUE(Hits(both, "abc---------"));
}

TEST(DetectDsize, EmptyPayloadAndRulesWithoutContent) {
  Rule dsize0 = MakeRule({}, RuleAction::kAlert, 1);
  dsize0.dsize.op = Dsize::kEq;
  dsize0.dsize.lo = 0;
  const Rule needs_x = MakeRule({Content("x")}, RuleAction::kAlert, 2);
  const Rule not_x = MakeRule({NotContent("x")}, RuleAction::kAlert, 3);
  const Rule empty_re = MakeRule({Pcre("^$")}, RuleAction::kAlert, 4);
  const Rule bare = MakeRule({}, RuleAction::kAlert, 5);
  auto d = MustBuild({dsize0, needs_x, not_x, empty_re, bare});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->always_checked(), 4u);
  DetectResult res;
  DetectPacket p = Tcp("");
  p.payload = nullptr;
  p.payload_len = 0;
  d->Inspect(p, nullptr, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{0, 2, 3, 4}));
  const std::string x = "x";
  d->Inspect(Tcp(x), nullptr, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{1, 4}));
}

TEST(DetectFlow, EstablishedAndDirection) {
  Rule est = MakeRule({Content("a")});
  est.flow.established = true;
  const std::string a = "a";
  DetectPacket p = Tcp(a);
  EXPECT_TRUE(Hits(est, p));
  p.established = false;
  EXPECT_FALSE(Hits(est, p));

  Rule not_est = MakeRule({Content("a")});
  not_est.flow.not_established = true;
  EXPECT_TRUE(Hits(not_est, p));
  p.established = true;
  EXPECT_FALSE(Hits(not_est, p));

  Rule to_server = MakeRule({Content("a")});
  to_server.flow.to_server = 1;
  Rule to_client = MakeRule({Content("a")});
  to_client.flow.to_server = 0;
  Rule stateless = MakeRule({Content("a")});
  stateless.flow.stateless = true;
  p.to_server = true;
  EXPECT_TRUE(Hits(to_server, p));
  EXPECT_FALSE(Hits(to_client, p));
  EXPECT_TRUE(Hits(stateless, p));
  p.to_server = false;
  EXPECT_FALSE(Hits(to_server, p));
  EXPECT_TRUE(Hits(to_client, p));
  EXPECT_TRUE(Hits(stateless, p));
}

TEST(DetectHeader, AddressIncludeExclude) {
  const std::string a = "a";
  Rule r = MakeRule({Content("a")});
  r.dst.include = {V4(192, 0, 2, 0, 24)};
  EXPECT_TRUE(Hits(r, Tcp(a)));
  r.dst.exclude = {V4(192, 0, 2, 1)};
  EXPECT_FALSE(Hits(r, Tcp(a)));
  r.dst.exclude = {V4(192, 0, 2, 7)};
  EXPECT_TRUE(Hits(r, Tcp(a)));
  r.src.include = {V4(10, 1, 0, 0, 16)};
  EXPECT_FALSE(Hits(r, Tcp(a)));
  r.src.include = {V4(10, 1, 0, 0, 16), V4(10, 0, 0, 0, 8)};
  EXPECT_TRUE(Hits(r, Tcp(a)));
  // !10.0.0.2 alone: everything but that address.
  Rule ex = MakeRule({Content("a")});
  ex.src.exclude = {V4(10, 0, 0, 2)};
  EXPECT_FALSE(Hits(ex, Tcp(a)));
  // An IPv4 set does not match an IPv6 packet.
  static constexpr uint8_t kV6a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr uint8_t kV6b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  DetectPacket v6 = Tcp(a);
  v6.v6 = true;
  v6.src = kV6a;
  v6.dst = kV6b;
  EXPECT_FALSE(Hits(r, v6));
  EXPECT_TRUE(Hits(MakeRule({Content("a")}), v6));
}

TEST(DetectHeader, PortsRangesExclusions) {
  const std::string a = "a";
  Rule r = MakeRule({Content("a")});
  r.proto = RuleProto::kTcp;
  r.dport.include = {{80, 80}};
  EXPECT_TRUE(Hits(r, Tcp(a)));
  r.dport.include = {{443, 443}};
  EXPECT_FALSE(Hits(r, Tcp(a)));
  r.dport.include = {{443, 443}, {1, 1023}};
  EXPECT_TRUE(Hits(r, Tcp(a)));
  r.dport.exclude = {{80, 80}};
  EXPECT_FALSE(Hits(r, Tcp(a)));
  r.dport = {};
  r.sport.include = {{1024, 65535}};
  r.sport.exclude = {{40000, 40010}};
  EXPECT_FALSE(Hits(r, Tcp(a)));
  r.sport.exclude = {{40001, 40010}};
  EXPECT_TRUE(Hits(r, Tcp(a)));
  // An ip rule ignores ports.
  Rule ip = MakeRule({Content("a")});
  ip.dport.include = {{443, 443}};
  EXPECT_TRUE(Hits(ip, Tcp(a)));
}

TEST(DetectHeader, Bidirectional) {
  const std::string a = "a";
  // 192.0.2.1 80 -> any any: the packet goes the other way.
  Rule r = MakeRule({Content("a")});
  r.proto = RuleProto::kTcp;
  r.src.include = {V4(192, 0, 2, 1)};
  r.sport.include = {{80, 80}};
  EXPECT_FALSE(Hits(r, Tcp(a)));
  r.bidirectional = true;
  EXPECT_TRUE(Hits(r, Tcp(a)));
  // Swapping must swap ports together with addresses.
  r.sport.include = {{40000, 40000}};
  EXPECT_FALSE(Hits(r, Tcp(a)));
}

TEST(DetectHeader, Protocol) {
  const std::string a = "a";
  Rule r = MakeRule({Content("a")});
  r.proto = RuleProto::kUdp;
  EXPECT_FALSE(Hits(r, Tcp(a)));
  r.proto = RuleProto::kTcp;
  EXPECT_TRUE(Hits(r, Tcp(a)));
  r.proto = RuleProto::kIp;
  EXPECT_TRUE(Hits(r, Tcp(a)));
  DetectPacket icmp = Tcp(a);
  icmp.proto = RuleProto::kIcmp;
  icmp.sport = icmp.dport = 0;
  r.proto = RuleProto::kIcmp;
  EXPECT_TRUE(Hits(r, icmp));
  r.proto = RuleProto::kTcp;
  EXPECT_FALSE(Hits(r, icmp));
}

// ---- flowbits -----------------------------------------------------------------

TEST(DetectFlowbits, SetThenIsSetSamePacketAndLater) {
  Rule set = MakeRule({Content("login")}, RuleAction::kAlert, 1);
  set.flowbits = {Bits(FlowbitOp::kSet, {3})};
  Rule isset = MakeRule({Content("login")}, RuleAction::kAlert, 2);
  isset.flowbits = {Bits(FlowbitOp::kIsSet, {3})};
  Rule isnotset = MakeRule({Content("login")}, RuleAction::kAlert, 3);
  isnotset.flowbits = {Bits(FlowbitOp::kIsNotSet, {3})};
  Rule later = MakeRule({Content("data")}, RuleAction::kAlert, 4);
  later.flowbits = {Bits(FlowbitOp::kIsSet, {3})};
  // Loaded with the test first: SortForDetection puts the setter first.
  std::vector<Rule> rules = {isset, isnotset, later, set};
  SortForDetection(&rules);
  ASSERT_EQ(rules[0].sid, 1u);
  auto d = MustBuild(rules);
  ASSERT_NE(d, nullptr);

  uint64_t bits = 0;
  DetectResult res;
  const std::string p1 = "login", p2 = "data";
  d->Inspect(Tcp(p2), &bits, &res);  // before the login: bit clear
  EXPECT_TRUE(res.matched.empty());
  d->Inspect(Tcp(p1), &bits, &res);
  ASSERT_EQ(res.matched.size(), 2u);
  EXPECT_EQ(d->rules()[res.matched[0]].sid, 1u);
  EXPECT_EQ(d->rules()[res.matched[1]].sid, 2u);  // isset saw the bit; isnotset did not match
  EXPECT_EQ(bits, uint64_t(1) << 3);
  d->Inspect(Tcp(p2), &bits, &res);  // a later packet of the same flow
  ASSERT_EQ(res.matched.size(), 1u);
  EXPECT_EQ(d->rules()[res.matched[0]].sid, 4u);

  // No flowbits word: bits read as clear and nothing is set.
  d->Inspect(Tcp(p1), nullptr, &res);
  ASSERT_EQ(res.matched.size(), 2u);
  EXPECT_EQ(d->rules()[res.matched[1]].sid, 3u);
}

TEST(DetectFlowbits, AnyAllUnsetToggle) {
  Rule all = MakeRule({Content("x")}, RuleAction::kAlert, 1);
  all.flowbits = {Bits(FlowbitOp::kIsSet, {1, 2})};
  Rule any = MakeRule({Content("x")}, RuleAction::kAlert, 2);
  any.flowbits = {Bits(FlowbitOp::kIsSet, {1, 2}, true)};
  Rule none_all = MakeRule({Content("x")}, RuleAction::kAlert, 3);
  none_all.flowbits = {Bits(FlowbitOp::kIsNotSet, {1, 2})};
  Rule none_any = MakeRule({Content("x")}, RuleAction::kAlert, 4);
  none_any.flowbits = {Bits(FlowbitOp::kIsNotSet, {1, 2}, true)};
  auto d = MustBuild({all, any, none_all, none_any});
  ASSERT_NE(d, nullptr);
  DetectResult res;
  const std::string x = "x";
  uint64_t bits = 1 << 1;
  d->Inspect(Tcp(x), &bits, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{1, 3}));
  bits = 1 << 1 | 1 << 2;
  d->Inspect(Tcp(x), &bits, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{0, 1}));
  bits = 0;
  d->Inspect(Tcp(x), &bits, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{2, 3}));

  Rule change = MakeRule({Content("x")});
  change.flowbits = {Bits(FlowbitOp::kUnset, {0}), Bits(FlowbitOp::kToggle, {5, 6})};
  bits = 1 << 0 | 1 << 5;
  DetectAll({change}, Tcp(x), &bits);
  EXPECT_EQ(bits, uint64_t(1) << 6);
}

// ---- actions and replace ----------------------------------------------------------

TEST(DetectAction, PassSuppressesDropAndAlert) {
  const std::string s = "safe payload";
  std::vector<Rule> rules = {MakeRule({Content("payload")}, RuleAction::kAlert, 1),
                             MakeRule({Content("safe")}, RuleAction::kDrop, 2),
                             MakeRule({Content("safe")}, RuleAction::kPass, 3)};
  rules[1].matches[0].content.replace = "SAFE";
  SortForDetection(&rules);
  DetectResult res;
  DetectAll(rules, Tcp(s), nullptr, &res);
  ASSERT_EQ(res.matched.size(), 1u);
  EXPECT_EQ(rules[res.matched[0]].sid, 3u);
  EXPECT_TRUE(res.pass);
  EXPECT_FALSE(res.drop);
  EXPECT_FALSE(res.reject);
  EXPECT_TRUE(res.replacements.empty());

  // Without the pass rule: drop (and the alert) stand.
  rules.erase(rules.begin());
  DetectAll(rules, Tcp(s), nullptr, &res);
  EXPECT_EQ(res.matched.size(), 2u);
  EXPECT_FALSE(res.pass);
  EXPECT_TRUE(res.drop);
  EXPECT_FALSE(res.reject);
  EXPECT_EQ(res.replacements.size(), 1u);

  DetectAll({MakeRule({Content("safe")}, RuleAction::kReject)}, Tcp(s), nullptr, &res);
  EXPECT_TRUE(res.drop);
  EXPECT_TRUE(res.reject);
  DetectAll({MakeRule({Content("safe")}, RuleAction::kAlert)}, Tcp(s), nullptr, &res);
  EXPECT_FALSE(res.drop);
  EXPECT_EQ(res.matched.size(), 1u);
}

TEST(DetectAction, PassRuleDoesNotMatchLeavesOthers) {
  const std::string s = "danger";
  std::vector<Rule> rules = {MakeRule({Content("safe")}, RuleAction::kPass, 1),
                             MakeRule({Content("danger")}, RuleAction::kDrop, 2)};
  DetectResult res;
  DetectAll(rules, Tcp(s), nullptr, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{1}));
  EXPECT_FALSE(res.pass);
  EXPECT_TRUE(res.drop);
}

TEST(DetectAction, ReplacementOffsetsFollowMatchPath) {
  // "foo" then "baz" exactly one byte after it: the first "foo" fails, the
  // second is the one replaced.
  Rule r = MakeRule({Content("foo", [](ContentMatch& c) { c.replace = "FOO"; }), Content("baz", [](ContentMatch& c) {
                       c.distance = 1;
                       c.within = 3;
                       c.replace = "BAZ";
                     })},
                    RuleAction::kDrop, 7);
  const std::string s = "foo foo baz";
  DetectResult res;
  auto d = MustBuild({r});
  ASSERT_NE(d, nullptr);
  d->Inspect(Tcp(s), nullptr, &res);
  ASSERT_EQ(res.replacements.size(), 2u);
  EXPECT_EQ(res.replacements[0].offset, 4u);
  EXPECT_EQ(res.replacements[0].len, 3u);
  EXPECT_EQ(std::string(res.replacements[0].bytes, 3), "FOO");
  EXPECT_EQ(res.replacements[0].rule, 0u);
  EXPECT_EQ(res.replacements[1].offset, 8u);
  EXPECT_EQ(std::string(res.replacements[1].bytes, 3), "BAZ");
  // Reused result: cleared on the next packet.
  const std::string none = "nothing";
  d->Inspect(Tcp(none), nullptr, &res);
  EXPECT_TRUE(res.replacements.empty());
  EXPECT_TRUE(res.matched.empty());
}

TEST(DetectAction, SortForDetectionOrder) {
  auto rule = [](RuleAction a, uint32_t sid, bool sets) {
    Rule r = MakeRule({}, a, sid);
    if (sets) r.flowbits = {Bits(FlowbitOp::kSet, {0})};
    else r.flowbits = {Bits(FlowbitOp::kIsSet, {0})};
    return r;
  };
  std::vector<Rule> rules = {rule(RuleAction::kAlert, 1, false), rule(RuleAction::kAlert, 2, true),
                             rule(RuleAction::kReject, 3, false), rule(RuleAction::kDrop, 4, false),
                             rule(RuleAction::kPass, 5, false),   rule(RuleAction::kAlert, 6, false),
                             rule(RuleAction::kAlert, 7, true),   rule(RuleAction::kPass, 8, true)};
  SortForDetection(&rules);
  std::vector<uint32_t> sids;
  for (const Rule& r : rules) sids.push_back(r.sid);
  EXPECT_EQ(sids, (std::vector<uint32_t>{8, 5, 4, 3, 2, 7, 1, 6}));
}

// ---- scale ----------------------------------------------------------------------

TEST(DetectScale, ThousandRulesOneMatch) {
  std::vector<Rule> rules;
  for (uint32_t i = 0; i < 1000; i++) {
    char pat[32];
    std::snprintf(pat, sizeof(pat), "pattern-%04u;", i);
    rules.push_back(MakeRule({Content(pat)}, RuleAction::kAlert, 1000 + i));
  }
  auto d = MustBuild(rules);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->always_checked(), 0u);
  DetectResult res;
  const std::string s = "xx pattern-0737; pattern-12 pattern-0738 yy";
  d->Inspect(Tcp(s), nullptr, &res);
  ASSERT_EQ(res.matched.size(), 1u);
  EXPECT_EQ(d->rules()[res.matched[0]].sid, 1737u);
  const std::string none = "pattern-";
  d->Inspect(Tcp(none), nullptr, &res);
  EXPECT_TRUE(res.matched.empty());
}

TEST(DetectScale, SharedFastPatternListsEveryRule) {
  // Several rules with the same fast pattern: one database entry, all rules checked.
  std::vector<Rule> rules;
  for (uint32_t i = 0; i < 5; i++) rules.push_back(MakeRule({Content("shared")}, RuleAction::kAlert, i + 1));
  rules[2].dsize.op = Dsize::kGt;
  rules[2].dsize.lo = 100;
  DetectResult res;
  DetectAll(rules, Tcp("a shared thing"), nullptr, &res);
  EXPECT_EQ(res.matched, (std::vector<uint32_t>{0, 1, 3, 4}));
}

}  // namespace
}  // namespace hn
