// Guests: one User-Mode Linux process per honeypot.
//
// Disk: DATA/guests/<name>/uml/disk.cow over the shared read-only image
// (ubd0=COW,IMAGE); settings (address, gateway, hostname, DNS) on a small raw
// second disk (ubd1r, read-only) that the image's init reads, so nothing of it
// shows in /proc/cmdline. Network: the legacy tuntap driver on a tap made
// beforehand (eth0=tuntap,TAP,MAC) in the guest's own network namespace: no
// vnet headers, so no GSO super-frames reach the honeywall. Console 0 is
// written to DATA/guests/<name>/console.log; console 1 is a host pty for
// `honeynet console`. Management: mconsole (halt, version, config) through
// the socket UML makes under DATA/guests/<name>/uml/ (uml_dir); the client's
// reply socket is a pathname one, so it works from any network namespace.
//
// Containment (spec.uid != 0, what the lab does; docs/security.md): the
// `linux` processes run as uid = gid = spec.uid with no supplementary groups,
// no capabilities and no_new_privs, in the network namespace that holds only
// their tap (owned by that uid) and in their own mount namespace, whose only
// change is a private /dev/net/tun node the uid may open (the host's stays
// as it is). Files:
//   DATA/guests/<name>/            root:uid 0750   the guest may only enter it
//     console.log, console.log.1   root 0640       console 0, passed as fd 1/2
//     settings.disk                root:uid 0640   read-only to the guest
//     disk.base                    root 0644       what the COW was made over
//     uml/                         uid 0700        the only place it may write:
//       disk.cow                   uid             its copy-on-write disk
//       <name>/pid, mconsole       uid             UML's pid file and socket
// The TTY log is passed as an open descriptor (O_APPEND) and never named.
// With spec.cgroup set, every process is in honeynet/<cgroup> (containment.h)
// from before exec.
//
// Who may call: the lab (up/down/reset) and the CLI (console).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/status.h"
#include "lab/containment.h"

namespace hn {

struct GuestSpec {
  std::string name;          // honeypot name, also UML umid
  std::string image;         // path of the base image
  std::string dir;           // DATA/guests/<name>
  std::string netns;         // namespace the UML process runs in (holds the tap)
  std::string tap;           // tap interface in netns
  Mac mac;                   // fixed MAC of the guest's eth0
  Ip4Prefix ip;              // guest address with prefix
  Ip4 gateway;               // default gateway
  std::string hostname;
  std::vector<Ip4> dns;
  uint32_t mem_mb = 64;
  std::string kernel = "/usr/bin/linux";  // UML kernel binary
  // Host file the kernel's TTY log is appended to (tty_log_fd=, a project
  // kernel with the "tty_log" feature: kernel.h); empty: no TTY capture.
  std::string tty_log;
  // Containment. uid: host uid and gid of the `linux` processes; 0 runs them
  // as the caller (root), as the hidden `honeynet guest` test tool does
  // without --uid. cgroup: the name of its cgroup (containment.h), empty for
  // none; limits are written to it at every start.
  uint32_t uid = 0;
  std::string cgroup;
  GuestLimits limits;
};

struct GuestState {
  int pid = 0;               // the UML main process (0: not running)
  int64_t started_unix = 0;
};

// Writes the settings disk and boots the guest detached (own session, survives
// the caller). Returns at once; the caller polls for readiness.
Result<GuestState> StartGuest(const GuestSpec& g);
// mconsole halt, wait up to timeout_ms for the process to end, then SIGKILL.
Status StopGuest(const GuestSpec& g, const GuestState& s, int timeout_ms = 10000);
// Stop, delete the COW file, start again: a pristine guest.
Result<GuestState> ResetGuest(const GuestSpec& g, const GuestState& s);
// True when pid is a live UML process of this guest.
bool GuestRunning(const GuestSpec& g, const GuestState& s);
// Attaches the terminal to console 1 (a host pty) until the user types
// Ctrl-] (the guest keeps running). Needs a terminal. The guest's output goes
// through a TermFilter (common/term_safe.h: colours and cursor movement kept,
// OSC, DCS, APC, PM, SOS, queries and risky modes dropped) unless raw.
Status AttachConsole(const GuestSpec& g, bool raw = false);

// The network namespace of UML honeypot NAME in the lab: "hn-u-<name>". It
// holds the guest's tap and the inner end of the veth to the lab's bridge.
std::string GuestNetnsName(const std::string& honeypot);

// Names the lab accepts for a guest (UML or namespace): 1-32 of [A-Za-z0-9._-],
// not starting with '.' or '-'; host names: 1-63 of [A-Za-z0-9.-].
bool ValidGuestName(const std::string& s);
bool ValidGuestHostname(const std::string& s);

// Files of a guest, all under g.dir.
std::string GuestConsoleLog(const GuestSpec& g);   // console 0 of the current boot
std::string GuestCowPath(const GuestSpec& g);      // the guest's copy-on-write disk
std::string GuestUmlDir(const GuestSpec& g);       // uml_dir=, the only directory the guest may write
std::string GuestMconsoleSocket(const GuestSpec& g);
// One mconsole command ("version", "config con1", ...) to the running guest.
Result<std::string> GuestMconsole(const GuestSpec& g, const std::string& cmd);
// Pids of every host process of this guest (UML main process and helpers),
// found by their command line (umid= and uml_dir=): also after a crash that
// lost the recorded pid.
std::vector<int> GuestProcesses(const GuestSpec& g);
// Removes the guest's cgroup (after its processes are gone; idempotent).
Status RemoveGuestCgroup(const GuestSpec& g);

}  // namespace hn
