// Honeywall: the running gateway. Owns the two data ports, the Engine, the
// capture thread (Sniffer) and the event writer, and runs the forwarding loop
// until asked to stop. Start-up refuses to run when the host kernel could
// forward or answer frames on the data ports (io/port_check.h): with the
// honeywall stopped nothing passes between them (fail closed).
//
// Who may call: the CLI (`honeynet wall`).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/privilege.h"
#include "common/status.h"
#include "config/config.h"
#include "rules/detect.h"

namespace hn {

class Honeywall {
 public:
  using Say = std::function<void(const std::string&)>;

  // Checks the ports, turns off offloads, opens ports, capture and event files,
  // loads saved budgets. say() gets one line per thing worth telling the user.
  // detector: the inline rules ([rules]), or nullptr for none.
  static Result<std::unique_ptr<Honeywall>> Open(const Config& cfg, Say say,
                                                 std::unique_ptr<Detector> detector = nullptr);
  ~Honeywall();

  // Forwards until stop becomes true. on_ready() is called once, when frames
  // pass (nat: once the upstream gateway answered ARP, or after 3 s with a warning).
  Status Run(const std::atomic<bool>& stop, const std::function<void()>& on_ready);

  // One-paragraph summary of counters, for the end of a run.
  std::string Summary() const;

  // events.json and honeywall.log are opened again by name (logrotate; SIGHUP).
  // Async-signal-safe: sets a flag.
  void RequestReopen();

 private:
  Honeywall() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Least privilege (docs/security.md). `honeynet wall` makes capture.dir
// the capture user's and calls DropPrivileges(WallCapabilities()) before
// Open(), so the ports' transmit threads start without the rest, and loads
// WallSyscalls() with InstallSeccomp() after Open(), before Run().
// What the wall keeps: CAP_NET_RAW (open a data port's AF_PACKET socket again
// when its interface comes back, and the capture's in socket mode) and
// CAP_NET_ADMIN (turn the offloads off on it, SO_SNDBUFFORCE).
std::vector<int> WallCapabilities();
// Every call Open() and Run() make, on every path (rotation, a port that
// vanished and came back, syslog, stats.json, budgets.json, signals); socket()
// only for AF_PACKET/AF_INET/AF_NETLINK/AF_UNIX, ioctl() only for the
// interface and ethtool requests the ports use.
SyscallAllowList WallSyscalls();

}  // namespace hn
