// The lab's state file DATA/lab/state.json: what it records (processes,
// guests, namespaces, links), how it is saved and loaded, and the lock that
// serializes up/down/reset of one data dir. Internal to the lab: only
// src/lab/*.cpp may include it (through lab_internal.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/addr.h"
#include "common/status.h"
#include "lab/guest.h"
#include "lab/lab.h"
#include "lab/nsguest.h"
#include "lab/uplink.h"

namespace hn::lab_detail {

using json = nlohmann::json;

inline constexpr const char* kKindUml = "uml";
inline constexpr const char* kKindNetns = "netns";

// A process we started, known by pid and start time (so a pid reused by
// another process after ours ended is never mistaken for it).
struct ProcRef {
  int pid = 0;
  int64_t start = 0;  // /proc/PID/stat field 22 (clock ticks since boot)
};

// One honeypot of the lab. spec holds what both kinds share (name, dir, MAC,
// addresses, host name, DNS, image); st is a UML guest's, ns/nst/tty a
// namespace honeypot's (tty: its `honeynet tty capture` process).
struct GuestRec {
  std::string kind = kKindUml;  // "uml" | "netns"
  GuestSpec spec;
  GuestState st;
  NsGuestSpec ns;
  NsGuestState nst;
  ProcRef tty;
  std::string image_kind;
  std::optional<Ip4> public_ip;  // nat
  Ip4 target;                    // where telnet answers from hn-inet
};

struct LabState {
  std::string data_dir;
  std::string config_source;  // "built-in" or the config file
  std::string mode;           // "nat" | "bridge"
  int64_t started_unix = 0;
  bool ready = false;
  double ready_seconds = 0;
  ProcRef up;                 // the `honeynet up` process
  std::vector<std::string> namespaces;
  std::vector<std::pair<std::string, std::string>> links;  // {namespace, interface}
  ProcRef wall, services;
  ProcRef alerts;             // `honeynet alerts` (host namespace) when the config has [alerts]
  std::string capture_dir;
  std::vector<GuestRec> guests;
  // [uplink]: what `up` changed on the host (uplink.h), undone by `down`.
  std::optional<UplinkUndo> uplink;
  std::string uplink_iface;
  std::vector<std::pair<std::string, std::string>> uplink_addrs;  // {name, public_ip}
};

json StateJson(const LabState& s);

Status SaveState(const LabState& s);

// The state of the lab in data dir dd; nullopt when there is none.
Result<std::optional<LabState>> LoadState(const std::string& dd);

// Lock: up, down and reset of one data dir never run at the same time.
class LabLock {
 public:
  static Result<LabLock> Take(const std::string& dd, const Say& say);
  LabLock(LabLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LabLock(const LabLock&) = delete;
  LabLock& operator=(const LabLock&) = delete;
  ~LabLock();

 private:
  explicit LabLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace hn::lab_detail
