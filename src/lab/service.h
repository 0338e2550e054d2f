// `honeynet service install|uninstall|show`: the lab as a systemd service
// (docs/service.md). The unit runs `honeynet up CONFIG --data-dir DIR` in the
// foreground as Type=notify (the lab sends READY=1, STATUS=, WATCHDOG=1 and
// STOPPING=1 through common/sd_notify.h), restarts it on failure, and runs
// `honeynet down` after it stops so that a crash still leaves nothing behind.
// Its hardening keeps what the lab needs and nothing that breaks it: the
// capabilities listed in ServiceCapabilities(), no mount namespace of its own
// (the lab's network namespaces must be visible to the host), no
// NoNewPrivileges (set-uid programs inside namespace honeypots).
//
// Who may call: the CLI (cmd_service.cpp), the tests.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace hn {

inline constexpr const char* kSystemdUnitDir = "/etc/systemd/system";
inline constexpr const char* kServiceDefaultName = "honeynet";

struct ServiceOptions {
  std::string binary;     // absolute path of the honeynet binary
  std::string config;     // absolute path of the lab's config; empty: the built-in lab
  std::string data_dir;   // absolute
  std::string name = kServiceDefaultName;  // the unit is NAME.service
  std::string unit_dir = kSystemdUnitDir;
};

// The capabilities the unit keeps (CapabilityBoundingSet=), each with why.
const std::vector<std::pair<std::string, std::string>>& ServiceCapabilities();

// The unit file's text for o (o's paths already absolute: see ResolveServiceOptions).
std::string ServiceUnitText(const ServiceOptions& o);

// Checks and completes what the user gave: the binary (empty: this process's
// /proc/self/exe), CONFIG (must exist, be a file and load as a lab config;
// made absolute), the data dir (made absolute), the name (letters, digits,
// "-_.@:"; a trailing ".service" is dropped), the unit dir (made absolute).
Result<ServiceOptions> ResolveServiceOptions(ServiceOptions o);

// One argument for an Exec*= line: quoted when needed, with systemd's
// specifiers (%) and variables ($) escaped.
std::string SystemdQuote(const std::string& arg);

using ServiceSay = std::function<void(const std::string&)>;

// Writes UNIT_DIR/NAME.service. When enable and the unit dir is systemd's own
// (/etc/systemd/system) and systemctl is there: `systemctl daemon-reload`
// (when systemd runs) and `systemctl enable NAME`. Says what it did and how
// to start the lab.
Status InstallService(const ServiceOptions& o, bool enable, const ServiceSay& say);
// `systemctl disable --now NAME` (when it applies, as above), removes
// UNIT_DIR/NAME.service, `systemctl daemon-reload`.
Status UninstallService(const ServiceOptions& o, const ServiceSay& say);

// For `honeynet status`: when the lab's `up` runs under systemd (LabStatus
// has "systemd_unit"), adds "systemd": {"unit", "n_restarts"} from
// `systemctl show -p NRestarts --value UNIT` (n_restarts null when systemctl
// cannot say).
void AddServiceRestarts(nlohmann::json* status);

}  // namespace hn
