// `honeynet rules check FILE...`: parses rule files as the honeywall would,
// prints every error (FILE:LINE: ...), the skipped rules and the coverage.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "config/config.h"
#include "rules/detect.h"
#include "rules/rule_parser.h"

namespace hn {
namespace {

struct RulesArgs {
  std::vector<std::string> files;
  std::string config;
  bool strict = false;
  bool turn_around = false;
  bool quiet = false;
} g_rules;

int RunRulesCheck() {
  Config cfg;
  if (!g_rules.config.empty()) {
    auto c = LoadConfig(g_rules.config);
    if (!c.ok()) {
      std::cerr << "honeynet rules check: " << c.status().message() << "\n";
      return 2;
    }
    cfg = c.value();
  }
  cfg.rules.files.clear();
  for (const std::string& f : g_rules.files) cfg.rules.files.push_back({f, g_rules.turn_around, 0});
  cfg.source = "command line";
  RuleLoad load = LoadRules(cfg, g_rules.strict);
  if (!g_rules.quiet) {
    for (const std::string& w : load.warnings) std::cerr << "warning: " << w << "\n";
  }
  for (const std::string& e : load.errors) std::cerr << e << "\n";
  if (!load.ok()) {
    std::cerr << "honeynet rules check: " << load.errors.size() << " error" << (load.errors.size() == 1 ? "" : "s")
              << "\n";
    return 2;
  }
  const std::string coverage = load.Coverage();
  SortForDetection(&load.rules);
  auto det = Detector::Build(std::move(load.rules));
  if (!det.ok()) {
    std::cerr << det.status().message() << "\n";
    return 2;
  }
  std::cout << coverage << "\n";
  return 0;
}

}  // namespace

void AddRulesCommand(CLI::App& app) {
  CLI::App* rules = app.add_subcommand("rules", "Inline rules (Suricata language): rules check FILE...");
  rules->require_subcommand(1);
  CLI::App* check = rules->add_subcommand(
      "check", "Parse rule files as the honeywall would: every error as FILE:LINE, skipped rules, coverage");
  check->add_option("files", g_rules.files, "rule files")->required();
  check->add_flag("--strict", g_rules.strict, "a rule skipped for a keyword outside the subset is an error");
  check->add_option("--config", g_rules.config,
                    "take $HOME_NET (the honeypots) and [rules.vars] from this config; its [rules] files are not read");
  check->add_flag("--turn-around", g_rules.turn_around,
                  "load as turn_around = true: $HOME_NET and $EXTERNAL_NET swap, alert becomes drop");
  check->add_flag("-q,--quiet", g_rules.quiet, "do not list the skipped rules (the coverage line counts them)");
  check->callback([] { SetRun(RunRulesCheck); });
}

}  // namespace hn
