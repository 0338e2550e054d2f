// Placeholder until the command lands.
#include "cli/commands.h"
namespace hn {
void AddReadCommand(CLI::App&) {}
}  // namespace hn
