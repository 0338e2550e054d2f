// `honeynet up|down|status|reset|console|selftest` (being written).
#include "cli/commands.h"

namespace hn {
void AddLabCommands(CLI::App&) {}
}  // namespace hn
