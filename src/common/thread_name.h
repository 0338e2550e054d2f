// NameThread: names the calling thread, as `top -H`, `ps -L`, perf and
// /proc/PID/task/TID/comm show it, so an operator can tell the honeywall's
// threads apart (forwarder = the process name, tx-IFACE, cap-PREFIX, events,
// pcap-io, alert-SINK). Linux keeps the first 15 bytes. Best effort: a failure
// changes nothing.
//
// Who may call: any thread, about itself only. The honeywall's seccomp
// profile allows prctl(PR_SET_NAME) and no other prctl.
#pragma once

#include <sys/prctl.h>

#include <string>

namespace hn {

inline void NameThread(const std::string& name) {
  (void)::prctl(PR_SET_NAME, name.substr(0, 15).c_str(), 0, 0, 0);
}

}  // namespace hn
