// Lab: the whole virtual honeynet on this machine, brought up and down as one.
//
// `up` builds, from a Config (the honeywall's config; its [[honeypot]] entries
// may name an image, memory and host name), in this order, writing each thing
// it makes to DATA/lab/state.json *before* making it so `down` can undo
// everything, also after a crash (kill -9 of `up`, the wall or the guests):
//   namespace hn-wall   the honeywall's ports (inside/outside, names from the
//                       config), a kernel bridge hn-br joining the guests' taps
//                       (hn-tap0..N) to hn-in-br, the inside port's veth peer
//   namespace hn-inet   the "internet": hn-inet0, the outside port's veth peer,
//                       holding the attacker host 192.0.2.66 (its first address,
//                       so connections made in hn-inet come from it), the
//                       upstream gateway (outside.gateway, 192.0.2.1) and the
//                       outside hosts 192.0.2.20-31; services on every address
//                       (TCP 21,22,23,25,80,443,6667: banner + echo; UDP 7,53 echo)
//   the honeywall       `honeynet wall` in hn-wall, capture in DATA/lab/capture,
//                       stats every second (DATA/lab/capture/stats.json)
//   the guests          per honeypot, by its kind: a UML guest (guest.h) on
//                       tap hn-tapI, or a namespace honeypot (nsguest.h):
//                       namespace hn-g-NAME, veth hn-vethI into hn-br, and its
//                       `honeynet tty capture` (started before its init runs);
//                       fixed MACs for both
// Both namespaces get IPv6 off (all/default) before any device is made, and
// hn-wall has forwarding off: only the honeywall carries frames between the
// sides. Nothing is connected to the machine's real interfaces.
// The lab is ready when every guest answers telnet from hn-inet (at its
// public_ip in nat mode, its ip in bridge mode).
//
// Built-in lab (no config): one busybox honeypot, NAT mode, the paper's
// addresses (honeypot 10.0.0.2 behind 10.0.0.1, public 192.0.2.10, gateway
// 192.0.2.1; attacker 192.0.2.66; outside hosts 192.0.2.20-31).
//
// The namespace names are fixed: one lab per machine at a time.
// up/down/reset serialize on DATA/lab/lock.
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
inline constexpr const char* kInetIface = "hn-inet0";       // in hn-inet
inline constexpr const char* kLabBridge = "hn-br";          // in hn-wall
inline constexpr const char* kLabBridgeUplink = "hn-in-br"; // in hn-wall: the inside port's peer
inline constexpr int kOutsideHostFirst = 20;                // 192.0.2.20 ..
inline constexpr int kOutsideHostLast = 31;                 // .. 192.0.2.31
inline constexpr const char* kLabDefaultDataDir = "/var/lib/honeynet";

struct LabOptions {
  std::string data_dir = kLabDefaultDataDir;
  std::string config_path;   // empty: the built-in lab
  bool detach = false;       // return once ready, leave it running
  std::string self_exe;      // path of the honeynet binary (to start the wall and services)
  int ready_timeout_s = 120; // how long guests may take to answer telnet
};

using Say = std::function<void(const std::string&)>;

// The built-in lab's config (NAT, one busybox honeypot) with capture in DATA/lab/capture.
Config BuiltinLabConfig(const std::string& data_dir);

// The config the lab's honeywall runs with: cfg with capture in
// DATA/lab/capture, stats every second, each honeypot's MAC pinned to its
// guest's fixed MAC (unless cfg sets one). Errors for what the lab cannot
// build (unknown image, interface names the lab uses itself, too many honeypots).
Result<Config> LabWallConfig(const Config& cfg, const std::string& data_dir);

// The fixed MAC of the i-th guest when its honeypot sets none: 52:54:00:4e:00:(i+2).
Mac LabGuestMac(size_t index);

// Brings the lab up. Foreground (detach=false): shows a live status line until
// SIGINT/SIGTERM, then takes everything down. Detached: returns once every guest
// answers telnet. On failure, takes down what it made.
Status LabUp(const LabOptions& opt, const Say& say);
// Stops guests (halt, then kill), the honeywall, services; removes every
// interface and namespace in the state file. Idempotent: with nothing up it
// says so and returns Ok. force: also remove hn-wall/hn-inet when there is no
// state file for them in this data dir (a lab of another data dir).
Status LabDown(const std::string& data_dir, const Say& say, bool force = false);
// Honeypots (running, address, uptime, budgets), honeywall counters, capture
// files. {"up": false, ...} when no lab is up in this data dir.
Result<nlohmann::json> LabStatus(const std::string& data_dir);
// LabStatus as text for people.
std::string FormatLabStatus(const nlohmann::json& status);
// Halt, drop the COW (UML) or the upper dir (netns), boot pristine; returns
// once the guest answers telnet. archive: first move its disk changes and a
// copy of its TTY log to DATA/lab/archive/NAME-<UTC time>/. Every reset is a
// `reset` event in the capture's events.json ({"reason": reason, "archive": dir}).
Status LabReset(const std::string& data_dir, const std::string& honeypot, const Say& say,
                const std::string& reason = "manual", bool archive = false);
// Attach the terminal to a UML guest's console; for a namespace honeypot
// (no console) an error that says how to get in instead. What the guest
// writes goes through a TermFilter (no OSC/DCS/queries reach this terminal)
// unless raw.
Status LabConsole(const std::string& data_dir, const std::string& honeypot, bool raw = false);

// A connected TCP socket (blocking, close-on-exec) made inside network
// namespace netns, from src_ip (empty: the kernel's choice) to dst_ip:port,
// within timeout_ms. The caller closes it.
Result<int> ConnectInNetns(const std::string& netns, const std::string& src_ip, const std::string& dst_ip,
                           uint16_t port, int timeout_ms);

}  // namespace hn
