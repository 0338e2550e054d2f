// Detector: matches one packet against a rule set (rules/rule.h).
//
// Build() compiles every rule's fast pattern (its longest non-negated
// content, or the one marked fast_pattern) into one Hyperscan literal
// database, and every pcre with PCRE2 (JIT where it can). Inspect() scans the
// payload once with Hyperscan; only rules whose fast pattern occurs (plus the
// few rules without a usable content) are then checked exactly: header,
// flow, dsize, flowbits, and every content/pcre with its position modifiers,
// with Suricata's backtracking for relative matches. So the cost of a packet
// grows with the rules that could match it, not with the rule count.
//
// Inspect() allocates nothing: scratch, match data and result vectors are
// sized in Build().
//
// Who may call: Build() anyone; Inspect() one thread per Detector (the
// forwarding thread, or the offline reader).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "rules/rule.h"

namespace hn {

// What the detector needs to know of one packet.
struct DetectPacket {
  RuleProto proto = RuleProto::kIp;  // kTcp, kUdp, kIcmp (ICMP and ICMPv6), else kIp
  const uint8_t* src = nullptr;      // 4 (v6=false) or 16 bytes, network order
  const uint8_t* dst = nullptr;
  bool v6 = false;
  uint16_t sport = 0, dport = 0;     // TCP/UDP only (0 otherwise)
  const uint8_t* payload = nullptr;  // transport payload: TCP/UDP data, ICMP data after its
  uint32_t payload_len = 0;          //   8-byte header, else what follows the IP header
  bool to_server = true;             // sent by the flow's initiator
  bool established = false;          // TCP: handshake done; others: both directions seen
};

// Bytes a matched replace rule rewrites in the payload (same length).
struct Replacement {
  uint32_t offset = 0;    // from the start of the payload
  uint32_t len = 0;
  const char* bytes = nullptr;  // owned by the rule set
  uint32_t rule = 0;
};

struct DetectResult {
  // Matched rules by index into rules(), ascending. When a pass rule
  // matched, only the pass rule(s) are listed (a pass stops the packet's
  // inspection: no alert, drop or replace of other rules).
  std::vector<uint32_t> matched;
  std::vector<Replacement> replacements;  // of the listed rules, in rule order
  bool pass = false;    // a pass rule matched
  bool drop = false;    // a drop (or reject) rule matched, and no pass rule
  bool reject = false;  // a reject rule matched, and no pass rule
  void Clear() {
    matched.clear();
    replacements.clear();
    pass = drop = reject = false;
  }
};

class Detector {
 public:
  ~Detector();
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // Takes the rules (already in evaluation order: see SortForDetection);
  // an error names the rule (file:line, sid) whose pattern did not compile.
  static Result<std::unique_ptr<Detector>> Build(std::vector<Rule> rules);

  // Checks p against every rule. flowbits: the flow's bits (nullptr: none,
  // flowbits rules then see all bits clear and set nothing); set, unset and
  // toggle of matched rules are applied in rule order, so a later rule sees
  // what an earlier one set on the same packet. out is cleared first.
  void Inspect(const DetectPacket& p, uint64_t* flowbits, DetectResult* out);

  const std::vector<Rule>& rules() const { return rules_; }
  // Rules checked exactly on every packet (no usable fast pattern).
  size_t always_checked() const;

 private:
  Detector() = default;
  struct Impl;
  std::vector<Rule> rules_;
  std::unique_ptr<Impl> impl_;
};

// Orders rules for Detector::Build: by action (pass, drop, reject, alert),
// then rules that set flowbits before those that test them, then as loaded.
void SortForDetection(std::vector<Rule>* rules);

}  // namespace hn
