// `honeynet web`: the operator's view in a browser (stub; see src/web/).
#include "cli/commands.h"

namespace hn {
void AddWebCommand(CLI::App& app) { (void)app; }
}  // namespace hn
