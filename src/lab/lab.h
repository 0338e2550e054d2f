// Lab: the whole virtual honeynet on this machine, brought up and down as one.
//
// `up` builds, from a Config (the honeywall's config; its [[honeypot]] entries
// may name an image and memory, see LabHoneypot), in this order, writing each
// thing it makes to DATA/lab/state.json *before* making it so `down` can undo
// everything, also after a crash:
//   namespace hn-wall   the honeywall's ports (inside/outside), a kernel bridge
//                       hn-br joining the guests' taps to the inside port's peer
//   namespace hn-inet   the "internet": the upstream gateway, an attacker host and
//                       a few outside hosts with services (TCP 21,22,23,25,80,443,
//                       6667; UDP echo 7, 53), all on one veth to the outside port
//   the honeywall       `honeynet wall` in hn-wall, capture in DATA/lab/capture
//   the guests          one UML per honeypot (guest.h) on taps in hn-wall
// Built-in lab (no config): one busybox honeypot, NAT mode, the paper's
// addresses (honeypot 10.0.0.2 behind 10.0.0.1, public 192.0.2.10, gateway
// 192.0.2.1; attacker 192.0.2.66; outside hosts 192.0.2.20-31).
//
// Who may call: the CLI (up/down/status/reset/console/selftest).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "config/config.h"

namespace hn {

inline constexpr const char* kWallNs = "hn-wall";
inline constexpr const char* kInetNs = "hn-inet";
inline constexpr const char* kAttackerIp = "192.0.2.66";

struct LabOptions {
  std::string data_dir = "/var/lib/honeynet";
  std::string config_path;   // empty: the built-in lab
  bool detach = false;       // return once ready, leave it running
  std::string self_exe;      // path of the honeynet binary (to start the wall and services)
};

using Say = std::function<void(const std::string&)>;

// The built-in lab's config (NAT, one busybox honeypot) with capture in DATA/lab/capture.
Config BuiltinLabConfig(const std::string& data_dir);

// Brings the lab up. Foreground (detach=false): shows a live status line until
// SIGINT/SIGTERM, then takes everything down. Detached: returns once every guest
// answers telnet.
Status LabUp(const LabOptions& opt, const Say& say);
// Stops guests (halt, then kill), the honeywall, services; removes every
// interface and namespace in the state file. Idempotent.
Status LabDown(const std::string& data_dir, const Say& say);
// Honeypots (running, address, uptime, budgets), honeywall counters, capture files.
Result<nlohmann::json> LabStatus(const std::string& data_dir);
// Halt, drop the COW, boot pristine.
Status LabReset(const std::string& data_dir, const std::string& honeypot, const Say& say);
// Attach the terminal to a guest's console.
Status LabConsole(const std::string& data_dir, const std::string& honeypot);

}  // namespace hn
