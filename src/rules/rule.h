// Rule: one rule in the Suricata rule language, as the honeywall keeps it
// between the parser (rules/rule_parser.h, which fills it from text) and the
// detector (rules/detect.h, which matches packets against it). Plain data:
// every value is checked by the parser, the detector trusts it.
//
// The subset (docs/rules.md): actions pass/drop/reject/alert; protocols
// ip/tcp/udp/icmp; address and port sets with !, [lists], ranges and
// variables; -> and <>; options msg, sid, rev, gid, classtype, priority,
// metadata, reference, content (|hex|, !) with nocase, offset, depth,
// distance, within, startswith, endswith, fast_pattern, replace; pcre;
// flow; dsize; flowbits.
//
// Who may call: anyone; no state, no allocation after parsing.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hn {

// In Suricata's default action order: a packet matched by several rules is
// handled by the first of these that matched (pass beats drop beats alert).
enum class RuleAction : uint8_t { kPass = 0, kDrop = 1, kReject = 2, kAlert = 3 };
const char* RuleActionName(RuleAction a);  // "pass", "drop", "reject", "alert"

enum class RuleProto : uint8_t { kIp, kTcp, kUdp, kIcmp };  // kIp: any IP packet

// A set of addresses: the union of include minus exclude. An empty include
// list means every address ("any"). IPv4 addresses are kept as v6=false with
// the 4 bytes first.
struct AddrRange {
  std::array<uint8_t, 16> addr{};
  uint8_t bits = 0;  // prefix length
  bool v6 = false;
  bool operator==(const AddrRange&) const = default;
};
struct AddrSet {
  std::vector<AddrRange> include, exclude;
  bool Contains(const uint8_t* a, bool v6) const;
};

// Ports: inclusive ranges; an empty include list means every port.
struct PortSet {
  std::vector<std::pair<uint16_t, uint16_t>> include, exclude;
  bool Contains(uint16_t p) const;
};

// One content or pcre keyword with its modifiers, in rule order (relative
// modifiers refer to the match before).
struct ContentMatch {
  std::string bytes;       // what to find (|hex| decoded), never empty
  bool nocase = false;
  bool negated = false;    // content:!"..."
  // Absolute: from the start of the payload. Relative (distance/within): from
  // the end of the previous content/pcre match. unset: no constraint.
  std::optional<int32_t> offset, depth, distance, within;
  bool startswith = false;  // = offset 0, depth len
  bool endswith = false;    // the match ends where the payload ends
  bool fast_pattern = false;
  std::optional<std::string> replace;  // same length as bytes
};

struct PcreMatch {
  std::string pattern;     // the expression between the slashes
  std::string flags;       // as written after the last slash ("i", "smR", ...)
  uint32_t options = 0;    // PCRE2 compile options from the flags
  bool relative = false;   // R: starts where the previous match ended
  bool negated = false;    // pcre:!"/.../"
};

struct PayloadMatch {
  enum Kind : uint8_t { kContent, kPcre } kind = kContent;
  ContentMatch content;
  PcreMatch pcre;
};

// flow: keyword. to_server: -1 either way, 1 client->server (to_server /
// from_client), 0 server->client (to_client / from_server).
struct FlowOption {
  bool established = false;
  bool not_established = false;
  bool stateless = false;
  int8_t to_server = -1;
};

// dsize: payload length test.
struct Dsize {
  enum Op : uint8_t { kNone, kEq, kNe, kLt, kGt, kLe, kGe, kRange } op = kNone;
  uint32_t lo = 0, hi = 0;  // kRange: lo < dsize < hi (Suricata's N<>M is exclusive)
  bool Match(uint32_t n) const;
};

// flowbits: names are numbered per rule set (at most 64 per rule set).
struct FlowbitOp {
  enum Cmd : uint8_t { kSet, kUnset, kToggle, kIsSet, kIsNotSet, kNoAlert } cmd = kSet;
  std::vector<uint8_t> bits;  // bit numbers; several for isset a|b (any) or a&b (all)
  bool any = false;           // a|b
};

struct Rule {
  RuleAction action = RuleAction::kAlert;
  RuleProto proto = RuleProto::kIp;
  AddrSet src, dst;
  PortSet sport, dport;
  bool bidirectional = false;  // <>
  std::vector<PayloadMatch> matches;
  FlowOption flow;
  Dsize dsize;
  std::vector<FlowbitOp> flowbits;
  bool noalert = false;        // flowbits:noalert
  uint32_t gid = 1, sid = 0, rev = 0;
  std::string msg;
  std::string classtype;       // "" when none
  std::string category;        // the classtype's description ("Attempted Administrator Privilege Gain")
  int priority = 3;            // priority: keyword, else the classtype's, else 3 (EVE "severity")
  std::vector<std::pair<std::string, std::string>> metadata;  // metadata: key value, ...
  std::string text;            // the rule as written (one line)
  std::string file;            // where it came from
  int line = 0;
  bool HasReplace() const;
};

}  // namespace hn
