// Placeholder until the command lands.
#include "cli/commands.h"
namespace hn {
void AddFlowsCommands(CLI::App&) {}
}  // namespace hn
