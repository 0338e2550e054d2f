// Subcommands of the honeynet CLI. Add*Command registers a subcommand and its
// options; RunSelected runs the one the user picked and returns the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace hn {

inline constexpr const char* kVersion = "0.1.0";

void AddWallCommand(CLI::App& app);   // cmd_wall.cpp
void AddImageCommand(CLI::App& app);  // cmd_image.cpp: image build|list
void AddLabCommands(CLI::App& app);   // cmd_lab.cpp: up, down, status, reset, console, selftest (+ hidden lab-services)
void AddTtyCommand(CLI::App& app);    // cmd_tty.cpp: tty list|play
void AddKernelCommand(CLI::App& app);  // cmd_kernel.cpp: kernel build|status
void AddReadCommand(CLI::App& app);     // cmd_read.cpp: read (packets, like tcpdump -r / snort -vdr)
void AddFlowsCommands(CLI::App& app);   // cmd_flows.cpp: flows, report
void AddSessionCommands(CLI::App& app); // cmd_session.cpp: sessions, session
void AddServiceCommand(CLI::App& app);  // cmd_service.cpp: service install|uninstall|show
void AddRulesCommand(CLI::App& app);    // cmd_rules.cpp: rules check
void AddWebCommand(CLI::App& app);      // cmd_web.cpp: web (the operator's browser view)
void AddAlertsCommand(CLI::App& app);   // cmd_alerts.cpp: alerts (the [alerts] runner)

// Subcommands set this to the function that runs them (from their callback).
void SetRun(std::function<int()> run);
int RunSelected(CLI::App& app);

}  // namespace hn
