// `honeynet audit`: per honeypot (and for the honeywall), what still contains
// less than it could and the tells a guest carries, each with its fix
// (issue 14, item 5; docs/audit.md).
//
// Two parts:
//   GatherAuditFacts   looks from the host at the running lab of a data dir
//                      (LabStatus, DATA/lab/state.json, /proc/PID/{status,
//                      uid_map,mountinfo,ns/net}, the guests' cgroups and disk
//                      files, the kernel in use and its kernel.json/config,
//                      the kernel binary itself for device names).
//   AuditFindings      pure: the findings from those facts (unit-tested
//                      without a lab).
// A finding is `risk` (containment weaker than it could be: something an
// attacker in the guest could use against the host or the capture), `tell`
// (something an attacker inside sees that gives the honeypot away) or `ok`
// (a check that passed, listed so the reader sees what was looked at).
//
// Who may call: the CLI (`honeynet audit`) and the lab (the summary at the
// end of `up`).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace hn {

enum class AuditSeverity { kOk, kTell, kRisk };
const char* AuditSeverityName(AuditSeverity s);  // "ok", "tell", "risk"

struct AuditFinding {
  AuditSeverity severity = AuditSeverity::kOk;
  std::string check;  // a short stable key: "unsafe", "uid_map", "mac_oui", ...
  std::string what;   // what was seen (may quote the guest: escape before printing)
  std::string fix;    // what fixes it (empty for ok)
};

// What the host sees of one process.
struct AuditProc {
  int pid = 0;
  bool readable = false;      // /proc/PID/status was read
  int64_t uid = -1;           // real uid (Uid: first field)
  int seccomp = -1;           // Seccomp: 0 none, 1 strict, 2 filter
  bool no_new_privs = false;
  uint64_t cap_eff = 0;
  uint64_t cap_bnd = 0;
  uint64_t netns = 0;         // inode of /proc/PID/ns/net (0: unknown)
};

// The kernel a UML guest runs.
struct AuditKernel {
  std::string path;                        // the binary the guest was started with
  bool stock = true;                       // Debian's /usr/bin/linux (or anything not in the cache)
  std::string hash;                        // project kernel: its cache hash
  std::vector<std::string> features;       // kernel.json "features"
  std::map<std::string, std::string> config;  // CONFIG_X -> "y", "m", "n" (not set) from its config
  bool config_read = false;                // the config file was there
  // From the binary (a probe for the strings the kernel shows in /sys):
  bool shows_uml_blkdev = true;            // platform device "uml-blkdev"
  bool shows_uml_netdev = true;            // platform device / driver "uml-netdev"
  bool shows_ubd_disks = true;             // disks named ubdX
  bool shows_signal_irqs = true;           // interrupt chips "SIGIO", "SIGALRM" in /proc/interrupts
};

struct AuditGuest {
  std::string name;
  std::string kind;            // "uml" or "netns"
  bool running = false;
  std::string mac;             // eth0's MAC, as configured
  // netns
  bool unsafe = false;
  std::string uid_map;         // /proc/PID/uid_map of pid 1 (empty: not read)
  bool proc_sys_ro = false;    // /proc/sys is mounted read-only in its mount namespace
  bool mountinfo_read = false;
  bool disk_image = false;     // DATA/guests/NAME/upper.img exists
  int64_t disk_bytes = 0;      // its size (the disk limit)
  // both
  std::vector<AuditProc> procs;  // netns: every process of the guest; uml: the `linux` processes
  std::map<std::string, std::string> cgroup;  // GuestCgroup::Read(): "pids.max" -> "512"
  // uml
  uint64_t wall_netns = 0;     // inode of /run/netns/hn-wall (0: unknown)
  AuditKernel kernel;
};

struct AuditFacts {
  bool up = false;
  std::string data_dir;
  std::vector<AuditGuest> guests;
  bool wall_running = false;
  AuditProc wall;
};

// One honeypot's (or the honeywall's) findings.
struct AuditSection {
  std::string subject;   // honeypot name, or "honeywall"
  std::string kind;      // "uml", "netns", "wall"
  std::vector<AuditFinding> findings;
  int Count(AuditSeverity s) const;
};

// Capability numbers (linux/capability.h) the audit names.
inline constexpr int kCapNetAdmin = 12;
inline constexpr int kCapNetRaw = 13;
inline constexpr int kCapSysModule = 16;
inline constexpr int kCapSysAdmin = 21;

// Pure: the findings for every honeypot (config order) and the honeywall.
std::vector<AuditSection> AuditFindings(const AuditFacts& facts);

// Looks at the lab of data_dir from the host. facts.up is false when no lab
// is up there. Needs root to read other users' /proc entries.
Result<AuditFacts> GatherAuditFacts(const std::string& data_dir);

// Parsers exposed for tests.
// "Key:\tvalue" lines of /proc/PID/status into an AuditProc (pid not set).
AuditProc ParseProcStatus(const std::string& text);
// True when /proc/PID/mountinfo shows /proc/sys mounted read-only.
bool MountinfoProcSysReadOnly(const std::string& mountinfo);
// A kernel .config: CONFIG_X=y/m/string, "# CONFIG_X is not set" -> "n".
std::map<std::string, std::string> ParseKernelConfig(const std::string& text);
// True when a uid_map maps uid 0 inside to host uid 0.
bool UidMapRootIsHostRoot(const std::string& uid_map);

// Totals over every section.
int AuditCount(const std::vector<AuditSection>& sections, AuditSeverity s);
// JSON for scripts: {"up", "data_dir", "risks", "tells", "sections": [{subject,
// kind, findings: [{severity, check, what, fix}]}]}.
nlohmann::json AuditJson(const AuditFacts& facts, const std::vector<AuditSection>& sections);
// A table per section for people; every text from the guest or the lab
// escaped (EscapeControls); colour (ANSI) only when colour is true.
std::string FormatAudit(const AuditFacts& facts, const std::vector<AuditSection>& sections, bool colour);
// The short block `up` prints: one WARNING block per risk, then a line with
// the number of tells and "run `honeynet audit` for details".
std::vector<std::string> AuditSummaryLines(const std::vector<AuditSection>& sections);

}  // namespace hn
