// `honeynet alerts`: runs the [alerts] of a lab or a honeywall (stub; see src/alerts/).
#include "cli/commands.h"

namespace hn {
void AddAlertsCommand(CLI::App& app) { (void)app; }
}  // namespace hn
