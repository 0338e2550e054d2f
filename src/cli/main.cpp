// honeynet: the command line. Each subcommand lives in its own file
// (cmd_*.cpp) and registers itself here; nothing else lives in src/cli.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"

namespace hn {
namespace {
std::function<int()> g_run;
}
void SetRun(std::function<int()> run) { g_run = std::move(run); }
int RunSelected(CLI::App&) { return g_run ? g_run() : 0; }
}  // namespace hn

int main(int argc, char** argv) {
  CLI::App app{"honeynet: a virtual honeynet on one computer (honeywall with Data Control and Data Capture)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(hn::kVersion));
  hn::AddWallCommand(app);
  hn::AddImageCommand(app);
  hn::AddLabCommands(app);
  hn::AddTtyCommand(app);
  hn::AddKernelCommand(app);
  hn::AddReadCommand(app);
  hn::AddFlowsCommands(app);
  hn::AddSessionCommands(app);
  hn::AddServiceCommand(app);
  hn::AddRulesCommand(app);
  hn::AddWebCommand(app);
  hn::AddAlertsCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return hn::RunSelected(app);
}
