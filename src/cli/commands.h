// Subcommands of the honeynet CLI. Add*Command registers a subcommand and its
// options; RunSelected runs the one the user picked and returns the exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace hn {

inline constexpr const char* kVersion = "0.1.0";

void AddWallCommand(CLI::App& app);
int RunSelected(CLI::App& app);

}  // namespace hn
