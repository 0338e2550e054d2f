// Rule parser: reads rule files in the Suricata rule language into Rules
// (rules/rule.h), within the subset that rule.h describes.
//
// - A bad value or bad syntax is an error, "FILE:LINE: what is wrong"; every
//   error of every file is reported, not just the first.
// - A rule that uses a keyword (or protocol, or pcre flag) outside the subset
//   is skipped with a warning naming file, line, sid and keyword; the counts
//   per keyword make the coverage line printed at start. With strict, a skip
//   is an error.
// - Variables: $HOME_NET defaults to the honeypots' addresses (inside and
//   public), $EXTERNAL_NET to !$HOME_NET, the other usual Suricata address
//   and port variables to Suricata's defaults; [rules.vars] overrides any.
// - turn_around (per file): the Honeynet Project's use of inbound rule sets
//   on a honeywall: $HOME_NET and $EXTERNAL_NET swap places in each rule's
//   header, and alert becomes drop, so attacks leaving the honeynet stop.
//
// Who may call: the CLI, the honeywall at start, tests. Not per packet.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "rules/rule.h"

namespace hn {

struct RuleLoadOptions {
  // [rules.vars]: NAME -> value, overriding the defaults.
  std::vector<std::pair<std::string, std::string>> vars;
  // Default $HOME_NET: these addresses ("192.0.2.10", ...); empty: any.
  std::vector<std::string> home_net;
  bool strict = false;  // a skipped rule is an error
};

struct RuleLoad {
  std::vector<Rule> rules;                // loaded, in file order
  std::vector<std::string> errors;        // "FILE:LINE: ..."
  std::vector<std::string> warnings;      // "FILE:LINE: sid N: keyword 'x' is not supported: rule skipped"
  size_t skipped = 0;
  std::map<std::string, size_t> skipped_by_keyword;
  std::map<std::string, uint8_t> flowbit_ids;  // flowbits name -> bit (at most 64 names)
  bool ok() const { return errors.empty(); }
  // "rules: 12 loaded, 3 skipped (http.uri 2, byte_test 1)".
  std::string Coverage() const;
};

// Parses one file's text (file names it in messages) and adds to *into:
// rules, errors, warnings, counts. Flowbit names and sids are shared across
// the calls on one RuleLoad (a duplicate gid:sid is an error).
void ParseRulesText(const std::string& text, const std::string& file, bool turn_around, const RuleLoadOptions& opt,
                    RuleLoad* into);

// Reads and parses every file of cfg.rules (a missing file is an error).
RuleLoad LoadRules(const Config& cfg, bool strict = false);
// The options a config implies ($HOME_NET from its honeypots, its vars).
RuleLoadOptions RuleOptionsFor(const Config& cfg);

// classtype -> (description, priority), Suricata's classification.config.
// nullptr when unknown.
const std::pair<const char*, int>* FindClasstype(const std::string& name);

}  // namespace hn
