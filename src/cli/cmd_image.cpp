// `honeynet image build|list` (being written).
#include "cli/commands.h"

namespace hn {
void AddImageCommand(CLI::App&) {}
}  // namespace hn
