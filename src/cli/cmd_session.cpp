// Placeholder until the command lands.
#include "cli/commands.h"
namespace hn {
void AddSessionCommands(CLI::App&) {}
}  // namespace hn
