// Running host tools (ip, mke2fs, debootstrap, linux) from the lab code:
// argv in, exit code and output out, with messages that say what failed and
// what to install. Also entering a network namespace for the calling thread.
//
// Who may call: src/lab and src/cli (never the per-packet path).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hn {

struct RunResult {
  int exit_code = -1;   // -1: could not start
  std::string out;      // stdout and stderr, merged
};

// Runs argv[0] (searched in PATH) and waits. Never throws.
RunResult RunCommand(const std::vector<std::string>& argv);
// Runs and hands each line of output (stdout and stderr, merged, without the
// newline) to on_line as it arrives; the result's `out` holds the last 64 KiB.
RunResult RunCommandLines(const std::vector<std::string>& argv,
                          const std::function<void(const std::string&)>& on_line);
// Runs and turns a non-zero exit into a Status naming the command and its output.
Status RunChecked(const std::vector<std::string>& argv);
// Same, with a hint appended when the tool is missing ("apt-get install PKG").
Status RunChecked(const std::vector<std::string>& argv, const std::string& package_hint);

// True if a program is on PATH.
bool HaveProgram(const std::string& name);
// Full path of a program (a name with '/' is taken as it is; else PATH, then
// the sbin directories), empty when not found.
std::string FindProgram(const std::string& name);

// `ip netns exec NS honeynet ...` runs us in a mount namespace of its own (a
// slave of the caller's, with NS's /sys): network namespaces named there
// (bind mounts in /run/netns) never reach the caller's view, and cgroups are
// not mounted. This moves the process back to its parent's mount namespace
// (ip netns exec execs us in place: the parent is the caller) and keeps the
// network namespace NS and the working directory. Does nothing unless the
// mount namespace differs from the parent's and /run/netns is a slave mount
// here. Call it first, while the process has one thread.
Status LeaveIpNetnsExecMountNs();

// Runs fn with the calling thread inside the named network namespace
// (/run/netns/NAME), then moves the thread back. Errors name the namespace.
Status InNetns(const std::string& netns, const std::function<Status()>& fn);

}  // namespace hn
